// The JSON-object prefix recognizer (see json_prefix.h): one switch over the mode per byte.
#include "sampling/json_prefix.h"

#include <cstring>

#include "io/json.h"

namespace stablelm::sampling {

static_assert(JsonPrefix::kMaxDepth == io::kMaxJsonDepth, "generated JSON must nest no deeper than we parse");

namespace {
bool is_ws(uint8_t b) { return b == ' ' || b == '\t' || b == '\n' || b == '\r'; }
bool is_digit(uint8_t b) { return b >= '0' && b <= '9'; }
int hex_value(uint8_t b) {
  if (is_digit(b)) return b - '0';
  if (b >= 'a' && b <= 'f') return b - 'a' + 10;
  if (b >= 'A' && b <= 'F') return b - 'A' + 10;
  return -1;
}
constexpr const char* kLiterals[] = {"true", "false", "null"};
}  // namespace

bool JsonPrefix::open(bool object) {
  if (depth_ == kMaxDepth) return false;
  const uint64_t bit = uint64_t{1} << (depth_ & 63);
  if (object) stack_[depth_ >> 6] |= bit;
  else stack_[depth_ >> 6] &= ~bit;
  ++depth_;
  mode_ = object ? Mode::ObjectFirst : Mode::ArrayFirst;
  return true;
}

bool JsonPrefix::close(bool object) {
  if (depth_ == 0 || in_object() != object) return false;
  --depth_;
  end_value();
  return true;
}

bool JsonPrefix::start_value(uint8_t b) {
  switch (b) {
    case '{': return open(true);
    case '[': return open(false);
    case '"': key_ = false, mode_ = Mode::String; return true;
    case '-': mode_ = Mode::Minus; return true;
    case '0': mode_ = Mode::Zero; return true;
    case 't': case 'f': case 'n':
      literal_ = b == 't' ? 0 : b == 'f' ? 1 : 2;
      count_ = 1;
      mode_ = Mode::Literal;
      return true;
    default:
      if (b >= '1' && b <= '9') {
        mode_ = Mode::Int;
        return true;
      }
      return false;
  }
}

bool JsonPrefix::space(uint8_t b) {
  if (!is_ws(b)) return false;
  if (!bounded_ws_) return true;
  WhitespaceRun r{ws_run_, ws_indent_};
  if (!r.take(b)) return false;
  ws_run_ = r.run, ws_indent_ = r.indent;
  return true;
}

bool JsonPrefix::after_value(uint8_t b) {
  if (is_ws(b)) {
    if (!space(b)) return false;
    mode_ = Mode::After;
    return true;
  }
  switch (b) {
    case ',': mode_ = in_object() ? Mode::Key : Mode::Value; return true;
    case '}': return close(true);
    case ']': return close(false);
    default: return false;
  }
}

bool JsonPrefix::push(uint8_t b) {
  // Work on a copy so that a refused byte leaves the state untouched.
  JsonPrefix s = *this;
  if (!is_ws(b)) s.ws_run_ = 0, s.ws_indent_ = 0;  // any other byte ends a whitespace run
  bool ok = false;
  switch (s.mode_) {
    case Mode::Start: ok = is_ws(b) ? s.space(b) : (b == '{' && s.open(true)); break;
    case Mode::Value: ok = is_ws(b) ? s.space(b) : s.start_value(b); break;
    case Mode::ArrayFirst: ok = is_ws(b) ? s.space(b) : (b == ']' ? s.close(false) : s.start_value(b)); break;
    case Mode::ObjectFirst:
    case Mode::Key:
      if (is_ws(b)) ok = s.space(b);
      else if (b == '"') ok = true, s.key_ = true, s.mode_ = Mode::String;
      else if (b == '}' && s.mode_ == Mode::ObjectFirst) ok = s.close(true);
      break;
    case Mode::Colon:
      ok = is_ws(b) ? s.space(b) : b == ':';
      if (b == ':') s.mode_ = Mode::Value;
      break;
    case Mode::After: ok = s.after_value(b); break;
    case Mode::String:
      ok = true;
      if (b == '"') {
        if (s.key_) s.mode_ = Mode::Colon;
        else s.end_value();
      } else if (b == '\\') {
        s.mode_ = Mode::Escape;
      } else if (b < 0x20) {
        ok = false;  // control characters must be escaped
      } else if (b >= 0x80) {
        // The lead byte fixes the sequence's length and its second byte's range (Unicode table 3-7).
        s.lo_ = 0x80, s.hi_ = 0xBF;
        if (b >= 0xC2 && b <= 0xDF) s.count_ = 1;
        else if (b >= 0xE0 && b <= 0xEF) s.count_ = 2, s.lo_ = b == 0xE0 ? 0xA0 : 0x80, s.hi_ = b == 0xED ? 0x9F : 0xBF;
        else if (b >= 0xF0 && b <= 0xF4) s.count_ = 3, s.lo_ = b == 0xF0 ? 0x90 : 0x80, s.hi_ = b == 0xF4 ? 0x8F : 0xBF;
        else ok = false;
        if (ok) s.mode_ = Mode::Utf8;
      }
      break;
    case Mode::Utf8:
      ok = b >= s.lo_ && b <= s.hi_;
      s.lo_ = 0x80, s.hi_ = 0xBF;
      if (ok && --s.count_ == 0) s.mode_ = Mode::String;
      break;
    case Mode::Escape:
      if (b == 'u') {
        ok = true, s.mode_ = Mode::Hex, s.count_ = 0, s.code_ = 0, s.low_needed_ = false;
      } else if (std::strchr("\"\\/bfnrt", b) != nullptr && b != 0) {
        ok = true, s.mode_ = Mode::String;
      }
      break;
    case Mode::Hex: {
      const int v = hex_value(b);
      if (v < 0) break;
      s.code_ = static_cast<uint16_t>((s.code_ << 4) | v);
      ++s.count_;
      // Refuse as soon as the digits cannot end well: a lone low surrogate, or no low surrogate
      // after a high one.
      if (s.count_ == 1) ok = !s.low_needed_ || v == 0xD;
      else if (s.count_ == 2) ok = s.low_needed_ ? (s.code_ >= 0xDC) : !(s.code_ >= 0xDC && s.code_ <= 0xDF);
      else ok = true;
      if (ok && s.count_ == 4) {
        const bool high = !s.low_needed_ && s.code_ >= 0xD800 && s.code_ <= 0xDBFF;
        s.mode_ = high ? Mode::LowBackslash : Mode::String;
      }
      break;
    }
    case Mode::LowBackslash:
      ok = b == '\\';
      s.mode_ = Mode::LowU;
      break;
    case Mode::LowU:
      ok = b == 'u';
      s.mode_ = Mode::Hex, s.count_ = 0, s.code_ = 0, s.low_needed_ = true;
      break;
    case Mode::Minus:
      ok = is_digit(b);
      s.mode_ = b == '0' ? Mode::Zero : Mode::Int;
      break;
    case Mode::Zero:
    case Mode::Int:
    case Mode::Frac:
    case Mode::ExpDigits:
      if (is_digit(b) && s.mode_ != Mode::Zero) {
        ok = true;
      } else if (b == '.' && (s.mode_ == Mode::Zero || s.mode_ == Mode::Int)) {
        ok = true, s.mode_ = Mode::Dot;
      } else if ((b == 'e' || b == 'E') && s.mode_ != Mode::ExpDigits) {
        ok = true, s.mode_ = Mode::Exp;
      } else if (!is_digit(b)) {
        // The number ended (numbers only occur inside a container): b belongs to what follows.
        ok = s.after_value(b);
      }
      break;
    case Mode::Dot:
      ok = is_digit(b);
      s.mode_ = Mode::Frac;
      break;
    case Mode::Exp:
      ok = is_digit(b) || b == '+' || b == '-';
      s.mode_ = is_digit(b) ? Mode::ExpDigits : Mode::ExpSign;
      break;
    case Mode::ExpSign:
      ok = is_digit(b);
      s.mode_ = Mode::ExpDigits;
      break;
    case Mode::Literal: {
      const char* lit = kLiterals[s.literal_];
      ok = static_cast<uint8_t>(lit[s.count_]) == b;
      if (ok && lit[++s.count_] == '\0') s.end_value();
      break;
    }
    case Mode::Done: ok = s.space(b); break;
  }
  if (ok) *this = s;
  return ok;
}

}  // namespace stablelm::sampling
