#pragma once
// The values a chat template computes with, modelled on the Python objects jinja2 hands around:
// Undefined (jinja2's default Undefined), None, bool, int, float, str, list, dict (insertion
// ordered), objects with attributes (namespace(), loop) and callables (globals, macros, bound
// methods). Printing, truthiness, equality and type names follow Python, since the renderings
// and error messages of the reference depend on them.
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace stablelm::chat {

struct Value;
struct Dict;
struct Object;
struct Function;
// A Python list, or a tuple when `tuple` is set (they print differently and are never equal).
struct List : std::vector<Value> {
  using std::vector<Value>::vector;
  bool tuple = false;
};

// Why a value is undefined: the message jinja2's Undefined raises when it is used (and the
// exception type: UndefinedError, or SecurityError for blocked attributes).
struct Undefined {
  std::string message;
  std::string error_type = "UndefinedError";
};
struct None {};

struct Value {
  std::variant<Undefined, None, bool, int64_t, double, std::string, std::shared_ptr<List>, std::shared_ptr<Dict>,
               std::shared_ptr<Object>, std::shared_ptr<Function>>
      v;

  Value() : v(Undefined{}) {}
  Value(Undefined u) : v(std::move(u)) {}
  Value(None) : v(None{}) {}
  Value(bool b) : v(b) {}
  Value(int i) : v(static_cast<int64_t>(i)) {}
  Value(int64_t i) : v(i) {}
  Value(double d) : v(d) {}
  Value(std::string s) : v(std::move(s)) {}
  Value(const char* s) : v(std::string(s)) {}
  Value(List l) : v(std::make_shared<List>(std::move(l))) {}
  Value(std::shared_ptr<List> l) : v(std::move(l)) {}
  Value(std::shared_ptr<Dict> d) : v(std::move(d)) {}
  Value(std::shared_ptr<Object> o) : v(std::move(o)) {}
  Value(std::shared_ptr<Function> f) : v(std::move(f)) {}

  bool is_undefined() const { return v.index() == 0; }
  bool is_none() const { return v.index() == 1; }
  bool is_bool() const { return v.index() == 2; }
  bool is_int() const { return v.index() == 3; }
  bool is_float() const { return v.index() == 4; }
  bool is_number() const { return is_bool() || is_int() || is_float(); }
  bool is_string() const { return v.index() == 5; }
  bool is_list() const { return v.index() == 6; }
  bool is_dict() const { return v.index() == 7; }
  bool is_object() const { return v.index() == 8; }
  bool is_function() const { return v.index() == 9; }

  const Undefined& undef() const { return std::get<0>(v); }
  bool boolean() const { return std::get<2>(v); }
  int64_t integer() const { return std::get<3>(v); }
  double real() const { return std::get<4>(v); }
  const std::string& str() const { return std::get<5>(v); }
  List& list() const { return *std::get<6>(v); }
  Dict& dict() const { return *std::get<7>(v); }
  Object& object() const { return *std::get<8>(v); }
  Function& function() const { return *std::get<9>(v); }
  const std::shared_ptr<List>& list_ptr() const { return std::get<6>(v); }
};

// A Python dict: keys in insertion order. Lookup is linear below a few dozen keys (template
// dicts are small), through a string index above.
struct Dict {
  std::vector<std::pair<Value, Value>> items;
  const Value* find(const Value& key) const;
  void set(const Value& key, Value value);
};

// Something with named attributes: namespace() (assignable from the template) and loop.
struct Object {
  std::string type_name;  // "Namespace", "LoopContext"
  Dict attrs;
};

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
  const Value* kw(const std::string& name) const;
  // The argument at `index` or given by keyword `name`; nullptr when absent.
  const Value* get(size_t index, const std::string& name) const;
};

class Interpreter;
struct Function {
  std::string name;
  std::string type_name;  // Python's type name: builtin_function_or_method, function, Macro
  std::string self_type;  // for bound methods: the type of the object ("dict"), else empty
  std::function<Value(Interpreter&, CallArgs&)> call;
};

// Python's type(x).__name__.
std::string type_name(const Value& v);
// What jinja2's Undefined messages call an object: "dict object", "None", "str object".
std::string object_type_repr(const Value& v);
bool truthy(const Value& v);
// Python ==.
bool equals(const Value& a, const Value& b);
// str(x) and repr(x) as Python prints them (Undefined prints as "").
std::string to_str(const Value& v);
std::string repr(const Value& v);
std::string float_repr(double d);
std::string string_repr(const std::string& s);

Value from_json(const nlohmann::ordered_json& j);

// json.dumps(x, ensure_ascii, indent, separators, sort_keys). Throws TypeError text for values
// JSON cannot hold.
struct JsonDumpOptions {
  bool ensure_ascii = false;
  int indent = -1;  // -1 = None (single line)
  std::string indent_str;  // when indent was given as a string
  bool has_indent = false;
  std::string item_sep = ", ";
  std::string key_sep = ": ";
  bool sort_keys = false;
};
std::string json_dumps(const Value& v, const JsonDumpOptions& o);

// UTF-8 helpers for Python's code-point semantics.
std::u32string utf8_decode(const std::string& s);
std::string utf8_encode(const std::u32string& s);
void utf8_append(std::string& out, char32_t c);
bool py_isspace(char32_t c);
bool py_isprintable(char32_t c);
size_t py_len(const std::string& s);

}  // namespace stablelm::chat
