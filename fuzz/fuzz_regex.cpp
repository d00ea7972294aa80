// The regex compiler and the pattern-held string reader (src/sampling/regex.cpp,
// pattern_string.cpp) on arbitrary input: a flags byte, a PATTERN, a NUL byte, then TEXT bytes.
// Compiling either succeeds or throws stablelm::Error (nothing else, no crash, no runaway work);
// an automaton state reached by TEXT either accepts or has a byte to go on with (no dead end);
// matches() agrees with the walk; and a JSON string held to the pattern and its length bounds,
// fed TEXT, can always take another byte or close. Whether the texts are the right ones is
// checked against Python's re by tests/sampling/regex_vs_python.py.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "sampling/pattern_string.h"
#include "sampling/regex.h"
#include "stablelm/error.h"

using stablelm::sampling::PatternString;
using stablelm::sampling::RegexDfa;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  const std::string input(reinterpret_cast<const char*>(data + 1), size - 1);
  const size_t nul = input.find('\0');
  const std::string pattern = input.substr(0, nul);
  const std::string text = nul == std::string::npos ? std::string() : input.substr(nul + 1);
  const auto how = flags & 1 ? RegexDfa::Match::Full : RegexDfa::Match::Search;
  // Bounds now and then: 0-7 code points at least, 0-14 at most (or none).
  const uint32_t min_chars = flags & 2 ? (flags >> 2) & 7 : 0;
  const uint32_t max_chars = flags & 32 ? min_chars + ((flags >> 6) & 3) * 4 : RegexDfa::kUnlimited;
  std::shared_ptr<const RegexDfa> d;
  try {
    d = stablelm::sampling::compile_regex(pattern, how, min_chars, max_chars);
  } catch (const stablelm::Error&) {
    return 0;
  }
  if (!d->completes(d->start(), min_chars, max_chars)) return 0;  // nothing matches: nothing to walk
  uint32_t s = d->start();
  size_t n = 0;
  for (; n < text.size(); ++n) {
    const uint32_t t = d->next(s, static_cast<uint8_t>(text[n]));
    if (t == RegexDfa::kDead) break;
    s = t;
  }
  bool moves = d->accepting(s);
  for (int b = 0; b < 256 && !moves; ++b) moves = d->next(s, static_cast<uint8_t>(b)) != RegexDfa::kDead;
  if (!moves) std::abort();  // a live state with nowhere to go
  if (n == text.size() && d->matches(text) != d->accepting(s)) std::abort();

  PatternString p(d.get(), min_chars, max_chars);
  for (char c : text)
    if (!p.push(static_cast<uint8_t>(c))) break;
  bool open = p.may_close();
  for (int b = 0; b < 256 && !open; ++b) {
    PatternString q = p;
    open = q.push(static_cast<uint8_t>(b));
  }
  if (!open) std::abort();  // a string that can neither close nor go on
  return 0;
}
