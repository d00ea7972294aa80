#pragma once
// Regular expressions, in ECMAScript's syntax as JSON Schema's "pattern" and vLLM's guided_regex
// write them, compiled to a deterministic automaton over UTF-8 bytes for constrained decoding: a
// byte is allowed when the automaton has somewhere to go with it, so every state it reaches can
// still end in a match (dead states are cut away).
//
// What is supported (docs/GENERATE.md, "Patterns"): literals, '.', character classes with
// ranges and negation, \d \w \s and their negations, the escapes \t \n \v \f \r \0 \xHH \uHHHH
// \u{H...} \cX, groups (capturing, non-capturing, named), alternation, the quantifiers * + ?
// {n} {n,} {n,m} (lazy ones match the same texts), '^' at the start and '$' at the end (of the
// pattern or of one of its top-level alternatives). Characters are Unicode code points (the 'u'
// flag's reading); surrogates never match. Refused with an error naming the construct and its
// offset: backreferences, lookaround, \b \B, Unicode property escapes, inline flags, anchors
// elsewhere, counts above 1000, and patterns whose automaton would pass kMaxStates states.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace stablelm::sampling {

class RegexDfa {
 public:
  static constexpr uint32_t kDead = 0xFFFFFFFF;
  static constexpr uint32_t kUnlimited = 0xFFFFFFFF;
  static constexpr uint32_t kMaxStates = 10000;
  static constexpr uint32_t kMaxCount = 1000;

  // How a pattern applies to a text. Search: somewhere in it (JSON Schema's "pattern", as
  // ECMAScript's RegExp.test reads it: "^"/"$" anchor it). Full: the whole text (guided_regex).
  enum class Match : uint8_t { Search, Full };

  uint32_t start() const { return start_; }
  // The state after byte b (kDead: no match can follow).
  uint32_t next(uint32_t s, uint8_t b) const { return next_[s * classes_ + class_of_[b]]; }
  bool accepting(uint32_t s) const { return accepting_[s] != 0; }
  // Some byte leads on from s.
  bool continues(uint32_t s) const {
    for (uint32_t k = 0; k < classes_; ++k)
      if (next_[s * classes_ + k] != kDead) return true;
    return false;
  }
  // From s, some text of k more code points ends in a match, for some k in [lo, hi] (hi may be
  // kUnlimited). Exact for the bounds the automaton was compiled for (lo >= min_chars - n,
  // hi <= max_chars - n after n code points); without them, every live state answers true.
  bool completes(uint32_t s, uint32_t lo, uint32_t hi) const;
  // The whole UTF-8 text is accepted (a match, under the pattern's Match).
  bool matches(std::string_view text) const;
  size_t states() const { return accepting_.size(); }

 private:
  friend class RegexCompiler;
  uint32_t start_ = 0;
  uint32_t classes_ = 1;
  uint8_t class_of_[256] = {};
  std::vector<uint32_t> next_;  // states x classes
  std::vector<uint8_t> accepting_;
  std::vector<uint8_t> live_;  // some text takes the state to a match
  // Lengths table, when compiled with bounds: bit k of state s's words (words_ per state): some
  // text of k more code points takes s to a match; k < bound_.
  uint32_t bound_ = 0, words_ = 0;
  std::vector<uint64_t> lengths_;
};

// Throws stablelm::Error("regex: <what> (at offset N of the pattern)") for what is malformed or
// unsupported. min_chars/max_chars: the length bounds (code points) completes() must be exact for:
// JSON Schema's minLength/maxLength beside a pattern. A lengths table costs states x bound bits;
// above 32 Mbit, an error.
std::shared_ptr<const RegexDfa> compile_regex(std::string_view pattern, RegexDfa::Match how, uint32_t min_chars = 0,
                                              uint32_t max_chars = RegexDfa::kUnlimited);
// A pattern that matches text as it is (every syntax character escaped).
std::string regex_literal(std::string_view text);

}  // namespace stablelm::sampling
