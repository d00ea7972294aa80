// The id-level CLI (logits, score, generate): output against the goldens, --help, usage errors
// and clear failures with a non-zero exit code.
#include <gtest/gtest.h>

#include <cmath>

#include "golden_util.h"

namespace stablelm::test {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kModels = fixtures_dir() / "models";

std::string join(const std::vector<int64_t>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s;
}

#define EXPECT_HAS(msg, part) EXPECT_NE((msg).find(part), std::string::npos) << "output: " << (msg)

TEST(CliCore, LogitsMatchGoldens) {
  for (const char* name : {"micro-3b-style-f16", "micro-12b-style-f32"}) {
    const fs::path dir = kModels / name;
    const json g = load_json(dir / "golden" / "logits.json");
    const double atol = load_json(dir / "golden" / "meta.json")["tolerances"]["logits_atol"].get<double>();
    const json& p = g["prompts"][0];
    const auto ids = p["input_ids"].get<std::vector<int64_t>>();
    auto r = run_cli({"logits", "--model", dir.string(), "--ids", join(ids), "--threads", "2"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json out = json::parse(r.out);
    ASSERT_EQ(out["logits"].size(), ids.size());
    const auto positions = p["full_logits_positions"].get<std::vector<size_t>>();
    for (size_t i = 0; i < positions.size(); ++i)
      for (size_t v = 0; v < p["full_logits"][i].size(); ++v)
        ASSERT_NEAR(out["logits"][positions[i]][v].get<double>(), p["full_logits"][i][v].get<double>(), atol);

    r = run_cli({"logits", "--model", dir.string(), "--ids", join(ids), "--positions", "last"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json last = json::parse(r.out);
    ASSERT_EQ(last["logits"].size(), 1u);
    // --positions last runs the lm_head as a matrix-vector product, --positions all as a matrix
    // product: different kernels and summation orders, so the last row is held to the golden
    // tolerance rather than to bitwise equality with the `all` run.
    ASSERT_EQ(positions.back(), ids.size() - 1);
    const json& want = p["full_logits"][positions.size() - 1];
    ASSERT_EQ(last["logits"][0].size(), want.size());
    for (size_t v = 0; v < want.size(); ++v)
      ASSERT_NEAR(last["logits"][0][v].get<double>(), want[v].get<double>(), atol);
  }
}

TEST(CliCore, ScoreMatchesGoldens) {
  const fs::path dir = kModels / "micro-12b-style-f32";
  const json g = load_json(dir / "golden" / "score.json");
  for (const json& p : g["prompts"]) {
    if (p["input_ids"].size() > 64) continue;
    auto r = run_cli({"score", "--model", dir.string(), "--ids", join(p["input_ids"].get<std::vector<int64_t>>()),
                      "--continuation", join(p["continuation"].get<std::vector<int64_t>>())});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json out = json::parse(r.out);
    EXPECT_NEAR(out["logprob"].get<double>(), p["sum_logprob"].get<double>(), 1e-2);
    ASSERT_EQ(out["token_logprobs"].size(), 10u);
    for (size_t j = 0; j < 10; ++j)
      EXPECT_NEAR(out["token_logprobs"][j].get<double>(), p["token_logprobs"][j].get<double>(), 2e-3);
    EXPECT_EQ(out["greedy"].get<bool>(), p["is_greedy"].get<bool>());
  }
  // A one-token context works too.
  auto r = run_cli({"score", "--model", dir.string(), "--ids", "5", "--continuation", "6"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_LT(json::parse(r.out)["logprob"].get<double>(), 0.0);
}

TEST(CliCore, GenerateGreedyIdsMatchGoldens) {
  const fs::path dir = kModels / "tiny-stablelm-2";
  const json g = load_json(dir / "golden" / "generate.json");
  const json& p = g["prompts"][0];
  auto r = run_cli({"generate", "--model", dir.string(), "--ids", join(p["input_ids"].get<std::vector<int64_t>>()),
                    "--max-new-tokens", "32", "--greedy", "--print-ids"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["ids"], p["new_tokens_with_cache"]);
}

TEST(CliCore, Help) {
  for (const char* cmd : {"logits", "score", "generate", "make-random"}) {
    auto r = run_cli({cmd, "--help"});
    EXPECT_EQ(r.exit_code, 0) << cmd;
    EXPECT_HAS(r.out, "--");
  }
  EXPECT_HAS(run_cli({"logits", "--help"}).out, "--threads");
  EXPECT_HAS(run_cli({"logits", "--help"}).out, "--kv");
}

TEST(CliCore, UsageErrors) {
  const std::string m = (kModels / "micro-v2-f32").string();
  struct Case {
    std::vector<std::string> args;
    const char* expect;  // in stderr
  };
  const std::vector<Case> cases = {
      {{"logits", "--ids", "1,2"}, "--model"},
      {{"logits", "--model", m}, "--ids"},
      {{"logits", "--model", m, "--ids", ""}, "empty"},
      {{"logits", "--model", m, "--ids", "1,,2"}, "item 2 is empty"},
      {{"logits", "--model", m, "--ids", "1,2,"}, "item 3 is empty"},
      {{"logits", "--model", m, "--ids", "1,x"}, "\"x\" is not an integer"},
      {{"logits", "--model", m, "--ids", "1.5"}, "not an integer"},
      {{"logits", "--model", m, "--ids", "-3"}, "negative"},
      {{"logits", "--model", m, "--ids", "99999999999999999999"}, "too large"},
      {{"logits", "--model", m, "--ids", "512"}, "outside the vocabulary"},
      {{"logits", "--model", m, "--ids", "1", "--positions", "middle"}, "--positions"},
      {{"logits", "--model", m, "--ids", "1", "--weights", "q3"}, "--weights"},
      {{"logits", "--model", m, "--ids", "1", "--kv", "f8"}, "--kv"},
      {{"logits", "--model", m, "--ids", "1", "--bogus"}, "--bogus"},
      {{"logits", "--model", "/nonexistent/dir", "--ids", "1"}, "/nonexistent/dir"},
      {{"logits", "--model", fixtures_dir().string(), "--ids", "1"}, "config.json"},
      {{"score", "--model", m, "--ids", "1"}, "--continuation"},
      {{"score", "--model", m, "--ids", "1", "--continuation", "512"}, "outside the vocabulary"},
      {{"generate", "--model", m, "--ids", "1", "--max-new-tokens", "-1", "--greedy"}, "max-new-tokens"},
  };
  for (const auto& c : cases) {
    auto r = run_cli(c.args);
    std::string cmdline;
    for (auto& a : c.args) cmdline += a + " ";
    EXPECT_NE(r.exit_code, 0) << cmdline;
    EXPECT_LT(r.exit_code, 128) << "crashed: " << cmdline;
    EXPECT_HAS(r.err, c.expect);
  }
  // Whitespace around ids is fine.
  EXPECT_EQ(run_cli({"logits", "--model", m, "--ids", " 1, 2 ", "--positions", "last"}).exit_code, 0);
}

TEST(CliCore, PromptLongerThanContext) {
  const std::string m = (kModels / "micro-v2-f32").string();  // max_position_embeddings 512
  std::vector<int64_t> ids(513, 1);
  auto r = run_cli({"logits", "--model", m, "--ids", join(ids), "--positions", "last"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_HAS(r.err, "max_position_embeddings");
}

TEST(CliCore, CorruptModelIsAnErrorNotACrash) {
  const fs::path dir = temp_dir("corrupt");
  for (const char* f : {"config.json", "generation_config.json"}) fs::copy_file(kModels / "micro-v2-f32" / f, dir / f);
  write_file(dir / "model.safetensors", std::string("\x10\0\0\0\0\0\0\0{\"a\":", 14));
  auto r = run_cli({"logits", "--model", dir.string(), "--ids", "1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_HAS(r.err, "model.safetensors");
}

}  // namespace
}  // namespace stablelm::test
