// The tokenize / detokenize subcommands, end to end through the built binary.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

#include "testutil.h"

namespace {
using stablelm::test::run_cli;

std::string model() { return (stablelm::test::fixtures_dir() / "arcade100k").string(); }

TEST(TokenizerCli, TokenizeText) {
  auto r = run_cli({"tokenize", "--model", model(), "--text", "Hello world<|endoftext|>"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["ids"], nlohmann::json({9906, 1917, 100257}));
  r = run_cli({"tokenize", "--model", model(), "--text", "<|endoftext|>", "--no-special"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["ids"], nlohmann::json({27, 91, 8862, 728, 428, 91, 29}));
  // The tiktoken-only directory gives the same ids.
  auto dir = stablelm::test::temp_dir("cli-tt");
  std::filesystem::copy_file(stablelm::test::fixtures_dir() / "arcade100k" / "arcade100k.tiktoken", dir / "arcade100k.tiktoken");
  r = run_cli({"tokenize", "--model", dir.string(), "--text", "Hello world<|endoftext|>"});
  EXPECT_EQ(nlohmann::json::parse(r.out)["ids"], nlohmann::json({9906, 1917, 100257}));
}

TEST(TokenizerCli, TokenizeJsonlInOrder) {
  std::string in;
  std::vector<std::string> texts;
  for (int i = 0; i < 500; ++i) {
    texts.push_back("line " + std::to_string(i) + (i % 3 ? " <|endoftext|>" : " café"));
    nlohmann::json j = {{"text", texts.back()}};
    if (i % 5 == 0) j["special"] = false;
    in += j.dump() + "\n";
    if (i == 10) in += "\n";  // blank lines are skipped
  }
  auto r = run_cli({"tokenize", "--model", model(), "--jsonl", "--threads", "3"}, in);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream out(r.out);
  std::string line;
  int i = 0;
  while (std::getline(out, line)) {
    auto ids = nlohmann::json::parse(line)["ids"];
    bool has_special = std::find(ids.begin(), ids.end(), 100257) != ids.end();
    EXPECT_EQ(has_special, i % 3 != 0 && i % 5 != 0) << i;
    // Each line's ids decode back to its text.
    std::string csv;
    for (auto& id : ids) csv += (csv.empty() ? "" : ",") + std::to_string(id.get<int>());
    if (i % 97 == 0) {
      auto d = run_cli({"detokenize", "--model", model(), "--ids", csv});
      EXPECT_EQ(d.out, texts[i]);
    }
    ++i;
  }
  EXPECT_EQ(i, 500);
}

TEST(TokenizerCli, Detokenize) {
  auto r = run_cli({"detokenize", "--model", model(), "--ids", "9906,1917,100257"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Hello world<|endoftext|>");
  r = run_cli({"detokenize", "--model", model(), "--ids", "9906,1917,100257", "--skip-special"});
  EXPECT_EQ(r.out, "Hello world");
  r = run_cli({"detokenize", "--model", model(), "--ids", "9468,239"});  // half of an emoji
  EXPECT_EQ(r.out, "\xEF\xBF\xBD");
}

TEST(TokenizerCli, Errors) {
  auto r = run_cli({"tokenize", "--model", model(), "--text", "bad \xFF byte"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("not valid UTF-8"), std::string::npos) << r.err;
  r = run_cli({"tokenize", "--model", model()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--text"), std::string::npos) << r.err;
  r = run_cli({"tokenize", "--model", model(), "--jsonl"}, "{\"text\": \"ok\"}\n{\"text\": 5}\n");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.out, "{\"ids\": [564]}\n");
  EXPECT_NE(r.err.find("stdin line 2"), std::string::npos) << r.err;
  r = run_cli({"tokenize", "--model", model(), "--jsonl"}, "{\"text\": \"a\", \"special\": \"yes\"}\n");
  EXPECT_NE(r.err.find("\"special\" must be true or false"), std::string::npos) << r.err;
  r = run_cli({"tokenize", "--model", model(), "--jsonl"}, "not json\n");
  EXPECT_NE(r.err.find("stdin line 1: not valid JSON"), std::string::npos) << r.err;
  r = run_cli({"detokenize", "--model", model(), "--ids", "1,100300"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("100300 is not a token"), std::string::npos) << r.err;
  r = run_cli({"detokenize", "--model", "/nonexistent/dir", "--ids", "1"});
  EXPECT_NE(r.exit_code, 0);
}

}  // namespace
