#pragma once
// Function calling for the OpenAI-style chat API: how the tools reach a model, and how its answer
// becomes `tool_calls`.
//
// Templates that read `tools` (Hermes, Qwen, Llama 3.1, ...) format them themselves. Templates that
// do not (stablelm-2-12b-chat, stablelm-2-chat, zephyr: plain ChatML or zephyr) get them the way
// the stablelm-2-12b-chat model card does it: listed as JSON in the system message, after the
// sentence the card uses; the model then answers with a JSON list of calls
// `[{"name": ..., "arguments": {...}}]`. For such templates the OpenAI-shaped history (assistant
// `tool_calls`, `tool` results) is written back as that text, since the template prints only
// `role` and `content`.
//
// An answer is a tool-call answer when, after leading whitespace, it starts with `[`, `{` or
// `<tool_call>` and the whole of it parses as calls: a JSON list of call objects, one call object,
// or Hermes / Qwen `<tool_call>{...}</tool_call>` blocks. A call object has a string "name" and
// "arguments" (or Llama 3.1's "parameters"): an object, or a string holding JSON.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stablelm::chat {

// What the stablelm-2-12b-chat model card writes before the functions in the system message.
inline constexpr std::string_view kToolSystemPreamble =
    "You are a helpful assistant with access to the following functions. You must use them if required -\n";

// True when the template source uses the variable `tools` (so it formats them itself).
bool template_reads_tools(std::string_view template_source);

// The messages as a template that does not read `tools` must see them: the tools (OpenAI's
// [{"type": "function", "function": {...}}] list) written into the system message as the model
// card does (kToolSystemPreamble + json.dumps(tools, indent=2) + "\n"; after the caller's own
// system message and a blank line when there is one), assistant `tool_calls` written as the JSON
// list the model answers with, and `content: null` as "". Throws Error naming a malformed message.
nlohmann::ordered_json messages_with_tool_prompt(const nlohmann::ordered_json& messages,
                                                 const nlohmann::ordered_json& tools);

struct ToolCall {
  std::string name;
  std::string arguments;  // a JSON text, as OpenAI's `function.arguments`
};

// The calls in an answer (see above), or nullopt when it is not a tool-call answer.
std::optional<std::vector<ToolCall>> parse_tool_calls(std::string_view answer);

// True when an answer that starts with `prefix` could still turn out to be a tool-call answer
// (only whitespace so far, or it starts with `[`, `{` or a prefix of `<tool_call>`): a streaming
// server holds such text back until the answer is complete.
bool may_be_tool_call(std::string_view prefix);

}  // namespace stablelm::chat
