#include "tokenizer/pretokenize.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "stablelm/error.h"

#include <stdexcept>

#include "tokenizer/unicode.h"

namespace stablelm::tok {

const char* const kArcade100kPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

namespace {

// One code point of valid UTF-8 with its class bits.
struct Cp {
  uint32_t cp;
  size_t next;
  uint8_t cls;
};

class Scanner {
 public:
  explicit Scanner(std::string_view t)
      : s_(reinterpret_cast<const unsigned char*>(t.data())), n_(t.size()), table_(char_class_table()) {}
  size_t size() const { return n_; }
  Cp at(size_t i) const {
    if (s_[i] < 0x80) return {s_[i], i + 1, table_[s_[i]]};
    size_t j = i;
    uint32_t cp = decode_utf8(s_, j);
    return {cp, j, table_[cp]};
  }
  uint8_t byte(size_t i) const { return s_[i]; }
  // End of the run of code points whose class has any of `bits` (when want) / none (when !want).
  size_t run(size_t i, uint8_t bits, bool want) const {
    while (i < n_) {
      Cp c = at(i);
      if (((c.cls & bits) != 0) != want) break;
      i = c.next;
    }
    return i;
  }
  // Letter runs, with an ASCII fast path.
  size_t letters(size_t i) const {
    while (i < n_) {
      unsigned char b = s_[i];
      if (b < 0x80) {
        if ((b | 0x20) >= 'a' && (b | 0x20) <= 'z') { ++i; continue; }
        break;
      }
      Cp c = at(i);
      if (!(c.cls & kLetter)) break;
      i = c.next;
    }
    return i;
  }

 private:
  const unsigned char* s_;
  size_t n_;
  const uint8_t* table_;
};

inline bool is_other(uint8_t cls) { return (cls & (kLetter | kNumber | kSpace)) == 0; }

// After an apostrophe at i-1: length in bytes of the contraction suffix at i, or 0.
// Case-insensitive as the regex engines define it: 's' also matches U+017F LONG S.
size_t contraction(const Scanner& sc, size_t i, bool case_insensitive) {
  size_t n = sc.size();
  if (i >= n) return 0;
  auto fold = [&](size_t k) -> int {
    if (k >= n) return -1;
    unsigned char b = sc.byte(k);
    if (b >= 0x80) return -2;
    if (case_insensitive && b >= 'A' && b <= 'Z') return b | 0x20;
    return b;
  };
  int c = fold(i);
  if (c == -2) {
    // U+017F (C5 BF) folds to 's'.
    if (case_insensitive && i + 1 < n && sc.byte(i) == 0xC5 && sc.byte(i + 1) == 0xBF) return 2;
    return 0;
  }
  switch (c) {
    case 's': case 't': case 'm': case 'd':
      return 1;
    case 'r': case 'v':
      return fold(i + 1) == 'e' ? 2 : 0;
    case 'l':
      return fold(i + 1) == 'l' ? 2 : 0;
    default:
      return 0;
  }
}

// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
class Arcade100kSplitter final : public RegexSplitter {
 public:
  const char* engine() const override { return "arcade100k"; }
  size_t matches_from(std::string_view text, size_t i, std::vector<Span>& out, size_t limit) const override {
    Scanner sc(text);
    size_t n = sc.size();
    for (; i < n && limit > 0; --limit) {
      size_t end = match_at(sc, i);
      out.push_back({i, end});
      i = end;
    }
    return i;
  }

 private:
  static size_t match_at(const Scanner& sc, size_t i) {
    size_t n = sc.size();
    Cp c0 = sc.at(i);
    if (c0.cp == '\'') {
      size_t m = contraction(sc, i + 1, true);
      if (m) return i + 1 + m;
    }
    if (c0.cls & kLetter) return sc.letters(c0.next);
    if (c0.cp != '\r' && c0.cp != '\n' && !(c0.cls & kNumber) && c0.next < n) {
      Cp c1 = sc.at(c0.next);
      if (c1.cls & kLetter) return sc.letters(c1.next);
    }
    if (c0.cls & kNumber) return c0.next;
    {
      size_t p = (c0.cp == ' ') ? c0.next : i;
      if (p < n) {
        Cp c = (p == i) ? c0 : sc.at(p);
        if (is_other(c.cls)) {
          size_t j = sc.run(c.next, kLetter | kNumber | kSpace, false);
          while (j < n && (sc.byte(j) == '\r' || sc.byte(j) == '\n')) ++j;
          return j;
        }
      }
    }
    // c0 is whitespace from here on.
    size_t j = i, last_start = i, after_newline = 0;
    while (j < n) {
      Cp c = sc.at(j);
      if (!(c.cls & kSpace)) break;
      last_start = j;
      if (c.cp == '\r' || c.cp == '\n') after_newline = c.next;
      j = c.next;
    }
    if (after_newline) return after_newline;   // \s*[\r\n]+
    if (j == n) return n;                      // \s+(?!\S) at the end
    if (last_start > i) return last_start;     // \s+(?!\S): all but the last
    return j;                                  // \s+
  }
};

// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
class Gpt2Splitter final : public RegexSplitter {
 public:
  const char* engine() const override { return "gpt2"; }
  size_t matches_from(std::string_view text, size_t i, std::vector<Span>& out, size_t limit) const override {
    Scanner sc(text);
    size_t n = sc.size();
    for (; i < n && limit > 0; --limit) {
      size_t end = match_at(sc, i);
      out.push_back({i, end});
      i = end;
    }
    return i;
  }

 private:
  static size_t match_at(const Scanner& sc, size_t i) {
    size_t n = sc.size();
    Cp c0 = sc.at(i);
    if (c0.cp == '\'') {
      size_t m = contraction(sc, i + 1, false);
      if (m) return i + 1 + m;
    }
    size_t p = (c0.cp == ' ') ? c0.next : i;
    if (p < n) {
      Cp c = (p == i) ? c0 : sc.at(p);
      if (c.cls & kLetter) return sc.letters(c.next);
      if (c.cls & kNumber) return sc.run(c.next, kNumber, true);
      if (is_other(c.cls)) return sc.run(c.next, kLetter | kNumber | kSpace, false);
    }
    size_t j = i, last_start = i;
    while (j < n) {
      Cp c = sc.at(j);
      if (!(c.cls & kSpace)) break;
      last_start = j;
      j = c.next;
    }
    if (j == n) return n;
    if (last_start > i) return last_start;
    return j;
  }
};

class Pcre2Splitter final : public RegexSplitter {
 public:
  explicit Pcre2Splitter(const std::string& pattern) {
    std::string rewritten = rewrite_whitespace_classes(pattern);
    int err = 0;
    PCRE2_SIZE off = 0;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(rewritten.data()), rewritten.size(),
                          PCRE2_UTF | PCRE2_UCP, &err, &off, nullptr);
    if (!code_) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      throw std::runtime_error("cannot compile regex at offset " + std::to_string(off) + ": " +
                               reinterpret_cast<const char*>(msg));
    }
    pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);  // falls back to the interpreter if JIT is unavailable
  }
  ~Pcre2Splitter() override { pcre2_code_free(code_); }
  const char* engine() const override { return "pcre2"; }
  size_t matches_from(std::string_view text, size_t pos, std::vector<Span>& out, size_t limit) const override {
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(code_, nullptr);
    auto* s = reinterpret_cast<PCRE2_SPTR>(text.data());
    size_t n = text.size();
    for (; pos <= n && limit > 0;) {
      int rc = pcre2_match(code_, s, n, pos, PCRE2_NO_UTF_CHECK, md, nullptr);
      if (rc == PCRE2_ERROR_NOMATCH) {
        pos = n;
        break;
      }
      if (rc < 0) {
        // An engine limit (match or depth limit, JIT stack): the rest of the text would be
        // dropped silently; say so instead.
        pcre2_match_data_free(md);
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        throw Error("the pre-tokenizer's regex failed at byte " + std::to_string(pos) + " of the text: " +
                    reinterpret_cast<const char*>(msg) + " (the text was not tokenized)");
      }
      PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
      size_t b = ov[0], e = ov[1];
      if (e > b) {
        out.push_back({b, e});
        pos = e;
        --limit;
      } else {
        // Empty match: step over one code point.
        if (b >= n) break;
        pos = b + 1;
        while (pos < n && (text[pos] & 0xC0) == 0x80) ++pos;
      }
    }
    pcre2_match_data_free(md);
    return pos < n ? pos : n;
  }

 private:
  pcre2_code* code_ = nullptr;
};

constexpr const char* kWhiteSpaceItems =
    "\\x{9}-\\x{D}\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}";

}  // namespace

std::string rewrite_whitespace_classes(const std::string& p) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      char d = p[i + 1];
      if (d == 's') {
        out += in_class ? std::string(kWhiteSpaceItems) : "[" + std::string(kWhiteSpaceItems) + "]";
      } else if (d == 'S' && !in_class) {
        out += "[^" + std::string(kWhiteSpaceItems) + "]";
      } else {
        out += c;
        out += d;
      }
      ++i;
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out += c;
      // A ']' right after '[' or '[^' is a literal.
      if (i + 1 < p.size() && p[i + 1] == '^') { out += '^'; ++i; }
      if (i + 1 < p.size() && p[i + 1] == ']') { out += ']'; ++i; }
      continue;
    }
    if (in_class && c == '[' && i + 1 < p.size() && p[i + 1] == ':') {
      size_t close = p.find(":]", i + 2);
      if (close != std::string::npos) {
        out.append(p, i, close + 2 - i);
        i = close + 1;
        continue;
      }
    }
    if (in_class && c == ']') in_class = false;
    out += c;
  }
  return out;
}

std::unique_ptr<RegexSplitter> make_pcre2_splitter(const std::string& pattern) {
  return std::make_unique<Pcre2Splitter>(pattern);
}

std::unique_ptr<RegexSplitter> make_regex_splitter(const std::string& pattern) {
  if (pattern == kArcade100kPattern) return std::make_unique<Arcade100kSplitter>();
  if (pattern == kGpt2Pattern) return std::make_unique<Gpt2Splitter>();
  return make_pcre2_splitter(pattern);
}

namespace {

// HF's Split: matches and the gaps between them, then grouped by `behavior`.
void apply_stage(const PreTokenizerStage& st, std::string_view text, std::vector<std::string_view>& out,
                 std::vector<Span>& spans) {
  if (text.empty()) return;
  if (!st.splitter) {
    out.push_back(text);
    return;
  }
  spans.clear();
  st.splitter->matches(text, spans);
  // Fast path: the matches tile the text and every piece stands alone.
  if (st.behavior == SplitBehavior::Isolated || (st.behavior == SplitBehavior::Removed && st.invert)) {
    size_t pos = 0;
    bool contiguous = true;
    for (auto& sp : spans) {
      if (sp.begin != pos) { contiguous = false; break; }
      pos = sp.end;
    }
    if (contiguous && pos == text.size()) {
      for (auto& sp : spans) out.push_back(text.substr(sp.begin, sp.end - sp.begin));
      return;
    }
  }
  struct Part { size_t b, e; bool match; };
  std::vector<Part> parts;
  size_t pos = 0;
  for (auto& sp : spans) {
    if (sp.begin > pos) parts.push_back({pos, sp.begin, st.invert});
    parts.push_back({sp.begin, sp.end, !st.invert});
    pos = sp.end;
  }
  if (pos < text.size()) parts.push_back({pos, text.size(), st.invert});
  auto emit = [&](size_t b, size_t e) {
    if (e > b) out.push_back(text.substr(b, e - b));
  };
  switch (st.behavior) {
    case SplitBehavior::Removed:
      for (auto& p : parts)
        if (!p.match) emit(p.b, p.e);
      break;
    case SplitBehavior::Isolated:
      for (auto& p : parts) emit(p.b, p.e);
      break;
    case SplitBehavior::MergedWithPrevious: {
      // A match joins the piece before it.
      size_t start = 0;
      bool open = false;
      for (auto& p : parts) {
        if (p.match && open) {
          emit(start, p.e);
          open = false;
        } else if (p.match) {
          emit(p.b, p.e);
        } else {
          if (open) emit(start, p.b);
          start = p.b;
          open = true;
        }
      }
      if (open) emit(start, text.size());
      break;
    }
    case SplitBehavior::MergedWithNext: {
      // A match starts a new piece that takes in what follows it.
      size_t start = 0;
      bool open = false;
      for (auto& p : parts) {
        if (p.match) {
          if (open) emit(start, p.b);
          start = p.b;
          open = true;
        } else if (!open) {
          start = p.b;
          open = true;
        }
      }
      if (open) emit(start, text.size());
      break;
    }
    case SplitBehavior::Contiguous: {
      // Consecutive matches (and consecutive non-matches) form one piece.
      size_t k = 0;
      while (k < parts.size()) {
        size_t m = k;
        while (m + 1 < parts.size() && parts[m + 1].match == parts[k].match) ++m;
        emit(parts[k].b, parts[m].e);
        k = m + 1;
      }
      break;
    }
  }
}

}  // namespace

void PreTokenizer::split(std::string_view text, std::vector<std::string_view>& pieces,
                         std::deque<std::string>& arena, std::vector<Span>& spans) const {
  pieces.clear();
  if (stages.size() == 1 && !stages[0].add_prefix_space) {
    apply_stage(stages[0], text, pieces, spans);
    return;
  }
  std::vector<std::string_view> cur{text}, next;
  for (auto& st : stages) {
    next.clear();
    for (auto piece : cur) {
      if (st.add_prefix_space && !piece.empty() && piece[0] != ' ') {
        arena.push_back(" " + std::string(piece));
        piece = arena.back();
      }
      apply_stage(st, piece, next, spans);
    }
    cur.swap(next);
  }
  pieces = std::move(cur);
}

}  // namespace stablelm::tok
