#include "chat/lexer.h"

#include <utf8proc.h>

#include "chat/value.h"
#include "stablelm/chat.h"

namespace stablelm::chat {

std::string at_position(const std::string& message, int line, int column) {
  return message + " (line " + std::to_string(line) + ", column " + std::to_string(column) + ")";
}

namespace {

// Length of the Unicode whitespace character at s[i] (as Python's \s / str.isspace), else 0.
size_t space_len(const std::string& s, size_t i) {
  if (i >= s.size()) return 0;
  utf8proc_int32_t cp;
  auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + i),
                            static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
  if (n <= 0) return 0;
  return py_isspace(static_cast<char32_t>(cp)) ? static_cast<size_t>(n) : 0;
}

size_t skip_spaces(const std::string& s, size_t i) {
  while (size_t n = space_len(s, i)) i += n;
  return i;
}

// Python's str.rstrip().
std::string rstrip(const std::string& s) {
  std::u32string u = utf8_decode(s);
  while (!u.empty() && py_isspace(u.back())) u.pop_back();
  return utf8_encode(u);
}

bool is_name_start(unsigned char c) { return std::isalpha(c) || c == '_' || c >= 0x80; }
bool is_name_char(unsigned char c) { return std::isalnum(c) || c == '_' || c >= 0x80; }

class Lexer {
 public:
  explicit Lexer(std::string_view source) {
    // Newlines normalised to \n, and one trailing newline dropped (keep_trailing_newline off).
    src_.reserve(source.size());
    for (size_t i = 0; i < source.size(); ++i) {
      if (source[i] == '\r') {
        src_ += '\n';
        if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
      } else {
        src_ += source[i];
      }
    }
    if (!src_.empty() && src_.back() == '\n') src_.pop_back();
    line_starts_.push_back(0);
    for (size_t i = 0; i < src_.size(); ++i)
      if (src_[i] == '\n') line_starts_.push_back(i + 1);
  }

  std::vector<Token> run() {
    size_t pos = 0;
    bool line_starting = true;
    while (pos < src_.size()) {
      size_t t = find_tag(pos);
      if (t == std::string::npos) {
        emit_data(src_.substr(pos), pos);
        break;
      }
      std::string text = src_.substr(pos, t - pos);
      const char kind = src_[t + 1];
      char mod = 0;
      if (t + 2 < src_.size() && (src_[t + 2] == '-' || src_[t + 2] == '+')) mod = src_[t + 2];
      size_t p = t + 2 + (mod ? 1 : 0);
      if (mod == '-') {
        text = rstrip(text);
      } else if (mod != '+' && kind != '{') {
        // lstrip_blocks: spaces and tabs between the line start and a block/comment tag go.
        size_t l_pos = text.rfind('\n');
        l_pos = l_pos == std::string::npos ? 0 : l_pos + 1;
        if ((l_pos > 0 || line_starting) && l_pos < text.size() && skip_spaces(text, l_pos) == text.size())
          text.resize(l_pos);
      }
      emit_data(std::move(text), pos);

      if (kind == '#') {
        size_t end = src_.find("#}", p);
        if (end == std::string::npos) fail("Missing end of comment tag", t);
        char emod = (end > p && (src_[end - 1] == '-' || src_[end - 1] == '+')) ? src_[end - 1] : 0;
        pos = finish_tag(end + 2, emod, /*trim=*/true, line_starting);
        continue;
      }
      if (kind == '%') {
        size_t q = skip_spaces(src_, p);
        if (src_.compare(q, 3, "raw") == 0 && !is_name_char(static_cast<unsigned char>(q + 3 < src_.size() ? src_[q + 3] : ' '))) {
          size_t r = skip_spaces(src_, q + 3);
          if (src_.compare(r, 2, "%}") == 0 || src_.compare(r, 3, "-%}") == 0) {
            pos = lex_raw(t, r, line_starting);
            continue;
          }
        }
      }
      out_.push_back(make(kind == '{' ? Tok::VarBegin : Tok::BlockBegin, "", t));
      pos = lex_tag(p, kind == '{', line_starting, t);
    }
    out_.push_back(make(Tok::Eof, "", src_.size()));
    return std::move(out_);
  }

 private:
  std::string src_;
  std::vector<size_t> line_starts_;
  std::vector<Token> out_;

  size_t find_tag(size_t from) const {
    for (size_t i = src_.find('{', from); i != std::string::npos; i = src_.find('{', i + 1))
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    return std::string::npos;
  }

  void position(size_t off, int& line, int& col) const {
    size_t lo = 0, hi = line_starts_.size();
    while (hi - lo > 1) {
      size_t mid = (lo + hi) / 2;
      if (line_starts_[mid] <= off) lo = mid;
      else hi = mid;
    }
    line = static_cast<int>(lo) + 1;
    col = 1 + static_cast<int>(py_len(src_.substr(line_starts_[lo], off - line_starts_[lo])));
  }

  Token make(Tok type, std::string text, size_t off) const {
    Token tk{type, std::move(text)};
    position(off, tk.line, tk.column);
    return tk;
  }

  [[noreturn]] void fail(const std::string& msg, size_t off) const {
    int line, col;
    position(std::min(off, src_.size()), line, col);
    throw TemplateError("TemplateSyntaxError", at_position(msg, line, col), line, col);
  }

  void emit_data(std::string text, size_t off) {
    if (!text.empty()) out_.push_back(make(Tok::Data, std::move(text), off));
  }

  // After an end marker at `after` with modifier emod: '-' eats all following whitespace,
  // plain eats one newline when trim (block and comment ends; trim_blocks), '+' nothing.
  size_t finish_tag(size_t after, char emod, bool trim, bool& line_starting) {
    size_t end = after;
    if (emod == '-') end = skip_spaces(src_, after);
    else if (emod != '+' && trim && end < src_.size() && src_[end] == '\n') ++end;
    line_starting = end > 0 && src_[end - 1] == '\n';
    return end;
  }

  // {% raw %} ... {% endraw %}: the text in between verbatim.
  size_t lex_raw(size_t tag_start, size_t close, bool& line_starting) {
    size_t body = close + (src_[close] == '-' ? 3 : 2);
    if (src_[close] == '-') body = skip_spaces(src_, body);
    for (size_t i = src_.find("{%", body); i != std::string::npos; i = src_.find("{%", i + 1)) {
      size_t p = i + 2;
      char mod = 0;
      if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) mod = src_[p++];
      p = skip_spaces(src_, p);
      if (src_.compare(p, 6, "endraw") != 0) continue;
      p = skip_spaces(src_, p + 6);
      char emod = 0;
      if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) emod = src_[p++];
      if (src_.compare(p, 2, "%}") != 0) continue;
      std::string text = src_.substr(body, i - body);
      if (mod == '-') {
        text = rstrip(text);
      } else if (mod != '+') {
        size_t l_pos = text.rfind('\n');
        l_pos = l_pos == std::string::npos ? 0 : l_pos + 1;
        if (l_pos > 0 && l_pos < text.size() && skip_spaces(text, l_pos) == text.size()) text.resize(l_pos);
      }
      emit_data(std::move(text), body);
      return finish_tag(p + 2, emod, true, line_starting);
    }
    fail("Missing end of raw directive", tag_start);
  }

  size_t lex_tag(size_t p, bool variable, bool& line_starting, size_t tag_start) {
    std::vector<char> stack;
    for (;;) {
      p = skip_spaces(src_, p);
      if (p >= src_.size())
        fail(std::string("unexpected end of template, expected '") +
                 (variable ? "end of print statement" : "end of statement block") + "'",
             p);
      if (stack.empty()) {
        if (variable) {
          if (src_.compare(p, 3, "-}}") == 0) {
            out_.push_back(make(Tok::VarEnd, "", p));
            return finish_tag(p + 3, '-', false, line_starting);
          }
          if (src_.compare(p, 2, "}}") == 0) {
            out_.push_back(make(Tok::VarEnd, "", p));
            return finish_tag(p + 2, 0, false, line_starting);
          }
        } else {
          for (char emod : {'-', '+'})
            if (src_[p] == emod && src_.compare(p + 1, 2, "%}") == 0) {
              out_.push_back(make(Tok::BlockEnd, "", p));
              return finish_tag(p + 3, emod, true, line_starting);
            }
          if (src_.compare(p, 2, "%}") == 0) {
            out_.push_back(make(Tok::BlockEnd, "", p));
            return finish_tag(p + 2, 0, true, line_starting);
          }
        }
      }
      const unsigned char c = static_cast<unsigned char>(src_[p]);
      if (is_name_start(c)) {
        size_t e = p;
        while (e < src_.size() && is_name_char(static_cast<unsigned char>(src_[e]))) ++e;
        out_.push_back(make(Tok::Name, src_.substr(p, e - p), p));
        p = e;
      } else if (std::isdigit(c)) {
        p = lex_number(p);
      } else if (c == '\'' || c == '"') {
        p = lex_string(p);
      } else {
        static const char* const ops[] = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[",
                                          "]",  "(",  ")",  "{",  "}",  ">",  "<", "=", ".", ":", "|", ",", ";"};
        std::string op;
        for (const char* o : ops)
          if (src_.compare(p, std::char_traits<char>::length(o), o) == 0) {
            op = o;
            break;
          }
        if (op.empty()) {
          std::string ch = src_.substr(p, 1);
          fail("unexpected char " + string_repr(ch), p);
        }
        if (op == "(" || op == "[" || op == "{") {
          stack.push_back(op == "(" ? ')' : op == "[" ? ']' : '}');
        } else if (op == ")" || op == "]" || op == "}") {
          if (stack.empty()) fail("unexpected '" + op + "'", p);
          if (stack.back() != op[0])
            fail(std::string("unexpected '") + op + "', expected '" + stack.back() + "'", p);
          stack.pop_back();
        }
        out_.push_back(make(Tok::Op, op, p));
        p += op.size();
      }
    }
    (void)tag_start;
  }

  size_t lex_number(size_t p) {
    size_t s = p;
    auto digits = [&](auto pred) {
      while (p < src_.size() && (pred(static_cast<unsigned char>(src_[p])) || (src_[p] == '_' && p + 1 < src_.size() && pred(static_cast<unsigned char>(src_[p + 1]))))) ++p;
    };
    auto dec = [](unsigned char c) { return std::isdigit(c) != 0; };
    if (src_[p] == '0' && p + 1 < src_.size() && std::strchr("xXoObB", src_[p + 1])) {
      char base = static_cast<char>(std::tolower(static_cast<unsigned char>(src_[p + 1])));
      p += 2;
      size_t ds = p;
      if (base == 'x') digits([](unsigned char c) { return std::isxdigit(c) != 0; });
      else if (base == 'o') digits([](unsigned char c) { return c >= '0' && c <= '7'; });
      else digits([](unsigned char c) { return c == '0' || c == '1'; });
      if (p == ds) fail("invalid number literal", s);
      std::string txt;
      for (size_t i = ds; i < p; ++i)
        if (src_[i] != '_') txt += src_[i];
      errno = 0;
      unsigned long long v = std::strtoull(txt.c_str(), nullptr, base == 'x' ? 16 : base == 'o' ? 8 : 2);
      if (errno || v > static_cast<unsigned long long>(INT64_MAX)) fail("integer literal too large", s);
      out_.push_back(make(Tok::Int, std::to_string(v), s));
      return p;
    }
    digits(dec);
    bool is_float = false;
    if (p + 1 < src_.size() && src_[p] == '.' && std::isdigit(static_cast<unsigned char>(src_[p + 1]))) {
      ++p;
      digits(dec);
      is_float = true;
    }
    if (p < src_.size() && (src_[p] == 'e' || src_[p] == 'E')) {
      size_t q = p + 1;
      if (q < src_.size() && (src_[q] == '+' || src_[q] == '-')) ++q;
      if (q < src_.size() && std::isdigit(static_cast<unsigned char>(src_[q]))) {
        p = q;
        digits(dec);
        is_float = true;
      }
    }
    std::string txt;
    for (size_t i = s; i < p; ++i)
      if (src_[i] != '_') txt += src_[i];
    if (!is_float) {
      errno = 0;
      unsigned long long v = std::strtoull(txt.c_str(), nullptr, 10);
      if (errno || v > static_cast<unsigned long long>(INT64_MAX)) fail("integer literal too large", s);
    }
    out_.push_back(make(is_float ? Tok::Float : Tok::Int, txt, s));
    return p;
  }

  // A quoted literal with Python's backslash escapes (jinja2 decodes them with unicode-escape).
  size_t lex_string(size_t p) {
    const char q = src_[p];
    size_t s = p++;
    std::string out;
    for (;;) {
      if (p >= src_.size()) fail("unexpected char " + string_repr(std::string(1, q)), s);
      char c = src_[p];
      if (c == q) {
        ++p;
        break;
      }
      if (c != '\\') {
        out += c;
        ++p;
        continue;
      }
      if (p + 1 >= src_.size()) fail("unexpected char " + string_repr(std::string(1, q)), s);
      char e = src_[p + 1];
      p += 2;
      auto hex = [&](int n) {
        uint32_t v = 0;
        for (int i = 0; i < n; ++i, ++p) {
          if (p >= src_.size() || !std::isxdigit(static_cast<unsigned char>(src_[p])))
            fail("truncated escape in string literal", s);
          char h = src_[p];
          v = v * 16 + static_cast<uint32_t>(std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : std::tolower(h) - 'a' + 10);
        }
        if (v > 0x10FFFF) fail("illegal Unicode character in string literal", s);
        utf8_append(out, static_cast<char32_t>(v));
      };
      switch (e) {
        case '\n': break;
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case 'a': out += '\a'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'v': out += '\v'; break;
        case 'x': hex(2); break;
        case 'u': hex(4); break;
        case 'U': hex(8); break;
        default:
          if (e >= '0' && e <= '7') {
            uint32_t v = static_cast<uint32_t>(e - '0');
            for (int i = 0; i < 2 && p < src_.size() && src_[p] >= '0' && src_[p] <= '7'; ++i, ++p)
              v = v * 8 + static_cast<uint32_t>(src_[p] - '0');
            utf8_append(out, static_cast<char32_t>(v));
          } else {
            out += '\\';
            out += e;
          }
      }
    }
    out_.push_back(make(Tok::String, std::move(out), s));
    return p;
  }
};

}  // namespace

std::vector<Token> tokenize(std::string_view source) { return Lexer(source).run(); }

}  // namespace stablelm::chat
