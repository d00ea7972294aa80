#pragma once
// The text of a JSON string whose value must match a pattern (JSON Schema's "pattern", with its
// minLength/maxLength), read one byte at a time between the quotes, for SchemaPrefix. The value's
// characters go through the pattern's automaton as they are decoded. Accepted: characters as they
// are (UTF-8), except the ones JSON must escape; the two-character escapes (\" \\ \/ \b \f \n \r
// \t); \uXXXX for ASCII characters. That is json.dumps(ensure_ascii=False)'s form. Other
// characters written as \u escapes are refused: every character has one accepted form, and an
// escape under way can always be finished. Trivially copyable.
#include <cstdint>

#include "sampling/regex.h"

namespace stablelm::sampling {

class PatternString {
 public:
  PatternString() = default;
  // dfa (a Search pattern compiled with these bounds) must outlive the object.
  PatternString(const RegexDfa* dfa, uint32_t min_chars, uint32_t max_chars)
      : dfa_(dfa), state_(dfa->start()), min_(min_chars), max_(max_chars) {}

  // A byte of the string's text (a '"' only inside an escape); false leaves the state unchanged.
  bool push(uint8_t b);
  // The closing '"' may come now.
  bool may_close() const { return esc_ == 0 && dfa_->accepting(state_) && chars_ >= min_; }
  bool in_escape() const { return esc_ != 0; }
  // Whether a text without '"' is accepted from here depends on the automaton's state alone:
  // no escape is under way and no length bound counts characters.
  bool state_decides() const { return esc_ == 0 && min_ == 0 && max_ == RegexDfa::kUnlimited; }
  const RegexDfa* dfa() const { return dfa_; }
  uint32_t state() const { return state_; }

 private:
  // The value's next byte v may come: the state and count it leads to.
  bool viable(uint8_t v, uint32_t& to, uint32_t& chars) const;
  // Some ASCII character in [lo, hi] may come next (as an escape).
  bool some_ascii_viable(uint32_t lo, uint32_t hi) const;
  bool take(uint8_t v);

  const RegexDfa* dfa_ = nullptr;
  uint32_t state_ = 0, chars_ = 0;
  uint32_t min_ = 0, max_ = RegexDfa::kUnlimited;
  uint8_t esc_ = 0;  // 0: none; 1: after '\'; 2-5: after "\u" and esc_ - 2 hex digits
  uint16_t code_ = 0;
};

}  // namespace stablelm::sampling
