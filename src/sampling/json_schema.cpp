// The JSON Schema compiler (see json_schema.h): every subschema is compiled once, keyed by its
// JSON pointer, so $ref and recursion are an index; anyOf/oneOf/$ref are merged into their union
// after the walk, when every referenced union is known; then a fixpoint finds how deep each value
// must nest to be completed, which both rejects unsatisfiable schemas and lets the recognizer
// refuse a value it could not finish within its stack.
#include "sampling/json_schema.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "io/json.h"
#include "stablelm/error.h"
#include "stablelm/sampling.h"

namespace stablelm::sampling {

ValueClass value_class_of(uint8_t b) {
  switch (b) {
    case '{': return kObject;
    case '[': return kArray;
    case '"': return kString;
    case 't': return kTrue;
    case 'f': return kFalse;
    case 'n': return kNull;
    default: return b == '-' || (b >= '0' && b <= '9') ? kNumber : kValueClasses;
  }
}

namespace {

using ojson = nlohmann::ordered_json;
using Leaf = SchemaGraph::Leaf;
constexpr uint16_t kNone = SchemaGraph::kNone;
constexpr uint32_t kNever = SchemaGraph::kNever;
constexpr int kMaxNesting = 256;  // subschemas and $ref hops on one path
constexpr size_t kMaxNodes = 0xFFFE;

// Assertions a validator would enforce and this compiler cannot: refused, never ignored.
const std::set<std::string, std::less<>> kUnsupported = {
    "patternProperties", "propertyNames", "minProperties", "maxProperties", "multipleOf", "uniqueItems", "contains", "minContains", "maxContains",
    "not", "if", "then", "else", "dependentRequired", "dependentSchemas", "dependencies", "unevaluatedProperties",
    "unevaluatedItems", "$dynamicRef", "$recursiveRef", "contentSchema"};
// Keywords that may stand beside $ref or anyOf: annotations and definitions.
const std::set<std::string, std::less<>> kAnnotations = {
    "$schema", "$id", "$anchor", "$comment", "$defs", "definitions", "title", "description", "default", "examples",
    "deprecated", "readOnly", "writeOnly", "format", "contentEncoding", "contentMediaType", "discriminator",
    "$dynamicAnchor", "$vocabulary", "strict", "name"};

// Formats held like a pattern where the string has none: what each regex matches is a value of the
// format (RFC 3339's full-date with real days, leap years included; full-time without leap
// seconds, its fraction up to 6 digits; an RFC 4122 uuid; a dotted-quad ipv4 without leading
// zeros; an email of dot-atoms at a domain of labels). JSON Schema lets a validator treat format
// as an annotation; a caller who asks for a date wants one. Other formats stay annotations.
constexpr std::string_view kYear = "(?:[1-9]\\d{3}|0[1-9]\\d\\d|00[1-9]\\d|000[1-9])";
constexpr std::string_view kMonthDay =
    "(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|02-(?:0[1-9]|1\\d|2[0-8]))";
constexpr std::string_view kLeapYear = "(?:\\d\\d(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)";
constexpr std::string_view kTime =
    "(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d{1,6})?(?:Z|[+-](?:[01]\\d|2[0-3]):[0-5]\\d)";
constexpr std::string_view kOctet = "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
constexpr std::string_view kAtom = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+";
constexpr std::string_view kLabel = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";

std::string format_pattern(std::string_view format) {
  const std::string date = "(?:" + std::string(kYear) + "-" + std::string(kMonthDay) + "|" + std::string(kLeapYear) + "-02-29)";
  const std::string hex = "[0-9a-fA-F]";
  if (format == "date") return "^" + date + "$";
  if (format == "time") return "^" + std::string(kTime) + "$";
  if (format == "date-time") return "^" + date + "T" + std::string(kTime) + "$";
  if (format == "uuid")
    return "^" + hex + "{8}-" + hex + "{4}-" + hex + "{4}-" + hex + "{4}-" + hex + "{12}$";
  if (format == "ipv4") return "^(?:" + std::string(kOctet) + "\\.){3}" + std::string(kOctet) + "$";
  if (format == "email")
    return "^" + std::string(kAtom) + "(?:\\." + std::string(kAtom) + ")*@(?:" + std::string(kLabel) + "\\.)+[A-Za-z]{2,63}$";
  return "";
}

const char* class_name(int c) {
  static const char* const names[] = {"an object", "a list", "a string", "a number", "true", "false", "null"};
  return names[c];
}

std::string pointer_token(const std::string& key) {
  std::string t;
  for (char c : key) {
    if (c == '~') t += "~0";
    else if (c == '/') t += "~1";
    else t += c;
  }
  return t;
}

std::string dump(const ojson& v, const std::string& where) {
  try {
    return v.dump();
  } catch (const nlohmann::json::exception&) {
    throw Error("json schema: a value that is not valid UTF-8 (at " + where + ")");
  }
}

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw Error("json schema: " + what + " (at " + where + ")");
}

class Compiler {
 public:
  Compiler(const ojson& root, bool lenient) : root_(root), lenient_(lenient) {}

  std::shared_ptr<const SchemaGraph> run() {
    g_.root = schema(root_, "#");
    for (uint16_t u = 0; u < g_.unions.size(); ++u) resolve(u);
    min_depths();
    const SchemaGraph::Union& root = g_.unions[g_.root];
    if (root.leaf[kNumber] != kNone)
      fail("#", "the root allows a bare number, whose end the output could not show; put it in an object or a list");
    if (root.min_depth == kNever)
      fail("#", "no JSON value satisfies the schema (an empty enum, minItems above maxItems, minLength above "
                "maxLength, a required property that allows nothing, or required recursion without end)");
    if (root.min_depth > static_cast<uint32_t>(SchemaGraph::kMaxFrames))
      fail("#", "values must nest deeper than " + std::to_string(SchemaGraph::kMaxFrames) + " levels");
    return std::make_shared<const SchemaGraph>(std::move(g_));
  }

 private:
  struct Pending {
    std::vector<uint16_t> merge;  // unions whose leaves this one takes (anyOf, oneOf, allOf, $ref)
    std::string where;
    uint8_t state = 0;  // resolve(): 0 not yet, 1 under way, 2 done
  };

  uint16_t new_union(const std::string& where) {
    if (g_.unions.size() >= kMaxNodes) fail(where, "more than 65534 subschemas");
    SchemaGraph::Union u;
    u.leaf.fill(kNone);
    g_.unions.push_back(u);
    pending_.push_back({{}, where, 0});
    return static_cast<uint16_t>(g_.unions.size() - 1);
  }
  uint16_t new_leaf(Leaf l, const std::string& where) {
    if (g_.leaves.size() >= kMaxNodes) fail(where, "more than 65534 subschemas");
    g_.leaves.push_back(std::move(l));
    return static_cast<uint16_t>(g_.leaves.size() - 1);
  }
  // u takes from's leaves (resolve()). from is computed before pending_ is indexed: computing
  // it may grow pending_.
  void merge(uint16_t u, uint16_t from) { pending_[u].merge.push_back(from); }
  static Leaf leaf(Leaf::Kind k) {
    Leaf l;
    l.kind = k;
    return l;
  }

  // Any JSON value: the schema true or {}.
  uint16_t any() {
    if (any_ != kNone) return any_;
    any_ = new_union("#");
    Leaf object = leaf(Leaf::Kind::Object), array = leaf(Leaf::Kind::Array), literal = leaf(Leaf::Kind::Literal);
    object.additional = any_;
    object.next_required = {0};
    array.items = any_;
    literal.literals = {"false", "null", "true"};
    auto& t = g_.unions[any_].leaf;
    t[kObject] = new_leaf(std::move(object), "#");
    t[kArray] = new_leaf(std::move(array), "#");
    t[kString] = new_leaf(leaf(Leaf::Kind::String), "#");
    t[kNumber] = new_leaf(leaf(Leaf::Kind::Number), "#");
    t[kTrue] = t[kFalse] = t[kNull] = new_leaf(std::move(literal), "#");
    return any_;
  }

  static const ojson* find(const ojson& s, std::string_view key) {
    auto it = s.find(std::string(key));
    return it == s.end() ? nullptr : &*it;
  }

  static uint32_t count(const ojson& s, const char* key, uint32_t none, const std::string& where) {
    const ojson* v = find(s, key);
    if (!v) return none;
    const bool whole = v->is_number_unsigned() ||
                       (v->is_number_float() && v->get<double>() >= 0 && v->get<double>() == std::floor(v->get<double>()));
    if (!whole) fail(where + "/" + key, std::string("'") + key + "' must be a non-negative integer");
    const double d = v->get<double>();
    return d >= 4294967295.0 ? SchemaGraph::kUnlimited : static_cast<uint32_t>(d);
  }

  // The union for subschema s at pointer where ("#/properties/x").
  uint16_t schema(const ojson& s, const std::string& where) {
    if (auto it = by_pointer_.find(where); it != by_pointer_.end()) return it->second;
    if (nesting_ >= kMaxNesting) fail(where, "subschemas nest (or $ref hops) more than 256 levels deep");
    ++nesting_;
    const uint16_t u = new_union(where);
    by_pointer_.emplace(where, u);
    fill(u, s, where);
    --nesting_;
    return u;
  }

  void fill(uint16_t u, const ojson& s, const std::string& where) {
    if (s.is_boolean()) {
      if (s.get<bool>()) merge(u, any());
      return;  // false: no leaf, nothing satisfies it
    }
    if (!s.is_object()) fail(where, "a schema must be an object or a boolean");
    for (const auto& [k, v] : s.items())
      if (kUnsupported.count(k) && !lenient_)
        fail(where + "/" + pointer_token(k), "'" + k + "' is not supported for constrained decoding");
    auto only_annotations_beside = [&](const char* keyword, std::initializer_list<std::string_view> also) {
      for (const auto& [k, v] : s.items())
        if (k != keyword && !kAnnotations.count(k) && std::find(also.begin(), also.end(), k) == also.end())
          fail(where, std::string("'") + keyword + "' beside '" + k + "' is not supported");
    };
    if (const ojson* ref = find(s, "$ref")) {
      only_annotations_beside("$ref", {});
      merge(u, reference(*ref, where + "/$ref"));
      return;
    }
    bool alternatives = false;
    for (const char* key : {"anyOf", "oneOf", "allOf"}) {
      const ojson* alts = find(s, key);
      if (!alts) continue;
      alternatives = true;
      only_annotations_beside(key, {"anyOf", "oneOf", "allOf", "nullable"});
      if (!alts->is_array() || alts->empty()) fail(where + "/" + key, std::string("'") + key + "' must be a non-empty list");
      // oneOf's "exactly one" holds: the alternatives start differently, so a value matches one.
      if (std::string_view(key) == "allOf" && alts->size() != 1)
        fail(where + "/allOf", "'allOf' of more than one schema is not supported");
      for (size_t i = 0; i < alts->size(); ++i)
        merge(u, schema((*alts)[i], where + "/" + key + "/" + std::to_string(i)));
    }
    const ojson* nullable = find(s, "nullable");
    if (nullable && !nullable->is_boolean()) fail(where + "/nullable", "'nullable' must be true or false");
    const bool add_null = nullable && nullable->get<bool>();
    if (alternatives) {
      if (add_null) set_literals(u, {"null"}, where);
      return;
    }

    // type: which kinds of value; absent, all of them.
    enum : unsigned { kTObject = 1, kTArray = 2, kTString = 4, kTNumber = 8, kTInteger = 16, kTBoolean = 32, kTNull = 64 };
    unsigned types = 0;
    if (const ojson* t = find(s, "type")) {
      auto one = [&](const ojson& name) {
        static const std::map<std::string, unsigned, std::less<>> kTypes = {
            {"object", kTObject}, {"array", kTArray},     {"string", kTString}, {"number", kTNumber},
            {"integer", kTInteger}, {"boolean", kTBoolean}, {"null", kTNull}};
        auto it = name.is_string() ? kTypes.find(name.get<std::string>()) : kTypes.end();
        if (it == kTypes.end()) fail(where + "/type", "'type' " + io_excerpt(name) + " is not a JSON Schema type");
        types |= it->second;
      };
      if (t->is_array()) {
        for (const ojson& name : *t) one(name);
      } else {
        one(*t);
      }
    }
    const bool typed = types != 0;
    if (!typed) types = kTObject | kTArray | kTString | kTNumber | kTBoolean | kTNull;
    if (add_null) types |= kTNull;

    const ojson* en = find(s, "enum");
    const ojson* cn = find(s, "const");
    if (en || cn) {
      if (en && !en->is_array()) fail(where + "/enum", "'enum' must be a list");
      std::vector<const ojson*> values;
      if (cn && en) {
        if (std::find(en->begin(), en->end(), *cn) != en->end()) values.push_back(cn);
      } else if (cn) {
        values.push_back(cn);
      } else {
        for (const ojson& v : *en) values.push_back(&v);
      }
      std::vector<std::string> literals;
      const auto re = pattern(s, 0, SchemaGraph::kUnlimited, where, /*with_format=*/false);
      for (const ojson* v : values) {
        const bool fits = (v->is_object() && (types & kTObject)) || (v->is_array() && (types & kTArray)) ||
                          (v->is_string() && (types & kTString)) || (v->is_boolean() && (types & kTBoolean)) ||
                          (v->is_null() && (types & kTNull)) || (v->is_number() && (types & kTNumber)) ||
                          (v->is_number() && (types & kTInteger) &&
                           (v->is_number_integer() || v->get<double>() == std::floor(v->get<double>())));
        if (fits && literal_meets_siblings(*v, s, re.get(), where)) literals.push_back(dump(*v, where));
      }
      if (add_null) literals.push_back("null");
      set_literals(u, std::move(literals), where);
      return;
    }

    // Without a type, the kinds the keywords speak of (as llama.cpp reads such a schema):
    // {"properties": ...} is written as an object, not as any value. A subset of what validates.
    if (!typed) {
      unsigned inferred = 0;
      auto any_of = [&](std::initializer_list<const char*> keys, unsigned kind) {
        for (const char* k : keys)
          if (find(s, k)) inferred |= kind;
      };
      any_of({"properties", "required", "additionalProperties"}, kTObject);
      any_of({"items", "prefixItems", "additionalItems", "minItems", "maxItems"}, kTArray);
      any_of({"minLength", "maxLength", "pattern"}, kTString);
      // Bounds hold digit by digit for integers only: bounded untyped values are written as those.
      any_of({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}, kTInteger);
      if (inferred != 0) types = add_null ? inferred | kTNull : inferred;
    }
    // (No reference into g_.unions across these calls: compiling a subschema may grow it.)
    if (types & kTObject) {
      const uint16_t id = object_leaf(s, where);
      g_.unions[u].leaf[kObject] = id;
    }
    if (types & kTArray) {
      const uint16_t id = array_leaf(s, where);
      g_.unions[u].leaf[kArray] = id;
    }
    if (types & kTString) {
      Leaf l = leaf(Leaf::Kind::String);
      l.min_length = count(s, "minLength", 0, where);
      l.max_length = count(s, "maxLength", SchemaGraph::kUnlimited, where);
      l.pattern = pattern(s, l.min_length, l.max_length, where);
      g_.unions[u].leaf[kString] = new_leaf(std::move(l), where);
    }
    if (types & (kTNumber | kTInteger)) {
      Leaf l = leaf(Leaf::Kind::Number);
      l.integer = !(types & kTNumber);
      integer_bounds(s, l, where);
      g_.unions[u].leaf[kNumber] = new_leaf(std::move(l), where);
    }
    std::vector<std::string> words;
    if (types & kTBoolean) words = {"false", "true"};
    if (types & kTNull) words.push_back("null");
    if (!words.empty()) set_literals(u, std::move(words), where);
  }

  // An enum/const value must also meet the assertions beside it: a string its lengths, a number
  // its bounds (re: its pattern, or null). Those of objects and lists are not checked on literals: refused (ignored when
  // lenient).
  bool literal_meets_siblings(const ojson& v, const ojson& s, const RegexDfa* re, const std::string& where) {
    for (const char* k : {"properties", "required", "additionalProperties", "items", "prefixItems", "additionalItems",
                          "minItems", "maxItems"})
      if (find(s, k) && !lenient_)
        fail(where, std::string("'enum'/'const' beside '") + k + "' is not supported");
    if (v.is_string()) {
      const std::string& text = v.get_ref<const std::string&>();
      uint32_t chars = 0;
      for (char c : text) chars += (static_cast<uint8_t>(c) & 0xC0) != 0x80;
      return chars >= count(s, "minLength", 0, where) &&
             chars <= count(s, "maxLength", SchemaGraph::kUnlimited, where) && (!re || re->matches(text));
    }
    if (!v.is_number()) return true;
    const double x = v.get<double>();
    for (const char* k : {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}) {
      const ojson* b = find(s, k);
      if (b == nullptr) continue;
      if (!b->is_number()) {
        if (lenient_) continue;
        fail(where + "/" + k, std::string("'") + k + "' must be a number");
      }
      const double d = b->get<double>();
      const std::string_view key = k;
      if ((key == "minimum" && x < d) || (key == "maximum" && x > d) || (key == "exclusiveMinimum" && x <= d) ||
          (key == "exclusiveMaximum" && x >= d))
        return false;
    }
    return true;
  }

  // The string's "pattern", compiled with its length bounds; null without one, or when it cannot
  // be enforced and the compile is lenient.
  // with_format: a known format stands for a pattern where there is none (for a string's values;
  // an enum's listed values are taken as they are). Where the format's pattern cannot be held
  // with the lengths beside it, it stays what JSON Schema makes it by default, an annotation.
  std::shared_ptr<const RegexDfa> pattern(const ojson& s, uint32_t min_chars, uint32_t max_chars,
                                          const std::string& where, bool with_format = true) {
    const ojson* p = find(s, "pattern");
    if (p == nullptr) {
      const ojson* f = with_format ? find(s, "format") : nullptr;
      const std::string fp = f && f->is_string() ? format_pattern(f->get_ref<const std::string&>()) : "";
      if (fp.empty()) return nullptr;
      try {
        auto re = compile_regex(fp, RegexDfa::Match::Search, min_chars, max_chars);
        return re->completes(re->start(), min_chars, max_chars) ? re : nullptr;
      } catch (const Error&) {
        return nullptr;
      }
    }
    if (!p->is_string()) {
      if (lenient_) return nullptr;
      fail(where + "/pattern", "'pattern' must be a string");
    }
    try {
      return compile_regex(p->get_ref<const std::string&>(), RegexDfa::Match::Search, min_chars, max_chars);
    } catch (const Error& e) {
      if (lenient_) return nullptr;
      std::string why = e.what();
      if (why.starts_with("regex: ")) why.erase(0, 7);
      fail(where + "/pattern", "'pattern' cannot be enforced: " + why);
    }
  }

  // The bound d in 10^-16 units, rounded down (up: ceil), read as the shortest decimal that is d
  // (what the schema wrote: 0.1, not the double's 0.1000000000000000055...). A number at least
  // that decimal also reads as a double at least d, so a validator comparing doubles agrees.
  // Clamped to what 16 integer and 16 fraction digits write.
  static SchemaGraph::Units scaled(double d, bool ceil) {
    using i128 = SchemaGraph::Units;
    const i128 limit = SchemaGraph::kMaxDecimal + 1;
    if (!(std::fabs(d) < 1e17)) return d < 0 ? -limit : limit;
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
    const std::string_view text(buf, static_cast<size_t>(r.ptr - buf));  // -D.DDDDe+XX
    i128 mant = 0;
    int exp10 = 0, frac_digits = 0;
    bool in_frac = false;
    size_t i = text[0] == '-' ? 1 : 0;
    for (; i < text.size() && text[i] != 'e'; ++i) {
      if (text[i] == '.') {
        in_frac = true;
        continue;
      }
      mant = mant * 10 + (text[i] - '0');
      frac_digits += in_frac ? 1 : 0;
    }
    exp10 = std::stoi(std::string(text.substr(i + 1))) - frac_digits + 16;  // value = mant x 10^(exp10 - 16)
    if (text[0] == '-') mant = -mant;
    if (exp10 >= 0) {
      for (int k = 0; k < exp10; ++k) mant *= 10;  // |d| < 1e17: within 128 bits
      return std::clamp(mant, -limit, limit);
    }
    i128 div = 1;
    for (int k = 0; k < -exp10 && div < limit; ++k) div *= 10;
    i128 q = mant / div;  // toward zero
    const i128 rem = mant % div;
    if (rem != 0 && ((rem > 0) == ceil)) q += ceil ? 1 : -1;
    return std::clamp(q, -limit, limit);
  }

  // minimum, maximum and the exclusive ones, as inclusive bounds: an integer's in units, a
  // number's in 10^-16 units (decimal_bounds).
  void integer_bounds(const ojson& s, Leaf& l, const std::string& where) {
    const char* const keys[] = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"};
    for (const char* k : keys) {
      const ojson* v = find(s, k);
      if (v == nullptr) continue;
      if (!l.integer) {
        if (!v->is_number()) {
          if (lenient_) continue;
          fail(where + "/" + k, std::string("'") + k + "' must be a number");
        }
        const double d = v->get<double>();
        const std::string_view key = k;
        l.decimal_bounds = true;
        if (key == "minimum") l.min_dec = std::max(l.min_dec, scaled(d, true));
        if (key == "exclusiveMinimum") l.min_dec = std::max(l.min_dec, scaled(d, false) + 1);
        if (key == "maximum") l.max_dec = std::min(l.max_dec, scaled(d, false));
        if (key == "exclusiveMaximum") l.max_dec = std::min(l.max_dec, scaled(d, true) - 1);
        continue;
      }
      if (!v->is_number()) {
        if (lenient_) continue;  // draft 4's boolean exclusiveMinimum among them
        fail(where + "/" + k, std::string("'") + k + "' must be a number");
      }
      const double d = v->get<double>();
      const std::string_view key = k;
      // Outside what 16 digits write, a bound only clamps.
      const double big = static_cast<double>(SchemaGraph::kMaxInt) + 1;
      if (key == "minimum" || key == "exclusiveMinimum") {
        const double b = key == "minimum" ? std::ceil(d) : std::floor(d) + 1;
        if (b > -big) l.min_int = std::max(l.min_int, b >= big ? SchemaGraph::kMaxInt + 1 : static_cast<int64_t>(b));
      } else {
        const double b = key == "maximum" ? std::floor(d) : std::ceil(d) - 1;
        if (b < big) l.max_int = std::min(l.max_int, b <= -big ? -SchemaGraph::kMaxInt - 1 : static_cast<int64_t>(b));
      }
    }
  }

  static std::string io_excerpt(const ojson& v) {
    std::string d = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return d.size() > 40 ? d.substr(0, 40) + "..." : d;
  }

  // One literal leaf for all the values, entered from each class a value starts with.
  void set_literals(uint16_t u, std::vector<std::string> literals, const std::string& where) {
    std::sort(literals.begin(), literals.end());
    literals.erase(std::unique(literals.begin(), literals.end()), literals.end());
    if (literals.size() > kMaxNodes) fail(where, "more than 65534 enum values");
    if (literals.empty()) return;  // nothing satisfies it
    Leaf l = leaf(Leaf::Kind::Literal);
    l.literals = std::move(literals);
    std::vector<int> classes;
    for (const std::string& v : l.literals) classes.push_back(value_class_of(static_cast<uint8_t>(v[0])));
    const uint16_t id = new_leaf(std::move(l), where);
    for (int c : classes) g_.unions[u].leaf[c] = id;  // each class once: one call per union
  }

  uint16_t object_leaf(const ojson& s, const std::string& where) {
    Leaf l = leaf(Leaf::Kind::Object);
    const ojson* props = find(s, "properties");
    if (props && !props->is_object()) fail(where + "/properties", "'properties' must be an object");
    std::vector<std::string> required;
    if (const ojson* req = find(s, "required")) {
      if (!req->is_array()) fail(where + "/required", "'required' must be a list of property names");
      for (const ojson& r : *req) {
        if (!r.is_string()) fail(where + "/required", "'required' must be a list of property names");
        required.push_back(r.get<std::string>());
      }
    }
    const ojson* extra = find(s, "additionalProperties");
    if (!extra) {
      l.additional = props && !props->empty() ? kNone : any();
    } else if (extra->is_boolean()) {
      l.additional = extra->get<bool>() ? any() : kNone;
    } else {
      l.additional = schema(*extra, where + "/additionalProperties");
    }
    auto is_required = [&](const std::string& k) { return std::find(required.begin(), required.end(), k) != required.end(); };
    if (props)
      for (const auto& [k, v] : props->items())
        l.properties.push_back({key_text(k, where), schema(v, where + "/properties/" + pointer_token(k)), is_required(k)});
    for (const std::string& r : required) {
      if (props && props->contains(r)) continue;
      if (std::any_of(l.properties.begin(), l.properties.end(), [&](const auto& p) { return p.key == key_text(r, where); }))
        continue;  // listed twice
      if (extra && extra->is_boolean() && !extra->get<bool>())
        fail(where + "/required", "required property \"" + r + "\" is not in 'properties' and additionalProperties is false");
      l.properties.push_back({key_text(r, where), l.additional != kNone ? l.additional : any(), true});
    }
    if (l.properties.size() > kMaxNodes) fail(where, "more than 65534 properties");
    l.by_key.resize(l.properties.size());
    for (size_t i = 0; i < l.by_key.size(); ++i) l.by_key[i] = static_cast<uint16_t>(i);
    std::sort(l.by_key.begin(), l.by_key.end(),
              [&](uint16_t a, uint16_t b) { return l.properties[a].key < l.properties[b].key; });
    l.next_required.assign(l.properties.size() + 1, static_cast<uint16_t>(l.properties.size()));
    for (size_t i = l.properties.size(); i-- > 0;)
      l.next_required[i] = l.properties[i].required ? static_cast<uint16_t>(i) : l.next_required[i + 1];
    return new_leaf(std::move(l), where);
  }

  static std::string key_text(const std::string& k, const std::string& where) {
    const std::string d = dump(ojson(k), where);
    return d.substr(1, d.size() - 2);
  }

  uint16_t array_leaf(const ojson& s, const std::string& where) {
    Leaf l = leaf(Leaf::Kind::Array);
    const ojson* prefix = find(s, "prefixItems");
    const ojson* items = find(s, "items");
    if (prefix) {
      if (!prefix->is_array()) fail(where + "/prefixItems", "'prefixItems' must be a list of schemas");
      for (size_t i = 0; i < prefix->size(); ++i)
        l.prefix_items.push_back(schema((*prefix)[i], where + "/prefixItems/" + std::to_string(i)));
    }
    const ojson* rest = items;
    std::string rest_where = where + "/items";
    if (items && items->is_array()) {  // drafts 4-7: a tuple, then additionalItems
      if (prefix) fail(where + "/items", "'items' as a list beside 'prefixItems'");
      for (size_t i = 0; i < items->size(); ++i)
        l.prefix_items.push_back(schema((*items)[i], where + "/items/" + std::to_string(i)));
      rest = find(s, "additionalItems");
      rest_where = where + "/additionalItems";
    }
    if (l.prefix_items.size() > kMaxNodes) fail(where, "more than 65534 prefix items");
    if (!rest) l.items = any();
    else if (rest->is_boolean()) l.items = rest->get<bool>() ? any() : kNone;
    else l.items = schema(*rest, rest_where);
    l.min_items = count(s, "minItems", 0, where);
    l.max_items = count(s, "maxItems", SchemaGraph::kUnlimited, where);
    return new_leaf(std::move(l), where);
  }

  // The union a "$ref" names: a local JSON pointer into the root document.
  uint16_t reference(const ojson& ref, const std::string& where) {
    if (!ref.is_string()) fail(where, "'$ref' must be a string");
    const std::string r = ref.get<std::string>();
    if (r.empty() || r[0] != '#')
      fail(where, "'$ref' \"" + r.substr(0, 80) + "\" is not local: only references into this schema (\"#/...\") are supported");
    const ojson* target = nullptr;
    try {
      target = &root_.at(ojson::json_pointer(r.substr(1)));
    } catch (const nlohmann::json::exception&) {
      fail(where, "'$ref' \"" + r.substr(0, 80) + "\" names nothing in the schema");
    }
    return schema(*target, r);
  }

  // anyOf, oneOf and $ref take their alternatives' leaves; two leaves for the same first byte
  // would make the output ambiguous, refused.
  void resolve(uint16_t u) {
    Pending& p = pending_[u];
    if (p.state == 2) return;
    if (p.state == 1) fail(p.where, "'$ref' or 'anyOf' refers back to itself before any value starts");
    p.state = 1;
    for (size_t i = 0; i < pending_[u].merge.size(); ++i) {
      const uint16_t m = pending_[u].merge[i];
      resolve(m);
      for (int c = 0; c < kValueClasses; ++c) {
        const uint16_t from = g_.unions[m].leaf[c];
        const uint16_t to = g_.unions[u].leaf[c];
        if (from == kNone || from == to) continue;
        uint16_t merged = from;
        if (to != kNone) {
          if (c == kObject) {
            merged = tagged_union(to, from, pending_[u].where);
          } else {
            fail(pending_[u].where, std::string("alternatives both allow ") + class_name(c) +
                                        ": only alternatives that start differently (as a string or null, an object "
                                        "or a list) are supported, and objects told apart by a first property with a "
                                        "constant value");
          }
        }
        g_.unions[u].leaf[c] = merged;
      }
    }
    pending_[u].state = 2;
  }

  // Two object leaves (either may be a tagged union already) as one tagged union: each must
  // start with the same required property whose values are string constants, none shared.
  uint16_t tagged_union(uint16_t a, uint16_t b, const std::string& where) {
    auto refuse = [&](const std::string& why) -> uint16_t {
      fail(where, "alternatives both allow an object, and " + why +
                      ": objects are told apart only by a first property, required, whose value is a string "
                      "constant (const or enum) no other alternative has");
    };
    std::vector<uint16_t> objects;
    for (uint16_t x : {a, b}) {
      const Leaf& l = g_.leaves[x];
      if (l.switch_targets.empty()) objects.push_back(x);
      else
        for (uint16_t t : l.switch_targets)
          if (std::find(objects.begin(), objects.end(), t) == objects.end()) objects.push_back(t);
    }
    std::string key;
    std::vector<std::pair<std::string, uint16_t>> tags;  // constant, object
    for (uint16_t o : objects) {
      const Leaf& l = g_.leaves[o];
      if (l.properties.empty() || !l.properties[0].required) return refuse("one has no required first property");
      if (key.empty()) key = l.properties[0].key;
      if (l.properties[0].key != key)
        return refuse("their first properties differ (\"" + key + "\", \"" + l.properties[0].key + "\")");
      const uint16_t v = l.properties[0].value;
      resolve(v);
      const auto& slots = g_.unions[v].leaf;
      for (int c = 0; c < kValueClasses; ++c)
        if (c != kString && slots[c] != kNone) return refuse("a first property allows more than strings");
      if (slots[kString] == kNone || g_.leaves[slots[kString]].kind != Leaf::Kind::Literal)
        return refuse("a first property \"" + key + "\" is not a constant");
      for (const std::string& lit : g_.leaves[slots[kString]].literals)
        if (lit[0] == '"') tags.emplace_back(lit, o);
    }
    std::sort(tags.begin(), tags.end());
    for (size_t i = 1; i < tags.size(); ++i)
      if (tags[i].first == tags[i - 1].first) return refuse("two have the constant " + tags[i].first);
    if (tags.size() > kMaxNodes) return refuse("too many constants");
    Leaf lit = leaf(Leaf::Kind::Literal), sw = leaf(Leaf::Kind::Object);
    for (const auto& [t, o] : tags) {
      lit.literals.push_back(t);
      sw.switch_targets.push_back(o);
    }
    const uint16_t value = new_union(where);
    pending_[value].state = 2;
    const uint16_t lit_id = new_leaf(std::move(lit), where);
    g_.unions[value].leaf[kString] = lit_id;
    sw.properties.push_back({key, value, true});
    sw.by_key = {0};
    sw.next_required = {0, 1};
    return new_leaf(std::move(sw), where);
  }

  void min_depths() {
    auto plus1 = [](uint32_t d) { return d == kNever ? kNever : d + 1; };
    for (bool changed = true; changed;) {
      changed = false;
      for (Leaf& l : g_.leaves) {
        uint32_t d = kNever;
        switch (l.kind) {
          case Leaf::Kind::Literal: d = l.literals.empty() ? kNever : 1; break;
          case Leaf::Kind::String:
            d = l.min_length <= l.max_length &&
                        (!l.pattern || l.pattern->completes(l.pattern->start(), l.min_length, l.max_length))
                    ? 1
                    : kNever;
            break;
          case Leaf::Kind::Number: d = l.min_int <= l.max_int && l.min_dec <= l.max_dec ? 1 : kNever; break;
          case Leaf::Kind::Object: {
            uint32_t deepest = 0;
            if (!l.switch_targets.empty()) {
              // Started only where every alternative fits: the constant picks any of them.
              for (uint16_t t : l.switch_targets) deepest = std::max(deepest, g_.leaves[t].min_depth);
              d = deepest;
              break;
            }
            for (const auto& p : l.properties)
              if (p.required) deepest = std::max(deepest, g_.unions[p.value].min_depth);
            d = plus1(deepest);
            break;
          }
          case Leaf::Kind::Array: {
            if (l.min_items > l.max_items) break;
            uint32_t deepest = 0;
            // Items past the prefix share one schema: one of them stands for all.
            const uint32_t n = std::min<uint32_t>(l.min_items, static_cast<uint32_t>(l.prefix_items.size()) + 1);
            for (uint32_t i = 0; i < n; ++i) {
              const uint16_t it = l.item(i);
              deepest = std::max(deepest, it == kNone ? kNever : g_.unions[it].min_depth);
            }
            d = plus1(deepest);
            break;
          }
        }
        if (d < l.min_depth) l.min_depth = d, changed = true;
      }
      for (SchemaGraph::Union& u : g_.unions) {
        uint32_t d = kNever;
        for (uint16_t leaf : u.leaf)
          if (leaf != kNone) d = std::min(d, g_.leaves[leaf].min_depth);
        if (d < u.min_depth) u.min_depth = d, changed = true;
      }
    }
  }

  const ojson& root_;
  const bool lenient_;
  SchemaGraph g_;
  std::vector<Pending> pending_;
  std::map<std::string, uint16_t> by_pointer_;
  int nesting_ = 0;
  uint16_t any_ = kNone;
};

}  // namespace

std::shared_ptr<const SchemaGraph> compile_json_schema(const nlohmann::ordered_json& schema, bool lenient) {
  return Compiler(schema, lenient).run();
}

}  // namespace stablelm::sampling

namespace stablelm {

std::shared_ptr<const sampling::SchemaGraph> compile_json_schema(std::string_view schema_json) {
  return sampling::compile_json_schema(io::parse_ordered_json(schema_json, "json schema"));
}

}  // namespace stablelm
