#pragma once
// A byte-level recognizer of the prefixes of text that a regex matches whole (guided_regex,
// guided_choice), for PrefixConstraint: the automaton's state. push() accepts a byte exactly when
// some continuation matches (the automaton has no dead states to enter). complete() when the text
// matches and nothing can follow; RegexConstraint lets an end of sequence token come wherever the
// text matches.
#include <cstdint>

#include "sampling/regex.h"

namespace stablelm::sampling {

class PatternString;

class RegexPrefix {
 public:
  RegexPrefix() = default;
  // dfa (compiled with Match::Full) must outlive the object.
  explicit RegexPrefix(const RegexDfa* dfa) : dfa_(dfa), state_(dfa->start()) {}

  bool push(uint8_t b) {
    const uint32_t t = dfa_->next(state_, b);
    if (t == RegexDfa::kDead) return false;
    state_ = t;
    return true;
  }
  // The text so far matches.
  bool matches() const { return dfa_->accepting(state_); }
  // It matches and no byte can follow.
  bool complete() const { return matches() && !dfa_->continues(state_); }
  // Never inside a JSON string (PrefixConstraint's questions to every recognizer).
  uint32_t plain_string_room() const { return 0; }
  const PatternString* pattern_string() const { return nullptr; }
  uint32_t state() const { return state_; }

 private:
  const RegexDfa* dfa_ = nullptr;
  uint32_t state_ = 0;
};

}  // namespace stablelm::sampling
