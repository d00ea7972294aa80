#include "chat/value.h"

#include <utf8proc.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <unordered_map>

#include "stablelm/chat.h"

namespace stablelm::chat {

// ---- UTF-8 -----------------------------------------------------------------------------------

std::u32string utf8_decode(const std::string& s) {
  std::u32string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
  utf8proc_ssize_t n = static_cast<utf8proc_ssize_t>(s.size());
  while (n > 0) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t k = utf8proc_iterate(p, n, &cp);
    if (k <= 0) {  // inputs are validated JSON / template text; keep going byte by byte
      cp = 0xFFFD;
      k = 1;
    }
    out.push_back(static_cast<char32_t>(cp));
    p += k;
    n -= k;
  }
  return out;
}

void utf8_append(std::string& out, char32_t c) {
  utf8proc_uint8_t buf[4];
  auto n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(c), buf);
  out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

std::string utf8_encode(const std::u32string& s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) utf8_append(out, c);
  return out;
}

size_t py_len(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

bool py_isspace(char32_t c) {
  switch (c) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x1C: case 0x1D: case 0x1E: case 0x1F:
    case 0x20: case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F:
    case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

bool py_isprintable(char32_t c) {
  if (c == ' ') return true;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF: case UTF8PROC_CATEGORY_CS: case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP: case UTF8PROC_CATEGORY_ZS:
      return false;
    default:
      return true;
  }
}

// ---- Dict / args -----------------------------------------------------------------------------

const Value* Dict::find(const Value& key) const {
  for (const auto& kv : items)
    if (equals(kv.first, key)) return &kv.second;
  return nullptr;
}

void Dict::set(const Value& key, Value value) {
  for (auto& kv : items)
    if (equals(kv.first, key)) {
      kv.second = std::move(value);
      return;
    }
  items.emplace_back(key, std::move(value));
}

const Value* CallArgs::kw(const std::string& name) const {
  for (const auto& [k, v] : keyword)
    if (k == name) return &v;
  return nullptr;
}

const Value* CallArgs::get(size_t index, const std::string& name) const {
  if (index < positional.size()) return &positional[index];
  return kw(name);
}

// ---- Python semantics ------------------------------------------------------------------------

std::string type_name(const Value& v) {
  switch (v.v.index()) {
    case 0: return "Undefined";
    case 1: return "NoneType";
    case 2: return "bool";
    case 3: return "int";
    case 4: return "float";
    case 5: return "str";
    case 6: return v.list().tuple ? "tuple" : "list";
    case 7: return "dict";
    case 8: return v.object().type_name;
    default: return v.function().type_name;
  }
}

std::string object_type_repr(const Value& v) {
  if (v.is_none()) return "None";
  return type_name(v) + " object";
}

bool truthy(const Value& v) {
  switch (v.v.index()) {
    case 0: case 1: return false;
    case 2: return v.boolean();
    case 3: return v.integer() != 0;
    case 4: return v.real() != 0.0;
    case 5: return !v.str().empty();
    case 6: return !v.list().empty();
    case 7: return !v.dict().items.empty();
    default: return true;
  }
}

static bool numeric(const Value& v) { return v.is_bool() || v.is_int() || v.is_float(); }
static double as_double(const Value& v) {
  if (v.is_bool()) return v.boolean() ? 1.0 : 0.0;
  if (v.is_int()) return static_cast<double>(v.integer());
  return v.real();
}

bool equals(const Value& a, const Value& b) {
  if (numeric(a) && numeric(b)) {
    if (a.is_float() || b.is_float()) return as_double(a) == as_double(b);
    auto ai = a.is_bool() ? int64_t{a.boolean()} : a.integer();
    auto bi = b.is_bool() ? int64_t{b.boolean()} : b.integer();
    return ai == bi;
  }
  if (a.v.index() != b.v.index()) return false;
  switch (a.v.index()) {
    case 0: case 1: return true;
    case 5: return a.str() == b.str();
    case 6: {
      const auto &x = a.list(), &y = b.list();
      if (x.size() != y.size() || x.tuple != y.tuple) return false;
      for (size_t i = 0; i < x.size(); ++i)
        if (!equals(x[i], y[i])) return false;
      return true;
    }
    case 7: {
      const auto &x = a.dict(), &y = b.dict();
      if (x.items.size() != y.items.size()) return false;
      for (const auto& [k, val] : x.items) {
        const Value* o = y.find(k);
        if (!o || !equals(val, *o)) return false;
      }
      return true;
    }
    case 8: return std::get<8>(a.v) == std::get<8>(b.v);
    case 9: return std::get<9>(a.v) == std::get<9>(b.v);
  }
  return false;
}

std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  // The shortest %e form that reads back as d (Python's repr), then Python's layout rules.
  char buf[40];
  for (int prec = 0; prec < 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*e", prec, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  std::string s(buf);
  bool neg = s[0] == '-';
  if (neg) s.erase(0, 1);
  size_t epos = s.find('e');
  int exp = std::atoi(s.c_str() + epos + 1);
  std::string digits;
  for (size_t i = 0; i < epos; ++i)
    if (s[i] != '.') digits += s[i];
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string out;
  if (exp >= -5 + 1 && exp < 16) {
    if (exp < 0) {
      out = "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
    } else {
      size_t int_len = static_cast<size_t>(exp) + 1;
      if (digits.size() <= int_len) {
        out = digits + std::string(int_len - digits.size(), '0') + ".0";
      } else {
        out = digits.substr(0, int_len) + "." + digits.substr(int_len);
      }
    }
  } else {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char e[16];
    std::snprintf(e, sizeof e, "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
    out += e;
  }
  return neg ? "-" + out : out;
}

std::string string_repr(const std::string& s) {
  bool has_single = s.find('\'') != std::string::npos, has_double = s.find('"') != std::string::npos;
  char q = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, q);
  for (char32_t c : utf8_decode(s)) {
    if (c == static_cast<char32_t>(q) || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7F) {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", static_cast<unsigned>(c));
      out += b;
    } else if (c < 0x7F || py_isprintable(c)) {
      utf8_append(out, c);
    } else {
      char b[16];
      if (c <= 0xFF) std::snprintf(b, sizeof b, "\\x%02x", static_cast<unsigned>(c));
      else if (c <= 0xFFFF) std::snprintf(b, sizeof b, "\\u%04x", static_cast<unsigned>(c));
      else std::snprintf(b, sizeof b, "\\U%08x", static_cast<unsigned>(c));
      out += b;
    }
  }
  out += q;
  return out;
}

std::string repr(const Value& v) {
  switch (v.v.index()) {
    case 0: return "Undefined";
    case 5: return string_repr(v.str());
    case 6: {
      const bool tuple = v.list().tuple;
      std::string out = tuple ? "(" : "[";
      bool first = true;
      for (const auto& x : v.list()) {
        if (!first) out += ", ";
        first = false;
        out += repr(x);
      }
      if (tuple && v.list().size() == 1) out += ",";
      return out + (tuple ? ")" : "]");
    }
    case 7: {
      std::string out = "{";
      bool first = true;
      for (const auto& [k, x] : v.dict().items) {
        if (!first) out += ", ";
        first = false;
        out += repr(k) + ": " + repr(x);
      }
      return out + "}";
    }
    case 8: {
      if (v.object().type_name == "Namespace") {
        Value d(std::make_shared<Dict>(v.object().attrs));
        return "<Namespace " + repr(d) + ">";
      }
      return "<jinja2.runtime." + v.object().type_name + " object>";
    }
    case 9: {
      const Function& f = v.function();
      if (f.type_name == "Macro") return "<Macro '" + f.name + "'>";
      if (!f.self_type.empty()) return "<built-in method " + f.name + " of " + f.self_type + " object>";
      return "<function " + f.name + ">";
    }
    default: return to_str(v);
  }
}

std::string to_str(const Value& v) {
  switch (v.v.index()) {
    case 0: return "";
    case 1: return "None";
    case 2: return v.boolean() ? "True" : "False";
    case 3: return std::to_string(v.integer());
    case 4: return float_repr(v.real());
    case 5: return v.str();
    default: return repr(v);
  }
}

Value from_json(const nlohmann::ordered_json& j) {
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: return None{};
    case nlohmann::ordered_json::value_t::boolean: return j.get<bool>();
    case nlohmann::ordered_json::value_t::number_integer: return j.get<int64_t>();
    case nlohmann::ordered_json::value_t::number_unsigned: {
      auto u = j.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return static_cast<double>(u);
      return static_cast<int64_t>(u);
    }
    case nlohmann::ordered_json::value_t::number_float: return j.get<double>();
    case nlohmann::ordered_json::value_t::string: return j.get<std::string>();
    case nlohmann::ordered_json::value_t::array: {
      List l;
      l.reserve(j.size());
      for (const auto& e : j) l.push_back(from_json(e));
      return Value(std::move(l));
    }
    case nlohmann::ordered_json::value_t::object: {
      auto d = std::make_shared<Dict>();
      d->items.reserve(j.size());
      for (const auto& [k, e] : j.items()) d->items.emplace_back(Value(k), from_json(e));
      return Value(std::move(d));
    }
    default: return None{};
  }
}

// ---- json.dumps ------------------------------------------------------------------------------

static void json_string(std::string& out, const std::string& s, bool ensure_ascii) {
  out += '"';
  for (char32_t c : utf8_decode(s)) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20 || (ensure_ascii && c > 0x7E)) {
          char b[16];
          if (c > 0xFFFF) {
            char32_t v = c - 0x10000;
            std::snprintf(b, sizeof b, "\\u%04x\\u%04x", static_cast<unsigned>(0xD800 + (v >> 10)),
                          static_cast<unsigned>(0xDC00 + (v & 0x3FF)));
          } else {
            std::snprintf(b, sizeof b, "\\u%04x", static_cast<unsigned>(c));
          }
          out += b;
        } else {
          utf8_append(out, c);
        }
    }
  }
  out += '"';
}

static std::string json_key(const Value& k) {
  if (k.is_string()) return k.str();
  if (k.is_bool()) return k.boolean() ? "true" : "false";
  if (k.is_none()) return "null";
  if (k.is_int() || k.is_float()) return to_str(k);
  throw TemplateError("TypeError", "keys must be str, int, float, bool or None, not " + type_name(k));
}

static void dump(std::string& out, const Value& v, const JsonDumpOptions& o, int depth) {
  if (depth > 500) throw TemplateError("RecursionError", "maximum recursion depth exceeded while encoding a JSON object");
  auto newline = [&](int d) {
    if (!o.has_indent) return;
    out += '\n';
    for (int i = 0; i < d; ++i) out += o.indent_str;
  };
  switch (v.v.index()) {
    case 1: out += "null"; return;
    case 2: out += v.boolean() ? "true" : "false"; return;
    case 3: out += std::to_string(v.integer()); return;
    case 4: {
      double d = v.real();
      if (std::isnan(d)) out += "NaN";
      else if (std::isinf(d)) out += d < 0 ? "-Infinity" : "Infinity";
      else out += float_repr(d);
      return;
    }
    case 5: json_string(out, v.str(), o.ensure_ascii); return;
    case 6: {
      const auto& l = v.list();
      if (l.empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t i = 0; i < l.size(); ++i) {
        if (i) out += o.item_sep;
        newline(depth + 1);
        dump(out, l[i], o, depth + 1);
      }
      newline(depth);
      out += ']';
      return;
    }
    case 7: {
      const auto& d = v.dict();
      if (d.items.empty()) {
        out += "{}";
        return;
      }
      std::vector<std::pair<std::string, const Value*>> items;
      for (const auto& [k, x] : d.items) items.emplace_back(json_key(k), &x);
      if (o.sort_keys)
        std::stable_sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      out += '{';
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += o.item_sep;
        newline(depth + 1);
        json_string(out, items[i].first, o.ensure_ascii);
        out += o.key_sep;
        dump(out, *items[i].second, o, depth + 1);
      }
      newline(depth);
      out += '}';
      return;
    }
    default:
      throw TemplateError("TypeError", "Object of type " + type_name(v) + " is not JSON serializable");
  }
}

std::string json_dumps(const Value& v, const JsonDumpOptions& o) {
  std::string out;
  dump(out, v, o, 0);
  return out;
}

}  // namespace stablelm::chat
