// `stablelm generate` end to end on the fixture models: the golden greedy ids, seeded sampling,
// text streaming, stop strings, eos, min_new_tokens, prompt sources and every error it reports.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "stablelm/tokenizer.h"
#include "testutil.h"

using namespace stablelm;
using nlohmann::json;
namespace fs = std::filesystem;
using test::run_cli;

namespace {
bool sanitized() { return std::getenv("STABLELM_SANITIZED") != nullptr; }
fs::path tiny() { return test::fixtures_dir() / "models" / "tiny-stablelm-2"; }
fs::path micro() { return test::fixtures_dir() / "models" / "micro-v2-f32"; }

std::string ids_arg(const json& ids) {
  std::string s;
  for (const auto& v : ids) s += (s.empty() ? "" : ",") + std::to_string(v.get<int64_t>());
  return s;
}

std::vector<int32_t> ids_of(const test::CommandResult& r) {
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return json::parse(r.out)["ids"].get<std::vector<int32_t>>();
}

const std::string kPrompt = "The weather is always wonderful";

test::CommandResult gen(std::vector<std::string> extra, const fs::path& model = tiny(), const std::string& in = "") {
  std::vector<std::string> args = {"generate", "--model", model.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  return run_cli(args, in);
}

// Fails the test unless the command failed with a message containing every `needles`.
void expect_error(const test::CommandResult& r, std::initializer_list<std::string> needles) {
  EXPECT_NE(r.exit_code, 0) << r.out;
  for (const auto& n : needles) EXPECT_NE(r.err.find(n), std::string::npos) << "missing \"" << n << "\" in: " << r.err;
}
}  // namespace

TEST(GenerateCli, GreedyIdsMatchTheGoldensOfEveryModel) {
  for (const auto& dir : test::fixture_models()) {
    const json g = json::parse(test::read_file(dir / "golden" / "generate.json"));
    for (const json& p : g["prompts"]) {
      if (sanitized() && p["input_ids"].size() > 64) continue;
      SCOPED_TRACE(dir.filename().string() + " " + p["name"].get<std::string>());
      auto r = gen({"--ids", ids_arg(p["input_ids"]), "--max-new-tokens", "32", "--greedy", "--print-ids"}, dir);
      EXPECT_EQ(ids_of(r), p["new_tokens_with_cache"].get<std::vector<int32_t>>());
    }
  }
}

TEST(GenerateCli, SameSeedSameTextDifferentSeedDifferentText) {
  const std::vector<std::string> base = {"--prompt", kPrompt, "--max-new-tokens", "24", "--temperature", "1.5"};
  auto with_seed = [&](const char* seed) {
    auto args = base;
    args.insert(args.end(), {"--seed", seed});
    return gen(args);
  };
  auto a = with_seed("7"), b = with_seed("7"), c = with_seed("8");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_FALSE(a.out.empty());
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, c.out);
  EXPECT_NE(a.err.find("sampling, seed 7"), std::string::npos) << a.err;
}

TEST(GenerateCli, ModelCardExampleStreamsTextAndSummary) {
  auto r = gen({"--prompt", kPrompt, "--max-new-tokens", "64", "--temperature", "0.7", "--top-p", "0.95"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(r.out.empty());
  for (const char* s : {"prompt tokens: 5", "generated tokens: 64", "prefill:", "decode:", "tok/s", "sampling"})
    EXPECT_NE(r.err.find(s), std::string::npos) << s << " in " << r.err;
}

TEST(GenerateCli, StreamedTextIsTheDecodeOfTheIds) {
  auto tok = Tokenizer::from_dir(tiny());
  for (const std::string& seed : sanitized() ? std::vector<std::string>{"1"} : std::vector<std::string>{"1", "2", "3"}) {
    const std::vector<std::string> args = {"--prompt", kPrompt, "--max-new-tokens", "40", "--top-k", "0", "--seed", seed};
    auto text = gen(args);
    auto with_ids = args;
    with_ids.push_back("--print-ids");
    const auto ids = ids_of(gen(with_ids));
    ASSERT_EQ(text.exit_code, 0) << text.err;
    EXPECT_EQ(text.out, tok->decode(ids));
  }
}

TEST(GenerateCli, GreedyTextOfAPromptMatchesGreedyIdsOfItsTokens) {
  auto tok = Tokenizer::from_dir(tiny());
  const auto prompt_ids = tok->encode(kPrompt);
  std::string ids;
  for (int32_t id : prompt_ids) ids += (ids.empty() ? "" : ",") + std::to_string(id);
  const auto want = ids_of(gen({"--ids", ids, "--max-new-tokens", "16", "--greedy", "--print-ids"}));
  auto r = gen({"--prompt", kPrompt, "--max-new-tokens", "16", "--greedy"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, tok->decode(want));
}

TEST(GenerateCli, PromptFromFileAndStdinEqualsPromptOption) {
  const fs::path f = test::temp_dir("prompt") / "p.txt";
  test::write_file(f, kPrompt);
  const std::vector<std::string> common = {"--max-new-tokens", "12", "--seed", "3", "--temperature", "0.9"};
  auto with = [&](std::vector<std::string> a) {
    a.insert(a.end(), common.begin(), common.end());
    return a;
  };
  auto a = gen(with({"--prompt", kPrompt}));
  auto b = gen(with({"--prompt-file", f.string()}));
  auto c = gen(with({}), tiny(), kPrompt);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(a.out, c.out);
}

TEST(GenerateCli, DefaultLengthIsTransformersMaxLength20) {
  // generation_config.json sets no length: max_length 20 counts the 5 prompt tokens.
  auto r = gen({"--prompt", kPrompt, "--print-ids"});
  EXPECT_EQ(ids_of(r).size(), 15u);
}

TEST(GenerateCli, EosIdStopsAndIsReturnedButNotPrinted) {
  const json g = json::parse(test::read_file(tiny() / "golden" / "generate.json"));
  const json& p = g["prompts"][0];
  const auto golden = p["new_tokens_with_cache"].get<std::vector<int32_t>>();
  const std::string eos = std::to_string(golden[4]);
  auto r = gen({"--ids", ids_arg(p["input_ids"]), "--max-new-tokens", "32", "--eos-id", eos, "--print-ids"});
  EXPECT_EQ(ids_of(r), std::vector<int32_t>(golden.begin(), golden.begin() + 5));
  EXPECT_NE(r.err.find("stop: eos"), std::string::npos) << r.err;
  // A list works too, and the text output leaves the final eos out.
  auto tok = Tokenizer::from_dir(tiny());
  auto t = gen({"--ids", ids_arg(p["input_ids"]), "--max-new-tokens", "32", "--eos-id", "1," + eos, "--greedy"});
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_EQ(t.out, tok->decode(std::vector<int32_t>(golden.begin(), golden.begin() + 4)));
}

TEST(GenerateCli, MinNewTokensSuppressesEos) {
  const json g = json::parse(test::read_file(tiny() / "golden" / "generate.json"));
  const json& p = g["prompts"][0];
  const auto golden = p["new_tokens_with_cache"].get<std::vector<int32_t>>();
  const std::string eos = std::to_string(golden[0]);
  // Without min_new_tokens the first token is eos: one token.
  auto a = gen({"--ids", ids_arg(p["input_ids"]), "--max-new-tokens", "8", "--eos-id", eos, "--print-ids"});
  EXPECT_EQ(ids_of(a), std::vector<int32_t>{golden[0]});
  auto b = gen({"--ids", ids_arg(p["input_ids"]), "--max-new-tokens", "8", "--eos-id", eos, "--min-new-tokens", "3",
                "--print-ids"});
  const auto ids = ids_of(b);
  ASSERT_GE(ids.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_NE(ids[i], golden[0]) << i;
}

TEST(GenerateCli, StopStringEndsTheOutputInsideTheCompletingToken) {
  auto tok = Tokenizer::from_dir(tiny());
  const std::vector<std::string> base = {"--prompt", kPrompt, "--max-new-tokens", "40", "--greedy"};
  auto full_ids = [&](std::vector<std::string> extra) {
    auto a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    a.push_back("--print-ids");
    return ids_of(gen(a));
  };
  const auto all = full_ids({});
  const std::string full = tok->decode(all);
  ASSERT_GT(full.size(), 30u);
  // A stop string taken from the middle of the greedy text (3 bytes of token 10's text onwards).
  size_t before = tok->decode(std::span<const int32_t>(all.data(), 10)).size();
  const std::string stop = full.substr(before, 3);
  auto r = gen({"--prompt", kPrompt, "--max-new-tokens", "40", "--greedy", "--stop", stop});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("stop: stop_string"), std::string::npos) << r.err;
  EXPECT_EQ(full.compare(0, r.out.size(), r.out), 0) << "not a prefix";
  const size_t at = r.out.find(stop);
  ASSERT_NE(at, std::string::npos);
  const auto ids = full_ids({"--stop", stop});
  EXPECT_LE(ids.size(), 11u);
  EXPECT_EQ(r.out, tok->decode(ids));
  // The output before the last token does not yet contain the stop string.
  EXPECT_EQ(tok->decode(std::span<const int32_t>(ids.data(), ids.size() - 1)).find(stop), std::string::npos);
}

TEST(GenerateCli, StopStringEscapes) {
  auto r = gen({"--prompt", kPrompt, "--max-new-tokens", "3", "--greedy", "--stop", "\\n", "--stop", "zzzz"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(GenerateCli, TooLongPromptIsAnErrorOrTruncatedLeft) {
  std::string ids;
  for (int i = 0; i < 500; ++i) ids += (ids.empty() ? "" : ",") + std::to_string(1 + i % 400);
  expect_error(gen({"--ids", ids, "--max-new-tokens", "20", "--print-ids"}, micro()),
               {"500 tokens", "max_position_embeddings 512", "--truncate left"});
  auto r = gen({"--ids", ids, "--max-new-tokens", "20", "--print-ids", "--truncate", "left"}, micro());
  EXPECT_EQ(ids_of(r).size(), 20u);
  EXPECT_NE(r.err.find("truncated on the left from 500 to 492"), std::string::npos) << r.err;
  expect_error(gen({"--ids", "1,2", "--max-new-tokens", "600", "--print-ids", "--truncate", "left"}, micro()),
               {"lower --max-new-tokens"});
}

TEST(GenerateCli, ConflictingOptionsAreRejected) {
  expect_error(gen({"--prompt", "x", "--greedy", "--temperature", "0.7"}), {"--greedy", "--temperature"});
  expect_error(gen({"--prompt", "x", "--greedy", "--top-p", "0.9"}), {"--greedy", "--top-p"});
  expect_error(gen({"--prompt", "x", "--greedy", "--do-sample"}), {"--greedy", "--do-sample"});
  expect_error(gen({"--ids", "1,2", "--prompt", "x"}), {"--ids", "--prompt"});
  expect_error(gen({"--prompt", "x", "--prompt-file", "f"}), {"--prompt", "--prompt-file"});
  expect_error(gen({"--prompt", "x", "--do-sample", "--temperature", "0"}), {"--temperature 0", "--do-sample"});
}

TEST(GenerateCli, BadValuesNameTheOption) {
  expect_error(gen({"--prompt", "x", "--temperature", "-1"}), {"temperature"});
  expect_error(gen({"--prompt", "x", "--top-p", "1.5"}), {"top_p"});
  expect_error(gen({"--prompt", "x", "--top-p", "0"}), {"top_p"});
  expect_error(gen({"--prompt", "x", "--top-k", "-3"}), {"top_k"});
  expect_error(gen({"--prompt", "x", "--min-p", "2"}), {"min_p"});
  expect_error(gen({"--prompt", "x", "--typical-p", "0"}), {"typical_p"});
  expect_error(gen({"--prompt", "x", "--repetition-penalty", "0"}), {"repetition_penalty"});
  expect_error(gen({"--prompt", "x", "--truncate", "right"}), {"--truncate"});
  expect_error(gen({"--prompt", "x", "--eos-id", "a"}), {"--eos-id"});
  expect_error(gen({"--prompt", "x", "--kv", "q3"}), {"--kv"});
  expect_error(gen({"--prompt-file", "/nonexistent/prompt.txt"}), {"/nonexistent/prompt.txt"});
  expect_error(gen({"--ids", "1,100352", "--print-ids"}), {"100352", "out of range"});
  expect_error(gen({"--prompt", std::string("bad \xff utf8")}), {});
}

TEST(GenerateCli, UnknownOptionPrintsUsage) {
  auto r = gen({"--prompt", "x", "--frobnicate"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE((r.out + r.err).find("--frobnicate"), std::string::npos);
  auto h = run_cli({"generate", "--help"});
  EXPECT_EQ(h.exit_code, 0);
  for (const char* opt : {"--prompt", "--prompt-file", "--temperature", "--top-k", "--top-p", "--min-p", "--typical-p",
                          "--repetition-penalty", "--no-repeat-ngram-size", "--seed", "--max-new-tokens",
                          "--min-new-tokens", "--do-sample", "--greedy", "--eos-id", "--stop", "--threads", "--kv",
                          "--truncate", "--revision", "--print-ids"})
    EXPECT_NE(h.out.find(opt), std::string::npos) << opt;
}

TEST(GenerateCli, TextNeedsATokenizer) {
  // micro models ship no tokenizer: ids in and ids out work, text does not.
  EXPECT_EQ(gen({"--ids", "1,2,3", "--max-new-tokens", "2", "--print-ids"}, micro()).exit_code, 0);
  auto r = gen({"--ids", "1,2,3", "--max-new-tokens", "2"}, micro());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("tokenizer"), std::string::npos) << r.err;
}

TEST(GenerateCli, EmptyPromptStartsFromBos) {
  auto r = gen({"--prompt", "", "--max-new-tokens", "3", "--print-ids"});
  EXPECT_EQ(ids_of(r).size(), 3u);
  EXPECT_NE(r.err.find("prompt tokens: 1"), std::string::npos) << r.err;
}

TEST(GenerateCli, MaxNewTokensZeroGeneratesNothing) {
  auto r = gen({"--ids", "1,2", "--max-new-tokens", "0", "--greedy", "--print-ids"});
  EXPECT_TRUE(ids_of(r).empty());
}

TEST(GenerateCli, RepetitionPenaltyAndNoRepeatNgramRun) {
  auto r = gen({"--prompt", kPrompt, "--max-new-tokens", "30", "--greedy", "--no-repeat-ngram-size", "1", "--print-ids"});
  auto ids = ids_of(r);
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(std::adjacent_find(ids.begin(), ids.end()), ids.end()) << "a token repeated despite no_repeat_ngram_size 1";
  EXPECT_EQ(gen({"--prompt", kPrompt, "--max-new-tokens", "5", "--repetition-penalty", "1.3", "--min-p", "0.05",
                 "--typical-p", "0.9", "--seed", "1"})
                .exit_code,
            0);
}
