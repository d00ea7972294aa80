#pragma once
// The typed requests of the generation endpoints, parsed and validated from their JSON bodies.
// Unknown fields are ignored (as OpenAI's clients send extras); a known field of the wrong type
// or out of range is an ApiError 400 naming it.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "stablelm/generation_config.h"

namespace stablelm {
class Tokenizer;
namespace chat {
struct ChatTemplateConfig;
}
}

namespace stablelm::server {

struct Limits {
  int max_n = 16;
  int max_logprobs = 20;
  int64_t vocab_size = 0;  // logit_bias ids must be below it (0: not checked)
};

// The sampling fields both endpoints share (OpenAI's, plus vLLM's top_k / min_p / repetition_penalty).
// Penalties and logit_bias work as in vLLM (src/sampling: the bias first, the penalties over the
// generated tokens only).
struct SamplingFields {
  float temperature = 1.0f;
  double top_p = 1.0;
  int top_k = 0;  // 0 or -1 = off
  double min_p = 0.0;
  float repetition_penalty = 1.0f;
  float presence_penalty = 0.0f;   // OpenAI's, in [-2, 2]
  float frequency_penalty = 0.0f;  // OpenAI's, in [-2, 2]
  std::vector<std::pair<int32_t, float>> logit_bias;  // OpenAI's {"token id": bias in [-100, 100]}
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  std::optional<int64_t> max_tokens;
  int n = 1;
  bool json_object = false;  // response_format {"type": "json_object"}: JSON mode
  // response_format {"type": "json_schema", "json_schema": {"schema": ...}}: compiled.
  std::shared_ptr<const sampling::SchemaGraph> json_schema;
  // vLLM's guided_regex / guided_choice: text the regex matches whole; compiled.
  std::shared_ptr<const sampling::RegexDfa> regex;
  // The request field that constrains the output ("response_format", "guided_json", ...), for
  // errors; empty when none does.
  std::string constraint_field;
  bool constrained() const { return json_object || json_schema || regex; }
};

struct CompletionRequest {
  // One entry per prompt: token ids (as given, or the encoded text) and, for text prompts, the text.
  std::vector<std::vector<int32_t>> prompts;
  std::vector<std::optional<std::string>> prompt_texts;
  SamplingFields sampling;
  int best_of = 1;
  bool echo = false;
  std::optional<int> logprobs;  // top alternatives per token
  bool stream = false;
  bool include_usage = false;
};

struct ChatRequest {
  nlohmann::ordered_json messages;  // validated: a non-empty array of objects with a string role
  nlohmann::ordered_json tools;     // null when absent; else a list of {"type": "function", "function": {"name", ...}}
  // "auto" (the default), "none", "required" (the answer must be calls) or "function" (OpenAI's
  // {"type": "function", "function": {"name": forced_function}}: one call of that function).
  // The forced ones constrain generation to the call list (GenerationConfig::Format::ToolCalls).
  std::string tool_choice = "auto";
  std::string forced_function;
  // With forced calls, one per tool: its compiled `parameters` (null: any object, for a tool
  // without parameters, or whose parameters use what the schema compiler refuses and that is not
  // "strict": true; a strict one answers 400 instead).
  std::vector<std::shared_ptr<const sampling::SchemaGraph>> tool_schemas;
  bool parallel_tool_calls = true;  // false: at most one call
  // Whether the answer is offered to the tools: tools given and tool_choice is not "none".
  bool tools_in_use() const { return tools.is_array() && !tools.empty() && tool_choice != "none"; }
  bool tools_forced() const { return tool_choice == "required" || tool_choice == "function"; }
  SamplingFields sampling;
  bool logprobs = false;
  int top_logprobs = 0;
  bool stream = false;
  bool include_usage = false;
};

// Throws ApiError(400) naming the field. Text prompts are encoded with the tokenizer (special
// tokens allowed, the tokenizer's BOS added when it adds one); token-id prompts are used as given.
CompletionRequest parse_completion_request(const nlohmann::ordered_json& body, const Tokenizer& tok, const Limits& limits);
ChatRequest parse_chat_request(const nlohmann::ordered_json& body, const Limits& limits);

// Renders messages (+ tools, null = none) with the model's chat template as apply_chat_template
// does; ApiError 400 (param "messages") when the model has none or the template fails.
std::string render_chat_prompt(const chat::ChatTemplateConfig& cfg, const nlohmann::ordered_json& messages,
                               const nlohmann::ordered_json& tools, bool add_generation_prompt);

// The prompt of a chat request. With tools in use they reach the template; a template that does not
// read `tools` gets them in the system message instead (chat::messages_with_tool_prompt, the
// stablelm-2-12b-chat model card's way). With tool_choice "none" no tools are shown to the model.
std::string render_chat_request(const chat::ChatTemplateConfig& cfg, const ChatRequest& r);

// Parses a body as a JSON object (ApiError 400 on malformed JSON or another type). Ordered: the
// key order of what reaches a template (tools, message parts) is part of its rendering.
nlohmann::ordered_json parse_json_object(const std::string& body);

// The generation settings of a request: OpenAI's defaults (temperature 1, top_p 1, no top_k),
// the model's eos ids, max_new_tokens = max_tokens. Throws ApiError(400) on an invalid combination.
GenerationConfig make_generation_config(const SamplingFields& s, const GenerationConfig& model_defaults,
                                        int64_t max_new_tokens);
// tool_choice "required" or a named function: generation constrained to the call list of the
// allowed names (all the tools, or the named one once); otherwise nothing changes.
void apply_tool_choice(const ChatRequest& r, GenerationConfig& cfg);

}  // namespace stablelm::server
