// `stablelm chat-template` end to end through the built binary: the JSONL contract on every
// fixture case, the --model path (template and special tokens from tokenizer_config.json), the
// --messages form, and errors.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "testutil.h"

namespace {

using nlohmann::ordered_json;
using stablelm::test::run_cli;

std::filesystem::path templates_dir() { return stablelm::test::fixtures_dir() / "chat-templates"; }

std::vector<ordered_json> lines_of(const std::string& text) {
  std::vector<ordered_json> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(ordered_json::parse(line));
  return out;
}

// A fixture case as a request line of the documented contract: special tokens and extra
// variables at the top level, no fixture-only keys.
ordered_json contract_line(const ordered_json& c) {
  ordered_json j;
  j["messages"] = c["messages"];
  j["add_generation_prompt"] = c["add_generation_prompt"];
  if (!c["tools"].is_null()) j["tools"] = c["tools"];
  if (!c["documents"].is_null()) j["documents"] = c["documents"];
  for (const auto& [k, v] : c["special_tokens"].items()) j[k] = v;
  for (const auto& [k, v] : c["extra_context"].items()) j[k] = v;
  j["now"] = c["now"];
  return j;
}

void expect_matches(const ordered_json& got, const ordered_json& c, const std::string& where) {
  if (c.contains("expected")) {
    ASSERT_TRUE(got.contains("text")) << where << ": " << got.dump();
    EXPECT_EQ(got["text"], c["expected"]) << where;
  } else {
    ASSERT_TRUE(got.contains("error")) << where << ": " << got.dump();
    EXPECT_EQ(got["error"], c["error"]) << where;
  }
}

TEST(ChatTemplateCli, JsonlEveryFixtureCase) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(templates_dir())) {
    if (!e.is_directory()) continue;
    std::vector<ordered_json> cases = lines_of(stablelm::test::read_file(e.path() / "cases.jsonl"));
    std::string in;
    for (const auto& c : cases) in += contract_line(c).dump() + "\n";
    auto r = run_cli({"chat-template", "--template", (e.path() / "template.jinja").string(), "--jsonl"}, in);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto out = lines_of(r.out);
    ASSERT_EQ(out.size(), cases.size()) << e.path();
    for (size_t i = 0; i < cases.size(); ++i)
      expect_matches(out[i], cases[i], e.path().filename().string() + "/" + cases[i]["case"].get<std::string>());
    n += static_cast<int>(cases.size());
  }
  EXPECT_EQ(n, 462);
}

// Raw fixture lines (their special_tokens / extra_context objects) work as they are.
TEST(ChatTemplateCli, JsonlFixtureSchemaLines) {
  const auto dir = templates_dir() / "fireworks-ai-llama-3-firefunction-v2";
  auto r = run_cli({"chat-template", "--template", (dir / "template.jinja").string(), "--jsonl"},
                   stablelm::test::read_file(dir / "cases.jsonl"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto cases = lines_of(stablelm::test::read_file(dir / "cases.jsonl"));
  auto out = lines_of(r.out);
  ASSERT_EQ(out.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) expect_matches(out[i], cases[i], cases[i]["case"]);
}

std::filesystem::path model_with(const std::filesystem::path& fixture_template_dir, const std::string& tag) {
  auto dir = stablelm::test::temp_dir(tag);
  std::filesystem::copy_file(fixture_template_dir / "tokenizer_config.json", dir / "tokenizer_config.json");
  return dir;
}

TEST(ChatTemplateCli, ModelSuppliesTemplateAndTokens) {
  const auto fdir = templates_dir() / "meta-llama-Llama-3.1-8B-Instruct";
  const auto model = model_with(fdir, "chat-model");
  auto cases = lines_of(stablelm::test::read_file(fdir / "cases.jsonl"));
  std::string in;
  for (const auto& c : cases) {
    ordered_json j = contract_line(c);
    j.erase("bos_token");  // from the model's tokenizer_config.json
    j.erase("eos_token");
    in += j.dump() + "\n";
  }
  auto r = run_cli({"chat-template", "--model", model.string(), "--jsonl"}, in);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto out = lines_of(r.out);
  ASSERT_EQ(out.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) expect_matches(out[i], cases[i], cases[i]["case"]);

  // A line's own bos_token wins over the model's.
  r = run_cli({"chat-template", "--model", model.string(), "--jsonl"},
              R"({"messages": [{"role": "user", "content": "hi"}], "bos_token": "<BOS>", "now": "2024-09-26T13:45:30"})"
              "\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(lines_of(r.out)[0]["text"].get<std::string>().rfind("<BOS>", 0), 0u) << r.out;
}

TEST(ChatTemplateCli, MessagesFile) {
  const auto fdir = templates_dir() / "stabilityai-stablelm-2-chat";
  auto cases = lines_of(stablelm::test::read_file(fdir / "cases.jsonl"));
  const auto dir = stablelm::test::temp_dir("chat-msgs");
  for (const auto& c : cases) {
    if (!c.contains("expected") || !c["tools"].is_null() || !c["extra_context"].empty()) continue;
    stablelm::test::write_file(dir / "m.json", c["messages"].dump());
    std::vector<std::string> args = {"chat-template", "--model", model_with(fdir, "chat-m").string(), "--messages",
                                     (dir / "m.json").string()};
    if (c["add_generation_prompt"].get<bool>()) args.push_back("--add-generation-prompt");
    auto r = run_cli(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, c["expected"].get<std::string>()) << c["case"];
  }
}

TEST(ChatTemplateCli, NowFixesTheClock) {
  const auto dir = stablelm::test::temp_dir("chat-now");
  stablelm::test::write_file(dir / "t.jinja", "{{ strftime_now('%d %b %Y %H:%M') }}|{{ tools is none }}{{ documents is defined }}");
  auto r = run_cli({"chat-template", "--template", (dir / "t.jinja").string(), "--jsonl"},
                   "{\"messages\": [], \"now\": \"2024-09-26T13:45:30\"}\n{\"messages\": []}\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto out = lines_of(r.out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0]["text"], "26 Sep 2024 13:45|TrueTrue");
  EXPECT_EQ(out[1]["text"].get<std::string>().size(), out[0]["text"].get<std::string>().size());
}

TEST(ChatTemplateCli, Errors) {
  const auto dir = stablelm::test::temp_dir("chat-err");
  // A model directory without a template: a clear error that says how to pass one.
  stablelm::test::write_file(dir / "tokenizer_config.json", R"({"bos_token": "<s>"})");
  auto r = run_cli({"chat-template", "--model", dir.string(), "--jsonl"}, "{\"messages\": []}\n");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("no chat template"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--template"), std::string::npos) << r.err;
  // A syntax error: every line answers with it (line and column included); bad lines say which.
  stablelm::test::write_file(dir / "bad.jinja", "ok\n{% if x %}{{ 1 + }}{% endif %}");
  r = run_cli({"chat-template", "--template", (dir / "bad.jinja").string(), "--jsonl"},
              "{\"messages\": []}\nnot json\n\n{\"messages\": 3}\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto out = lines_of(r.out);
  ASSERT_EQ(out.size(), 3u) << r.out;
  EXPECT_NE(out[0]["error"].get<std::string>().find("(line 2, column"), std::string::npos) << out[0];
  EXPECT_NE(out[1]["error"].get<std::string>().find("stdin line 2"), std::string::npos) << out[1];
  EXPECT_NE(out[2]["error"].get<std::string>().find("messages"), std::string::npos) << out[2];
  // The template's own raise_exception message is the error.
  stablelm::test::write_file(dir / "raise.jinja", "{{ raise_exception('Only user and assistant roles are supported!') }}");
  r = run_cli({"chat-template", "--template", (dir / "raise.jinja").string(), "--jsonl"}, "{\"messages\": []}\n");
  EXPECT_EQ(lines_of(r.out)[0]["error"], "Only user and assistant roles are supported!");
  // Neither source, or both input forms: usage errors.
  EXPECT_NE(run_cli({"chat-template", "--jsonl"}).exit_code, 0);
  EXPECT_NE(run_cli({"chat-template", "--template", (dir / "raise.jinja").string()}).exit_code, 0);
}

}  // namespace
