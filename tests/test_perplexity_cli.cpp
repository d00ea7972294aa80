// `stablelm perplexity` end to end: both modes on a text shorter than one window, exactly one
// window and a stride that does not divide the length; the perplexity of a golden prompt; the
// KL-divergence of a format against itself and against Q8; and the errors.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "golden_util.h"

namespace stablelm::test {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kModels = fixtures_dir() / "models";
const fs::path kTiny = kModels / "tiny-stablelm-2";

#define EXPECT_HAS(msg, part) EXPECT_NE((msg).find(part), std::string::npos) << "output: " << (msg)

// A short real text (the tokenizer fixtures' benchmark text) and its token count.
struct Text {
  fs::path file;
  int64_t tokens = 0;
};

const Text& text() {
  static const Text t = [] {
    Text t;
    const std::string all = read_file(fixtures_dir() / "tokenizer" / "bench.txt");
    const std::string s = all.substr(0, 600);
    t.file = temp_dir("text") / "text.txt";
    write_file(t.file, s);
    auto r = run_cli({"tokenize", "--model", kTiny.string(), "--text", s});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    t.tokens = static_cast<int64_t>(json::parse(r.out)["ids"].size());
    return t;
  }();
  return t;
}

json ppl_json(std::vector<std::string> args) {
  std::vector<std::string> a = {"perplexity", "--threads", "2", "--json"};
  a.insert(a.end(), args.begin(), args.end());
  auto r = run_cli(a);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  if (r.exit_code != 0) return json::object();
  return json::parse(r.out);
}

void expect_fails(std::vector<std::string> args, const std::string& part) {
  std::vector<std::string> a = {"perplexity", "--threads", "2"};
  a.insert(a.end(), args.begin(), args.end());
  auto r = run_cli(a);
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
  EXPECT_HAS(r.err, part);
}

TEST(PerplexityCli, SlidingWindowOnAText) {
  const Text& t = text();
  ASSERT_GT(t.tokens, 100);
  ASSERT_LT(t.tokens, 512);
  const std::string f = t.file.string(), m = kTiny.string();
  // Shorter than one window (default --ctx 512): one window scores every token after the first.
  const json shorter = ppl_json({"--model", m, "--file", f});
  for (const char* key : {"ppl", "ppl_stderr", "nll_mean", "tokens", "mode", "ctx", "stride"})
    EXPECT_TRUE(shorter.contains(key)) << key;
  EXPECT_EQ(shorter["tokens"].get<int64_t>(), t.tokens - 1);
  EXPECT_EQ(shorter["mode"], "sliding");
  EXPECT_EQ(shorter["ctx"].get<int64_t>(), 512);
  EXPECT_EQ(shorter["stride"].get<int64_t>(), 256);
  EXPECT_DOUBLE_EQ(shorter["ppl"].get<double>(), std::exp(shorter["nll_mean"].get<double>()));
  EXPECT_GT(shorter["ppl_stderr"].get<double>(), 0.0);
  // Exactly one window: the same window, the same numbers.
  const json one = ppl_json({"--model", m, "--file", f, "--ctx", std::to_string(t.tokens)});
  EXPECT_EQ(one["tokens"].get<int64_t>(), t.tokens - 1);
  EXPECT_EQ(one["nll_mean"].get<double>(), shorter["nll_mean"].get<double>());
  // A stride that divides nothing: still every token after the first, once.
  const json odd = ppl_json({"--model", m, "--file", f, "--ctx", "48", "--stride", "29"});
  EXPECT_EQ(odd["tokens"].get<int64_t>(), t.tokens - 1);
  EXPECT_EQ(odd["stride"].get<int64_t>(), 29);
  EXPECT_NE(odd["nll_mean"].get<double>(), one["nll_mean"].get<double>());  // less context per token
}

TEST(PerplexityCli, ChunksOnAText) {
  const Text& t = text();
  const std::string f = t.file.string(), m = kTiny.string();
  expect_fails({"--model", m, "--file", f, "--chunks"}, "fewer than one chunk of --ctx 512");
  const json one = ppl_json({"--model", m, "--file", f, "--chunks", "--ctx", std::to_string(t.tokens)});
  EXPECT_EQ(one["mode"], "chunks");
  EXPECT_EQ(one["tokens"].get<int64_t>(), t.tokens - 1 - t.tokens / 2);
  // Several chunks, the running value printed per chunk as llama-perplexity does.
  auto r = run_cli({"perplexity", "--model", m, "--file", f, "--chunks", "--ctx", "40", "--threads", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_HAS(r.out, "[1]");
  EXPECT_HAS(r.out, "[" + std::to_string(t.tokens / 40) + "]");
  EXPECT_HAS(r.out, "PPL = ");
}

TEST(PerplexityCli, GoldenPromptPerplexity) {
  // exp(mean NLL) of the 40-token golden prompt against the golden logits at every position.
  const fs::path dir = kModels / "micro-12b-style-f32";
  const json p = load_json(dir / "golden" / "logits.json")["prompts"][1];
  const double atol = load_json(dir / "golden" / "meta.json")["tolerances"]["token_logprob_atol"].get<double>();
  const auto ids = p["input_ids"].get<std::vector<int64_t>>();
  double sum = 0;
  std::string list;
  for (size_t t = 0; t < ids.size(); ++t) {
    list += (t ? "," : "") + std::to_string(ids[t]);
    if (t > 0) sum += p["full_logits"][t - 1][ids[t]].get<double>() - p["logsumexp"][t - 1].get<double>();
  }
  const double want = std::exp(-sum / static_cast<double>(ids.size() - 1));
  const json j = ppl_json({"--model", dir.string(), "--ids", list, "--ctx", "64"});
  EXPECT_EQ(j["tokens"].get<size_t>(), ids.size() - 1);
  EXPECT_NEAR(j["ppl"].get<double>(), want, want * atol);
}

TEST(PerplexityCli, KlDivergence) {
  const Text& t = text();
  const std::string f = t.file.string(), m = kTiny.string();
  const fs::path tmp = temp_dir("kld-cli");
  const std::string base = (tmp / "base.bin").string();
  const json saved = ppl_json({"--model", m, "--file", f, "--ctx", "64", "--stride", "37", "--save-logits", base});
  ASSERT_TRUE(fs::exists(base));
  // Against itself (window settings taken from the file): KLD 0, the same top token everywhere.
  const json self = ppl_json({"--model", m, "--file", f, "--kl-divergence", base});
  for (const char* key : {"kld_mean", "kld_stderr", "kld_median", "kld_q90", "kld_q95", "kld_q99", "kld_q999",
                          "same_top_pct", "dp_rms", "dp_max", "ppl_ratio", "ppl", "tokens", "ctx", "stride"})
    EXPECT_TRUE(self.contains(key)) << key;
  EXPECT_EQ(self["ctx"].get<int64_t>(), 64);
  EXPECT_EQ(self["stride"].get<int64_t>(), 37);
  EXPECT_EQ(self["nll_mean"].get<double>(), saved["nll_mean"].get<double>());
  EXPECT_EQ(self["kld_mean"].get<double>(), 0.0);
  EXPECT_EQ(self["kld_q999"].get<double>(), 0.0);
  EXPECT_EQ(self["same_top_pct"].get<double>(), 100.0);
  EXPECT_EQ(self["dp_max"].get<double>(), 0.0);
  EXPECT_EQ(self["ppl_ratio"].get<double>(), 1.0);
  // Q8 weights: a positive divergence, and the table.
  const json q8 = ppl_json({"--model", m, "--file", f, "--kl-divergence", base, "--weights", "q8"});
  EXPECT_GT(q8["kld_mean"].get<double>(), 0.0);
  EXPECT_LE(q8["kld_median"].get<double>(), q8["kld_q99"].get<double>());
  EXPECT_NEAR(q8["ppl_ratio"].get<double>(), q8["ppl"].get<double>() / saved["ppl"].get<double>(), 1e-5);
  auto r = run_cli({"perplexity", "--model", m, "--file", f, "--kl-divergence", base, "--kv", "q8", "--threads", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_HAS(r.out, "Mean    KLD");
  EXPECT_HAS(r.out, "Same top token");

  // Refused: other settings, other tokens, another model, a truncated file.
  expect_fails({"--model", m, "--file", f, "--kl-divergence", base, "--ctx", "32"}, "run with the base's settings");
  write_file(tmp / "other.txt", read_file(t.file) + " and more");
  expect_fails({"--model", m, "--file", (tmp / "other.txt").string(), "--kl-divergence", base}, "other tokens");
  const std::string micro = (tmp / "micro.bin").string();
  ppl_json({"--model", (kModels / "micro-v2-f32").string(), "--ids", "1,2,3,4,5,6,7,8", "--save-logits", micro});
  expect_fails({"--model", m, "--file", f, "--kl-divergence", micro}, "another model");
  const std::string bytes = read_file(base);
  write_file(tmp / "cut.bin", bytes.substr(0, bytes.size() - 100));
  expect_fails({"--model", m, "--file", f, "--kl-divergence", (tmp / "cut.bin").string()}, "truncated");
  expect_fails({"--model", m, "--file", f, "--kl-divergence", (tmp / "missing.bin").string()}, "missing.bin");
}

TEST(PerplexityCli, Errors) {
  const fs::path tmp = temp_dir("ppl-err");
  const std::string m = kTiny.string();
  write_file(tmp / "empty.txt", "");
  expect_fails({"--model", m, "--file", (tmp / "empty.txt").string()}, "empty.txt: the file is empty");
  write_file(tmp / "bad.txt", "valid start \xff\xfe then invalid UTF-8");
  expect_fails({"--model", m, "--file", (tmp / "bad.txt").string()}, "bad.txt");
  expect_fails({"--model", m, "--file", (tmp / "nope.txt").string()}, "nope.txt");
  const std::string f = text().file.string();
  expect_fails({"--model", m, "--file", f, "--ctx", "32", "--stride", "33"}, "--stride 33 is larger than --ctx 32");
  expect_fails({"--model", m, "--file", f, "--chunks", "--stride", "8"}, "--stride");
  expect_fails({"--model", m, "--file", f, "--ctx", "100000"}, "max_position_embeddings");
  expect_fails({"--model", m, "--ids", "5"}, "at least 2");
  expect_fails({"--model", m}, "--file");
  expect_fails({"--model", m, "--file", f, "--ids", "1,2"}, "conflict");
  expect_fails({"--model", (kModels / "micro-v2-f32").string(), "--ids", "1,2,512"}, "outside the vocabulary");
}

}  // namespace
}  // namespace stablelm::test
