// The tool-call list recognizer (see tool_calls_prefix.h): literal keys, a name out of a sorted
// list (the names still possible are a range of it), and JsonPrefix for the arguments.
#include "sampling/tool_calls_prefix.h"

#include <algorithm>
#include <limits>
#include <string_view>

namespace stablelm::sampling {

namespace {
bool is_ws(uint8_t b) { return b == ' ' || b == '\t' || b == '\n' || b == '\r'; }
constexpr std::string_view kNameKey = "\"name\"";
constexpr std::string_view kArgsKey = "\"arguments\"";
}  // namespace

ToolCallsPrefix::ToolCallsPrefix(const std::vector<std::string>* names, int max_calls, JsonPrefix::Whitespace ws,
                                 const std::vector<const SchemaGraph*>* schemas)
    : names_(names),
      schemas_(schemas),
      bounded_(ws == JsonPrefix::Whitespace::Bounded),
      max_calls_(static_cast<uint16_t>(std::clamp(max_calls, 0, static_cast<int>(std::numeric_limits<uint16_t>::max())))) {}

bool ToolCallsPrefix::push(uint8_t b) {
  ToolCallsPrefix s = *this;
  if (!is_ws(b)) s.ws_.reset();  // any other byte ends a whitespace run
  if (!s.step(b)) return false;
  *this = s;
  return true;
}

bool ToolCallsPrefix::space(uint8_t b) { return !bounded_ || ws_.take(b); }

bool ToolCallsPrefix::step(uint8_t b) {
  switch (phase_) {
    case Phase::Open:
      if (is_ws(b)) return space(b);
      if (b != '[') return false;
      phase_ = Phase::CallOpen;
      return true;
    case Phase::CallOpen:
      if (is_ws(b)) return space(b);
      if (b != '{') return false;
      phase_ = Phase::NameKey, pos_ = 0;
      return true;
    case Phase::NameKey:
    case Phase::ArgsKey: {
      const std::string_view key = phase_ == Phase::NameKey ? kNameKey : kArgsKey;
      if (pos_ == 0 && is_ws(b)) return space(b);
      if (static_cast<uint8_t>(key[pos_]) != b) return false;
      if (++pos_ == key.size()) phase_ = phase_ == Phase::NameKey ? Phase::NameColon : Phase::ArgsColon;
      return true;
    }
    case Phase::NameColon:
    case Phase::ArgsColon:
      if (is_ws(b)) return space(b);
      if (b != ':') return false;
      if (phase_ == Phase::NameColon) {
        phase_ = Phase::NameQuote;
      } else {
        phase_ = Phase::Arguments;
        const auto ws = bounded_ ? JsonPrefix::Whitespace::Bounded : JsonPrefix::Whitespace::Any;
        args_ = JsonPrefix(ws);
        const SchemaGraph* schema = schemas_ != nullptr ? (*schemas_)[chosen_] : nullptr;
        by_schema_ = schema != nullptr;
        args_started_ = false;
        if (by_schema_) schema_args_ = SchemaPrefix(schema, ws);
      }
      return true;
    case Phase::NameQuote:
      if (is_ws(b)) return space(b);
      if (b != '"' || names_->empty()) return false;
      phase_ = Phase::Name, pos_ = 0, lo_ = 0, hi_ = static_cast<uint16_t>(names_->size());
      return true;
    case Phase::Name: {
      const std::vector<std::string>& n = *names_;
      if (b == '"') {
        // Sorted: a name equal to the bytes so far comes first in the range.
        if (n[lo_].size() != pos_) return false;
        chosen_ = lo_;
        phase_ = Phase::NameComma;
        return true;
      }
      uint16_t lo = lo_, hi = hi_;
      while (lo < hi && (n[lo].size() <= pos_ || static_cast<uint8_t>(n[lo][pos_]) != b)) ++lo;
      hi = lo;
      while (hi < hi_ && n[hi].size() > pos_ && static_cast<uint8_t>(n[hi][pos_]) == b) ++hi;
      if (lo == hi) return false;
      lo_ = lo, hi_ = hi, ++pos_;
      return true;
    }
    case Phase::NameComma:
      if (is_ws(b)) return space(b);
      if (b != ',') return false;
      phase_ = Phase::ArgsKey, pos_ = 0;
      return true;
    case Phase::Arguments:
      // The arguments are one object: whitespace before it is JsonPrefix's, the byte after its
      // close is the call's.
      if (by_schema_) {
        if (schema_args_.complete()) {
          phase_ = Phase::CallClose;
          return step(b);
        }
        // The arguments are an object, whatever else the parameters' root allows.
        if (!args_started_ && !is_ws(b)) {
          if (b != '{') return false;
          args_started_ = true;
        }
        return schema_args_.push(b);
      }
      if (args_.complete()) {
        phase_ = Phase::CallClose;
        return step(b);
      }
      return args_.push(b);
    case Phase::CallClose:
      if (is_ws(b)) return space(b);
      if (b != '}') return false;
      ++calls_;
      phase_ = Phase::Next;
      return true;
    case Phase::Next:
      if (is_ws(b)) return space(b);
      if (b == ']') {
        phase_ = Phase::Done;
        return true;
      }
      if (b != ',' || (max_calls_ != 0 && calls_ >= max_calls_)) return false;
      phase_ = Phase::CallOpen;
      return true;
    case Phase::Done:
      return is_ws(b) && space(b);
  }
  return false;
}

}  // namespace stablelm::sampling
