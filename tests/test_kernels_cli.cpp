// CLI of the speed work: a smoke run of `stablelm bench` on a fixture model (its JSON contract),
// `stablelm quantize` round trips (the quantized directory loads without requantizing and gives
// the same logits as quantizing at load), and their usage errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "testutil.h"

namespace fs = std::filesystem;
using stablelm::test::fixtures_dir;
using stablelm::test::run_cli;
using stablelm::test::temp_dir;

namespace {
fs::path model(const char* name) { return fixtures_dir() / "models" / name; }
}  // namespace

TEST(BenchCli, JsonSmokeRun) {
  const auto r = run_cli({"bench", "--model", model("micro-v2-f32").string(), "-p", "8", "-n", "4", "--reps", "1",
                          "--weights", "stored,q8", "--depth", "0,5", "--threads", "2", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  int n = 0;
  for (std::string line; std::getline(lines, line);) {
    const auto j = nlohmann::json::parse(line);
    for (const char* key : {"weights", "threads", "n_prompt", "n_gen", "depth", "prefill_tok_s", "decode_tok_s",
                            "weight_bytes", "load_s", "peak_rss_bytes", "isa", "decode_reads", "medium_dot"})
      EXPECT_TRUE(j.contains(key)) << key << " in " << line;
    EXPECT_EQ(j["threads"], 2);
    EXPECT_EQ(j["n_prompt"], 8);
    EXPECT_EQ(j["n_gen"], 4);
    EXPECT_GT(j["prefill_tok_s"].get<double>(), 0);
    EXPECT_GT(j["decode_tok_s"].get<double>(), 0);
    EXPECT_GT(j["weight_bytes"].get<double>(), 0);
    ++n;
  }
  EXPECT_EQ(n, 4);  // 2 formats x 2 depths
}

TEST(BenchCli, TableAndErrors) {
  auto r = run_cli({"bench", "--model", model("micro-3b-style-f16").string(), "-p", "4", "-n", "2", "--reps", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("| pp4 |"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| tg2 |"), std::string::npos) << r.out;
  r = run_cli({"bench", "--model", model("micro-3b-style-f16").string(), "--weights", "q3"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("q3"), std::string::npos) << r.err;
  r = run_cli({"bench", "--model", model("micro-3b-style-f16").string(), "--depth", "100000"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("max_position_embeddings"), std::string::npos) << r.err;
  r = run_cli({"bench", "--model", model("micro-3b-style-f16").string(), "--threads", "two"});
  EXPECT_NE(r.exit_code, 0);
  r = run_cli({"bench", "--model", model("micro-3b-style-f16").string(), "-p", "0", "-n", "0"});
  EXPECT_NE(r.exit_code, 0);
  r = run_cli({"bench", "--model", model("micro-3b-style-f16").string(), "--matmul-precision", "low"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--matmul-precision"), std::string::npos) << r.err;
}

// --matmul-precision medium: a prefill long enough for the bf16 GEMM, through logits and bench;
// the result stays close to the exact run (test_quant_accuracy bounds it on every fixture).
TEST(BenchCli, MatmulPrecisionMedium) {
  const std::string m = model("micro-v2-f32").string();
  std::string ids;
  for (int i = 0; i < 40; ++i) ids += (i ? "," : "") + std::to_string(7 * i + 3);
  const auto exact = run_cli({"logits", "--model", m, "--ids", ids, "--weights", "bf16", "--positions", "last"});
  const auto medium = run_cli({"logits", "--model", m, "--ids", ids, "--weights", "bf16", "--positions", "last",
                               "--matmul-precision", "medium"});
  ASSERT_EQ(exact.exit_code, 0) << exact.err;
  ASSERT_EQ(medium.exit_code, 0) << medium.err;
  EXPECT_FALSE(medium.out.empty());
  auto r = run_cli({"bench", "--model", m, "--weights", "bf16", "-p", "32", "-n", "2", "--reps", "1",
                    "--matmul-precision", "medium", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["matmul_precision"], "medium");
  r = run_cli({"logits", "--model", m, "--ids", "1,2", "--matmul-precision", "fast"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--matmul-precision"), std::string::npos) << r.err;
}

TEST(BenchCli, HugePagesOption) {
  const std::string m = model("micro-v2-f32").string();
  auto r = run_cli({"bench", "--model", m, "-p", "8", "-n", "2", "--reps", "1", "--huge-pages", "off", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["huge_pages"], "off");
  r = run_cli({"bench", "--model", m, "-p", "8", "-n", "2", "--reps", "1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["huge_pages"], "auto");
  r = run_cli({"logits", "--model", m, "--ids", "1,2", "--huge-pages", "off"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = run_cli({"logits", "--model", m, "--ids", "1,2", "--huge-pages", "always"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--huge-pages"), std::string::npos) << r.err;
}

TEST(QuantizeCli, QuantizedDirectoryLoadsAndMatchesLoadTimeQuantization) {
  for (const char* fmt : {"q8", "q4"}) {
    const fs::path out = temp_dir(std::string("quantize_") + fmt) / "out";
    auto r = run_cli({"quantize", "--model", model("micro-12b-style-f32").string(), "--weights", fmt, out.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(fs::exists(out / "config.json"));
    // Much smaller than the f32 original.
    EXPECT_LT(fs::file_size(out / "model.safetensors"),
              fs::file_size(model("micro-12b-style-f32") / "model.safetensors") / 2);
    const auto pre = run_cli({"logits", "--model", out.string(), "--ids", "1,2,3", "--positions", "last"});
    ASSERT_EQ(pre.exit_code, 0) << pre.err;
    const auto at_load = run_cli({"logits", "--model", model("micro-12b-style-f32").string(), "--ids", "1,2,3",
                                  "--positions", "last", "--weights", fmt});
    ASSERT_EQ(at_load.exit_code, 0) << at_load.err;
    EXPECT_EQ(pre.out, at_load.out) << fmt;
    // The quantized directory can still be converted at load to another format.
    const auto conv = run_cli({"logits", "--model", out.string(), "--ids", "1,2,3", "--weights", "f32"});
    EXPECT_EQ(conv.exit_code, 0) << conv.err;
  }
}

// Corrupted quantized directories: the loader names the file, the tensor and the problem.
TEST(QuantizeCli, MalformedQuantizedDirectories) {
  const fs::path out = temp_dir("quantize_bad") / "q8";
  auto r = run_cli({"quantize", "--model", model("micro-v2-f32").string(), "--weights", "q8", out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string good = stablelm::test::read_file(out / "model.safetensors");
  const std::string tag = "\"stablelm.quant\":\"q8\"";
  ASSERT_NE(good.find(tag), std::string::npos);
  auto with_tag = [&](const std::string& replacement) {
    std::string bad = good;
    bad.replace(bad.find(tag), tag.size(), replacement);
    stablelm::test::write_file(out / "model.safetensors", bad);
    return run_cli({"logits", "--model", out.string(), "--ids", "1,2"});
  };
  r = with_tag("\"stablelm.quant\":\"q4\"");  // sizes no longer match the format
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("bytes of q4"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("model.safetensors"), std::string::npos) << r.err;
  r = with_tag("\"stablelm.quant\":\"q3\"");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("unknown quantized format"), std::string::npos) << r.err;
  r = with_tag("\"stablelm.qxxxx\":\"q8\"");  // U8 without our metadata: not ours
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("unsupported dtype U8"), std::string::npos) << r.err;
}

TEST(QuantizeCli, Errors) {
  const fs::path base = temp_dir("quantize_errors");
  auto r = run_cli({"quantize", "--model", model("micro-v2-f32").string(), "--weights", "q5", (base / "a").string()});
  EXPECT_NE(r.exit_code, 0);
  fs::create_directories(base / "full");
  stablelm::test::write_file(base / "full" / "x", "x");
  r = run_cli({"quantize", "--model", model("micro-v2-f32").string(), "--weights", "q8", (base / "full").string()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("not an empty directory"), std::string::npos) << r.err;
  r = run_cli({"quantize", "--model", (base / "missing").string(), "--weights", "q8", (base / "b").string()});
  EXPECT_NE(r.exit_code, 0);
}
