// The regex compiler (see regex.h): a recursive-descent parser to a small syntax tree; Thompson's
// construction of an NFA over UTF-8 bytes (each set of code points becomes the byte sequences
// that encode it, no overlong forms, no surrogates); the subset construction over byte classes;
// dead states cut; and, for length bounds, a table of the code-point counts each state can still
// reach a match with.
#include "sampling/regex.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <string>
#include <utility>

#include "stablelm/error.h"
#include "stablelm/sampling.h"

namespace stablelm::sampling {

namespace {

using Ranges = std::vector<std::pair<uint32_t, uint32_t>>;
constexpr uint32_t kMaxCodePoint = 0x10FFFF;
constexpr uint32_t kUnlimited = RegexDfa::kUnlimited;
constexpr size_t kMaxNfaStates = 400000;
constexpr int kMaxGroupDepth = 200;
constexpr uint64_t kMaxLengthBits = uint64_t{1} << 25;
// Work limits, so that a hostile pattern costs an error, not minutes: NFA states summed over the
// automaton's states; lengths-table steps.
constexpr uint64_t kMaxSubsetWork = uint64_t{1} << 24;
constexpr uint64_t kMaxLengthWork = uint64_t{1} << 27;

// Sorted, merged, surrogates removed (no UTF-8 text holds them).
Ranges normalized(Ranges r) {
  std::sort(r.begin(), r.end());
  Ranges merged;
  for (const auto& [lo, hi] : r) {
    if (lo > hi) continue;
    if (!merged.empty() && lo <= merged.back().second + 1) merged.back().second = std::max(merged.back().second, hi);
    else merged.emplace_back(lo, hi);
  }
  Ranges out;
  for (const auto& [lo, hi] : merged) {
    if (hi < 0xD800 || lo > 0xDFFF) {
      out.emplace_back(lo, hi);
      continue;
    }
    if (lo < 0xD800) out.emplace_back(lo, 0xD7FF);
    if (hi > 0xDFFF) out.emplace_back(0xE000, hi);
  }
  return out;
}

Ranges complement(const Ranges& r) {
  const Ranges n = normalized(r);
  Ranges out;
  uint32_t from = 0;
  for (const auto& [lo, hi] : n) {
    if (lo > from) out.emplace_back(from, lo - 1);
    from = hi + 1;
  }
  if (from <= kMaxCodePoint) out.emplace_back(from, kMaxCodePoint);
  return normalized(out);
}

const Ranges& digits() {
  static const Ranges r = {{'0', '9'}};
  return r;
}
const Ranges& word() {
  static const Ranges r = normalized({{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}});
  return r;
}
// ECMAScript's WhiteSpace and LineTerminator.
const Ranges& space() {
  static const Ranges r = normalized({{'\t', '\r'}, {' ', ' '}, {0xA0, 0xA0}, {0x1680, 0x1680}, {0x2000, 0x200A},
                                      {0x2028, 0x2029}, {0x202F, 0x202F}, {0x205F, 0x205F}, {0x3000, 0x3000},
                                      {0xFEFF, 0xFEFF}});
  return r;
}
const Ranges& any_char() {
  static const Ranges r = normalized({{0, kMaxCodePoint}});
  return r;
}
const Ranges& dot() {  // every character but a line terminator
  static const Ranges r = complement({{'\n', '\n'}, {'\r', '\r'}, {0x2028, 0x2029}});
  return r;
}

struct Node {
  enum class Kind : uint8_t { Empty, Chars, Concat, Alt, Repeat, Start, End } kind = Kind::Empty;
  Ranges chars;
  std::vector<uint32_t> kids;
  uint32_t min = 0, max = 0;  // Repeat
  size_t at = 0;              // offset in the pattern, for errors
};

[[noreturn]] void fail(const std::string& what, size_t at) {
  throw Error("regex: " + what + " (at offset " + std::to_string(at) + " of the pattern)");
}

class Parser {
 public:
  explicit Parser(std::string_view p) : p_(p) {}

  uint32_t parse() {
    const uint32_t root = alternation(0);
    if (pos_ < p_.size()) fail("unmatched ')'", pos_);
    return root;
  }
  std::vector<Node> nodes;

 private:
  bool at_end() const { return pos_ >= p_.size(); }
  bool next_is(char c) const { return pos_ < p_.size() && p_[pos_] == c; }
  uint32_t add(Node n) {
    if (nodes.size() >= kMaxNfaStates) fail("the pattern is too long", n.at);
    nodes.push_back(std::move(n));
    return static_cast<uint32_t>(nodes.size() - 1);
  }
  uint32_t chars(Ranges r, size_t at) {
    Node n;
    n.kind = Node::Kind::Chars;
    n.chars = normalized(std::move(r));
    n.at = at;
    return add(std::move(n));
  }

  // One code point of the pattern's UTF-8.
  uint32_t take_code_point() {
    const size_t at = pos_;
    const auto b0 = static_cast<uint8_t>(p_[pos_++]);
    if (b0 < 0x80) return b0;
    int n = b0 >= 0xF0 && b0 <= 0xF4 ? 3 : b0 >= 0xE0 && b0 <= 0xEF ? 2 : b0 >= 0xC2 && b0 <= 0xDF ? 1 : -1;
    if (n < 0) fail("the pattern is not valid UTF-8", at);
    uint32_t cp = b0 & (0x3F >> n);
    for (int i = 0; i < n; ++i) {
      if (at_end() || (static_cast<uint8_t>(p_[pos_]) & 0xC0) != 0x80) fail("the pattern is not valid UTF-8", at);
      cp = cp << 6 | (static_cast<uint8_t>(p_[pos_++]) & 0x3F);
    }
    const uint32_t least[] = {0, 0x80, 0x800, 0x10000};
    if (cp < least[n] || cp > kMaxCodePoint || (cp >= 0xD800 && cp <= 0xDFFF)) fail("the pattern is not valid UTF-8", at);
    return cp;
  }

  uint32_t alternation(int depth) {
    if (depth > kMaxGroupDepth) fail("groups nest more than 200 deep", pos_);
    Node alt;
    alt.kind = Node::Kind::Alt;
    alt.at = pos_;
    alt.kids.push_back(concat(depth));
    while (next_is('|')) {
      ++pos_;
      alt.kids.push_back(concat(depth));
    }
    if (alt.kids.size() == 1) return alt.kids[0];
    return add(std::move(alt));
  }

  uint32_t concat(int depth) {
    Node cat;
    cat.kind = Node::Kind::Concat;
    cat.at = pos_;
    while (!at_end() && p_[pos_] != '|' && p_[pos_] != ')') cat.kids.push_back(quantified(atom(depth)));
    if (cat.kids.empty()) return add(Node{Node::Kind::Empty, {}, {}, 0, 0, cat.at});
    if (cat.kids.size() == 1) return cat.kids[0];
    return add(std::move(cat));
  }

  // {n}, {n,}, {n,m} at pos_: true and past it; false (pos_ unmoved) when '{' starts none, and is
  // then a literal '{' (as ECMAScript's Annex B and Python read it).
  bool counted(uint32_t& lo, uint32_t& hi) {
    size_t i = pos_ + 1;
    auto number = [&](uint32_t& v) {
      const size_t from = i;
      uint64_t x = 0;
      while (i < p_.size() && p_[i] >= '0' && p_[i] <= '9') x = std::min<uint64_t>(x * 10 + (p_[i++] - '0'), 1u << 30);
      v = static_cast<uint32_t>(x);
      return i > from;
    };
    if (!number(lo)) return false;
    hi = lo;
    if (i < p_.size() && p_[i] == ',') {
      ++i;
      if (!number(hi)) hi = kUnlimited;
    }
    if (i >= p_.size() || p_[i] != '}') return false;
    if (lo > RegexDfa::kMaxCount || (hi != kUnlimited && hi > RegexDfa::kMaxCount))
      fail("a count above " + std::to_string(RegexDfa::kMaxCount) + " is not supported", pos_);
    if (lo > hi) fail("numbers out of order in a {} quantifier", pos_);
    pos_ = i + 1;
    return true;
  }

  uint32_t quantified(uint32_t a) {
    bool once = false;
    while (!at_end()) {
      const size_t at = pos_;
      uint32_t lo = 0, hi = 0;
      const char c = p_[pos_];
      if (c == '*') lo = 0, hi = kUnlimited, ++pos_;
      else if (c == '+') lo = 1, hi = kUnlimited, ++pos_;
      else if (c == '?') lo = 0, hi = 1, ++pos_;
      else if (c != '{' || !counted(lo, hi)) break;
      const Node::Kind k = nodes[a].kind;
      if (once || k == Node::Kind::Start || k == Node::Kind::End) fail("nothing to repeat", at);
      once = true;
      if (next_is('?')) ++pos_;  // lazy: the same texts match
      Node r;
      r.kind = Node::Kind::Repeat;
      r.kids = {a};
      r.min = lo, r.max = hi, r.at = at;
      a = add(std::move(r));
    }
    return a;
  }

  uint32_t atom(int depth) {
    const size_t at = pos_;
    switch (p_[pos_]) {
      case '(': return group(depth);
      case '[': return char_class();
      case '.': ++pos_; return chars(dot(), at);
      case '^': ++pos_; return add(Node{Node::Kind::Start, {}, {}, 0, 0, at});
      case '$': ++pos_; return add(Node{Node::Kind::End, {}, {}, 0, 0, at});
      case '*':
      case '+':
      case '?': fail("nothing to repeat", at);
      case '{': {
        uint32_t lo = 0, hi = 0;
        if (counted(lo, hi)) fail("nothing to repeat", at);
        ++pos_;
        return chars({{'{', '{'}}, at);
      }
      case '\\': {
        Ranges r = escape(false);
        return chars(std::move(r), at);
      }
      default: {
        const uint32_t cp = take_code_point();
        return chars({{cp, cp}}, at);
      }
    }
  }

  uint32_t group(int depth) {
    const size_t at = pos_++;
    if (next_is('?')) {
      const std::string_view rest = p_.substr(pos_);
      if (rest.starts_with("?:")) {
        pos_ += 2;
      } else if (rest.starts_with("?=") || rest.starts_with("?!") || rest.starts_with("?<=") || rest.starts_with("?<!")) {
        fail("lookaround assertions are not supported", at);
      } else if (rest.starts_with("?<")) {  // a named group: the name is only a name here
        pos_ += 2;
        const size_t name = pos_;
        while (!at_end() && p_[pos_] != '>') ++pos_;
        if (at_end() || pos_ == name) fail("a group name must be <name>", at);
        ++pos_;
      } else {
        fail("'(?' starts no supported group (inline flags and Python's (?P...) are not supported)", at);
      }
    }
    const uint32_t body = alternation(depth + 1);
    if (!next_is(')')) fail("missing ')'", at);
    ++pos_;
    return body;
  }

  uint32_t char_class() {
    const size_t at = pos_++;
    const bool negate = next_is('^');
    if (negate) ++pos_;
    Ranges set;
    while (!next_is(']')) {
      if (at_end()) fail("missing ']'", at);
      const size_t item = pos_;
      bool lo_set = false;
      const Ranges lo = class_atom(lo_set);
      if (next_is('-') && pos_ + 1 < p_.size() && p_[pos_ + 1] != ']') {
        ++pos_;
        bool hi_set = false;
        const Ranges hi = class_atom(hi_set);
        if (lo_set || hi_set) fail("a range in a character class cannot start or end with a class escape", item);
        if (lo[0].first > hi[0].first) fail("a range out of order in a character class", item);
        set.emplace_back(lo[0].first, hi[0].first);
      } else {
        set.insert(set.end(), lo.begin(), lo.end());
      }
    }
    ++pos_;
    return chars(negate ? complement(set) : set, at);
  }

  // A class member: one code point ({cp, cp}, is_set false) or a class escape's set.
  Ranges class_atom(bool& is_set) {
    if (next_is('\\')) {
      const size_t at = pos_;
      Ranges r = escape(true);
      // A single code point, unless the escape was \d \w \s or their negations.
      const char e = p_[at + 1];
      is_set = e == 'd' || e == 'D' || e == 'w' || e == 'W' || e == 's' || e == 'S';
      if (!is_set && r.empty()) r = {{0xD800, 0xD800}};  // a lone surrogate: a point that never matches
      return r;
    }
    is_set = false;
    const uint32_t cp = take_code_point();
    return {{cp, cp}};
  }

  uint32_t hex(size_t n, size_t at) {
    uint32_t v = 0;
    for (size_t i = 0; i < n; ++i) {
      if (at_end() || !std::isxdigit(static_cast<unsigned char>(p_[pos_]))) fail("a malformed hexadecimal escape", at);
      const char c = p_[pos_++];
      v = v * 16 + static_cast<uint32_t>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
  }

  // After '\': the set the escape stands for (one code point for most).
  Ranges escape(bool in_class) {
    const size_t at = pos_++;
    if (at_end()) fail("'\\' at the end of the pattern", at);
    const uint32_t c = take_code_point();
    auto one = [](uint32_t cp) { return Ranges{{cp, cp}}; };
    switch (c) {
      case 'd': return digits();
      case 'D': return complement(digits());
      case 'w': return word();
      case 'W': return complement(word());
      case 's': return space();
      case 'S': return complement(space());
      case 't': return one('\t');
      case 'n': return one('\n');
      case 'v': return one('\v');
      case 'f': return one('\f');
      case 'r': return one('\r');
      case '0':
        if (!at_end() && p_[pos_] >= '0' && p_[pos_] <= '9') fail("octal escapes are not supported", at);
        return one(0);
      case 'b':
        if (in_class) return one('\b');
        fail("word boundaries (\\b) are not supported", at);
      case 'B': fail("word boundaries (\\B) are not supported", at);
      case 'c': {
        if (at_end() || !std::isalpha(static_cast<unsigned char>(p_[pos_]))) fail("'\\c' must be followed by a letter", at);
        return one(static_cast<uint32_t>(p_[pos_++]) % 32);
      }
      case 'x': return one(hex(2, at));
      case 'u': {
        if (next_is('{')) {
          ++pos_;
          uint32_t v = 0;
          size_t n = 0;
          while (!at_end() && std::isxdigit(static_cast<unsigned char>(p_[pos_]))) {
            v = std::min<uint32_t>(v * 16 + hex(1, at), kMaxCodePoint + 1);
            ++n;
          }
          if (n == 0 || !next_is('}') || v > kMaxCodePoint) fail("a malformed \\u{...} escape", at);
          ++pos_;
          return normalized(one(v));
        }
        uint32_t v = hex(4, at);
        // A surrogate pair written as two escapes is one code point.
        if (v >= 0xD800 && v <= 0xDBFF && p_.substr(pos_).starts_with("\\u")) {
          const size_t back = pos_;
          pos_ += 2;
          bool low = true;
          for (size_t i = 0; i < 4; ++i)
            low = low && pos_ + i < p_.size() && std::isxdigit(static_cast<unsigned char>(p_[pos_ + i]));
          const uint32_t w = low ? hex(4, at) : 0;
          if (low && w >= 0xDC00 && w <= 0xDFFF) return one(0x10000 + ((v - 0xD800) << 10) + (w - 0xDC00));
          pos_ = back;
        }
        return normalized(one(v));  // a lone surrogate: empty, it matches nothing
      }
      case 'k': fail("backreferences are not supported", at);
      case 'p':
      case 'P': fail("Unicode property escapes (\\p{...}) are not supported", at);
      default:
        if (c >= '1' && c <= '9') fail("backreferences are not supported", at);
        if (c < 0x80 && std::isalnum(static_cast<int>(c)))
          fail(std::string("unknown escape '\\") + static_cast<char>(c) + "'", at);
        return one(c);  // an escaped symbol is itself
    }
  }

  std::string_view p_;
  size_t pos_ = 0;
};

// One UTF-8 encoding pattern: byte i within [lo[i], hi[i]].
struct ByteSeq {
  uint8_t n = 0;
  uint8_t lo[4] = {}, hi[4] = {};
};

int encode(uint32_t cp, uint8_t* out) {
  if (cp < 0x80) return out[0] = static_cast<uint8_t>(cp), 1;
  if (cp < 0x800) {
    out[0] = static_cast<uint8_t>(0xC0 | cp >> 6), out[1] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = static_cast<uint8_t>(0xE0 | cp >> 12), out[1] = static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F));
    out[2] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = static_cast<uint8_t>(0xF0 | cp >> 18), out[1] = static_cast<uint8_t>(0x80 | ((cp >> 12) & 0x3F));
  out[2] = static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3F)), out[3] = static_cast<uint8_t>(0x80 | (cp & 0x3F));
  return 4;
}

// The byte sequences encoding [lo, hi] (split where the encoding's length or a leading byte
// changes, so each piece is a product of byte ranges).
void utf8_sequences(uint32_t lo, uint32_t hi, std::vector<ByteSeq>& out) {
  for (uint32_t m : {0x7Fu, 0x7FFu, 0xFFFFu})
    if (lo <= m && hi > m) {
      utf8_sequences(lo, m, out);
      utf8_sequences(m + 1, hi, out);
      return;
    }
  for (int i = 1; i < 4; ++i) {
    const uint32_t m = (1u << (6 * i)) - 1;
    if ((lo & ~m) != (hi & ~m)) {
      if ((lo & m) != 0) {
        utf8_sequences(lo, lo | m, out);
        utf8_sequences((lo | m) + 1, hi, out);
        return;
      }
      if ((hi & m) != m) {
        utf8_sequences(lo, (hi & ~m) - 1, out);
        utf8_sequences(hi & ~m, hi, out);
        return;
      }
    }
  }
  ByteSeq s;
  s.n = static_cast<uint8_t>(encode(lo, s.lo));
  encode(hi, s.hi);
  out.push_back(s);
}

struct Nfa {
  struct Edge {
    uint8_t lo, hi;
    uint32_t to;
  };
  std::vector<std::vector<uint32_t>> eps;
  std::vector<std::vector<Edge>> edges;
  uint32_t add(size_t at) {
    if (eps.size() >= kMaxNfaStates) fail("the pattern's automaton is too large (repetitions of repetitions?)", at);
    eps.emplace_back();
    edges.emplace_back();
    return static_cast<uint32_t>(eps.size() - 1);
  }
};

class RegexBuilder {
 public:
  RegexBuilder(const std::vector<Node>& nodes, Nfa& nfa) : nodes_(nodes), nfa_(nfa) {}

  // A fragment for node n from a new start state to a new end state.
  std::pair<uint32_t, uint32_t> build(uint32_t n) {
    const Node& node = nodes_[n];
    const uint32_t s = nfa_.add(node.at);
    switch (node.kind) {
      case Node::Kind::Empty: return {s, s};
      case Node::Kind::Start:
      case Node::Kind::End:
        fail(std::string("'") + (node.kind == Node::Kind::Start ? '^' : '$') +
                 "' is supported only at the start ('^') or the end ('$') of the pattern or of a top-level alternative",
             node.at);
      case Node::Kind::Chars: {
        const uint32_t e = nfa_.add(node.at);
        std::vector<ByteSeq> seqs;
        for (const auto& [lo, hi] : node.chars) utf8_sequences(lo, hi, seqs);
        for (const ByteSeq& q : seqs) {
          uint32_t cur = s;
          for (uint8_t i = 0; i < q.n; ++i) {
            const uint32_t to = i + 1 == q.n ? e : nfa_.add(node.at);
            nfa_.edges[cur].push_back({q.lo[i], q.hi[i], to});
            cur = to;
          }
        }
        return {s, e};
      }
      case Node::Kind::Concat: {
        uint32_t cur = s;
        for (uint32_t k : node.kids) {
          const auto [ks, ke] = build(k);
          nfa_.eps[cur].push_back(ks);
          cur = ke;
        }
        return {s, cur};
      }
      case Node::Kind::Alt: {
        const uint32_t e = nfa_.add(node.at);
        for (uint32_t k : node.kids) {
          const auto [ks, ke] = build(k);
          nfa_.eps[s].push_back(ks);
          nfa_.eps[ke].push_back(e);
        }
        return {s, e};
      }
      case Node::Kind::Repeat: {
        uint32_t cur = s;
        for (uint32_t i = 0; i < node.min; ++i) {
          const auto [ks, ke] = build(node.kids[0]);
          nfa_.eps[cur].push_back(ks);
          cur = ke;
        }
        const uint32_t e = nfa_.add(node.at);
        if (node.max == kUnlimited) {
          const auto [ks, ke] = build(node.kids[0]);
          nfa_.eps[cur].push_back(ks);
          nfa_.eps[ke].push_back(cur);
          nfa_.eps[cur].push_back(e);
          return {s, e};
        }
        for (uint32_t i = node.min; i < node.max; ++i) {
          nfa_.eps[cur].push_back(e);
          const auto [ks, ke] = build(node.kids[0]);
          nfa_.eps[cur].push_back(ks);
          cur = ke;
        }
        nfa_.eps[cur].push_back(e);
        return {s, e};
      }
    }
    return {s, s};
  }

 private:
  const std::vector<Node>& nodes_;
  Nfa& nfa_;
};

}  // namespace

class RegexCompiler {
 public:
  static std::shared_ptr<const RegexDfa> run(std::string_view pattern, RegexDfa::Match how, uint32_t min_chars,
                                             uint32_t max_chars) {
    Parser parser(pattern);
    const uint32_t root = parser.parse();
    std::vector<Node>& nodes = parser.nodes;
    Nfa nfa;
    RegexBuilder builder(nodes, nfa);
    const uint32_t start = nfa.add(0), accept = nfa.add(0);
    // Any text: before an alternative not anchored at its start, after one not anchored at its
    // end (Search).
    Node any_text;
    any_text.kind = Node::Kind::Repeat;
    any_text.max = kUnlimited;
    nodes.push_back(Node{Node::Kind::Chars, any_char(), {}, 0, 0, 0});
    any_text.kids = {static_cast<uint32_t>(nodes.size() - 1)};
    nodes.push_back(any_text);
    const auto any_id = static_cast<uint32_t>(nodes.size() - 1);

    const std::vector<uint32_t> alts = nodes[root].kind == Node::Kind::Alt ? nodes[root].kids : std::vector{root};
    for (uint32_t a : alts) {
      std::vector<uint32_t> items = nodes[a].kind == Node::Kind::Concat ? nodes[a].kids : std::vector{a};
      bool anchored_start = false, anchored_end = false;
      size_t first = 0, last = items.size();
      while (first < last && nodes[items[first]].kind == Node::Kind::Start) anchored_start = true, ++first;
      while (last > first && nodes[items[last - 1]].kind == Node::Kind::End) anchored_end = true, --last;
      uint32_t cur = start;
      auto then = [&](uint32_t n) {
        const auto [s, e] = builder.build(n);
        nfa.eps[cur].push_back(s);
        cur = e;
      };
      if (how == RegexDfa::Match::Search && !anchored_start) then(any_id);
      for (size_t i = first; i < last; ++i) then(items[i]);
      if (how == RegexDfa::Match::Search && !anchored_end) then(any_id);
      nfa.eps[cur].push_back(accept);
    }
    auto dfa = std::make_shared<RegexDfa>();
    determinize(nfa, start, accept, *dfa);
    trim(*dfa);
    if (min_chars > 0 || max_chars != kUnlimited) lengths(*dfa, min_chars, max_chars);
    return dfa;
  }

 private:
  static void determinize(const Nfa& nfa, uint32_t start, uint32_t accept, RegexDfa& d) {
    // Byte classes: bytes no edge tells apart share a column. UTF-8's kinds of byte never share
    // one (lengths() reads a class's kind from any of its bytes).
    bool cut[257] = {};
    for (int b : {0, 0x80, 0xC0, 0xE0, 0xF0, 0xF8}) cut[b] = true;
    for (const auto& es : nfa.edges)
      for (const Nfa::Edge& e : es) cut[e.lo] = cut[e.hi + 1] = true;
    uint32_t c = 0;
    for (int b = 0; b < 256; ++b) {
      if (b > 0 && cut[b]) ++c;
      d.class_of_[b] = static_cast<uint8_t>(c);
    }
    d.classes_ = c + 1;

    std::vector<uint32_t> mark(nfa.eps.size(), 0);
    uint32_t stamp = 0;
    auto closure = [&](std::vector<uint32_t>& set) {
      ++stamp;
      std::vector<uint32_t> stack = set;
      set.clear();
      for (uint32_t s : stack) mark[s] = stamp;
      while (!stack.empty()) {
        const uint32_t s = stack.back();
        stack.pop_back();
        set.push_back(s);
        for (uint32_t t : nfa.eps[s])
          if (mark[t] != stamp) mark[t] = stamp, stack.push_back(t);
      }
      std::sort(set.begin(), set.end());
    };
    std::map<std::vector<uint32_t>, uint32_t> ids;
    std::vector<const std::vector<uint32_t>*> sets;
    uint64_t work = 0;
    auto intern = [&](std::vector<uint32_t>&& set) {
      auto [it, fresh] = ids.emplace(std::move(set), static_cast<uint32_t>(sets.size()));
      if (fresh) {
        work += it->first.size();
        if (sets.size() >= RegexDfa::kMaxStates || work > kMaxSubsetWork)
          fail("the pattern's automaton would be too large (the limit is " + std::to_string(RegexDfa::kMaxStates) +
                   " states; unanchored counted repeats such as 'a.{20}' grow fastest)",
               0);
        sets.push_back(&it->first);
      }
      return it->second;
    };
    std::vector<uint32_t> first = {start};
    closure(first);
    d.start_ = intern(std::move(first));
    std::vector<std::vector<uint32_t>> bucket(d.classes_);
    for (size_t i = 0; i < sets.size(); ++i) {
      for (auto& b : bucket) b.clear();
      const std::vector<uint32_t>& set = *sets[i];
      for (uint32_t s : set)
        for (const Nfa::Edge& e : nfa.edges[s])
          for (uint32_t k = d.class_of_[e.lo]; k <= d.class_of_[e.hi]; ++k) bucket[k].push_back(e.to);
      d.accepting_.push_back(std::binary_search(set.begin(), set.end(), accept) ? 1 : 0);
      for (uint32_t k = 0; k < d.classes_; ++k) {
        if (bucket[k].empty()) {
          d.next_.push_back(RegexDfa::kDead);
          continue;
        }
        std::vector<uint32_t> to = std::move(bucket[k]);
        bucket[k] = {};
        closure(to);
        d.next_.push_back(intern(std::move(to)));
      }
    }
  }

  // States from which no match can be reached become kDead (so next() answers only live ones).
  static void trim(RegexDfa& d) {
    const size_t n = d.accepting_.size();
    std::vector<std::vector<uint32_t>> from(n);
    for (size_t s = 0; s < n; ++s)
      for (uint32_t k = 0; k < d.classes_; ++k) {
        const uint32_t t = d.next_[s * d.classes_ + k];
        if (t != RegexDfa::kDead) from[t].push_back(static_cast<uint32_t>(s));
      }
    d.live_.assign(n, 0);
    std::vector<uint32_t> stack;
    for (size_t s = 0; s < n; ++s)
      if (d.accepting_[s]) d.live_[s] = 1, stack.push_back(static_cast<uint32_t>(s));
    while (!stack.empty()) {
      const uint32_t t = stack.back();
      stack.pop_back();
      for (uint32_t s : from[t])
        if (!d.live_[s]) d.live_[s] = 1, stack.push_back(s);
    }
    for (uint32_t& t : d.next_)
      if (t != RegexDfa::kDead && !d.live_[t]) t = RegexDfa::kDead;
  }

  // The lengths table (see RegexDfa::completes): bit k of state s is set when k more code points
  // can take s to a match. A state inside a character (after its first byte, which counted it)
  // takes its continuation bytes for free. Without an upper bound, lengths up to min + states
  // decide: a longer path repeats a state, and cutting the cycle shortens it by at most states.
  static void lengths(RegexDfa& d, uint32_t min_chars, uint32_t max_chars) {
    const size_t n = d.accepting_.size();
    const uint64_t bound = max_chars != kUnlimited ? uint64_t{max_chars} + 1 : uint64_t{min_chars} + n + 1;
    if (bound * n > kMaxLengthBits)
      fail("minLength/maxLength beside this pattern need a table of " + std::to_string(n) + " states x " +
               std::to_string(bound) + " lengths, more than " + std::to_string(kMaxLengthBits) + " bits",
           0);
    // The bytes still to come in the current character, by state (0: between characters).
    std::vector<uint8_t> rem(n, 0xFF);
    std::vector<uint32_t> queue = {d.start_};
    rem[d.start_] = 0;
    uint8_t kind_of_class[256] = {};
    for (int b = 255; b >= 0; --b)
      kind_of_class[d.class_of_[b]] = b < 0x80 ? 0 : b < 0xC0 ? 0xFE : b < 0xE0 ? 1 : b < 0xF0 ? 2 : 3;
    std::vector<std::vector<uint32_t>> succ(n);
    for (size_t i = 0; i < queue.size(); ++i) {
      const uint32_t s = queue[i];
      for (uint32_t k = 0; k < d.classes_; ++k) {
        const uint32_t t = d.next_[s * d.classes_ + k];
        if (t == RegexDfa::kDead) continue;
        if (std::find(succ[s].begin(), succ[s].end(), t) == succ[s].end()) succ[s].push_back(t);
        const uint8_t r = rem[s] == 0 ? kind_of_class[k] : static_cast<uint8_t>(rem[s] - 1);
        if (rem[t] == 0xFF) rem[t] = r, queue.push_back(t);
      }
    }
    uint64_t edges = 0;
    for (const auto& s : succ) edges += s.size();
    if (bound * (edges + n) > kMaxLengthWork)
      fail("minLength/maxLength beside this pattern take too much work to enforce (" + std::to_string(n) +
               " states x " + std::to_string(bound) + " lengths)",
           0);
    d.bound_ = static_cast<uint32_t>(bound);
    d.words_ = static_cast<uint32_t>((bound + 63) / 64);
    d.lengths_.assign(n * d.words_, 0);
    std::vector<uint32_t> by_rem[4];
    for (uint32_t s : queue)
      if (rem[s] < 4) by_rem[rem[s]].push_back(s);
    auto bit = [&](uint32_t s, uint64_t k) { return (d.lengths_[s * d.words_ + k / 64] >> (k % 64)) & 1u; };
    auto set = [&](uint32_t s, uint64_t k) { d.lengths_[s * d.words_ + k / 64] |= uint64_t{1} << (k % 64); };
    for (uint64_t k = 0; k < bound; ++k) {
      for (uint32_t s : by_rem[0]) {
        bool ok = k == 0 && d.accepting_[s];
        for (size_t j = 0; !ok && k > 0 && j < succ[s].size(); ++j) ok = bit(succ[s][j], k - 1);
        if (ok) set(s, k);
      }
      for (int r = 1; r < 4; ++r)
        for (uint32_t s : by_rem[r]) {
          bool ok = false;
          for (size_t j = 0; !ok && j < succ[s].size(); ++j) ok = bit(succ[s][j], k);
          if (ok) set(s, k);
        }
    }
  }
};

bool RegexDfa::completes(uint32_t s, uint32_t lo, uint32_t hi) const {
  if (s == kDead || s >= live_.size() || !live_[s]) return false;
  if (lengths_.empty()) return true;
  if (hi == kUnlimited || hi >= bound_) hi = bound_ - 1;
  if (lo > hi) return false;
  const uint64_t* w = lengths_.data() + static_cast<size_t>(s) * words_;
  for (uint32_t k = lo; k <= hi;) {
    const uint64_t word = w[k / 64] >> (k % 64);
    if (word != 0 && static_cast<uint32_t>(__builtin_ctzll(word)) <= hi - k) return true;
    k = (k / 64 + 1) * 64;
  }
  return false;
}

bool RegexDfa::matches(std::string_view text) const {
  uint32_t s = start_;
  for (char c : text) {
    s = next(s, static_cast<uint8_t>(c));
    if (s == kDead) return false;
  }
  return accepting(s);
}

std::shared_ptr<const RegexDfa> compile_regex(std::string_view pattern, RegexDfa::Match how, uint32_t min_chars,
                                              uint32_t max_chars) {
  return RegexCompiler::run(pattern, how, min_chars, max_chars);
}

std::string regex_literal(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (std::string_view("\\^$.|?*+()[]{}/-").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

}  // namespace stablelm::sampling

namespace stablelm {

std::shared_ptr<const sampling::RegexDfa> compile_regex(std::string_view pattern) {
  return sampling::compile_regex(pattern, sampling::RegexDfa::Match::Full);
}

std::shared_ptr<const sampling::RegexDfa> compile_choice(const std::vector<std::string>& choices) {
  if (choices.empty()) throw Error("regex: no choice to choose from");
  std::string alternatives;
  for (const std::string& c : choices) {
    if (!alternatives.empty()) alternatives += '|';
    alternatives += sampling::regex_literal(c);
  }
  return sampling::compile_regex(alternatives, sampling::RegexDfa::Match::Full);
}

}  // namespace stablelm
