#include "chat/builtins.h"

#include <utf8proc.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <unordered_map>

#include "chat/interpreter.h"
#include "stablelm/chat.h"

namespace stablelm::chat {
namespace {

using FilterFn = Value (*)(Interpreter&, const Value&, CallArgs&);
using TestFn = bool (*)(Interpreter&, const Value&, CallArgs&);

// ---- string helpers (Python str methods on code points) --------------------------------------

std::u32string chars_of(const Value* chars) {
  if (!chars || chars->is_none() || chars->is_undefined()) return {};
  if (!chars->is_string()) throw TemplateError("TypeError", "strip arg must be None or str");
  return utf8_decode(chars->str());
}

std::string py_strip(const std::string& s, const Value* chars, bool left, bool right) {
  std::u32string u = utf8_decode(s);
  std::u32string set = chars_of(chars);
  const bool ws = !chars || chars->is_none() || chars->is_undefined();
  auto drop = [&](char32_t c) { return ws ? py_isspace(c) : set.find(c) != std::u32string::npos; };
  size_t b = 0, e = u.size();
  if (left)
    while (b < e && drop(u[b])) ++b;
  if (right)
    while (e > b && drop(u[e - 1])) --e;
  return utf8_encode(u.substr(b, e - b));
}

char32_t lower_cp(char32_t c) { return static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))); }
char32_t upper_cp(char32_t c) { return static_cast<char32_t>(utf8proc_toupper(static_cast<utf8proc_int32_t>(c))); }
bool is_cased_letter(char32_t c) {
  auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
  return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT;
}

std::string py_lower(const std::string& s) {
  std::u32string u = utf8_decode(s);
  for (auto& c : u) c = lower_cp(c);
  return utf8_encode(u);
}
std::string py_upper(const std::string& s) {
  std::u32string u = utf8_decode(s);
  for (auto& c : u) c = upper_cp(c);
  return utf8_encode(u);
}
std::string py_capitalize(const std::string& s) {
  std::u32string u = utf8_decode(s);
  for (size_t i = 0; i < u.size(); ++i) u[i] = i == 0 ? upper_cp(u[i]) : lower_cp(u[i]);
  return utf8_encode(u);
}
// str.title(): a letter after a non-letter is upper-cased, the others lower-cased.
std::string py_title(const std::string& s) {
  std::u32string u = utf8_decode(s);
  bool prev_cased = false;
  for (auto& c : u) {
    bool cased = is_cased_letter(c);
    c = cased ? (prev_cased ? lower_cp(c) : upper_cp(c)) : c;
    prev_cased = cased;
  }
  return utf8_encode(u);
}

std::vector<std::string> py_split(const std::string& s, const Value* sep, int64_t maxsplit) {
  std::vector<std::string> out;
  if (!sep || sep->is_none()) {
    std::u32string u = utf8_decode(s);
    size_t i = 0;
    while (i < u.size()) {
      while (i < u.size() && py_isspace(u[i])) ++i;
      if (i >= u.size()) break;
      if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) {
        size_t e = u.size();
        while (e > i && py_isspace(u[e - 1])) --e;
        out.push_back(utf8_encode(u.substr(i, e - i)));
        break;
      }
      size_t j = i;
      while (j < u.size() && !py_isspace(u[j])) ++j;
      out.push_back(utf8_encode(u.substr(i, j - i)));
      i = j;
    }
    return out;
  }
  if (!sep->is_string()) throw TemplateError("TypeError", "must be str or None, not " + type_name(*sep));
  const std::string& d = sep->str();
  if (d.empty()) throw TemplateError("ValueError", "empty separator");
  size_t pos = 0;
  for (;;) {
    if (maxsplit >= 0 && static_cast<int64_t>(out.size()) == maxsplit) break;
    size_t f = s.find(d, pos);
    if (f == std::string::npos) break;
    out.push_back(s.substr(pos, f - pos));
    pos = f + d.size();
  }
  out.push_back(s.substr(pos));
  return out;
}

std::vector<std::string> py_splitlines(const std::string& s, bool keepends = false) {
  std::u32string u = utf8_decode(s);
  std::vector<std::string> out;
  size_t b = 0;
  for (size_t i = 0; i < u.size(); ++i) {
    char32_t c = u[i];
    bool brk = c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E || c == 0x85 ||
               c == 0x2028 || c == 0x2029;
    if (!brk) continue;
    size_t e = i;
    if (c == '\r' && i + 1 < u.size() && u[i + 1] == '\n') ++i;
    out.push_back(utf8_encode(u.substr(b, (keepends ? i + 1 : e) - b)));
    b = i + 1;
  }
  if (b < u.size()) out.push_back(utf8_encode(u.substr(b)));
  return out;
}

std::string py_replace(const std::string& s, const std::string& old, const std::string& rep, int64_t count) {
  std::string out;
  if (old.empty()) {
    // Python inserts the replacement between every character (and at both ends).
    std::u32string u = utf8_decode(s);
    int64_t n = 0;
    for (char32_t c : u) {
      if (count < 0 || n < count) {
        out += rep;
        ++n;
      }
      utf8_append(out, c);
    }
    if (count < 0 || n < count) out += rep;
    return out;
  }
  size_t pos = 0;
  int64_t n = 0;
  for (;;) {
    size_t f = (count >= 0 && n >= count) ? std::string::npos : s.find(old, pos);
    if (f == std::string::npos) break;
    out.append(s, pos, f - pos);
    out += rep;
    pos = f + old.size();
    ++n;
  }
  out.append(s, pos, std::string::npos);
  return out;
}

const std::string& need_str(const Value& v, const char* what) {
  if (v.is_undefined()) raise_undefined(v);
  if (!v.is_string()) throw TemplateError("TypeError", std::string(what) + " must be str, not " + type_name(v));
  return v.str();
}

int64_t need_int(const Value& v, const char* what) {
  if (v.is_int()) return v.integer();
  if (v.is_bool()) return v.boolean();
  if (v.is_undefined()) raise_undefined(v);
  throw TemplateError("TypeError", std::string("'") + type_name(v) + "' object cannot be interpreted as an integer");
  (void)what;
}

// A str method or dict / list method bound to `self`.
Value bound(const Value& self, const std::string& name, Value (*fn)(const Value&, CallArgs&)) {
  auto f = std::make_shared<Function>();
  f->name = name;
  f->type_name = "builtin_function_or_method";
  f->self_type = type_name(self);
  f->call = [self, fn](Interpreter&, CallArgs& a) { return fn(self, a); };
  return Value(f);
}

bool prefix_match(const std::string& s, const Value& p, bool suffix, const char* name) {
  auto one = [&](const Value& x) {
    if (!x.is_string())
      throw TemplateError("TypeError", std::string(name) + " first arg must be str or a tuple of str, not " + type_name(x));
    const std::string& q = x.str();
    if (q.size() > s.size()) return false;
    return suffix ? s.compare(s.size() - q.size(), q.size(), q) == 0 : s.compare(0, q.size(), q) == 0;
  };
  if (p.is_list()) {
    for (const auto& x : p.list())
      if (one(x)) return true;
    return false;
  }
  return one(p);
}

Value str_method(const Value& self, const std::string& name) {
  using A = CallArgs;
  static const std::unordered_map<std::string, Value (*)(const Value&, A&)> methods = {
      {"strip", [](const Value& s, A& a) -> Value { return py_strip(s.str(), a.get(0, "chars"), true, true); }},
      {"lstrip", [](const Value& s, A& a) -> Value { return py_strip(s.str(), a.get(0, "chars"), true, false); }},
      {"rstrip", [](const Value& s, A& a) -> Value { return py_strip(s.str(), a.get(0, "chars"), false, true); }},
      {"upper", [](const Value& s, A&) -> Value { return py_upper(s.str()); }},
      {"lower", [](const Value& s, A&) -> Value { return py_lower(s.str()); }},
      {"title", [](const Value& s, A&) -> Value { return py_title(s.str()); }},
      {"capitalize", [](const Value& s, A&) -> Value { return py_capitalize(s.str()); }},
      {"split",
       [](const Value& s, A& a) -> Value {
         const Value* m = a.get(1, "maxsplit");
         List out;
         for (auto& p : py_split(s.str(), a.get(0, "sep"), m ? need_int(*m, "maxsplit") : -1)) out.push_back(std::move(p));
         return out;
       }},
      {"rsplit",
       [](const Value& s, A& a) -> Value {
         const Value* m = a.get(1, "maxsplit");
         const Value* sep = a.get(0, "sep");
         int64_t maxsplit = m ? need_int(*m, "maxsplit") : -1;
         List out;
         if (maxsplit < 0 || !sep || sep->is_none()) {
           for (auto& p : py_split(s.str(), sep, maxsplit)) out.push_back(std::move(p));
           return out;
         }
         const std::string& d = need_str(*sep, "sep");
         if (d.empty()) throw TemplateError("ValueError", "empty separator");
         std::string rest = s.str();
         std::vector<std::string> parts;
         while (static_cast<int64_t>(parts.size()) < maxsplit) {
           size_t f = rest.rfind(d);
           if (f == std::string::npos) break;
           parts.push_back(rest.substr(f + d.size()));
           rest.resize(f);
         }
         out.push_back(rest);
         for (auto it = parts.rbegin(); it != parts.rend(); ++it) out.push_back(*it);
         return out;
       }},
      {"splitlines",
       [](const Value& s, A& a) -> Value {
         const Value* k = a.get(0, "keepends");
         List out;
         for (auto& p : py_splitlines(s.str(), k && truthy(*k))) out.push_back(std::move(p));
         return out;
       }},
      {"startswith",
       [](const Value& s, A& a) -> Value {
         const Value* p = a.get(0, "prefix");
         if (!p) throw TemplateError("TypeError", "startswith() takes at least 1 argument (0 given)");
         return prefix_match(s.str(), *p, false, "startswith");
       }},
      {"endswith",
       [](const Value& s, A& a) -> Value {
         const Value* p = a.get(0, "suffix");
         if (!p) throw TemplateError("TypeError", "endswith() takes at least 1 argument (0 given)");
         return prefix_match(s.str(), *p, true, "endswith");
       }},
      {"replace",
       [](const Value& s, A& a) -> Value {
         const Value* o = a.get(0, "old");
         const Value* n = a.get(1, "new");
         if (!o || !n) throw TemplateError("TypeError", "replace expected at least 2 arguments");
         const Value* c = a.get(2, "count");
         return py_replace(s.str(), need_str(*o, "replace() argument 1"), need_str(*n, "replace() argument 2"),
                           c ? need_int(*c, "count") : -1);
       }},
      {"find",
       [](const Value& s, A& a) -> Value {
         const Value* x = a.get(0, "sub");
         if (!x) throw TemplateError("TypeError", "find() takes at least 1 argument (0 given)");
         size_t f = s.str().find(need_str(*x, "find() argument"));
         if (f == std::string::npos) return int64_t{-1};
         return static_cast<int64_t>(py_len(s.str().substr(0, f)));
       }},
      {"rfind",
       [](const Value& s, A& a) -> Value {
         const Value* x = a.get(0, "sub");
         if (!x) throw TemplateError("TypeError", "rfind() takes at least 1 argument (0 given)");
         size_t f = s.str().rfind(need_str(*x, "rfind() argument"));
         if (f == std::string::npos) return int64_t{-1};
         return static_cast<int64_t>(py_len(s.str().substr(0, f)));
       }},
      {"count",
       [](const Value& s, A& a) -> Value {
         const Value* x = a.get(0, "sub");
         if (!x) throw TemplateError("TypeError", "count() takes at least 1 argument (0 given)");
         const std::string& sub = need_str(*x, "count() argument");
         if (sub.empty()) return static_cast<int64_t>(py_len(s.str()) + 1);
         int64_t n = 0;
         for (size_t p = s.str().find(sub); p != std::string::npos; p = s.str().find(sub, p + sub.size())) ++n;
         return n;
       }},
      {"join",
       [](const Value& s, A& a) -> Value {
         const Value* x = a.get(0, "iterable");
         if (!x) throw TemplateError("TypeError", "str.join() takes exactly one argument (0 given)");
         if (!x->is_list()) throw TemplateError("TypeError", "can only join an iterable");
         std::string out;
         size_t i = 0;
         for (const auto& e : x->list()) {
           if (!e.is_string())
             throw TemplateError("TypeError", "sequence item " + std::to_string(i) + ": expected str instance, " +
                                                  type_name(e) + " found");
           if (i++) out += s.str();
           out += e.str();
         }
         return out;
       }},
      {"isdigit",
       [](const Value& s, A&) -> Value {
         std::u32string u = utf8_decode(s.str());
         return !u.empty() && std::all_of(u.begin(), u.end(), [](char32_t c) { return c >= '0' && c <= '9'; });
       }},
      {"isalpha",
       [](const Value& s, A&) -> Value {
         std::u32string u = utf8_decode(s.str());
         return !u.empty() && std::all_of(u.begin(), u.end(), [](char32_t c) {
           auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
           return cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO;
         });
       }},
      {"isspace",
       [](const Value& s, A&) -> Value {
         std::u32string u = utf8_decode(s.str());
         return !u.empty() && std::all_of(u.begin(), u.end(), py_isspace);
       }},
      {"islower", [](const Value& s, A&) -> Value { return py_lower(s.str()) == s.str() && py_upper(s.str()) != s.str(); }},
      {"isupper", [](const Value& s, A&) -> Value { return py_upper(s.str()) == s.str() && py_lower(s.str()) != s.str(); }},
      {"format",
       [](const Value& s, A& a) -> Value {
         // "{}" / "{0}" / "{name}" replacement fields with str() of the argument.
         const std::string& f = s.str();
         std::string out;
         size_t auto_index = 0;
         for (size_t i = 0; i < f.size(); ++i) {
           if (f[i] == '{' && i + 1 < f.size() && f[i + 1] == '{') {
             out += '{';
             ++i;
           } else if (f[i] == '}' && i + 1 < f.size() && f[i + 1] == '}') {
             out += '}';
             ++i;
           } else if (f[i] == '{') {
             size_t e = f.find('}', i);
             if (e == std::string::npos) throw TemplateError("ValueError", "expected '}' before end of string");
             std::string field = f.substr(i + 1, e - i - 1);
             const Value* v = nullptr;
             if (field.empty()) v = a.get(auto_index++, "");
             else if (std::all_of(field.begin(), field.end(), ::isdigit)) v = a.get(std::stoul(field), "");
             else v = a.kw(field);
             if (!v) throw TemplateError("IndexError", "Replacement index out of range for positional args tuple");
             out += to_str(*v);
             i = e;
           } else {
             out += f[i];
           }
         }
         return out;
       }},
  };
  auto it = methods.find(name);
  if (it == methods.end()) return Value();
  return bound(self, name, it->second);
}

Value dict_items(const Value& d) {
  List out;
  for (const auto& [k, v] : d.dict().items) {
    List pair{k, v};
    pair.tuple = true;
    out.push_back(Value(std::move(pair)));
  }
  return out;
}

Value dict_method(const Value& self, const std::string& name) {
  using A = CallArgs;
  if (name == "get")
    return bound(self, name, [](const Value& d, A& a) -> Value {
      const Value* k = a.get(0, "key");
      if (!k) throw TemplateError("TypeError", "get expected at least 1 argument, got 0");
      if (const Value* v = d.dict().find(*k)) return *v;
      const Value* dflt = a.get(1, "default");
      return dflt ? *dflt : Value(None{});
    });
  if (name == "items") return bound(self, name, [](const Value& d, A&) -> Value { return dict_items(d); });
  if (name == "keys")
    return bound(self, name, [](const Value& d, A&) -> Value {
      List out;
      for (const auto& kv : d.dict().items) out.push_back(kv.first);
      return out;
    });
  if (name == "values")
    return bound(self, name, [](const Value& d, A&) -> Value {
      List out;
      for (const auto& kv : d.dict().items) out.push_back(kv.second);
      return out;
    });
  if (name == "copy")
    return bound(self, name, [](const Value& d, A&) -> Value { return Value(std::make_shared<Dict>(d.dict())); });
  if (name == "clear" || name == "pop" || name == "popitem" || name == "setdefault" || name == "update")
    return Undefined{"access to attribute '" + name + "' of 'dict' object is unsafe.", "SecurityError"};
  return Value();
}

Value list_method(const Value& self, const std::string& name) {
  using A = CallArgs;
  if (name == "count")
    return bound(self, name, [](const Value& l, A& a) -> Value {
      const Value* x = a.get(0, "value");
      if (!x) throw TemplateError("TypeError", "list.count() takes exactly one argument (0 given)");
      return static_cast<int64_t>(std::count_if(l.list().begin(), l.list().end(), [&](const Value& e) { return equals(e, *x); }));
    });
  if (name == "index")
    return bound(self, name, [](const Value& l, A& a) -> Value {
      const Value* x = a.get(0, "value");
      if (!x) throw TemplateError("TypeError", "index expected at least 1 argument, got 0");
      for (size_t i = 0; i < l.list().size(); ++i)
        if (equals(l.list()[i], *x)) return static_cast<int64_t>(i);
      throw TemplateError("ValueError", repr(*x) + " is not in list");
    });
  if (name == "copy")
    return bound(self, name, [](const Value& l, A&) -> Value { return List(l.list().begin(), l.list().end()); });
  if (name == "append" || name == "clear" || name == "extend" || name == "insert" || name == "pop" ||
      name == "remove" || name == "reverse" || name == "sort")
    return Undefined{"access to attribute '" + name + "' of 'list' object is unsafe.", "SecurityError"};
  return Value();
}

// ---- filters ---------------------------------------------------------------------------------

const Value* arg(CallArgs& a, size_t i, const char* name) { return a.get(i, name); }
bool flag(CallArgs& a, size_t i, const char* name) {
  const Value* v = a.get(i, name);
  return v && truthy(*v);
}

int64_t length_of(const Value& v) {
  if (v.is_string()) return static_cast<int64_t>(py_len(v.str()));
  if (v.is_list()) return static_cast<int64_t>(v.list().size());
  if (v.is_dict()) return static_cast<int64_t>(v.dict().items.size());
  if (v.is_undefined()) return 0;
  if (v.is_object() && v.object().type_name == "Namespace") return static_cast<int64_t>(v.object().attrs.items.size());
  throw TemplateError("TypeError", "object of type '" + type_name(v) + "' has no len()");
}

// jinja2's make_attrgetter: "a.b.0" looked up item by item (getitem semantics).
Value attr_path(Interpreter& in, const Value& v, const Value& attr) {
  if (!attr.is_string()) return in.getitem(v, attr);
  Value cur = v;
  size_t pos = 0;
  const std::string& path = attr.str();
  for (;;) {
    size_t dot = path.find('.', pos);
    std::string part = path.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    Value key = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit) ? Value(static_cast<int64_t>(std::stoll(part)))
                                                                                   : Value(part);
    cur = in.getitem(cur, key);
    if (dot == std::string::npos) return cur;
    pos = dot + 1;
  }
}

// select / reject / selectattr / rejectattr
Value select_impl(Interpreter& in, const Value& seq, CallArgs& a, bool by_attr, bool keep) {
  size_t k = 0;
  Value attr;
  if (by_attr) {
    if (a.positional.empty()) throw TemplateError("TypeError", "Missing parameter for attribute name");
    attr = a.positional[k++];
  }
  std::string test;
  CallArgs targs;
  if (k < a.positional.size()) {
    test = need_str(a.positional[k++], "test name");
    if (!has_test(test)) throw TemplateError("TemplateRuntimeError", "No test named '" + test + "'.");
    targs.positional.assign(a.positional.begin() + static_cast<long>(k), a.positional.end());
    targs.keyword = a.keyword;
  }
  List out;
  for (const auto& item : in.iterate(seq)) {
    in.count_iterations(1);
    Value x = by_attr ? attr_path(in, item, attr) : item;
    bool r = test.empty() ? truthy(x) : apply_test(in, test, x, targs);
    if (r == keep) out.push_back(item);
  }
  return out;
}

Value f_map(Interpreter& in, const Value& seq, CallArgs& a) {
  List out;
  if (const Value* attr = a.kw("attribute")) {
    const Value* dflt = a.kw("default");
    for (const auto& item : in.iterate(seq)) {
      in.count_iterations(1);
      Value x = attr_path(in, item, *attr);
      if (x.is_undefined() && dflt) x = *dflt;
      out.push_back(x);
    }
    return out;
  }
  if (a.positional.empty()) return in.iterate(seq);
  std::string name = need_str(a.positional[0], "filter name");
  if (!has_filter(name)) throw TemplateError("TemplateRuntimeError", "No filter named '" + name + "'.");
  CallArgs fargs;
  fargs.positional.assign(a.positional.begin() + 1, a.positional.end());
  fargs.keyword = a.keyword;
  for (const auto& item : in.iterate(seq)) {
    in.count_iterations(1);
    CallArgs copy = fargs;
    out.push_back(apply_filter(in, name, item, copy));
  }
  return out;
}

Value f_tojson(Interpreter&, const Value& v, CallArgs& a) {
  // transformers: tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False).
  JsonDumpOptions o;
  if (const Value* e = arg(a, 0, "ensure_ascii")) o.ensure_ascii = truthy(*e);
  const Value* indent = arg(a, 1, "indent");
  if (indent && !indent->is_none()) {
    o.has_indent = true;
    if (indent->is_string()) o.indent_str = indent->str();
    else o.indent_str = std::string(static_cast<size_t>(std::max<int64_t>(0, need_int(*indent, "indent"))), ' ');
    o.item_sep = ",";
  }
  const Value* seps = arg(a, 2, "separators");
  if (seps && !seps->is_none()) {
    if (!seps->is_list() || seps->list().size() != 2 || !seps->list()[0].is_string() || !seps->list()[1].is_string())
      throw TemplateError("ValueError", "separators must be a (item_separator, key_separator) pair of strings");
    o.item_sep = seps->list()[0].str();
    o.key_sep = seps->list()[1].str();
  }
  o.sort_keys = flag(a, 3, "sort_keys");
  return json_dumps(v, o);
}

Value f_indent(Interpreter&, const Value& v, CallArgs& a) {
  std::string ind = "    ";
  if (const Value* w = arg(a, 0, "width")) ind = w->is_string() ? w->str() : std::string(static_cast<size_t>(std::max<int64_t>(0, need_int(*w, "width"))), ' ');
  bool first = flag(a, 1, "first"), blank = flag(a, 2, "blank");
  std::string s = to_str(v) + "\n";
  std::vector<std::string> lines = py_splitlines(s);
  std::string rv;
  if (blank) {
    for (size_t i = 0; i < lines.size(); ++i) rv += (i ? "\n" + ind : "") + lines[i];
  } else {
    rv = lines.empty() ? "" : lines[0];
    for (size_t i = 1; i < lines.size(); ++i) rv += "\n" + (lines[i].empty() ? "" : ind + lines[i]);
  }
  if (first) rv = ind + rv;
  return rv;
}

Value py_int(const Value& v, const Value* dflt, int base) {
  Value d = dflt ? *dflt : Value(int64_t{0});
  if (v.is_int()) return v;
  if (v.is_bool()) return int64_t{v.boolean()};
  if (v.is_float()) return std::isfinite(v.real()) ? Value(static_cast<int64_t>(std::trunc(v.real()))) : d;
  if (v.is_string()) {
    std::string s = py_strip(v.str(), nullptr, true, true);
    std::string t;
    for (char c : s)
      if (c != '_') t += c;
    if (!t.empty()) {
      char* end = nullptr;
      errno = 0;
      long long x = std::strtoll(t.c_str(), &end, base);
      if (end && *end == 0 && errno == 0) return static_cast<int64_t>(x);
      double f = std::strtod(t.c_str(), &end);
      if (end && *end == 0 && std::isfinite(f)) return static_cast<int64_t>(std::trunc(f));
    }
  }
  return d;
}

Value f_sort(Interpreter& in, const Value& v, CallArgs& a) {
  bool reverse = flag(a, 0, "reverse"), cs = flag(a, 1, "case_sensitive");
  const Value* attr = arg(a, 2, "attribute");
  List items = in.iterate(v);
  auto key = [&](const Value& x) {
    Value k = attr ? attr_path(in, x, *attr) : x;
    if (!cs && k.is_string()) return Value(py_lower(k.str()));
    return k;
  };
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    return reverse ? compare_op("<", key(y), key(x)) : compare_op("<", key(x), key(y));
  });
  return items;
}

Value min_max(Interpreter& in, const Value& v, CallArgs& a, bool want_max) {
  bool cs = flag(a, 0, "case_sensitive");
  const Value* attr = arg(a, 1, "attribute");
  List items = in.iterate(v);
  if (items.empty()) return Undefined{"No aggregated item, sequence was empty."};
  auto key = [&](const Value& x) {
    Value k = attr ? attr_path(in, x, *attr) : x;
    if (!cs && k.is_string()) return Value(py_lower(k.str()));
    return k;
  };
  Value best = items[0];
  for (size_t i = 1; i < items.size(); ++i)
    if (compare_op(want_max ? ">" : "<", key(items[i]), key(best))) best = items[i];
  return best;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

const std::unordered_map<std::string, FilterFn>& filters() {
  using I = Interpreter;
  using A = CallArgs;
  static const std::unordered_map<std::string, FilterFn> table = {
      {"abs",
       [](I&, const Value& v, A&) -> Value {
         if (v.is_int()) return v.integer() < 0 ? -v.integer() : v.integer();
         if (v.is_bool()) return int64_t{v.boolean()};
         if (v.is_float()) return std::fabs(v.real());
         if (v.is_undefined()) raise_undefined(v);
         throw TemplateError("TypeError", "bad operand type for abs(): '" + type_name(v) + "'");
       }},
      {"attr", [](I& in, const Value& v, A& a) -> Value {
         const Value* n = arg(a, 0, "name");
         if (!n) throw TemplateError("TypeError", "attr() missing 1 required positional argument: 'name'");
         // Python getattr only: a dict's keys are not attributes.
         const std::string& name = need_str(*n, "attribute name");
         if (v.is_dict() || v.is_list() || v.is_string()) {
           Value m = method_of(v, name);
           if (!m.is_undefined() || !m.undef().message.empty()) return m;
           return Undefined{string_repr(object_type_repr(v)) + " has no attribute " + string_repr(name)};
         }
         return in.getattr(v, name);
       }},
      {"capitalize", [](I&, const Value& v, A&) -> Value { return py_capitalize(to_str(v)); }},
      {"center",
       [](I&, const Value& v, A& a) -> Value {
         const Value* w = arg(a, 0, "width");
         int64_t width = w ? need_int(*w, "width") : 80;
         std::string s = to_str(v);
         int64_t n = static_cast<int64_t>(py_len(s));
         if (width <= n) return s;
         int64_t pad = width - n, left = pad / 2 + (pad & width & 1);
         return std::string(static_cast<size_t>(left), ' ') + s + std::string(static_cast<size_t>(pad - left), ' ');
       }},
      {"count", [](I&, const Value& v, A&) -> Value { return length_of(v); }},
      {"length", [](I&, const Value& v, A&) -> Value { return length_of(v); }},
      {"default",
       [](I&, const Value& v, A& a) -> Value {
         const Value* d = arg(a, 0, "default_value");
         bool boolean = flag(a, 1, "boolean");
         if (v.is_undefined() || (boolean && !truthy(v))) return d ? *d : Value("");
         return v;
       }},
      {"dictsort",
       [](I& in, const Value& v, A& a) -> Value {
         if (!v.is_dict()) throw TemplateError("FilterArgumentError", "You can only sort by either \"key\" or \"value\"");
         bool cs = flag(a, 0, "case_sensitive");
         const Value* by = arg(a, 1, "by");
         bool by_value = by && by->is_string() && by->str() == "value";
         bool reverse = flag(a, 2, "reverse");
         List items = dict_items(v).list();
         auto key = [&](const Value& x) {
           Value k = x.list()[by_value ? 1 : 0];
           if (!cs && k.is_string()) return Value(py_lower(k.str()));
           return k;
         };
         std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
           return reverse ? compare_op("<", key(y), key(x)) : compare_op("<", key(x), key(y));
         });
         (void)in;
         return items;
       }},
      {"escape", [](I&, const Value& v, A&) -> Value { return html_escape(to_str(v)); }},
      {"e", [](I&, const Value& v, A&) -> Value { return html_escape(to_str(v)); }},
      {"d",
       [](I&, const Value& v, A& a) -> Value {
         const Value* d = arg(a, 0, "default_value");
         if (v.is_undefined() || (flag(a, 1, "boolean") && !truthy(v))) return d ? *d : Value("");
         return v;
       }},
      {"forceescape", [](I&, const Value& v, A&) -> Value { return html_escape(to_str(v)); }},
      {"first",
       [](I& in, const Value& v, A&) -> Value {
         List l = in.iterate(v);
         if (l.empty()) return Undefined{"No first item, sequence was empty."};
         return l.front();
       }},
      {"last",
       [](I& in, const Value& v, A&) -> Value {
         List l = in.iterate(v);
         if (l.empty()) return Undefined{"No last item, sequence was empty."};
         return l.back();
       }},
      {"float",
       [](I&, const Value& v, A& a) -> Value {
         const Value* d = arg(a, 0, "default");
         if (v.is_float()) return v;
         if (v.is_int() || v.is_bool()) return static_cast<double>(v.is_int() ? v.integer() : v.boolean());
         if (v.is_string()) {
           std::string s = py_strip(v.str(), nullptr, true, true);
           char* end = nullptr;
           double x = std::strtod(s.c_str(), &end);
           if (!s.empty() && end && *end == 0) return x;
         }
         return d ? *d : Value(0.0);
       }},
      {"format",
       [](I&, const Value& v, A& a) -> Value {
         List args(a.positional.begin(), a.positional.end());
         args.tuple = true;  // soft_str(value) % args
         return binary_op("%", Value(to_str(v)), Value(std::move(args)));
       }},
      {"indent", f_indent},
      {"int",
       [](I&, const Value& v, A& a) -> Value {
         const Value* b = arg(a, 1, "base");
         return py_int(v, arg(a, 0, "default"), b ? static_cast<int>(need_int(*b, "base")) : 10);
       }},
      {"items",
       [](I&, const Value& v, A&) -> Value {
         if (v.is_undefined()) return List{};
         if (!v.is_dict()) throw TemplateError("TypeError", "Can only get item pairs from a mapping.");
         return dict_items(v);
       }},
      {"join",
       [](I& in, const Value& v, A& a) -> Value {
         const Value* d = arg(a, 0, "d");
         const Value* attr = arg(a, 1, "attribute");
         std::string sep = d ? to_str(*d) : "";
         std::string out;
         bool first = true;
         for (const auto& x : in.iterate(v)) {
           if (!first) out += sep;
           first = false;
           out += to_str(attr ? attr_path(in, x, *attr) : x);
         }
         return out;
       }},
      {"list", [](I& in, const Value& v, A&) -> Value { return in.iterate(v); }},
      {"lower", [](I&, const Value& v, A&) -> Value { return py_lower(to_str(v)); }},
      {"upper", [](I&, const Value& v, A&) -> Value { return py_upper(to_str(v)); }},
      {"title",
       [](I&, const Value& v, A&) -> Value {
         // jinja2: words start after spaces, '-', '(', '{', '[' and '<'.
         std::u32string u = utf8_decode(to_str(v));
         bool start = true;
         for (auto& c : u) {
           bool sep = py_isspace(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
           if (sep) {
             start = true;
             continue;
           }
           c = start ? upper_cp(c) : lower_cp(c);
           start = false;
         }
         return utf8_encode(u);
       }},
      {"map", f_map},
      {"max", [](I& in, const Value& v, A& a) -> Value { return min_max(in, v, a, true); }},
      {"min", [](I& in, const Value& v, A& a) -> Value { return min_max(in, v, a, false); }},
      {"pprint", [](I&, const Value& v, A&) -> Value { return repr(v); }},
      {"reject", [](I& in, const Value& v, A& a) -> Value { return select_impl(in, v, a, false, false); }},
      {"rejectattr", [](I& in, const Value& v, A& a) -> Value { return select_impl(in, v, a, true, false); }},
      {"select", [](I& in, const Value& v, A& a) -> Value { return select_impl(in, v, a, false, true); }},
      {"selectattr", [](I& in, const Value& v, A& a) -> Value { return select_impl(in, v, a, true, true); }},
      {"replace",
       [](I&, const Value& v, A& a) -> Value {
         const Value* o = arg(a, 0, "old");
         const Value* n = arg(a, 1, "new");
         if (!o || !n) throw TemplateError("TypeError", "do_replace() missing required arguments 'old' and 'new'");
         const Value* c = arg(a, 2, "count");
         return py_replace(to_str(v), to_str(*o), to_str(*n), c && !c->is_none() ? need_int(*c, "count") : -1);
       }},
      {"reverse",
       [](I& in, const Value& v, A&) -> Value {
         if (v.is_string()) {
           std::u32string u = utf8_decode(v.str());
           std::reverse(u.begin(), u.end());
           return utf8_encode(u);
         }
         List l = in.iterate(v);
         std::reverse(l.begin(), l.end());
         return l;
       }},
      {"round",
       [](I&, const Value& v, A& a) -> Value {
         const Value* p = arg(a, 0, "precision");
         const Value* m = arg(a, 1, "method");
         int64_t prec = p ? need_int(*p, "precision") : 0;
         std::string method = m ? to_str(*m) : "common";
         if (!v.is_number()) throw TemplateError("TypeError", "type " + type_name(v) + " doesn't define __round__ method");
         if (!v.is_float() && method == "common") return v.is_bool() ? Value(int64_t{v.boolean()}) : v;  // round(int) is an int
         double x = v.is_float() ? v.real() : static_cast<double>(v.is_int() ? v.integer() : v.boolean());
         double scale = std::pow(10.0, static_cast<double>(prec));
         double r;
         if (method == "common") r = std::nearbyint(x * scale) / scale;
         else if (method == "ceil") r = std::ceil(x * scale) / scale;
         else if (method == "floor") r = std::floor(x * scale) / scale;
         else throw TemplateError("FilterArgumentError", "method must be common, ceil or floor");
         return r;
       }},
      {"safe", [](I&, const Value& v, A&) -> Value { return v; }},
      {"sort", f_sort},
      {"string", [](I&, const Value& v, A&) -> Value { return to_str(v); }},
      {"sum",
       [](I& in, const Value& v, A& a) -> Value {
         const Value* attr = arg(a, 0, "attribute");
         const Value* start = arg(a, 1, "start");
         Value total = start ? *start : Value(int64_t{0});
         for (const auto& x : in.iterate(v)) total = binary_op("+", total, attr ? attr_path(in, x, *attr) : x);
         return total;
       }},
      {"tojson", f_tojson},
      {"trim", [](I&, const Value& v, A& a) -> Value { return py_strip(to_str(v), arg(a, 0, "chars"), true, true); }},
      {"unique",
       [](I& in, const Value& v, A& a) -> Value {
         bool cs = flag(a, 0, "case_sensitive");
         const Value* attr = arg(a, 1, "attribute");
         List out, seen;
         for (const auto& x : in.iterate(v)) {
           in.count_iterations(1);
           Value k = attr ? attr_path(in, x, *attr) : x;
           if (!cs && k.is_string()) k = py_lower(k.str());
           bool dup = false;
           for (const auto& s : seen) dup |= equals(s, k);
           if (dup) continue;
           seen.push_back(k);
           out.push_back(x);
         }
         return out;
       }},
      {"wordcount",
       [](I&, const Value& v, A&) -> Value {
         int64_t n = 0;
         bool in_word = false;
         for (char32_t c : utf8_decode(to_str(v))) {
           bool w = c == '_' || (c < 0x80 ? std::isalnum(static_cast<int>(c)) != 0 : !py_isspace(c));
           if (w && !in_word) ++n;
           in_word = w;
         }
         return n;
       }},
  };
  return table;
}

// ---- tests -----------------------------------------------------------------------------------

bool is_true_int(const Value& v) { return v.is_int(); }

const std::unordered_map<std::string, TestFn>& tests() {
  using I = Interpreter;
  using A = CallArgs;
  auto second = [](A& a, const char* name) -> const Value& {
    const Value* v = a.get(0, name);
    if (!v) throw TemplateError("TypeError", "test is missing its argument '" + std::string(name) + "'");
    return *v;
  };
  (void)second;
  static const std::unordered_map<std::string, TestFn> table = {
      {"defined", [](I&, const Value& v, A&) { return !v.is_undefined(); }},
      {"undefined", [](I&, const Value& v, A&) { return v.is_undefined(); }},
      {"none", [](I&, const Value& v, A&) { return v.is_none(); }},
      {"boolean", [](I&, const Value& v, A&) { return v.is_bool(); }},
      {"true", [](I&, const Value& v, A&) { return v.is_bool() && v.boolean(); }},
      {"false", [](I&, const Value& v, A&) { return v.is_bool() && !v.boolean(); }},
      {"integer", [](I&, const Value& v, A&) { return is_true_int(v); }},
      {"float", [](I&, const Value& v, A&) { return v.is_float(); }},
      {"number", [](I&, const Value& v, A&) { return v.is_number(); }},
      {"string", [](I&, const Value& v, A&) { return v.is_string(); }},
      {"mapping", [](I&, const Value& v, A&) { return v.is_dict(); }},
      {"iterable", [](I&, const Value& v, A&) { return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict(); }},
      {"sequence", [](I&, const Value& v, A&) { return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict(); }},
      {"callable", [](I&, const Value& v, A&) { return v.is_function(); }},
      {"escaped", [](I&, const Value&, A&) { return false; }},
      {"lower", [](I&, const Value& v, A&) { return v.is_string() && py_lower(v.str()) == v.str(); }},
      {"upper", [](I&, const Value& v, A&) { return v.is_string() && py_upper(v.str()) == v.str(); }},
      {"even", [](I&, const Value& v, A&) { return need_int(v, "value") % 2 == 0; }},
      {"odd", [](I&, const Value& v, A&) { return need_int(v, "value") % 2 != 0; }},
      {"divisibleby",
       [](I&, const Value& v, A& a) {
         const Value* n = a.get(0, "num");
         if (!n) throw TemplateError("TypeError", "test_divisibleby() missing 1 required positional argument: 'num'");
         int64_t d = need_int(*n, "num");
         if (d == 0) throw TemplateError("ZeroDivisionError", "integer division or modulo by zero");
         return need_int(v, "value") % d == 0;
       }},
      {"sameas",
       [](I&, const Value& v, A& a) {
         const Value* o = a.get(0, "other");
         if (!o) throw TemplateError("TypeError", "test_sameas() missing 1 required positional argument: 'other'");
         if (v.v.index() != o->v.index()) return false;
         if (v.is_list()) return std::get<6>(v.v) == std::get<6>(o->v);
         if (v.is_dict()) return std::get<7>(v.v) == std::get<7>(o->v);
         return equals(v, *o);
       }},
      {"in",
       [](I&, const Value& v, A& a) {
         const Value* o = a.get(0, "seq");
         if (!o) throw TemplateError("TypeError", "test_in() missing 1 required positional argument: 'seq'");
         return contains(*o, v);
       }},
      {"filter",
       [](I&, const Value& v, A&) { return v.is_string() && has_filter(v.str()); }},
      {"test", [](I&, const Value& v, A&) { return v.is_string() && has_test(v.str()); }},
  };
  return table;
}

bool comparison_test(const std::string& name, const Value& v, CallArgs& a) {
  static const std::unordered_map<std::string, std::string> ops = {
      {"eq", "=="}, {"equalto", "=="}, {"==", "=="}, {"ne", "!="}, {"!=", "!="}, {"lt", "<"}, {"lessthan", "<"},
      {"<", "<"},   {"le", "<="},      {"<=", "<="}, {"gt", ">"},  {"greaterthan", ">"},     {">", ">"},
      {"ge", ">="}, {">=", ">="}};
  auto it = ops.find(name);
  const Value* o = a.get(0, "other");
  if (!o) throw TemplateError("TypeError", "test '" + name + "' is missing its argument");
  return compare_op(it->second, v, *o);
}

bool is_comparison_test(const std::string& name) {
  static const char* const names[] = {"eq", "equalto", "==", "ne", "!=", "lt", "lessthan", "<",
                                      "le", "<=",      "gt", "greaterthan", ">", "ge", ">="};
  for (const char* n : names)
    if (name == n) return true;
  return false;
}

// ---- globals ---------------------------------------------------------------------------------

Value make_global(const std::string& name, Value (*fn)(Interpreter&, CallArgs&)) {
  auto f = std::make_shared<Function>();
  f->name = name;
  f->type_name = "function";
  f->call = fn;
  return Value(f);
}

std::tm now_tm(Interpreter& in) {
  std::tm tm{};
  const std::string& now = in.options().now;
  if (now.empty()) {
    std::time_t t = std::time(nullptr);
    localtime_r(&t, &tm);
    return tm;
  }
  int Y, M, D, h = 0, m = 0, s = 0;
  int n = std::sscanf(now.c_str(), "%d-%d-%dT%d:%d:%d", &Y, &M, &D, &h, &m, &s);
  if (n < 3) n = std::sscanf(now.c_str(), "%d-%d-%d %d:%d:%d", &Y, &M, &D, &h, &m, &s);
  if (n < 3) throw TemplateError("ValueError", "Invalid isoformat string: " + string_repr(now));
  tm.tm_year = Y - 1900;
  tm.tm_mon = M - 1;
  tm.tm_mday = D;
  tm.tm_hour = h;
  tm.tm_min = m;
  tm.tm_sec = s;
  std::time_t t = timegm(&tm);  // fills weekday and day of the year
  gmtime_r(&t, &tm);
  return tm;
}

const std::unordered_map<std::string, Value>& globals() {
  static const std::unordered_map<std::string, Value> table = [] {
    std::unordered_map<std::string, Value> g;
    g["range"] = make_global("range", [](Interpreter& in, CallArgs& a) -> Value {
      if (!a.keyword.empty()) throw TemplateError("TypeError", "range() takes no keyword arguments");
      if (a.positional.empty() || a.positional.size() > 3)
        throw TemplateError("TypeError", "range expected at least 1 argument, got " + std::to_string(a.positional.size()));
      int64_t start = 0, stop, step = 1;
      if (a.positional.size() == 1) {
        stop = need_int(a.positional[0], "stop");
      } else {
        start = need_int(a.positional[0], "start");
        stop = need_int(a.positional[1], "stop");
        if (a.positional.size() == 3) step = need_int(a.positional[2], "step");
      }
      if (step == 0) throw TemplateError("ValueError", "range() arg 3 must not be zero");
      int64_t n = step > 0 ? (stop > start ? (stop - start + step - 1) / step : 0)
                           : (start > stop ? (start - stop - step - 1) / -step : 0);
      if (n > 100000)
        throw TemplateError("OverflowError", "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
      in.count_iterations(n);
      List out;
      for (int64_t i = 0; i < n; ++i) out.push_back(start + i * step);
      return out;
    });
    g["dict"] = make_global("dict", [](Interpreter&, CallArgs& a) -> Value {
      auto d = std::make_shared<Dict>();
      if (!a.positional.empty()) {
        if (!a.positional[0].is_dict()) throw TemplateError("TypeError", "dict() argument must be a mapping");
        *d = a.positional[0].dict();
      }
      for (auto& [k, v] : a.keyword) d->set(Value(k), v);
      return Value(d);
    });
    g["namespace"] = make_global("namespace", [](Interpreter& in, CallArgs& a) -> Value {
      auto o = std::make_shared<Object>();
      o->type_name = "Namespace";
      in.track_namespace(o);
      for (const auto& p : a.positional) {
        if (!p.is_dict()) throw TemplateError("TypeError", "'" + type_name(p) + "' object is not iterable");
        for (const auto& [k, v] : p.dict().items) o->attrs.set(k, v);
      }
      for (auto& [k, v] : a.keyword) o->attrs.set(Value(k), v);
      return Value(o);
    });
    g["raise_exception"] = make_global("raise_exception", [](Interpreter&, CallArgs& a) -> Value {
      const Value* m = a.get(0, "message");
      throw TemplateError("TemplateError", m ? to_str(*m) : "");
    });
    g["strftime_now"] = make_global("strftime_now", [](Interpreter& in, CallArgs& a) -> Value {
      const Value* f = a.get(0, "format");
      if (!f) throw TemplateError("TypeError", "strftime_now() missing 1 required positional argument: 'format'");
      const std::string& fmt = need_str(*f, "format");
      std::tm tm = now_tm(in);
      if (fmt.empty()) return std::string();
      std::string buf(fmt.size() * 8 + 64, '\0');
      size_t n = std::strftime(buf.data(), buf.size(), fmt.c_str(), &tm);
      buf.resize(n);
      return buf;
    });
    g["joiner"] = make_global("joiner", [](Interpreter&, CallArgs& a) -> Value {
      const Value* s = a.get(0, "sep");
      std::string sep = s ? to_str(*s) : ", ";
      auto used = std::make_shared<bool>(false);
      auto f = std::make_shared<Function>();
      f->name = "joiner";
      f->type_name = "Joiner";
      f->call = [sep, used](Interpreter&, CallArgs&) -> Value {
        if (!*used) {
          *used = true;
          return std::string();
        }
        return sep;
      };
      return Value(f);
    });
    return g;
  }();
  return table;
}

}  // namespace

bool has_filter(const std::string& name) { return filters().count(name) > 0; }

bool has_test(const std::string& name) { return tests().count(name) > 0 || is_comparison_test(name); }

Value apply_filter(Interpreter& in, const std::string& name, const Value& subject, CallArgs& args) {
  auto it = filters().find(name);
  if (it == filters().end()) throw TemplateError("TemplateRuntimeError", "No filter named '" + name + "'.");
  return it->second(in, subject, args);
}

bool apply_test(Interpreter& in, const std::string& name, const Value& subject, CallArgs& args) {
  if (is_comparison_test(name)) return comparison_test(name, subject, args);
  auto it = tests().find(name);
  if (it == tests().end()) throw TemplateError("TemplateRuntimeError", "No test named '" + name + "'.");
  return it->second(in, subject, args);
}

Value method_of(const Value& obj, const std::string& name) {
  if (obj.is_string()) return str_method(obj, name);
  if (obj.is_dict()) return dict_method(obj, name);
  if (obj.is_list()) return list_method(obj, name);
  return Value();
}

Value global_function(const std::string& name) {
  auto it = globals().find(name);
  return it == globals().end() ? Value() : it->second;
}

}  // namespace stablelm::chat
