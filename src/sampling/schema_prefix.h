#pragma once
// A byte-level recognizer of the prefixes of a JSON value that a compiled JSON Schema
// (SchemaGraph) describes, for constrained decoding like JsonPrefix: push() accepts a byte exactly
// when some continuation of the bytes so far is a complete value the schema allows, in the form
// json_schema.h describes (properties in the schema's order, compact literals). A stack of frames,
// one per open value; the top frame's token (a string, a key, a number, a literal) is read with
// the fields below it. Trivially copyable and a few hundred bytes: the token-trie walk copies it.
#include <cstdint>

#include "sampling/json_prefix.h"
#include "sampling/json_schema.h"
#include "sampling/pattern_string.h"

namespace stablelm::sampling {

class SchemaPrefix {
 public:
  // Integer and fraction digits a generated number may have (as llama.cpp's JSON grammar bounds
  // them): a model held to a number otherwise may write digits until its tokens run out.
  static constexpr uint32_t kMaxDigits = 16;

  // graph must outlive the object.
  explicit SchemaPrefix(const SchemaGraph* graph, JsonPrefix::Whitespace ws = JsonPrefix::Whitespace::Any)
      : g_(graph), bounded_(ws == JsonPrefix::Whitespace::Bounded) {}

  // Accepts the byte and advances, or returns false and leaves the state as it was.
  bool push(uint8_t b);
  // The root value is complete.
  bool complete() const { return done_; }
  // Inside a string between characters: how many more characters it may take (kUnlimited: no
  // limit); 0 when not there. String text (no '"') never ends a string, so minLength is no bar.
  uint32_t plain_string_room() const;
  // Inside a string held to a pattern, not in an escape: that string's reader; else null.
  const PatternString* pattern_string() const;

 private:
  enum class Phase : uint8_t {
    ObjFirst,  // after '{': a key or '}'
    ObjKey,    // after ',': a key
    Key,       // inside a key (pos_, lo_, hi_ over the leaf's by_key; free_key_: str_ too)
    Colon,     // after a key
    ObjValue,  // after ':': the value of union child
    ObjAfter,  // after a value: ',' or '}'
    ArrFirst,  // after '[': an item or ']'
    ArrValue,  // after ',': an item
    ArrAfter,  // after an item: ',' or ']'
    Str,       // inside a string (str_, chars_)
    Num,       // inside a number (num_, chars_ digits of the current part)
    Lit,       // inside a literal (pos_ bytes matched, literals [lo_, hi_) still possible)
  };
  struct Frame {
    uint16_t leaf;
    uint16_t child;  // Object: the union of the value being read
    uint32_t next;   // Object: the first property not yet passed; Array: items so far
    Phase phase;
  };

  bool step(uint8_t b);
  bool structural(Frame& f, uint8_t b);
  bool start_value(uint16_t u, uint8_t b);
  bool end_value();
  bool string_byte(uint8_t b);
  bool number_byte(uint8_t b);
  // Some integer within the leaf's bounds starts with this sign and these digits.
  bool integer_prefix_fits(uint64_t magnitude, uint32_t digits) const;
  // Some number within the leaf's decimal bounds starts with this sign, integer part (magnitude_,
  // int_digits of them) and, when fraction, '.' and frac_digits digits (frac_).
  bool decimal_prefix_fits(uint32_t int_digits, bool fraction, uint32_t frac_digits) const;
  // The number read so far, whole, lies within them.
  bool decimal_value_fits(uint32_t frac_digits) const;
  bool literal_byte(uint8_t b);
  bool key_byte(Frame& f, uint8_t b);
  void begin_key(const Frame& f);
  bool space(uint8_t b) { return !bounded_ || ws_.take(b); }
  // Frames free above the top one.
  uint32_t room() const { return static_cast<uint32_t>(SchemaGraph::kMaxFrames - depth_); }
  bool fits(uint16_t u) const { return g_->unions[u].min_depth <= room(); }
  bool property_allowed(const Frame& f, uint32_t p) const;
  bool free_keys(const Frame& f) const;
  bool any_key(const Frame& f) const;
  bool may_close_object(const Frame& f) const;
  bool may_add_item(const Frame& f) const;

  const SchemaGraph* g_;
  Frame stack_[SchemaGraph::kMaxFrames];
  uint8_t depth_ = 0;
  bool done_ = false;
  bool bounded_ = false;
  bool free_key_ = false;  // the key being read may be any string (additionalProperties)
  uint8_t num_ = 0;        // the number's part (schema_prefix.cpp, NumberPart)
  WhitespaceRun ws_;
  JsonPrefix str_;         // the string or free key being read, primed with {"
  PatternString pat_;      // the string being read, when its leaf has a pattern
  uint32_t chars_ = 0;
  bool negative_ = false;  // an integer's sign and
  uint64_t magnitude_ = 0;  // digits so far (for its bounds)
  uint64_t frac_ = 0;       // a bounded number's fraction digits so far
  uint32_t int_digits_ = 0;
  uint32_t pos_ = 0;
  uint16_t lo_ = 0, hi_ = 0;
};

}  // namespace stablelm::sampling
