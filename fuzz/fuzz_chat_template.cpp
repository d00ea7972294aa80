// A chat template (the Jinja source a model directory ships), parsed and rendered in the sandbox
// with a conversation that reaches every construct the public templates use (tools, tool calls,
// list content). Every failure must be a TemplateError; syntax errors must point into the source;
// the sandbox limits must hold (a render that runs away is a timeout, which libFuzzer reports).
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "stablelm/chat.h"

namespace {

namespace chat = stablelm::chat;

const nlohmann::ordered_json& variables() {
  static const auto vars = nlohmann::ordered_json::parse(R"({
    "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"},
                 {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
                  "function": {"name": "f", "arguments": {"a": 1}}}]},
                 {"role": "tool", "tool_call_id": "c1", "content": "r"},
                 {"role": "user", "content": [{"type": "text", "text": "t"}]},
                 {"role": "assistant", "content": "a"}],
    "tools": [{"type": "function", "function": {"name": "f", "description": "d",
               "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}}}}],
    "documents": [{"title": "t", "text": "x"}], "add_generation_prompt": true,
    "bos_token": "<s>", "eos_token": "</s>", "x": 3, "s": "hello", "l": [1, 2, 3], "d": {"k": "v"}})");
  return vars;
}

[[noreturn]] void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "%s: %s\n", what, detail.c_str());
  std::abort();
}

size_t count_lines(std::string_view t) {
  size_t n = 1;  // as the lexer counts them: \r\n and \r are one newline
  for (size_t i = 0; i < t.size(); ++i)
    if (t[i] == '\n' || (t[i] == '\r' && (i + 1 >= t.size() || t[i + 1] != '\n'))) ++n;
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view source(reinterpret_cast<const char*>(data), size);
  chat::RenderOptions opts;
  opts.now = "2024-09-26T13:45:30";
  opts.limits.max_call_depth = 40;
  opts.limits.max_loop_iterations = 20000;
  opts.limits.max_output_bytes = size_t{1} << 20;
  try {
    const chat::Template t(source);
    const std::string out = t.render(variables(), opts);
    if (out.size() > opts.limits.max_output_bytes) fail("output over the limit", std::to_string(out.size()));
  } catch (const chat::TemplateError& e) {
    if (e.type() == "TemplateSyntaxError" &&
        (e.line() < 1 || static_cast<size_t>(e.line()) > count_lines(source) || e.column() < 1))
      fail("syntax error outside the source", e.what());
  } catch (const stablelm::Error& e) {
    fail("a non-TemplateError error", e.what());
  }
  return 0;
}
