// `--prompt` / `--continuation-text` on the id-level subcommands: text goes through the model's
// tokenizer and gives exactly what the id forms give for `stablelm tokenize`'s ids.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "testutil.h"

using stablelm::test::fixtures_dir;
using stablelm::test::run_cli;

namespace {

std::string tiny() { return (fixtures_dir() / "models" / "tiny-stablelm-2").string(); }

std::string ids_of(const std::string& text) {
  auto r = run_cli({"tokenize", "--model", tiny(), "--text", text});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::string out;
  const nlohmann::json parsed = nlohmann::json::parse(r.out);
  for (auto& id : parsed["ids"]) out += (out.empty() ? "" : ",") + std::to_string(id.get<int>());
  return out;
}

TEST(CliTextInputs, LogitsPromptEqualsIds) {
  const std::string text = "The weather is always wonderful";
  auto by_text = run_cli({"logits", "--model", tiny(), "--prompt", text, "--positions", "last"});
  auto by_ids = run_cli({"logits", "--model", tiny(), "--ids", ids_of(text), "--positions", "last"});
  ASSERT_EQ(by_text.exit_code, 0) << by_text.err;
  ASSERT_EQ(by_ids.exit_code, 0) << by_ids.err;
  EXPECT_EQ(by_text.out, by_ids.out);
  EXPECT_EQ(nlohmann::json::parse(by_text.out)["logits"].size(), 1u);
}

TEST(CliTextInputs, ScoreTextEqualsIds) {
  auto by_text = run_cli({"score", "--model", tiny(), "--prompt", "The capital of France is", "--continuation-text",
                          " Paris, of course"});
  ASSERT_EQ(by_text.exit_code, 0) << by_text.err;
  auto by_ids = run_cli({"score", "--model", tiny(), "--ids", ids_of("The capital of France is"), "--continuation",
                         ids_of(" Paris, of course")});
  ASSERT_EQ(by_ids.exit_code, 0) << by_ids.err;
  auto a = nlohmann::json::parse(by_text.out), b = nlohmann::json::parse(by_ids.out);
  EXPECT_EQ(a["token_logprobs"].size(), b["token_logprobs"].size());
  EXPECT_DOUBLE_EQ(a["logprob"].get<double>(), b["logprob"].get<double>());
}

TEST(CliTextInputs, ConflictsAndMissingInputsAreErrors) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"logits", "--model", tiny(), "--ids", "1,2", "--prompt", "hi"}, "conflict"},
      {{"logits", "--model", tiny()}, "--ids or --prompt"},
      {{"logits", "--model", tiny(), "--prompt", ""}, "empty"},
      {{"score", "--model", tiny(), "--ids", "1,2", "--continuation-text", "x"}, "--continuation"},
      {{"score", "--model", tiny(), "--prompt", "a", "--continuation", "3"}, "--continuation-text"},
      {{"score", "--model", tiny(), "--prompt", "a"}, "--continuation or --continuation-text"},
      {{"logits", "--model", tiny(), "--prompt", std::string("bad \xff utf8")}, "UTF-8"},
  };
  for (const auto& c : cases) {
    auto r = run_cli(c.args);
    EXPECT_NE(r.exit_code, 0) << c.args[0] << " " << c.message;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << "stderr: " << r.err;
  }
}

}  // namespace
