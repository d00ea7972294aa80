#pragma once
// Chat templates: the Jinja programs in a model's tokenizer_config.json (or chat_template.jinja),
// rendered exactly as transformers' apply_chat_template renders them with Python's jinja2
// (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, {% generation %},
// transformers' tojson, raise_exception and strftime_now). docs/CHAT.md lists what is covered.
//
// Inputs are nlohmann::ordered_json: mappings keep their key order, which the renderings
// depend on (tojson, |items, loops over dicts), so callers should parse with ordered_json.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stablelm/error.h"

namespace stablelm {
class Tokenizer;
}

namespace stablelm::chat {

// A template that failed: a syntax error, an error raised while rendering (the template's own
// raise_exception, or Python's TypeError / UndefinedError / ... with jinja2's message), or a
// sandbox limit. what() is the message. For runtime errors it is exactly jinja2's message (so it
// can be compared with the reference); syntax and limit errors end in "(line L, column C)".
// line()/column() say where in the template (1-based; 0 when unknown).
class TemplateError : public Error {
 public:
  TemplateError(std::string type, std::string message, int line = 0, int column = 0);
  // Python's exception class name: TemplateError, TemplateSyntaxError, UndefinedError,
  // TypeError, SecurityError, ValueError, ..., or SandboxLimit for our own limits.
  const std::string& type() const noexcept { return type_; }
  int line() const noexcept { return line_; }
  int column() const noexcept { return column_; }
  // True when the template itself called raise_exception(message).
  bool raised_by_template() const noexcept { return type_ == "TemplateError"; }

 private:
  std::string type_;
  int line_, column_;
};

// Bounds that make rendering a sandbox: an untrusted template cannot recurse, loop or grow its
// output without end (exceeding one is a TemplateError of type SandboxLimit naming the place).
struct RenderLimits {
  int max_call_depth = 100;                      // nested macro / caller() calls
  int64_t max_loop_iterations = 1'000'000;       // all for-loop iterations of one render
  size_t max_output_bytes = size_t{64} << 20;    // the rendered text, and any captured block
};

struct RenderOptions {
  // What strftime_now() reads: ISO 8601 local time "2024-09-26T13:45:30"; empty = the clock.
  std::string now;
  RenderLimits limits;
};

struct Program;

// A parsed template. Parsing reports syntax errors (unknown tags, filters or tests included,
// as jinja2 does at compile time); rendering is const and may run from several threads.
class Template {
 public:
  explicit Template(std::string_view source);
  ~Template();
  Template(Template&&) noexcept;
  Template& operator=(Template&&) noexcept;

  // Renders with these top-level variables (a JSON object).
  std::string render(const nlohmann::ordered_json& variables, const RenderOptions& opts = {}) const;

 private:
  std::shared_ptr<const Program> program_;
};

// What a model directory says about chat: its templates and the special tokens passed to them.
struct ChatTemplateConfig {
  std::string default_template;  // "default" / the single string / chat_template.jinja; may be empty
  std::string tool_use_template;  // the named "tool_use" template, when the list has one
  // Special tokens as plain strings (bos_token, eos_token, unk_token, sep_token, pad_token,
  // cls_token, mask_token, additional_special_tokens), only those set, as transformers passes them.
  nlohmann::ordered_json special_tokens = nlohmann::ordered_json::object();
  std::filesystem::path source;  // the file the template came from

  // Reads tokenizer_config.json (chat_template: a string, or a list of {name, template}) and,
  // when present, chat_template.jinja (newer repositories; it wins over tokenizer_config's).
  // Throws Error naming the file on malformed input; a directory without a template loads with
  // empty templates (has_template() false).
  static ChatTemplateConfig load(const std::filesystem::path& model_dir);
  bool has_template() const { return !default_template.empty() || !tool_use_template.empty(); }
  // transformers' choice: tool_use when tools are given and such a template exists, else default.
  // Throws Error (with how to pass --template) when there is none.
  const std::string& select(bool with_tools) const;
};

// One chat rendering, as apply_chat_template(messages, tools=..., documents=...,
// add_generation_prompt=..., **extra) does it. `tools` / `documents`: null or absent -> None.
// `variables`: special tokens and any further template variables (they win over the config's
// special tokens). Throws TemplateError.
struct ChatRequest {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  nlohmann::ordered_json tools;      // null = no tools
  nlohmann::ordered_json documents;  // null = none
  bool add_generation_prompt = false;
  nlohmann::ordered_json variables = nlohmann::ordered_json::object();
};

// The JSON form of a request, as `stablelm chat-template --jsonl` reads it (and a server would):
// {"messages": [...], "add_generation_prompt": bool, "tools": [...]?, "documents": [...]?,
//  "now": "2024-09-26T13:45:30"?, "bos_token": "...", ...any other variables}. Every key but
// messages / add_generation_prompt / tools / documents / now becomes a template variable; a special
// token given as null is not passed (as transformers drops unset ones). For lines in the fixtures'
// schema, "special_tokens" and "extra_context" objects are unpacked into variables. `now` (may be
// null) receives the "now" field. Throws Error naming the field that is wrong.
ChatRequest chat_request_from_json(const nlohmann::ordered_json& j, std::string* now = nullptr);

std::string render_chat(const Template& tmpl, const ChatRequest& request,
                        const nlohmann::ordered_json& special_tokens = nlohmann::ordered_json::object(),
                        const RenderOptions& opts = {});

// The one call a server needs: picks the model's template (tool_use when tools are given),
// passes the model's special tokens, renders. Throws Error / TemplateError.
std::string apply_chat_template(const ChatTemplateConfig& config, const ChatRequest& request,
                                const RenderOptions& opts = {});

// ---- from a conversation to token ids -------------------------------------------------------

// Tokenizes rendered chat text as apply_chat_template(tokenize=True) does: special-token text
// (<|im_start|>, <|endoftext|>, ...) becomes its id, and the tokenizer adds no BOS/EOS of its own
// even when tokenizer_config.json asks for them (the template writes the ones it wants).
std::vector<int32_t> tokenize_chat(const Tokenizer& tok, std::string_view text);

// The prompt ids for generation: the request rendered with the model's template (tool_use when
// tools are given), then tokenize_chat(). Throws Error / TemplateError.
std::vector<int32_t> chat_prompt_ids(const ChatTemplateConfig& config, const Tokenizer& tok,
                                     const ChatRequest& request, const RenderOptions& opts = {});

// The ids that end an assistant turn: `eos_ids` (generation_config.json's) plus the template's
// end-of-turn token when it is a special token of the vocabulary -- the first special token the
// template writes after an assistant message's text (<|im_end|> for ChatML, <|endoftext|> for
// zephyr), found by rendering a probe conversation. Order kept, no duplicates.
std::vector<int32_t> end_of_turn_ids(const ChatTemplateConfig& config, const Tokenizer& tok,
                                     std::vector<int32_t> eos_ids);

}  // namespace stablelm::chat
