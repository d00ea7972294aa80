// The schema recognizer (see schema_prefix.h). Structural bytes are read by the top frame's
// phase; a value starts by its first byte, which picks the leaf out of the union; a number (or a
// number literal that another extends) ends at the first byte it cannot take, which then goes to
// the frame below. Keys and literals are matched as ranges of sorted strings.
#include "sampling/schema_prefix.h"

#include <string_view>
#include <utility>

namespace stablelm::sampling {

namespace {

using Leaf = SchemaGraph::Leaf;

bool is_ws(uint8_t b) { return b == ' ' || b == '\t' || b == '\n' || b == '\r'; }
bool is_digit(uint8_t b) { return b >= '0' && b <= '9'; }

enum NumberPart : uint8_t { kMinus, kZero, kInt, kDot, kFrac, kExp, kExpSign, kExpDigits };

// Narrows [lo, hi) -- strings sharing their first pos bytes, sorted -- to those whose byte at
// pos is b. Shorter strings sort first, then by that byte.
template <class At>
bool narrow(uint16_t& lo, uint16_t& hi, uint32_t pos, uint8_t b, At at) {
  auto byte = [&](uint16_t i) {
    const std::string_view s = at(i);
    return s.size() > pos ? static_cast<int>(static_cast<uint8_t>(s[pos])) : -1;
  };
  uint16_t a = lo, z = hi;
  while (a < z) {  // first with byte >= b
    const uint16_t m = static_cast<uint16_t>(a + (z - a) / 2);
    if (byte(m) < b) a = static_cast<uint16_t>(m + 1);
    else z = m;
  }
  uint16_t e = a;
  z = hi;
  while (e < z) {  // first with byte > b
    const uint16_t m = static_cast<uint16_t>(e + (z - e) / 2);
    if (byte(m) <= b) e = static_cast<uint16_t>(m + 1);
    else z = m;
  }
  if (a == e) return false;
  lo = a, hi = e;
  return true;
}

JsonPrefix string_lexer() {
  JsonPrefix p;
  p.push('{');
  p.push('"');
  return p;
}

}  // namespace

bool SchemaPrefix::push(uint8_t b) {
  SchemaPrefix s = *this;
  if (!s.step(b)) return false;
  *this = s;
  return true;
}

uint32_t SchemaPrefix::plain_string_room() const {
  if (depth_ == 0 || stack_[depth_ - 1].phase != Phase::Str) return 0;
  const Leaf& l = g_->leaves[stack_[depth_ - 1].leaf];
  if (l.pattern || !str_.in_plain_string()) return 0;  // a pattern: not any text will do
  const uint32_t max = l.max_length;
  return max == SchemaGraph::kUnlimited ? max : max - chars_;
}

const PatternString* SchemaPrefix::pattern_string() const {
  if (depth_ == 0 || stack_[depth_ - 1].phase != Phase::Str || !g_->leaves[stack_[depth_ - 1].leaf].pattern) return nullptr;
  return pat_.in_escape() ? nullptr : &pat_;
}

bool SchemaPrefix::step(uint8_t b) {
  if (done_) return false;
  if (depth_ == 0) {
    if (is_ws(b)) return space(b);
    ws_.reset();
    return start_value(g_->root, b);
  }
  Frame& f = stack_[depth_ - 1];
  switch (f.phase) {
    case Phase::Str: return string_byte(b);
    case Phase::Num: return number_byte(b);
    case Phase::Lit: return literal_byte(b);
    case Phase::Key: return key_byte(f, b);
    default:
      if (is_ws(b)) return space(b);
      ws_.reset();
      return structural(f, b);
  }
}

bool SchemaPrefix::structural(Frame& f, uint8_t b) {
  const Leaf& l = g_->leaves[f.leaf];
  switch (f.phase) {
    case Phase::ObjFirst:
      if (b == '}' && may_close_object(f)) return end_value();
      if (b != '"' || !any_key(f)) return false;
      begin_key(f);
      return true;
    case Phase::ObjKey:
      if (b != '"') return false;
      begin_key(f);
      return true;
    case Phase::Colon:
      if (b != ':') return false;
      f.phase = Phase::ObjValue;
      return true;
    case Phase::ObjValue:
      return start_value(f.child, b);
    case Phase::ObjAfter:
      if (b == '}' && may_close_object(f)) return end_value();
      if (b != ',' || !any_key(f)) return false;
      f.phase = Phase::ObjKey;
      return true;
    case Phase::ArrFirst:
      if (b == ']' && l.min_items == 0) return end_value();
      return may_add_item(f) && start_value(l.item(f.next), b);
    case Phase::ArrValue:
      return start_value(l.item(f.next), b);
    case Phase::ArrAfter:
      if (b == ']' && f.next >= l.min_items) return end_value();
      if (b != ',' || !may_add_item(f)) return false;
      f.phase = Phase::ArrValue;
      return true;
    default:
      return false;
  }
}

bool SchemaPrefix::start_value(uint16_t u, uint8_t b) {
  const ValueClass c = value_class_of(b);
  if (c == kValueClasses) return false;
  const uint16_t id = g_->unions[u].leaf[c];
  if (id == SchemaGraph::kNone) return false;
  const Leaf& l = g_->leaves[id];
  if (l.min_depth > room()) return false;  // it could not be finished within the stack
  Frame& f = stack_[depth_++];
  f = Frame{id, 0, 0, Phase::ObjFirst};
  switch (l.kind) {
    case Leaf::Kind::Object: return true;
    case Leaf::Kind::Array: f.phase = Phase::ArrFirst; return true;
    case Leaf::Kind::String:
      f.phase = Phase::Str;
      if (l.pattern) pat_ = PatternString(l.pattern.get(), l.min_length, l.max_length);
      else str_ = string_lexer();
      chars_ = 0;
      return true;
    case Leaf::Kind::Number:
      f.phase = Phase::Num;
      num_ = b == '-' ? kMinus : b == '0' ? kZero : kInt;
      chars_ = b == '-' ? 0 : 1;
      negative_ = b == '-';
      magnitude_ = b == '-' ? 0 : static_cast<uint64_t>(b - '0');
      frac_ = 0;
      int_digits_ = b == '-' ? 0 : 1;
      // "-" needs a number <= 0 in bounds (-0 or below); a digit, numbers it starts. (A refused
      // byte leaves the state as it was: push() works on a copy.)
      if (b == '-') return l.integer ? l.min_int <= 0 : l.min_dec <= 0;
      return integer_prefix_fits(magnitude_, 1) && decimal_prefix_fits(1, false, 0);
    case Leaf::Kind::Literal:
      f.phase = Phase::Lit;
      lo_ = 0, hi_ = static_cast<uint16_t>(l.literals.size()), pos_ = 0;
      return literal_byte(b);
  }
  return false;
}

bool SchemaPrefix::end_value() {
  --depth_;
  if (depth_ == 0) {
    done_ = true;
    return true;
  }
  Frame& p = stack_[depth_ - 1];
  if (p.phase == Phase::ObjValue) {
    p.phase = Phase::ObjAfter;
    // A tagged union's constant was written (the literal that ended, lo_): its object reads on.
    const Leaf& l = g_->leaves[p.leaf];
    if (!l.switch_targets.empty()) p.leaf = l.switch_targets[lo_], p.next = 1;
  } else {  // ArrFirst or ArrValue
    p.phase = Phase::ArrAfter;
    ++p.next;
  }
  return true;
}

bool SchemaPrefix::string_byte(uint8_t b) {
  const Leaf& l = g_->leaves[stack_[depth_ - 1].leaf];
  if (l.pattern) {
    if (b == '"' && !pat_.in_escape()) return pat_.may_close() && end_value();
    return pat_.push(b);
  }
  if (str_.in_plain_string()) {
    if (b == '"') return chars_ >= l.min_length && end_value();
    if (chars_ >= l.max_length) return false;
  }
  if (!str_.push(b)) return false;
  if (str_.in_plain_string() && chars_ != SchemaGraph::kUnlimited) ++chars_;  // a character completed
  return true;
}

bool SchemaPrefix::integer_prefix_fits(uint64_t magnitude, uint32_t digits) const {
  const Leaf& l = g_->leaves[stack_[depth_ - 1].leaf];
  if (!l.integer || (l.min_int <= -SchemaGraph::kMaxInt && l.max_int >= SchemaGraph::kMaxInt)) return true;
  // The integers these digits start: magnitude followed by k more digits (none after a lone 0).
  const uint32_t more = magnitude == 0 ? 0 : kMaxDigits - digits;
  int64_t scale = 1;
  for (uint32_t k = 0; k <= more; ++k, scale *= 10) {
    int64_t lo = static_cast<int64_t>(magnitude) * scale, hi = lo + scale - 1;
    if (negative_) std::swap(lo, hi), lo = -lo, hi = -hi;
    if (hi >= l.min_int && lo <= l.max_int) return true;
  }
  return false;
}

bool SchemaPrefix::decimal_prefix_fits(uint32_t int_digits, bool fraction, uint32_t frac_digits) const {
  using i128 = SchemaGraph::Units;
  const Leaf& l = g_->leaves[stack_[depth_ - 1].leaf];
  if (!l.decimal_bounds) return true;
  constexpr i128 S = SchemaGraph::kDecimalScale;
  auto meets = [&](i128 lo, i128 hi) {  // magnitudes [lo, hi] in 10^-16 units, signed by negative_
    if (negative_) std::swap(lo, hi), lo = -lo, hi = -hi;
    return hi >= l.min_dec && lo <= l.max_dec;
  };
  const i128 whole = static_cast<i128>(magnitude_) * S;
  if (fraction) {
    i128 unit = 1;  // 10^-frac_digits in 10^-16 units
    for (uint32_t k = frac_digits; k < kMaxDigits; ++k) unit *= 10;
    const i128 v = whole + static_cast<i128>(frac_) * unit;
    return meets(v, v + unit - 1);
  }
  // More integer digits (none after a lone 0), then any fraction.
  const uint32_t more = magnitude_ == 0 ? 0 : kMaxDigits - int_digits;
  i128 scale = 1;
  for (uint32_t k = 0; k <= more; ++k, scale *= 10)
    if (meets(whole * scale, (whole + S) * scale - 1)) return true;
  return false;
}

bool SchemaPrefix::decimal_value_fits(uint32_t frac_digits) const {
  using i128 = SchemaGraph::Units;
  const Leaf& l = g_->leaves[stack_[depth_ - 1].leaf];
  if (!l.decimal_bounds) return true;
  i128 unit = 1;
  for (uint32_t k = frac_digits; k < kMaxDigits; ++k) unit *= 10;
  i128 v = static_cast<i128>(magnitude_) * SchemaGraph::kDecimalScale + static_cast<i128>(frac_) * unit;
  if (negative_) v = -v;
  return v >= l.min_dec && v <= l.max_dec;
}

bool SchemaPrefix::number_byte(uint8_t b) {
  const Leaf& l = g_->leaves[stack_[depth_ - 1].leaf];
  const bool integer = l.integer;
  // A bounded number is written without an exponent: its bounds are checked digit by digit.
  const bool exponent = !integer && !l.decimal_bounds;
  auto digit = [&](NumberPart part, bool first) {
    chars_ = first ? 1 : chars_ + 1;
    if (chars_ > kMaxDigits) return false;
    if (part == kInt || part == kZero) {
      uint64_t m = magnitude_ * 10 + static_cast<uint64_t>(b - '0');
      std::swap(m, magnitude_);
      const bool fits = integer_prefix_fits(magnitude_, chars_) && decimal_prefix_fits(chars_, false, 0);
      std::swap(m, magnitude_);
      if (!fits) return false;
      magnitude_ = m;
      int_digits_ = chars_;
    } else if (part == kFrac) {
      uint64_t f = frac_ * 10 + static_cast<uint64_t>(b - '0');
      std::swap(f, frac_);
      const bool fits = decimal_prefix_fits(int_digits_, true, chars_);
      std::swap(f, frac_);
      if (!fits) return false;
      frac_ = f;
    }
    num_ = part;
    return true;
  };
  switch (num_) {
    case kMinus:
      if (b == '0') return digit(kZero, true);
      return is_digit(b) && digit(kInt, true);
    case kZero:
    case kInt:
      if (num_ == kInt && is_digit(b)) return digit(kInt, false);
      if (!integer && b == '.' && decimal_prefix_fits(int_digits_, true, 0)) return num_ = kDot, true;
      if (exponent && (b == 'e' || b == 'E')) return num_ = kExp, true;
      break;
    case kDot:
      return is_digit(b) && digit(kFrac, true);
    case kFrac:
      if (is_digit(b)) return digit(kFrac, false);
      if (exponent && (b == 'e' || b == 'E')) return num_ = kExp, true;
      break;
    case kExp:
      if (b == '+' || b == '-') return num_ = kExpSign, true;
      return is_digit(b) && digit(kExpDigits, true);
    case kExpSign:
      return is_digit(b) && digit(kExpDigits, true);
    case kExpDigits:
      if (is_digit(b)) return chars_ < 3 && digit(kExpDigits, false);  // exponents of up to 3 digits
      break;
  }
  // The number has ended (an integer within its bounds): the byte belongs to the frame below.
  if (integer) {
    const int64_t v = negative_ ? -static_cast<int64_t>(magnitude_) : static_cast<int64_t>(magnitude_);
    if (v < l.min_int || v > l.max_int) return false;
  }
  if (!decimal_value_fits(num_ == kFrac ? chars_ : 0)) return false;
  return end_value() && step(b);
}

bool SchemaPrefix::literal_byte(uint8_t b) {
  const Leaf& l = g_->leaves[stack_[depth_ - 1].leaf];
  auto at = [&](uint16_t i) { return std::string_view(l.literals[i]); };
  const bool ended = lo_ < hi_ && l.literals[lo_].size() == pos_;
  if (narrow(lo_, hi_, pos_, b, at)) {
    ++pos_;
    if (hi_ - lo_ == 1 && l.literals[lo_].size() == pos_) return end_value();
    return true;
  }
  // A literal that others extend (1 beside 12) ends at the first byte that extends none.
  return ended && end_value() && step(b);
}

void SchemaPrefix::begin_key(const Frame& f) {
  Frame& top = stack_[depth_ - 1];
  top.phase = Phase::Key;
  pos_ = 0, lo_ = 0, hi_ = static_cast<uint16_t>(g_->leaves[f.leaf].by_key.size());
  free_key_ = free_keys(f);
  if (free_key_) str_ = string_lexer();
}

bool SchemaPrefix::key_byte(Frame& f, uint8_t b) {
  const Leaf& l = g_->leaves[f.leaf];
  auto at = [&](uint16_t i) { return std::string_view(l.properties[l.by_key[i]].key); };
  if (b == '"' && (!free_key_ || str_.in_plain_string())) {
    // The key ends here: a declared one (in its turn), or any other where extra keys may come.
    const bool declared = lo_ < hi_ && at(lo_).size() == pos_;
    if (declared && property_allowed(f, l.by_key[lo_])) {
      f.child = l.properties[l.by_key[lo_]].value;
      f.next = l.by_key[lo_] + 1u;
      f.phase = Phase::Colon;
      return true;
    }
    if (free_key_) {
      if (declared) return false;  // out of its turn, or again
      f.child = l.additional;
      f.phase = Phase::Colon;
      return true;
    }
    // Else a '"' inside a declared key (escaped): read on.
  }
  if (free_key_ && !str_.push(b)) return false;
  if (lo_ < hi_ && pos_ != SchemaGraph::kUnlimited) {
    if (!narrow(lo_, hi_, pos_, b, at)) lo_ = hi_ = 0;
    ++pos_;
  }
  if (free_key_) return true;
  for (uint16_t i = lo_; i < hi_; ++i)
    if (property_allowed(f, l.by_key[i])) return true;
  return false;
}

bool SchemaPrefix::property_allowed(const Frame& f, uint32_t p) const {
  const Leaf& l = g_->leaves[f.leaf];
  return p >= f.next && p <= l.next_required[f.next] && p < l.properties.size() && fits(l.properties[p].value);
}

bool SchemaPrefix::free_keys(const Frame& f) const {
  const uint16_t a = g_->leaves[f.leaf].additional;
  return a != SchemaGraph::kNone && fits(a);
}

bool SchemaPrefix::any_key(const Frame& f) const {
  if (free_keys(f)) return true;
  const Leaf& l = g_->leaves[f.leaf];
  for (uint32_t p = f.next; p < l.properties.size() && p <= l.next_required[f.next]; ++p)
    if (fits(l.properties[p].value)) return true;
  return false;
}

bool SchemaPrefix::may_close_object(const Frame& f) const {
  const Leaf& l = g_->leaves[f.leaf];
  return l.next_required[f.next] == l.properties.size();
}

bool SchemaPrefix::may_add_item(const Frame& f) const {
  const Leaf& l = g_->leaves[f.leaf];
  const uint16_t it = l.item(f.next);
  return f.next < l.max_items && it != SchemaGraph::kNone && fits(it);
}

}  // namespace stablelm::sampling
