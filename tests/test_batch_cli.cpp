// The batched engine on the command line: `score --jsonl` (bitwise the numbers of one `score`
// call per line, in input order, with prefix reuse; bad lines named), `generate
// --num-return-sequences` (each sample equals a single generate with seed + i), `bench
// --parallel`, and `logits --positions last` = the last row of `--positions all`.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <algorithm>
#include <sstream>

#include "testutil.h"

using namespace stablelm;
using nlohmann::json;
namespace fs = std::filesystem;
using test::run_cli;

namespace {
fs::path model(const char* name) { return test::fixtures_dir() / "models" / name; }

std::string ids_arg(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t v : ids) s += (s.empty() ? "" : ",") + std::to_string(v);
  return s;
}

std::vector<std::vector<int32_t>> golden_prompts(const fs::path& dir) {
  const json g = json::parse(test::read_file(dir / "golden" / "logits.json"));
  std::vector<std::vector<int32_t>> out;
  for (const auto& p : g["prompts"]) out.push_back(p["input_ids"].get<std::vector<int32_t>>());
  return out;
}

TEST(ScoreJsonl, EqualsOneScoreCallPerLineBitwise) {
  for (const char* name : {"micro-v2-f32", "micro-12b-style-f32", "tiny-stablelm-2"}) {
    SCOPED_TRACE(name);
    const auto prompts = golden_prompts(model(name));
    const std::vector<int32_t>& longp = prompts.back();
    // Multiple-choice shape: one context, four continuations; plus contexts sharing a prefix,
    // a one-token context and a repeat of the first line.
    std::vector<std::pair<std::vector<int32_t>, std::vector<int32_t>>> reqs;
    std::vector<int32_t> ctx(longp.begin(), longp.begin() + 40);
    for (int k = 0; k < 4; ++k) reqs.push_back({ctx, {longp[40 + static_cast<size_t>(k)], longp[45], longp[46 + static_cast<size_t>(k)]}});
    reqs.push_back({std::vector<int32_t>(longp.begin(), longp.begin() + 60), {longp[60]}});
    reqs.push_back({{longp[0]}, {longp[1], longp[2]}});
    reqs.push_back(reqs.front());
    std::string in;
    for (const auto& [c, k] : reqs) in += json{{"context", c}, {"continuation", k}}.dump() + "\n";
    const auto r = run_cli({"score", "--model", model(name).string(), "--jsonl", "--batch", "37"}, in);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::istringstream lines(r.out);
    std::string line;
    for (const auto& [c, k] : reqs) {
      ASSERT_TRUE(std::getline(lines, line));
      const auto one = run_cli({"score", "--model", model(name).string(), "--ids", ids_arg(c), "--continuation", ids_arg(k)});
      ASSERT_EQ(one.exit_code, 0) << one.err;
      EXPECT_EQ(json::parse(line), json::parse(one.out)) << "line vs single call";
      EXPECT_EQ(line + "\n", one.out) << "printed the same";
    }
    EXPECT_FALSE(std::getline(lines, line)) << "one line out per line in";
  }
}

TEST(ScoreJsonl, TextLinesSplitLikeTheSingleCall) {
  const fs::path tiny = model("tiny-stablelm-2");
  const auto r = run_cli({"score", "--model", tiny.string(), "--jsonl"},
                         R"({"context_text": "The capital of France is", "continuation_text": " Paris"})" "\n\n"
                         R"({"context_text": "The capital of France is", "continuation_text": " Rome"})" "\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto a = run_cli({"score", "--model", tiny.string(), "--prompt", "The capital of France is", "--continuation-text", " Paris"});
  const auto b = run_cli({"score", "--model", tiny.string(), "--prompt", "The capital of France is", "--continuation-text", " Rome"});
  EXPECT_EQ(r.out, a.out + b.out);
}

TEST(ScoreJsonl, BadLinesAreNamed) {
  const std::string m = model("micro-v2-f32").string();
  struct Case {
    std::string in, needle;
  };
  const std::vector<Case> cases = {
      {"{\"context\": [1], \"continuation\": [2]}\nnot json\n", "line 2"},
      {"{\"context\": [1]}\n", "line 1"},
      {"{\"context\": [], \"continuation\": [2]}\n", "at least one token"},
      {"{\"context\": [1], \"continuation\": [-3]}\n", "not a token id"},
      {"{\"context\": [1], \"continuation\": [2], \"context_text\": \"a\"}\n", "line 1"},
      {"[1, 2]\n", "JSON object"},
      {"{\"context\": [1], \"continuation\": [99999]}\n", "outside the vocabulary"},
  };
  for (const Case& c : cases) {
    const auto r = run_cli({"score", "--model", m, "--jsonl"}, c.in);
    EXPECT_NE(r.exit_code, 0) << c.in;
    EXPECT_NE(r.err.find(c.needle), std::string::npos) << c.in << " -> " << r.err;
    EXPECT_NE(r.err.find("error:"), std::string::npos) << r.err;
  }
  const auto r = run_cli({"score", "--model", m, "--jsonl", "--ids", "1"}, "");
  EXPECT_NE(r.exit_code, 0);
}

TEST(NumReturnSequences, EachSampleEqualsASingleGenerateWithItsSeed) {
  const fs::path tiny = model("tiny-stablelm-2");
  const std::vector<std::string> common = {"generate", "--model", tiny.string(), "--prompt", "Once upon a time",
                                           "--max-new-tokens", "12", "--temperature", "0.8", "--print-ids"};
  auto args = common;
  for (const char* a : {"--seed", "5", "--num-return-sequences", "3"}) args.push_back(a);
  const auto r = run_cli(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json ids = json::parse(r.out)["ids"];
  ASSERT_EQ(ids.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    auto one = common;
    one.push_back("--seed");
    one.push_back(std::to_string(5 + i));
    const auto s = run_cli(one);
    ASSERT_EQ(s.exit_code, 0) << s.err;
    EXPECT_EQ(ids[static_cast<size_t>(i)], json::parse(s.out)["ids"]) << "sample " << i;
  }
  // Text output separates the samples.
  auto text = common;
  text.pop_back();
  for (const char* a : {"--seed", "5", "--num-return-sequences", "2"}) text.push_back(a);
  const auto t = run_cli(text);
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_NE(t.out.find("--- sample 1 ---\n"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("--- sample 2 ---\n"), std::string::npos) << t.out;
  // Greedy with several samples is refused, as transformers does; 0 is out of range.
  const auto g = run_cli({"generate", "--model", tiny.string(), "--prompt", "Hi", "--greedy", "--num-return-sequences", "2"});
  EXPECT_NE(g.exit_code, 0);
  EXPECT_NE(g.err.find("num_return_sequences"), std::string::npos) << g.err;
  const auto z = run_cli({"generate", "--model", tiny.string(), "--prompt", "Hi", "--num-return-sequences", "0"});
  EXPECT_NE(z.exit_code, 0);
}

TEST(BenchParallel, ReportsEachCountInTheTableAndJson) {
  const auto r = run_cli({"bench", "--model", model("micro-v2-f32").string(), "-p", "8", "-n", "4", "--reps", "1",
                          "--parallel", "1,3", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  std::vector<int64_t> seen;
  while (std::getline(lines, line)) {
    const json j = json::parse(line);
    seen.push_back(j["parallel"].get<int64_t>());
    EXPECT_GT(j["prefill_tok_s"].get<double>(), 0);
    EXPECT_GT(j["decode_tok_s"].get<double>(), 0);
  }
  EXPECT_EQ(seen, (std::vector<int64_t>{1, 3}));
  const auto t = run_cli({"bench", "--model", model("micro-v2-f32").string(), "-p", "8", "-n", "2", "--reps", "1", "--parallel", "2"});
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_NE(t.out.find("pp8 x2"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("tg2 x2"), std::string::npos) << t.out;
  const auto bad = run_cli({"bench", "--model", model("micro-v2-f32").string(), "--parallel", "0"});
  EXPECT_NE(bad.exit_code, 0);
}

TEST(LogitsPositions, LastEqualsTheLastRowOfAll) {
  for (const auto& dir : test::fixture_models()) {
    if (!fs::exists(dir / "golden" / "logits.json")) continue;
    const auto prompts = golden_prompts(dir);
    std::vector<int32_t> p = prompts.back();
    p.resize(std::min<size_t>(p.size(), 40));  // the full rows of a 100k vocabulary are large JSON
    const std::string ids = ids_arg(p);
    const auto all = run_cli({"logits", "--model", dir.string(), "--ids", ids, "--positions", "all"});
    const auto last = run_cli({"logits", "--model", dir.string(), "--ids", ids, "--positions", "last"});
    ASSERT_EQ(all.exit_code, 0) << all.err;
    ASSERT_EQ(last.exit_code, 0) << last.err;
    const json a = json::parse(all.out)["logits"], l = json::parse(last.out)["logits"];
    ASSERT_EQ(l.size(), 1u);
    EXPECT_EQ(l[0], a[a.size() - 1]) << dir;
  }
}

}  // namespace
