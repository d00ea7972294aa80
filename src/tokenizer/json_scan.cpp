#include "tokenizer/json_scan.h"

#include <cstring>

#include "io/json.h"
#include "stablelm/error.h"
#include "tokenizer/unicode.h"

namespace stablelm::tok {
namespace {

struct Bad {
  size_t at;
  const char* what;
};

class Scanner {
 public:
  Scanner(std::string_view t, size_t pos) : t_(t), i_(pos) {}
  size_t pos() const { return i_; }
  void ws() {
    while (i_ < t_.size() && (t_[i_] == ' ' || t_[i_] == '\n' || t_[i_] == '\r' || t_[i_] == '\t')) ++i_;
  }
  char peek() {
    ws();
    if (i_ >= t_.size()) throw Bad{i_, "unexpected end"};
    return t_[i_];
  }
  void expect(char c) {
    if (peek() != c) throw Bad{i_, c == ':' ? "expected ':'" : c == '{' ? "expected '{'" : c == '[' ? "expected '['" : "unexpected character"};
    ++i_;
  }
  // After a value inside a container: ',' (true, more) or the closing bracket (false).
  bool next(char close) {
    char c = peek();
    if (c == ',') { ++i_; return true; }
    if (c == close) { ++i_; return false; }
    throw Bad{i_, "expected ',' or a closing bracket"};
  }
  void string(std::string& out) {
    expect('"');
    out.clear();
    while (true) {
      // Plain run up to the next quote, backslash or control character.
      size_t run = i_;
      while (run < t_.size() && t_[run] != '"' && t_[run] != '\\' && static_cast<unsigned char>(t_[run]) >= 0x20) ++run;
      out.append(t_.data() + i_, run - i_);
      i_ = run;
      if (i_ >= t_.size()) throw Bad{i_, "unterminated string"};
      char c = t_[i_++];
      if (c == '"') return;
      if (static_cast<unsigned char>(c) < 0x20) throw Bad{i_ - 1, "control character in string"};
      if (c != '\\') { out += c; continue; }
      if (i_ >= t_.size()) throw Bad{i_, "unterminated string"};
      char e = t_[i_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = hex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (i_ + 1 >= t_.size() || t_[i_] != '\\' || t_[i_ + 1] != 'u') throw Bad{i_, "lone surrogate escape"};
            i_ += 2;
            uint32_t lo = hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) throw Bad{i_, "bad surrogate pair"};
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            throw Bad{i_, "lone surrogate escape"};
          }
          append_utf8(out, cp);
          break;
        }
        default:
          throw Bad{i_ - 1, "bad escape"};
      }
    }
  }
  int64_t integer() {
    ws();
    size_t start = i_;
    bool neg = false;
    if (i_ < t_.size() && t_[i_] == '-') { neg = true; ++i_; }
    int64_t v = 0;
    size_t digits = 0;
    while (i_ < t_.size() && t_[i_] >= '0' && t_[i_] <= '9') {
      if (v > (INT64_MAX - 9) / 10) throw Bad{start, "integer too large"};
      v = v * 10 + (t_[i_++] - '0');
      ++digits;
    }
    if (!digits || (i_ < t_.size() && (t_[i_] == '.' || t_[i_] == 'e' || t_[i_] == 'E')))
      throw Bad{start, "expected an integer"};
    return neg ? -v : v;
  }
  void skip_value(int depth = 0) {
    if (depth > io::kMaxJsonDepth) throw Bad{i_, "nested deeper than the JSON depth limit"};
    char c = peek();
    if (c == '"') {
      ++i_;
      while (true) {
        const void* q = i_ < t_.size() ? std::memchr(t_.data() + i_, '"', t_.size() - i_) : nullptr;
        if (!q) throw Bad{i_, "unterminated string"};
        size_t at = static_cast<size_t>(static_cast<const char*>(q) - t_.data());
        size_t bs = 0;  // an odd number of backslashes before the quote escapes it
        while (at - bs > i_ && t_[at - bs - 1] == '\\') ++bs;
        i_ = at + 1;
        if (bs % 2 == 0) break;
      }
    } else if (c == '{' || c == '[') {
      char close = c == '{' ? '}' : ']';
      ++i_;
      if (peek() == close) { ++i_; return; }
      do {
        if (c == '{') {
          skip_value(depth + 1);
          expect(':');
        }
        skip_value(depth + 1);
      } while (next(close));
    } else {
      size_t start = i_;
      while (i_ < t_.size() && t_[i_] != ',' && t_[i_] != '}' && t_[i_] != ']' && t_[i_] != ' ' && t_[i_] != '\n' &&
             t_[i_] != '\r' && t_[i_] != '\t')
        ++i_;
      if (i_ == start) throw Bad{i_, "expected a value"};
    }
  }

 private:
  uint32_t hex4() {
    if (i_ + 4 > t_.size()) throw Bad{i_, "bad \\u escape"};
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      char h = t_[i_++];
      v <<= 4;
      if (h >= '0' && h <= '9') v |= h - '0';
      else if (h >= 'a' && h <= 'f') v |= h - 'a' + 10;
      else if (h >= 'A' && h <= 'F') v |= h - 'A' + 10;
      else throw Bad{i_ - 1, "bad \\u escape"};
    }
    return v;
  }
  std::string_view t_;
  size_t i_;
};

[[noreturn]] void fail(const std::string& file, const char* part, const Bad& b) {
  throw Error(file + ": " + part + ": invalid JSON at byte " + std::to_string(b.at) + ": " + b.what);
}

}  // namespace

bool find_vocab_and_merges(std::string_view text, JsonSpan& vocab, JsonSpan& merges) {
  vocab = merges = JsonSpan{};
  try {
    Scanner s(text, 0);
    std::string key;
    s.expect('{');
    if (s.peek() == '}') return true;
    do {
      s.string(key);
      s.expect(':');
      if (key == "model" && s.peek() == '{') {
        s.expect('{');
        if (s.peek() == '}') {
          s.expect('}');
          continue;
        }
        do {
          s.string(key);
          s.expect(':');
          s.ws();
          size_t b = s.pos();
          s.skip_value();
          if (key == "vocab") vocab = JsonSpan{b, s.pos()};
          if (key == "merges") merges = JsonSpan{b, s.pos()};
        } while (s.next('}'));
      } else {
        s.skip_value();
      }
    } while (s.next('}'));
    return true;
  } catch (const Bad&) {
    return false;
  }
}

std::vector<std::pair<std::string, int64_t>> scan_vocab(std::string_view text, JsonSpan span, const std::string& file) {
  std::vector<std::pair<std::string, int64_t>> out;
  try {
    Scanner s(text.substr(0, span.end), span.begin);
    if (s.peek() != '{') throw Error(file + ": model.vocab must be an object of token → id");
    s.expect('{');
    if (s.peek() == '}') return out;
    out.reserve((span.end - span.begin) / 12);
    std::string key;
    do {
      s.string(key);
      s.expect(':');
      out.emplace_back(key, s.integer());
    } while (s.next('}'));
  } catch (const Bad& b) {
    fail(file, "model.vocab", b);
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> scan_merges(std::string_view text, JsonSpan span,
                                                             const std::string& file) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t index = 0;
  try {
    Scanner s(text.substr(0, span.end), span.begin);
    if (s.peek() != '[') throw Error(file + ": model.merges must be a list");
    s.expect('[');
    if (s.peek() == ']') return out;
    out.reserve((span.end - span.begin) / 10);
    std::string a, b;
    do {
      if (s.peek() == '"') {
        s.string(a);
        size_t sp = a.find(' ');
        if (sp == std::string::npos || a.find(' ', sp + 1) != std::string::npos)
          throw Error(file + ": model.merges[" + std::to_string(index) + "] \"" + a +
                      "\" is not two tokens separated by one space");
        out.emplace_back(a.substr(0, sp), a.substr(sp + 1));
      } else if (s.peek() == '[') {
        s.expect('[');
        if (s.peek() != '"') throw Error(file + ": model.merges[" + std::to_string(index) + "] must be [\"a\", \"b\"]");
        s.string(a);
        if (!s.next(']') || s.peek() != '"')
          throw Error(file + ": model.merges[" + std::to_string(index) + "] must be [\"a\", \"b\"]");
        s.string(b);
        if (s.next(']')) throw Error(file + ": model.merges[" + std::to_string(index) + "] must be [\"a\", \"b\"]");
        out.emplace_back(a, b);
      } else {
        throw Error(file + ": model.merges[" + std::to_string(index) + "] must be \"a b\" or [\"a\", \"b\"]");
      }
      ++index;
    } while (s.next(']'));
  } catch (const Bad& b) {
    fail(file, "model.merges", b);
  }
  return out;
}

}  // namespace stablelm::tok
