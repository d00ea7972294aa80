// A pattern-held JSON string, byte by byte (see pattern_string.h).
#include "sampling/pattern_string.h"

namespace stablelm::sampling {

bool PatternString::viable(uint8_t v, uint32_t& to, uint32_t& chars) const {
  to = dfa_->next(state_, v);
  if (to == RegexDfa::kDead) return false;
  chars = chars_ + ((v & 0xC0) != 0x80 ? 1 : 0);  // a character counts at its first byte
  if (chars > max_) return false;
  const uint32_t lo = min_ > chars ? min_ - chars : 0;
  const uint32_t hi = max_ == RegexDfa::kUnlimited ? max_ : max_ - chars;
  return dfa_->completes(to, lo, hi);
}

bool PatternString::some_ascii_viable(uint32_t lo, uint32_t hi) const {
  uint32_t to = 0, chars = 0;
  for (uint32_t c = lo; c <= hi && c < 0x80; ++c)
    if (viable(static_cast<uint8_t>(c), to, chars)) return true;
  return false;
}

bool PatternString::take(uint8_t v) {
  uint32_t to = 0, chars = 0;
  if (!viable(v, to, chars)) return false;
  state_ = to, chars_ = chars, esc_ = 0;
  return true;
}

bool PatternString::push(uint8_t b) {
  if (esc_ == 0) {
    if (b == '"' || b < 0x20) return false;
    if (b == '\\') {
      if (!some_ascii_viable(0, 0x7F)) return false;
      esc_ = 1;
      return true;
    }
    return take(b);
  }
  if (esc_ == 1) {
    switch (b) {
      case '"':
      case '\\':
      case '/': return take(b);
      case 'b': return take('\b');
      case 'f': return take('\f');
      case 'n': return take('\n');
      case 'r': return take('\r');
      case 't': return take('\t');
      case 'u':
        esc_ = 2, code_ = 0;  // some ASCII character was viable when the '\' came
        return true;
      default: return false;
    }
  }
  int h = -1;
  if (b >= '0' && b <= '9') h = b - '0';
  else if ((b | 0x20) >= 'a' && (b | 0x20) <= 'f') h = (b | 0x20) - 'a' + 10;
  if (h < 0) return false;
  const uint32_t code = static_cast<uint32_t>(code_) * 16 + static_cast<uint32_t>(h);
  const int digits = esc_ - 1;  // with this one
  if (digits == 4) return code < 0x80 && take(static_cast<uint8_t>(code));
  const uint32_t span = 1u << (4 * (4 - digits));
  if (!some_ascii_viable(code * span, code * span + span - 1)) return false;
  ++esc_, code_ = static_cast<uint16_t>(code);
  return true;
}

}  // namespace stablelm::sampling
