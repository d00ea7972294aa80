// Every case of fixtures/chat-templates (real templates, renderings by Python jinja2 configured as
// transformers configures it) rendered byte-identically, the expected errors included.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "stablelm/chat.h"
#include "testutil.h"

namespace {

using nlohmann::ordered_json;
namespace chat = stablelm::chat;

std::filesystem::path templates_dir() { return stablelm::test::fixtures_dir() / "chat-templates"; }

// The request exactly as render.py builds it from a case line.
chat::ChatRequest request_of(const ordered_json& c) {
  chat::ChatRequest r;
  r.messages = c["messages"];
  r.tools = c.value("tools", ordered_json());
  r.documents = c.value("documents", ordered_json());
  r.add_generation_prompt = c.value("add_generation_prompt", false);
  if (c.contains("special_tokens"))
    for (const auto& [k, v] : c["special_tokens"].items())
      if (!v.is_null()) r.variables[k] = v;
  if (c.contains("extra_context") && c["extra_context"].is_object())
    for (const auto& [k, v] : c["extra_context"].items()) r.variables[k] = v;
  return r;
}

TEST(ChatFixtures, EveryCaseRendersLikeJinja2) {
  ASSERT_TRUE(std::filesystem::exists(templates_dir())) << templates_dir();
  int total = 0, passed = 0, errors = 0;
  for (const auto& entry : std::filesystem::directory_iterator(templates_dir())) {
    if (!entry.is_directory()) continue;
    const auto dir = entry.path();
    const std::string source = stablelm::test::read_file(dir / "template.jinja");
    std::unique_ptr<chat::Template> tmpl;
    std::string parse_error;
    try {
      tmpl = std::make_unique<chat::Template>(source);
    } catch (const chat::TemplateError& e) {
      parse_error = e.what();
    }
    std::ifstream in(dir / "cases.jsonl");
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      ++total;
      ordered_json c = ordered_json::parse(line);
      const std::string where = dir.filename().string() + " / " + c["case"].get<std::string>();
      chat::RenderOptions opts;
      opts.now = c.value("now", std::string("2024-09-26T13:45:30"));
      std::string got, got_error, got_type;
      if (!tmpl) {
        got_error = parse_error;
      } else {
        try {
          got = chat::render_chat(*tmpl, request_of(c), ordered_json::object(), opts);
        } catch (const chat::TemplateError& e) {
          got_error = e.what();
          got_type = e.type();
        }
      }
      if (c.contains("expected")) {
        EXPECT_EQ(got_error, "") << where;
        EXPECT_EQ(got, c["expected"].get<std::string>()) << where;
        passed += got_error.empty() && got == c["expected"].get<std::string>();
      } else {
        ++errors;
        EXPECT_EQ(got_error, c["error"].get<std::string>()) << where;
        EXPECT_EQ(got_type, c["error_type"].get<std::string>()) << where;
        passed += got_error == c["error"].get<std::string>() && got_type == c["error_type"].get<std::string>();
      }
    }
  }
  std::printf("chat template fixtures: %d / %d cases pass (%d expected errors)\n", passed, total, errors);
  EXPECT_EQ(total, 462);
  EXPECT_EQ(passed, total);
}

// The same through the model-directory path: tokenizer_config.json's template and special tokens.
TEST(ChatFixtures, TokenizerConfigSuppliesTemplateAndTokens) {
  const auto dir = templates_dir() / "stabilityai-stablelm-2-zephyr-1_6b";
  auto cfg = chat::ChatTemplateConfig::load(dir);
  ASSERT_TRUE(cfg.has_template());
  EXPECT_EQ(cfg.default_template, stablelm::test::read_file(dir / "template.jinja"));
  std::ifstream in(dir / "cases.jsonl");
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ordered_json c = ordered_json::parse(line);
    if (!c.contains("expected")) continue;
    chat::ChatRequest r = request_of(c);
    r.variables = ordered_json::object();  // the special tokens come from tokenizer_config.json
    EXPECT_EQ(chat::apply_chat_template(cfg, r), c["expected"].get<std::string>()) << c["case"];
    ++n;
  }
  EXPECT_GT(n, 10);
}

}  // namespace
