// Function calling (stablelm/tool_calls.h): the model card's system prompt against the jinja2
// fixture, which templates read `tools`, and the parsing of answers into calls.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "stablelm/chat.h"
#include "stablelm/tool_calls.h"
#include "testutil.h"

namespace {

using nlohmann::ordered_json;
namespace chat = stablelm::chat;

std::filesystem::path template_dir(const std::string& id) { return stablelm::test::fixtures_dir() / "chat-templates" / id; }

ordered_json fixture_case(const std::string& id, const std::string& name) {
  std::ifstream in(template_dir(id) / "cases.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    ordered_json c = ordered_json::parse(line);
    if (c["case"] == name) return c;
  }
  ADD_FAILURE() << "no case " << name << " for " << id;
  return {};
}

std::string render(const std::string& id, const ordered_json& messages) {
  const auto cfg = chat::ChatTemplateConfig::load(template_dir(id));
  chat::ChatRequest r;
  r.messages = messages;
  r.add_generation_prompt = true;
  return chat::apply_chat_template(cfg, r);
}

TEST(ToolCalls, SystemPromptIsTheModelCardsAsJinja2RendersIt) {
  // The fixture's system message is the model card's prompt for these tools; ours, built from the
  // tools alone, must render to the same text with the 12b-chat template.
  const std::string id = "stabilityai-stablelm-2-12b-chat";
  const ordered_json c = fixture_case(id, "function_calling_system_prompt");
  const std::string system = c["messages"][0]["content"];
  ASSERT_TRUE(system.starts_with(chat::kToolSystemPreamble));
  const ordered_json tools = ordered_json::parse(system.substr(chat::kToolSystemPreamble.size()));
  const ordered_json user = ordered_json::array({c["messages"][1]});
  EXPECT_EQ(render(id, chat::messages_with_tool_prompt(user, tools)), c["expected"].get<std::string>());
}

TEST(ToolCalls, TheCallersSystemMessageComesFirst) {
  const ordered_json tools = ordered_json::parse(R"([{"type": "function", "function": {"name": "f"}}])");
  const ordered_json m = ordered_json::parse(R"([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "q"}])");
  const ordered_json out = chat::messages_with_tool_prompt(m, tools);
  ASSERT_EQ(out.size(), 2u);
  const std::string sys = out[0]["content"];
  EXPECT_TRUE(sys.starts_with(std::string("Be brief.\n\n") + std::string(chat::kToolSystemPreamble))) << sys;
  EXPECT_EQ(out[1], m[1]);
}

TEST(ToolCalls, HistoryCallsAreWrittenAsTheModelAnswersThem) {
  // An OpenAI-shaped assistant turn becomes text that parse_tool_calls reads back to the same calls.
  const ordered_json m = ordered_json::parse(R"([
    {"role": "user", "content": "q"},
    {"role": "assistant", "content": null, "tool_calls": [
      {"id": "a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Zürich\", \"days\": 2}"}},
      {"id": "b", "type": "function", "function": {"name": "now", "arguments": "{}"}}]},
    {"role": "tool", "tool_call_id": "a", "content": "sunny"},
    {"role": "tool", "tool_call_id": "b", "content": null}])");
  const ordered_json out = chat::messages_with_tool_prompt(m, ordered_json::array());
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[0]["role"], "system");
  EXPECT_FALSE(out[2].contains("tool_calls"));
  const auto calls = chat::parse_tool_calls(out[2]["content"].get<std::string>());
  ASSERT_TRUE(calls.has_value()) << out[2]["content"];
  ASSERT_EQ(calls->size(), 2u);
  EXPECT_EQ((*calls)[0].name, "get_weather");
  EXPECT_EQ(ordered_json::parse((*calls)[0].arguments), ordered_json::parse(R"({"city": "Zürich", "days": 2})"));
  EXPECT_EQ((*calls)[1].name, "now");
  EXPECT_EQ(out[3], m[2]);
  EXPECT_EQ(out[4]["content"], "");  // null content is empty text for the template
  EXPECT_THROW(chat::messages_with_tool_prompt(ordered_json::parse(R"([{"role": "assistant", "tool_calls": [{}]}])"),
                                               ordered_json::array()),
               stablelm::Error);
}

TEST(ToolCalls, WhichTemplatesReadTools) {
  for (const char* id : {"NousResearch-Hermes-3-Llama-3.1-8B-tool_use", "Qwen-Qwen2.5-7B-Instruct",
                         "meta-llama-Llama-3.1-8B-Instruct", "mistralai-Mistral-Nemo-Instruct-2407"})
    EXPECT_TRUE(chat::template_reads_tools(stablelm::test::read_file(template_dir(id) / "template.jinja"))) << id;
  for (const char* id : {"stabilityai-stablelm-2-12b-chat", "stabilityai-stablelm-2-chat",
                         "stabilityai-stablelm-2-zephyr-1_6b", "stabilityai-stable-code-instruct-3b"})
    EXPECT_FALSE(chat::template_reads_tools(stablelm::test::read_file(template_dir(id) / "template.jinja"))) << id;
  EXPECT_FALSE(chat::template_reads_tools("{{ my_tools }}{{ toolset }}"));
}

TEST(ToolCalls, AnswersThatAreCalls) {
  struct Case {
    const char* answer;
    std::vector<std::pair<std::string, std::string>> calls;  // name, arguments as JSON
  };
  const Case cases[] = {
      {R"([{"name": "get_weather", "arguments": {"location": "Tokyo, Japan", "unit": "celsius"}}])",
       {{"get_weather", R"({"location": "Tokyo, Japan", "unit": "celsius"})"}}},
      {"  \n[{\"name\": \"a\", \"arguments\": {}}, {\"name\": \"b\", \"arguments\": \"{\\\"x\\\": 1}\"}]\n",
       {{"a", "{}"}, {"b", R"({"x": 1})"}}},
      {R"({"name": "f", "parameters": {"k": [1, 2.5, null, true]}})", {{"f", R"({"k": [1, 2.5, null, true]})"}}},
      {R"({"name": "f"})", {{"f", "{}"}}},
      {"<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": \"é\"}}\n</tool_call>\n<tool_call>{\"name\": \"g\", "
       "\"arguments\": {}}</tool_call>",
       {{"f", R"({"a": "é"})"}, {"g", "{}"}}},
      {"<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n", {{"f", "{}"}}},  // ended before its closing tag
  };
  for (const Case& c : cases) {
    const auto got = chat::parse_tool_calls(c.answer);
    ASSERT_TRUE(got.has_value()) << c.answer;
    ASSERT_EQ(got->size(), c.calls.size()) << c.answer;
    for (size_t i = 0; i < c.calls.size(); ++i) {
      EXPECT_EQ((*got)[i].name, c.calls[i].first) << c.answer;
      EXPECT_EQ(ordered_json::parse((*got)[i].arguments), ordered_json::parse(c.calls[i].second)) << c.answer;
    }
  }
  // Object arguments are written as Python's json.dumps writes them (as vLLM returns them).
  EXPECT_EQ(chat::parse_tool_calls(R"([{"name":"f","arguments":{"a":1,"b":"x"}}])")->front().arguments,
            R"({"a": 1, "b": "x"})");
}

TEST(ToolCalls, AnswersThatAreNotCalls) {
  for (const char* answer : {"", "   ", "Hello!", "The weather is [sunny].", "[]", "[1, 2]", R"([{"name": ""}])",
                             R"([{"arguments": {}}])", R"([{"name": "f", "arguments": 3}])", R"({"name": "f"} and more)",
                             R"([{"name": "f"}])" "\n[{\"name\": \"g\"}]", "[{\"name\": \"f\", \"arguments\": {\"a\":",
                             "{\"name\": \"f\", \"arguments\": \"\xff\"}", "Sure. <tool_call>{\"name\": \"f\"}</tool_call>",
                             "<tool_call>[{\"name\": \"f\"}]</tool_call>", "<tool_call>{\"name\": \"f\"}</tool_call> done",
                             "<tool_call></tool_call>", "<tool_"})
    EXPECT_FALSE(chat::parse_tool_calls(answer).has_value()) << answer;
}

TEST(ToolCalls, DeeplyNestedJsonIsNotWalked) {
  // Valid JSON nested far past io::kMaxJsonDepth: not a call, and no recursion over it.
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_FALSE(chat::parse_tool_calls(deep).has_value());
  EXPECT_FALSE(chat::parse_tool_calls("{\"name\": \"f\", \"arguments\": " + deep + "}").has_value());
  EXPECT_FALSE(chat::parse_tool_calls("<tool_call>" + deep + "</tool_call>").has_value());
  // In the history such arguments stay the text they were.
  ordered_json m = ordered_json::parse(R"([{"role": "assistant", "tool_calls": [{"function": {"name": "f"}}]}])");
  m[0]["tool_calls"][0]["function"]["arguments"] = deep;
  const ordered_json out = chat::messages_with_tool_prompt(m, ordered_json::array());
  EXPECT_NE(out[1]["content"].get<std::string>().find(deep), std::string::npos);
}

TEST(ToolCalls, StreamingHoldsOnlyWhatMayBecomeACall) {
  for (const char* p : {"", " \n", "[", " {\"na", "<", "<tool_", "<tool_call>", "\n<tool_call>{\"name\""})
    EXPECT_TRUE(chat::may_be_tool_call(p)) << p;
  for (const char* p : {"H", " The", "<b>", "<tool_cal ", "<tool_x", "\"[", "x["})
    EXPECT_FALSE(chat::may_be_tool_call(p)) << p;
}

}  // namespace
