#pragma once
// Pre-tokenization: cutting a normalized segment into the pieces that BPE runs on.
// The two regexes every byte-level BPE model we know uses (Arcade100k's, and GPT-2's, which
// GPT-NeoX's ByteLevel(use_regex=true) applies) have hand-written matchers, because this is the
// hot path; any other Split regex runs on PCRE2 (UTF + UCP, JIT), with \s rewritten to Unicode
// White_Space so it means what it means in Oniguruma / fancy-regex.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace stablelm::tok {

extern const char* const kArcade100kPattern;
extern const char* const kGpt2Pattern;

struct Span {
  size_t begin, end;
};

class RegexSplitter {
 public:
  virtual ~RegexSplitter() = default;
  // Appends the non-empty, non-overlapping matches of the regex in text, left to right.
  void matches(std::string_view text, std::vector<Span>& out) const { matches_from(text, 0, out, SIZE_MAX); }
  // The same from byte `start` (where a previous call stopped), appending at most `limit`
  // matches; returns where to continue (text.size() when done). Lets callers stream long text.
  virtual size_t matches_from(std::string_view text, size_t start, std::vector<Span>& out, size_t limit) const = 0;
  virtual const char* engine() const = 0;  // "arcade100k", "gpt2" or "pcre2"
};

// Hand-written matcher when `pattern` is one of the known regexes, else PCRE2.
// Throws std::runtime_error with PCRE2's message on a pattern it cannot compile.
std::unique_ptr<RegexSplitter> make_regex_splitter(const std::string& pattern);
// Always PCRE2 (the property tests compare the hand-written matchers against it).
std::unique_ptr<RegexSplitter> make_pcre2_splitter(const std::string& pattern);
// \s / \S rewritten as Unicode White_Space classes (PCRE2's UCP \s also matches U+180E).
std::string rewrite_whitespace_classes(const std::string& pattern);

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

struct PreTokenizerStage {
  std::unique_ptr<RegexSplitter> splitter;  // null: no split (ByteLevel with use_regex=false)
  SplitBehavior behavior = SplitBehavior::Isolated;
  bool invert = false;
  bool add_prefix_space = false;  // ByteLevel(add_prefix_space=true)
};

class PreTokenizer {
 public:
  std::vector<PreTokenizerStage> stages;

  // Cuts text into pieces. Pieces point into text, or into `arena` where a stage had to add a
  // prefix space. `spans` is scratch.
  void split(std::string_view text, std::vector<std::string_view>& pieces,
             std::deque<std::string>& arena, std::vector<Span>& spans) const;
};

}  // namespace stablelm::tok
