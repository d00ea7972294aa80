#pragma once
// From generated token ids to the text a client sees: special tokens (eos) are not shown, the text
// ends before a stop string, and a stream never sends half a UTF-8 character nor text that may
// turn out to be the start of a stop string (it is held back until it cannot).
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stablelm/tool_calls.h"

namespace stablelm {
class Tokenizer;
}

namespace stablelm::server {

class TextAssembler {
 public:
  TextAssembler(const Tokenizer& tok, std::vector<std::string> stops);
  // Appends a token; returns the text that is now safe to send.
  std::string push(int32_t id);
  // The rest of the text; stop_index >= 0 cuts it before that stop string.
  std::string finish(int stop_index);

 private:
  const Tokenizer& tok_;
  std::vector<std::string> stops_;
  std::string bytes_;  // every shown byte so far
  size_t sent_ = 0;
};

// One streamed choice of a chat request with tools in use: text that may still become a tool call
// (chat::may_be_tool_call) is held back with its logprobs entries until it is known, then sent as
// content once it cannot be a call, or returned as the calls when the answer ends as one. When
// not active everything passes straight through.
class ToolCallGate {
 public:
  explicit ToolCallGate(bool active) : holding_(active) {}
  struct Release {
    std::string text;                                          // content to send now
    nlohmann::ordered_json logprobs = nlohmann::ordered_json::array();  // its logprobs entries
    std::optional<std::vector<chat::ToolCall>> calls;          // set: the answer is these calls
  };
  // The next piece of text and its logprobs entries (a list); `done` when the answer has ended.
  Release push(std::string text, nlohmann::ordered_json logprobs, bool done);

 private:
  bool holding_;
  std::string held_;
  nlohmann::ordered_json held_logprobs_ = nlohmann::ordered_json::array();
};

// A token as OpenAI shows it in logprobs: its text when that is valid UTF-8, else "bytes:\xNN..."
// (so distinct tokens keep distinct keys in top_logprobs).
std::string token_display(const Tokenizer& tok, int32_t id);
// Length of the longest prefix of s that ends on a UTF-8 character boundary (no partial trailing sequence).
size_t utf8_complete_prefix(std::string_view s);
// Code points in s (bytes that are not continuation bytes).
int64_t utf8_chars(std::string_view s);
bool utf8_valid(std::string_view s);

}  // namespace stablelm::server
