#pragma once
// A byte-level recognizer of the prefixes of a tool-call answer, for tool_choice "required" or a
// named function: the JSON list the model card's function-calling format answers with,
//
//   [{"name": "NAME", "arguments": {...}}, ...]
//
// with JSON whitespace between tokens (any, or JsonPrefix's bounded rule), NAME one of the allowed function names and the
// arguments any JSON object (JsonPrefix). push() accepts a byte exactly when the bytes so far can
// still be completed, like JsonPrefix. max_calls limits the list's length (0: no limit).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sampling/json_prefix.h"
#include "sampling/schema_prefix.h"

namespace stablelm::sampling {

// A function name the recognizer can match as raw JSON string bytes: 1-255 bytes, no '"', '\'
// or control character (OpenAI's names are [a-zA-Z0-9_-]{1,64}).
inline bool is_forceable_tool_name(std::string_view name) {
  if (name.empty() || name.size() > 255) return false;
  for (char c : name)
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) return false;
  return true;
}

class ToolCallsPrefix {
 public:
  // names: the allowed function names, sorted, unique, each is_forceable_tool_name; they must
  // outlive the object.
  // ws: the whitespace rule between tokens, the arguments' included (JsonPrefix::Whitespace).
  // schemas: null, or one per name: the compiled parameters the arguments must follow (a root
  // that allows an object), null for any object; they must outlive the object.
  ToolCallsPrefix(const std::vector<std::string>* names, int max_calls,
                  JsonPrefix::Whitespace ws = JsonPrefix::Whitespace::Any,
                  const std::vector<const SchemaGraph*>* schemas = nullptr);

  bool push(uint8_t b);
  // The list is closed.
  bool complete() const { return phase_ == Phase::Done; }
  // Inside a string of the arguments, between characters: the characters it may still take
  // (JsonPrefix::plain_string_room).
  uint32_t plain_string_room() const {
    if (phase_ != Phase::Arguments) return 0;
    return by_schema_ ? schema_args_.plain_string_room() : args_.plain_string_room();
  }
  const PatternString* pattern_string() const {
    return phase_ == Phase::Arguments && by_schema_ ? schema_args_.pattern_string() : nullptr;
  }

 private:
  enum class Phase : uint8_t {
    Open,        // before '['
    CallOpen,    // before a call's '{'
    NameKey,     // matching `"name"` (pos_ bytes matched)
    NameColon,   // before ':'
    NameQuote,   // before the name's opening '"'
    Name,        // inside the name: names_[lo_, hi_) match the pos_ bytes so far
    NameComma,   // before ','
    ArgsKey,     // matching `"arguments"`
    ArgsColon,   // before ':'
    Arguments,   // inside the arguments object (args_)
    CallClose,   // before the call's '}'
    Next,        // before ',' or ']'
    Done,
  };
  bool step(uint8_t b);
  bool space(uint8_t b);  // b is whitespace between tokens: may it come?

  const std::vector<std::string>* names_;
  const std::vector<const SchemaGraph*>* schemas_;
  bool bounded_ = false;
  bool by_schema_ = false;     // the arguments follow schema_args_ (else args_, any object)
  bool args_started_ = false;  // schema_args_ has had its first byte that is not whitespace
  WhitespaceRun ws_;
  JsonPrefix args_;
  SchemaPrefix schema_args_{nullptr};
  uint16_t chosen_ = 0;  // the called name's index
  Phase phase_ = Phase::Open;
  uint8_t pos_ = 0;
  uint16_t lo_ = 0, hi_ = 0;
  uint16_t calls_ = 0, max_calls_ = 0;
};

}  // namespace stablelm::sampling
