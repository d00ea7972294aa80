#pragma once
// A JSON Schema compiled for constrained decoding (OpenAI's response_format
// {"type": "json_schema"}, vLLM's guided_json, llama.cpp's json_schema): a graph that
// SchemaPrefix walks one byte at a time. A schema node becomes a Union: for each of the seven ways
// a JSON value can start (its first byte decides), the Leaf that describes values starting so.
// That keeps the recognizer deterministic, which is also its limit: anyOf/oneOf alternatives must
// differ in how they start (a string or null, an object or a list); two kinds of object only when
// a first property with a constant value tells them apart (a discriminator, as pydantic's tagged
// unions and OpenAI's examples write them).
//
// What generation follows (docs/GENERATE.md, "JSON schema"):
// - properties come in the schema's order; optional ones may be left out; extra keys only where
//   additionalProperties allows them (absent means none, unless the object declares no
//   properties: then any key, as for a free-form {"type": "object"});
// - whitespace between tokens as in JSON mode; enum/const values compact, as json.dumps with
//   separators (",", ":") writes them;
// - local $ref ("#/$defs/x", "#/definitions/x", "#"), recursion included;
// - type (one or a list), enum, const, anyOf/oneOf (alternatives of different kinds, or tagged
//   objects), allOf of
//   one schema, properties, required, additionalProperties, items, prefixItems, minItems,
//   maxItems, minLength, maxLength, pattern (regex.h's syntax), minimum/maximum (and exclusive
//   ones; a bounded number is written without exponent), nullable (OpenAPI);
// - annotations (title, description, default, examples, format, ...) are ignored, as JSON Schema
//   lets a validator do; assertions this compiler cannot enforce (multipleOf, uniqueItems,
//   not, ...) are refused with an error naming them and where they are, never ignored.
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "sampling/regex.h"

namespace stablelm::sampling {

// The first byte of a JSON value decides its class.
enum ValueClass : uint8_t { kObject, kArray, kString, kNumber, kTrue, kFalse, kNull, kValueClasses };
// The class a value starting with b has; kValueClasses when none.
ValueClass value_class_of(uint8_t b);

struct SchemaGraph {
  static constexpr uint16_t kNone = 0xFFFF;
  static constexpr uint32_t kUnlimited = 0xFFFFFFFF;
  static constexpr uint32_t kNever = 0xFFFFFFFF;  // min_depth of what nothing satisfies
  // The recognizer's stack: one frame per open value, so values nest at most this deep.
  static constexpr int kMaxFrames = 32;
  // The largest integer a generated number writes (16 digits: SchemaPrefix::kMaxDigits).
  static constexpr int64_t kMaxInt = 9999999999999999;
  // Decimal bounds in 10^-16 units need 128 bits (a GCC/Clang extension, marked as one).
  __extension__ typedef __int128 Units;
  // 10^16, and the largest number of 16 integer and 16 fraction digits in those units.
  static constexpr Units kDecimalScale = 10000000000000000;
  static constexpr Units kMaxDecimal = kDecimalScale * kDecimalScale - 1;

  struct Property {
    std::string key;  // the name as JSON writes it between the quotes (escaped)
    uint16_t value;   // a union
    bool required;
  };
  struct Leaf {
    enum class Kind : uint8_t { Object, Array, String, Number, Literal } kind;
    // Object: properties in generation order; by_key: their indexes sorted by key (keys still
    // possible while a key is read are a range of it); next_required[i]: the first required
    // property at or after i (properties.size(): none); additional: the union of other keys'
    // values (kNone: no other key).
    std::vector<Property> properties;
    std::vector<uint16_t> by_key;
    std::vector<uint16_t> next_required;
    uint16_t additional = kNone;
    // A tagged union of objects (anyOf/oneOf of objects whose first property, required, is a
    // string constant told apart from the others'): properties holds that discriminator alone,
    // its value one literal leaf of every constant, sorted; switch_targets[i] is the object the
    // i-th constant selects, read on from its second property once the constant is written.
    std::vector<uint16_t> switch_targets;
    // Array: item i is prefix_items[i], then items (kNone: no more).
    std::vector<uint16_t> prefix_items;
    uint16_t items = kNone;
    uint32_t min_items = 0, max_items = kUnlimited;
    // String: length in code points; the pattern its value matches somewhere (null: any),
    // compiled with those lengths.
    uint32_t min_length = 0, max_length = kUnlimited;
    std::shared_ptr<const RegexDfa> pattern;
    // Number. An integer's bounds (minimum, maximum, exclusive ones made inclusive), within what
    // SchemaPrefix::kMaxDigits digits write.
    bool integer = false;
    int64_t min_int = -kMaxInt, max_int = kMaxInt;
    // A number's bounds, when it has any (decimal): inclusive, in units of 10^-16 (kDecimalScale),
    // so that every number of 16 integer and 16 fraction digits compares exactly. Such a number is
    // written without an exponent.
    bool decimal_bounds = false;
    Units min_dec = -kMaxDecimal, max_dec = kMaxDecimal;
    // Literal (enum, const, true/false/null): the compact serializations, sorted, unique.
    std::vector<std::string> literals;
    // The stack frames a value of this leaf needs to be completed (kNever: it cannot be).
    uint32_t min_depth = kNever;

    uint16_t item(uint32_t i) const { return i < prefix_items.size() ? prefix_items[i] : items; }
  };
  struct Union {
    std::array<uint16_t, kValueClasses> leaf;  // by ValueClass; kNone: values cannot start so
    uint32_t min_depth = kNever;
  };

  std::vector<Leaf> leaves;
  std::vector<Union> unions;
  uint16_t root = 0;
};

// Compiles a schema (a JSON object or boolean). Throws stablelm::Error("json schema: ...")
// naming the keyword and its place (#/properties/x/...) for what is unsupported, malformed or
// cannot be satisfied (required recursion without end, minItems > maxItems, an empty enum, ...),
// and when the root would allow a bare number (the output could not tell when it ends).
// lenient: assertions the compiler cannot enforce (multipleOf, a pattern with lookahead, ...) are ignored
// instead of refused; for a function's parameters that are not strict (tool calls), where a
// looser constraint still beats none.
std::shared_ptr<const SchemaGraph> compile_json_schema(const nlohmann::ordered_json& schema, bool lenient = false);

}  // namespace stablelm::sampling
