#pragma once
// A byte-level recognizer of the prefixes of one JSON object (RFC 8259 text whose top-level
// value is an object), for constrained decoding: push() accepts a byte exactly when some
// continuation of the bytes so far is a complete JSON object, so a generator that only emits
// accepted bytes can always finish. Strings must be valid UTF-8 (no overlong forms, surrogates or
// code points past U+10FFFF) and \u escapes must pair surrogates, as strict parsers (nlohmann,
// the project's own) demand. Nesting is limited to io's kMaxJsonDepth, so our parser reads what
// was generated. The state is a small trivially copyable value: the token-trie walk copies it
// at every node.
#include <cstdint>

namespace stablelm::sampling {

class PatternString;

class JsonPrefix {
 public:
  static constexpr int kMaxDepth = 128;
  // Whitespace between tokens: any run (RFC 8259), or bounded as llama.cpp's JSON grammar bounds
  // it: nothing, one space, or a newline and at most kMaxIndent spaces/tabs. Generation uses the
  // bounded form: a model held to JSON otherwise tends to emit whitespace until its tokens run out
  // (the vocabulary has hundreds of whitespace tokens, all allowed between tokens).
  enum class Whitespace : uint8_t { Any, Bounded };
  static constexpr int kMaxIndent = 20;

  explicit JsonPrefix(Whitespace ws = Whitespace::Any) : bounded_ws_(ws == Whitespace::Bounded) {}

  // Accepts the byte and advances, or returns false and leaves the state as it was.
  bool push(uint8_t b);
  // The top-level object has been closed (only whitespace may follow).
  bool complete() const { return mode_ == Mode::Done; }
  int depth() const { return depth_; }
  // Inside a string between characters (not in an escape or a UTF-8 sequence).
  bool in_plain_string() const { return mode_ == Mode::String; }
  // Characters a string may still take from here: unlimited inside a string between characters,
  // 0 elsewhere (the constraint's question to every recognizer: PrefixConstraint::mask).
  static constexpr uint32_t kNoLimit = 0xFFFFFFFF;
  uint32_t plain_string_room() const { return in_plain_string() ? kNoLimit : 0; }
  // No string here is held to a pattern (SchemaPrefix::pattern_string).
  const PatternString* pattern_string() const { return nullptr; }

 private:
  enum class Mode : uint8_t {
    Start,       // before the top-level '{'
    Value,       // a value must start (after ':' or an array's ',')
    ArrayFirst,  // after '[': a value or ']'
    ObjectFirst, // after '{': a key or '}'
    Key,         // after an object's ',': a key
    Colon,       // after a key
    After,       // after a value: ',' or the container's close
    String,      // inside a string (key_ says which kind)
    Escape,      // after '\'
    Hex,         // inside \uXXXX: count_ digits read, code_ so far
    LowBackslash,  // a high surrogate was read: '\' must follow
    LowU,          // ... then 'u'
    Utf8,        // inside a multi-byte UTF-8 sequence: count_ bytes left, next in [lo_, hi_]
    Minus, Zero, Int, Dot, Frac, Exp, ExpSign, ExpDigits,  // numbers
    Literal,     // inside true/false/null: literal_, count_ bytes matched
    Done,
  };
  bool in_object() const { return (stack_[(depth_ - 1) >> 6] >> ((depth_ - 1) & 63)) & 1u; }
  bool open(bool object);
  bool close(bool object);
  bool start_value(uint8_t b);
  bool after_value(uint8_t b);
  void end_value() { mode_ = depth_ == 0 ? Mode::Done : Mode::After; }
  bool space(uint8_t b);  // whitespace between tokens, under the whitespace rule

  uint64_t stack_[2] = {0, 0};  // bit d: the container at depth d is an object (else an array)
  uint8_t depth_ = 0;
  Mode mode_ = Mode::Start;
  bool key_ = false;         // the string being read is an object key
  bool low_needed_ = false;  // Hex: these digits must make a low surrogate
  uint8_t count_ = 0;
  uint8_t lo_ = 0, hi_ = 0;
  uint8_t literal_ = 0;
  uint16_t code_ = 0;
  bool bounded_ws_ = false;
  uint8_t ws_run_ = 0;  // in this run of whitespace: 0 none yet, 1 a space, 2 a newline (+ ws_indent_)
  uint8_t ws_indent_ = 0;
};

// The bounded whitespace rule by itself, for recognizers built around JsonPrefix.
struct WhitespaceRun {
  uint8_t run = 0, indent = 0;
  void reset() { run = 0, indent = 0; }
  // b is JSON whitespace; true when the run may take it.
  bool take(uint8_t b) {
    if (run == 0) {
      if (b == ' ') return run = 1, true;
      if (b == '\n') return run = 2, indent = 0, true;
      return false;
    }
    if (run == 2 && (b == ' ' || b == '\t') && indent < JsonPrefix::kMaxIndent) return ++indent, true;
    return false;
  }
};

}  // namespace stablelm::sampling
