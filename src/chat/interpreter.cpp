#include "chat/interpreter.h"

#include <cmath>

#include "chat/builtins.h"
#include "chat/lexer.h"

namespace stablelm::chat {

const Value* Scope::find(const std::string& name) const {
  for (const Scope* s = this; s; s = s->parent.get()) {
    auto it = s->vars.find(name);
    if (it != s->vars.end()) return &it->second;
  }
  return nullptr;
}

[[noreturn]] void raise_undefined(const Value& v) {
  const Undefined& u = v.undef();
  throw TemplateError(u.error_type, u.message.empty() ? "None is undefined" : u.message);
}

// ---- operators -------------------------------------------------------------------------------

namespace {

bool is_intlike(const Value& v) { return v.is_int() || v.is_bool(); }
int64_t as_int(const Value& v) { return v.is_bool() ? int64_t{v.boolean()} : v.integer(); }
double as_real(const Value& v) { return v.is_float() ? v.real() : static_cast<double>(as_int(v)); }

[[noreturn]] void unsupported(const std::string& op, const Value& a, const Value& b) {
  throw TemplateError("TypeError",
                      "unsupported operand type(s) for " + op + ": '" + type_name(a) + "' and '" + type_name(b) + "'");
}

Value repeat(const Value& seq, int64_t n) {
  if (n < 0) n = 0;
  const size_t unit = seq.is_string() ? seq.str().size() : seq.list().size();
  if (n > 0 && unit > 0 && static_cast<uint64_t>(n) > (uint64_t{64} << 20) / unit)
    throw TemplateError("MemoryError", "repetition too large for the sandbox");
  if (seq.is_string()) {
    std::string out;
    for (int64_t i = 0; i < n; ++i) out += seq.str();
    return out;
  }
  List out;
  for (int64_t i = 0; i < n; ++i) out.insert(out.end(), seq.list().begin(), seq.list().end());
  return out;
}

// "%s" % x: the conversions templates use (%s %r %d %i %f %%).
Value percent_format(const std::string& fmt, const Value& arg) {
  List args;
  if (arg.is_list() && arg.list().tuple) args = arg.list();
  else args.push_back(arg);
  std::string out;
  size_t k = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out += fmt[i];
      continue;
    }
    if (++i >= fmt.size()) throw TemplateError("ValueError", "incomplete format");
    char c = fmt[i];
    if (c == '%') {
      out += '%';
      continue;
    }
    if (k >= args.size()) throw TemplateError("TypeError", "not enough arguments for format string");
    const Value& a = args[k++];
    if (c == 's') out += to_str(a);
    else if (c == 'r') out += repr(a);
    else if (c == 'd' || c == 'i') {
      if (!a.is_number()) throw TemplateError("TypeError", "%" + std::string(1, c) + " format: a real number is required, not " + type_name(a));
      out += std::to_string(a.is_float() ? static_cast<int64_t>(a.real()) : as_int(a));
    } else if (c == 'f') {
      if (!a.is_number()) throw TemplateError("TypeError", "must be real number, not " + type_name(a));
      char b[64];
      std::snprintf(b, sizeof b, "%f", as_real(a));
      out += b;
    } else {
      throw TemplateError("ValueError", std::string("unsupported format character '") + c + "'");
    }
  }
  if (k < args.size()) throw TemplateError("TypeError", "not all arguments converted during string formatting");
  return out;
}

}  // namespace

Value binary_op(const std::string& op, const Value& a, const Value& b) {
  if (op == "~") return to_str(a) + to_str(b);
  if (a.is_undefined()) raise_undefined(a);
  if (b.is_undefined()) raise_undefined(b);
  const bool num = a.is_number() && b.is_number();
  const bool ints = is_intlike(a) && is_intlike(b);
  if (op == "+") {
    if (ints) return as_int(a) + as_int(b);
    if (num) return as_real(a) + as_real(b);
    if (a.is_string() && b.is_string()) return a.str() + b.str();
    if (a.is_list() && b.is_list() && a.list().tuple == b.list().tuple) {
      List l = a.list();
      l.insert(l.end(), b.list().begin(), b.list().end());
      return l;
    }
    if (a.is_string()) throw TemplateError("TypeError", "can only concatenate str (not \"" + type_name(b) + "\") to str");
    if (a.is_list())
      throw TemplateError("TypeError", "can only concatenate " + type_name(a) + " (not \"" + type_name(b) + "\") to " + type_name(a));
    unsupported("+", a, b);
  }
  if (op == "-") {
    if (ints) return as_int(a) - as_int(b);
    if (num) return as_real(a) - as_real(b);
    unsupported("-", a, b);
  }
  if (op == "*") {
    if (ints) return as_int(a) * as_int(b);
    if (num) return as_real(a) * as_real(b);
    if ((a.is_string() || a.is_list()) && is_intlike(b)) return repeat(a, as_int(b));
    if ((b.is_string() || b.is_list()) && is_intlike(a)) return repeat(b, as_int(a));
    if (a.is_string() || a.is_list() || b.is_string() || b.is_list())
      throw TemplateError("TypeError", "can't multiply sequence by non-int of type '" +
                                           type_name(a.is_string() || a.is_list() ? b : a) + "'");
    unsupported("*", a, b);
  }
  if (op == "/") {
    if (!num) unsupported("/", a, b);
    if (as_real(b) == 0) throw TemplateError("ZeroDivisionError", "division by zero");
    return as_real(a) / as_real(b);
  }
  if (op == "//" || op == "%") {
    if (op == "%" && a.is_string()) return percent_format(a.str(), b);
    if (!num) unsupported(op, a, b);
    if (ints) {
      int64_t x = as_int(a), y = as_int(b);
      if (y == 0)
        throw TemplateError("ZeroDivisionError", op == "//" ? "integer division or modulo by zero" : "integer modulo by zero");
      int64_t q = x / y, r = x % y;
      if (r != 0 && ((r < 0) != (y < 0))) {
        --q;
        r += y;
      }
      return op == "//" ? Value(q) : Value(r);
    }
    double x = as_real(a), y = as_real(b);
    if (y == 0) throw TemplateError("ZeroDivisionError", op == "//" ? "float floor division by zero" : "float modulo");
    double r = std::fmod(x, y);
    if (r != 0 && ((r < 0) != (y < 0))) r += y;
    if (op == "%") return r;
    return std::floor((x - r) / y + 0.5 * 0);  // (x - r) / y is exact for the floor quotient
  }
  if (op == "**") {
    if (ints && as_int(b) >= 0) {
      int64_t base = as_int(a), e = as_int(b), r = 1;
      for (int64_t i = 0; i < e && i < 64; ++i) r *= base;
      return r;
    }
    if (num) return std::pow(as_real(a), as_real(b));
    unsupported("** or pow()", a, b);
  }
  throw TemplateError("TypeError", "unknown operator " + op);
}

bool compare_op(const std::string& op, const Value& a, const Value& b) {
  if (op == "==") return equals(a, b);
  if (op == "!=") return !equals(a, b);
  if (op == "in") return contains(b, a);
  if (op == "not in") return !contains(b, a);
  if (a.is_undefined()) raise_undefined(a);
  if (b.is_undefined()) raise_undefined(b);
  int c = 0;
  if (a.is_number() && b.is_number()) {
    double x = as_real(a), y = as_real(b);
    if (is_intlike(a) && is_intlike(b)) c = as_int(a) < as_int(b) ? -1 : as_int(a) > as_int(b) ? 1 : 0;
    else c = x < y ? -1 : x > y ? 1 : 0;
  } else if (a.is_string() && b.is_string()) {
    c = a.str().compare(b.str());
    c = c < 0 ? -1 : c > 0 ? 1 : 0;
  } else if (a.is_list() && b.is_list()) {
    const auto &x = a.list(), &y = b.list();
    size_t i = 0;
    while (i < x.size() && i < y.size() && equals(x[i], y[i])) ++i;
    if (i < x.size() && i < y.size()) return compare_op(op, x[i], y[i]);
    c = x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
  } else {
    throw TemplateError("TypeError", "'" + op + "' not supported between instances of '" + type_name(a) + "' and '" +
                                         type_name(b) + "'");
  }
  if (op == "<") return c < 0;
  if (op == ">") return c > 0;
  if (op == "<=") return c <= 0;
  return c >= 0;
}

bool contains(const Value& container, const Value& item) {
  if (container.is_string()) {
    if (item.is_undefined()) raise_undefined(item);
    if (!item.is_string())
      throw TemplateError("TypeError", "'in <string>' requires string as left operand, not " + type_name(item));
    return container.str().find(item.str()) != std::string::npos;
  }
  if (container.is_list()) {
    for (const auto& x : container.list())
      if (equals(x, item)) return true;
    return false;
  }
  if (container.is_dict()) return container.dict().find(item) != nullptr;
  if (container.is_undefined()) return false;
  if (container.is_object() && container.object().type_name == "Namespace")
    return container.object().attrs.find(item) != nullptr;
  throw TemplateError("TypeError", "argument of type '" + type_name(container) + "' is not iterable");
}

Value slice(const Value& v, const Value& start, const Value& stop, const Value& step) {
  if (v.is_undefined()) raise_undefined(v);
  auto part = [](const Value& p, const char* what) -> std::optional<int64_t> {
    if (p.is_none()) return std::nullopt;
    if (!is_intlike(p))
      throw TemplateError("TypeError", std::string("slice indices must be integers or None or have an __index__ method"));
    (void)what;
    return as_int(p);
  };
  int64_t st = part(step, "step").value_or(1);
  if (st == 0) throw TemplateError("ValueError", "slice step cannot be zero");
  std::u32string chars;
  const List* list = nullptr;
  int64_t n;
  if (v.is_string()) {
    chars = utf8_decode(v.str());
    n = static_cast<int64_t>(chars.size());
  } else if (v.is_list()) {
    list = &v.list();
    n = static_cast<int64_t>(list->size());
  } else {
    throw TemplateError("TypeError", "'" + type_name(v) + "' object is not subscriptable");
  }
  auto clamp = [&](std::optional<int64_t> x, int64_t dflt) {
    if (!x) return dflt;
    int64_t i = *x;
    if (i < 0) i += n;
    if (st > 0) return std::clamp<int64_t>(i, 0, n);
    return std::clamp<int64_t>(i, -1, n - 1);
  };
  int64_t b = clamp(part(start, "start"), st > 0 ? 0 : n - 1);
  int64_t e = clamp(part(stop, "stop"), st > 0 ? n : -1);
  std::u32string sout;
  List lout;
  for (int64_t i = b; st > 0 ? i < e : i > e; i += st) {
    if (list) lout.push_back((*list)[static_cast<size_t>(i)]);
    else sout.push_back(chars[static_cast<size_t>(i)]);
  }
  if (list) {
    lout.tuple = list->tuple;
    return lout;
  }
  return utf8_encode(sout);
}

// ---- the interpreter -------------------------------------------------------------------------

Interpreter::Interpreter(std::shared_ptr<const Program> program, const RenderOptions& opts)
    : program_(std::move(program)), opts_(opts), root_(std::make_shared<Scope>()) {}

Interpreter::~Interpreter() {
  for (const auto& o : namespaces_) o->attrs.items.clear();
}

std::string Interpreter::render(const Dict& variables) {
  for (const auto& [k, v] : variables.items) root_->vars[k.str()] = v;
  std::string out;
  exec_body(program_->body, root_, out);
  return out;
}

[[noreturn]] void Interpreter::limit(const std::string& what) {
  int line = current_expr_ ? current_expr_->line : 0, col = current_expr_ ? current_expr_->column : 0;
  throw TemplateError("SandboxLimit", at_position(what, line, col), line, col);
}

void Interpreter::append(std::string& out, const std::string& text) {
  if (out.size() + text.size() > opts_.limits.max_output_bytes)
    limit("the output exceeds the sandbox limit of " + std::to_string(opts_.limits.max_output_bytes) + " bytes");
  out += text;
}

void Interpreter::count_iterations(int64_t n) {
  iterations_ += n;
  if (iterations_ > opts_.limits.max_loop_iterations)
    limit("more than " + std::to_string(opts_.limits.max_loop_iterations) + " loop iterations (sandbox limit)");
}

std::string Interpreter::capture(const Body& body, const ScopePtr& scope) {
  std::string out;
  exec_body(body, scope, out);
  return out;
}

Interpreter::Flow Interpreter::exec_body(const Body& body, const ScopePtr& scope, std::string& out) {
  for (const auto& s : body) {
    Flow f = exec(*s, scope, out);
    if (f != Flow::Normal) return f;
  }
  return Flow::Normal;
}

Interpreter::Flow Interpreter::exec(const Stmt& s, const ScopePtr& scope, std::string& out) {
  try {
    switch (s.kind) {
      case S::Text: append(out, s.text); break;
      case S::Output: append(out, to_str(eval(*s.expr, scope))); break;
      case S::If:
        for (const auto& [cond, body] : s.branches)
          if (!cond || truthy(eval(*cond, scope))) return exec_body(body, scope, out);
        break;
      case S::For: exec_for(s, scope, out); break;
      case S::Set: assign(*s.target, eval(*s.expr, scope), scope); break;
      case S::SetBlock: {
        Value v = capture(s.body, std::make_shared<Scope>(Scope{{}, scope}));
        if (s.expr) v = eval_filter(*s.expr, scope, &v);
        assign(*s.target, v, scope);
        break;
      }
      case S::Macro: scope->vars[s.name] = make_macro(s, scope); break;
      case S::CallBlock: {
        const Stmt* self = &s;
        auto fn = std::make_shared<Function>();
        fn->name = "caller";
        fn->type_name = "Macro";
        fn->call = [this, self, scope](Interpreter&, CallArgs& args) -> Value {
          return invoke_macro(*self, scope, args, Value());
        };
        const Expr& call = *s.expr;
        Value callee = eval(*call.args[0], scope);
        CallArgs args = eval_args(call, scope, 1);
        args.keyword.emplace_back("caller", Value(fn));
        append(out, to_str(this->call(callee, args)));
        break;
      }
      case S::FilterBlock: {
        Value v = capture(s.body, scope);
        append(out, to_str(eval_filter(*s.expr, scope, &v)));
        break;
      }
      case S::Break: return Flow::Break;
      case S::Continue: return Flow::Continue;
      case S::Scope: return exec_body(s.body, std::make_shared<Scope>(Scope{{}, scope}), out);
    }
  } catch (const TemplateError& e) {
    if (e.line() == 0) throw TemplateError(e.type(), e.what(), s.line, s.column);
    throw;
  }
  return Flow::Normal;
}

void Interpreter::exec_for(const Stmt& s, const ScopePtr& scope, std::string& out) {
  List items = iterate(eval(*s.expr, scope));
  if (s.condition) {
    List kept;
    for (const auto& it : items) {
      count_iterations(1);
      auto iter_scope = std::make_shared<Scope>(Scope{{}, scope});
      assign(*s.target, it, iter_scope);
      if (truthy(eval(*s.condition, iter_scope))) kept.push_back(it);
    }
    items = std::move(kept);
  }
  if (items.empty()) {
    exec_body(s.else_body, std::make_shared<Scope>(Scope{{}, scope}), out);
    return;
  }
  const int64_t n = static_cast<int64_t>(items.size());
  for (int64_t i = 0; i < n; ++i) {
    count_iterations(1);
    auto loop = std::make_shared<Object>();
    loop->type_name = "LoopContext";
    auto& a = loop->attrs;
    a.items.reserve(12);
    a.items.emplace_back(Value("index"), Value(i + 1));
    a.items.emplace_back(Value("index0"), Value(i));
    a.items.emplace_back(Value("revindex"), Value(n - i));
    a.items.emplace_back(Value("revindex0"), Value(n - i - 1));
    a.items.emplace_back(Value("first"), Value(i == 0));
    a.items.emplace_back(Value("last"), Value(i == n - 1));
    a.items.emplace_back(Value("length"), Value(n));
    a.items.emplace_back(Value("depth"), Value(1));
    a.items.emplace_back(Value("depth0"), Value(0));
    a.items.emplace_back(Value("previtem"), i > 0 ? items[static_cast<size_t>(i - 1)]
                                                  : Value(Undefined{"there is no previous item"}));
    a.items.emplace_back(Value("nextitem"), i + 1 < n ? items[static_cast<size_t>(i + 1)]
                                                      : Value(Undefined{"there is no next item"}));
    auto cycle = std::make_shared<Function>();
    cycle->name = "cycle";
    cycle->type_name = "method";
    cycle->call = [i](Interpreter&, CallArgs& args) -> Value {
      if (args.positional.empty()) throw TemplateError("TypeError", "no items for cycling given");
      return args.positional[static_cast<size_t>(i) % args.positional.size()];
    };
    a.items.emplace_back(Value("cycle"), Value(cycle));
    auto iter_scope = std::make_shared<Scope>(Scope{{}, scope});
    iter_scope->vars["loop"] = Value(loop);
    assign(*s.target, items[static_cast<size_t>(i)], iter_scope);
    if (exec_body(s.body, iter_scope, out) == Flow::Break) break;
  }
}

void Interpreter::assign(const Expr& target, const Value& v, const ScopePtr& scope) {
  if (target.kind == E::Name) {
    scope->vars[target.name] = v;
    return;
  }
  if (target.kind == E::Tuple) {
    List vals = iterate(v);
    size_t want = target.args.size();
    if (vals.size() > want)
      throw TemplateError("ValueError", "too many values to unpack (expected " + std::to_string(want) + ")");
    if (vals.size() < want)
      throw TemplateError("ValueError", "not enough values to unpack (expected " + std::to_string(want) + ", got " +
                                            std::to_string(vals.size()) + ")");
    for (size_t k = 0; k < want; ++k) assign(*target.args[k], vals[k], scope);
    return;
  }
  // ns.attr = value
  Value obj = lookup(target.args[0]->name, scope);
  if (!obj.is_object() || obj.object().type_name != "Namespace")
    throw TemplateError("TemplateRuntimeError", "cannot assign attribute on non-namespace object");
  obj.object().attrs.set(Value(target.name), v);
}

Value Interpreter::make_macro(const Stmt& s, const ScopePtr& scope) {
  auto fn = std::make_shared<Function>();
  fn->name = s.name;
  fn->type_name = "Macro";
  const Stmt* self = &s;
  std::weak_ptr<Scope> weak = scope;  // the defining scope holds the macro: avoid a cycle
  fn->call = [this, self, weak](Interpreter&, CallArgs& args) -> Value {
    ScopePtr defining = weak.lock();
    if (!defining) defining = root_;
    Value caller;
    for (auto it = args.keyword.begin(); it != args.keyword.end(); ++it)
      if (it->first == "caller") {
        caller = it->second;
        args.keyword.erase(it);
        break;
      }
    return invoke_macro(*self, defining, args, caller);
  };
  return Value(fn);
}

Value Interpreter::invoke_macro(const Stmt& s, const ScopePtr& defining, CallArgs& args, const Value& caller) {
  if (++call_depth_ > opts_.limits.max_call_depth) {
    --call_depth_;
    limit("macro calls nested more than " + std::to_string(opts_.limits.max_call_depth) + " deep (sandbox limit)");
  }
  struct Depth {
    int& d;
    ~Depth() { --d; }
  } depth{call_depth_};
  auto scope = std::make_shared<Scope>(Scope{{}, defining});
  const std::string what = s.kind == S::Macro ? "macro '" + s.name + "'" : "macro 'caller'";
  List varargs;
  for (size_t k = 0; k < args.positional.size(); ++k) {
    if (k < s.params.size()) scope->vars[s.params[k].name] = args.positional[k];
    else varargs.push_back(args.positional[k]);
  }
  auto kwargs = std::make_shared<Dict>();
  for (auto& [k, v] : args.keyword) {
    bool is_param = false;
    for (size_t p = 0; p < s.params.size(); ++p)
      if (s.params[p].name == k) {
        if (p < args.positional.size())
          throw TemplateError("TypeError", what + " got multiple values for argument '" + k + "'");
        scope->vars[k] = v;
        is_param = true;
      }
    if (!is_param) kwargs->set(Value(k), v);
  }
  for (const auto& p : s.params) {
    if (scope->vars.count(p.name)) continue;
    scope->vars[p.name] = p.default_value ? eval(*p.default_value, scope)
                                          : Value(Undefined{"parameter '" + p.name + "' was not provided"});
  }
  varargs.tuple = true;
  scope->vars["varargs"] = Value(std::move(varargs));
  scope->vars["kwargs"] = Value(kwargs);
  if (!caller.is_undefined()) scope->vars["caller"] = caller;
  return capture(s.body, scope);
}

Value Interpreter::lookup(const std::string& name, const ScopePtr& scope) {
  if (const Value* v = scope->find(name)) return *v;
  Value g = global_function(name);
  if (!g.is_undefined()) return g;
  return Undefined{"'" + name + "' is undefined"};
}

CallArgs Interpreter::eval_args(const Expr& e, const ScopePtr& scope, size_t first) {
  CallArgs a;
  for (size_t k = first; k < e.args.size(); ++k) a.positional.push_back(eval(*e.args[k], scope));
  for (const auto& [n, x] : e.kwargs) a.keyword.emplace_back(n, eval(*x, scope));
  return a;
}

Value Interpreter::eval(const Expr& e, const ScopePtr& scope) {
  const Expr* saved = current_expr_;
  current_expr_ = &e;
  try {
    Value v = eval_inner(e, scope);
    current_expr_ = saved;
    return v;
  } catch (const TemplateError& err) {
    current_expr_ = saved;
    if (err.line() == 0) throw TemplateError(err.type(), err.what(), e.line, e.column);
    throw;
  }
}

Value Interpreter::eval_filter(const Expr& e, const ScopePtr& scope, const Value* subject) {
  Value in = e.args[0] ? (e.args[0]->kind == E::Filter ? eval_filter(*e.args[0], scope, subject) : eval(*e.args[0], scope))
                       : *subject;
  CallArgs args = eval_args(e, scope, 1);
  try {
    return apply_filter(*this, e.name, in, args);
  } catch (const TemplateError& err) {
    if (err.line() == 0) throw TemplateError(err.type(), err.what(), e.line, e.column);
    throw;
  }
}

Value Interpreter::eval_inner(const Expr& e, const ScopePtr& scope) {
  switch (e.kind) {
    case E::Literal: return e.value;
    case E::Name: return lookup(e.name, scope);
    case E::List:
    case E::Tuple: {
      List l;
      l.reserve(e.args.size());
      for (const auto& x : e.args) l.push_back(eval(*x, scope));
      l.tuple = e.kind == E::Tuple;
      return l;
    }
    case E::Dict: {
      auto d = std::make_shared<Dict>();
      for (size_t k = 0; k + 1 < e.args.size(); k += 2) d->set(eval(*e.args[k], scope), eval(*e.args[k + 1], scope));
      return Value(d);
    }
    case E::Attr: return getattr(eval(*e.args[0], scope), e.name);
    case E::Item: return getitem(eval(*e.args[0], scope), eval(*e.args[1], scope));
    case E::Slice: {
      Value base = eval(*e.args[0], scope);
      Value parts[3];
      for (int k = 0; k < 3; ++k) parts[k] = e.args[k + 1] ? eval(*e.args[k + 1], scope) : Value(None{});
      return slice(base, parts[0], parts[1], parts[2]);
    }
    case E::Call: {
      Value callee = eval(*e.args[0], scope);
      CallArgs args = eval_args(e, scope, 1);
      return call(callee, args);
    }
    case E::Filter: return eval_filter(e, scope, nullptr);
    case E::Test: {
      Value subject = eval(*e.args[0], scope);
      CallArgs args = eval_args(e, scope, 1);
      bool r = apply_test(*this, e.name, subject, args);
      return e.negated ? !r : r;
    }
    case E::Unary: {
      Value v = eval(*e.args[0], scope);
      if (e.name == "not") return !truthy(v);
      if (v.is_undefined()) raise_undefined(v);
      if (e.name == "-") {
        if (v.is_int() || v.is_bool()) return -(v.is_bool() ? int64_t{v.boolean()} : v.integer());
        if (v.is_float()) return -v.real();
      } else {
        if (v.is_bool()) return int64_t{v.boolean()};
        if (v.is_number()) return v;
      }
      throw TemplateError("TypeError", "bad operand type for unary " + e.name + ": '" + type_name(v) + "'");
    }
    case E::Binary: {
      if (e.name == "and") {
        Value l = eval(*e.args[0], scope);
        return truthy(l) ? eval(*e.args[1], scope) : l;
      }
      if (e.name == "or") {
        Value l = eval(*e.args[0], scope);
        return truthy(l) ? l : eval(*e.args[1], scope);
      }
      Value l = eval(*e.args[0], scope);
      Value r = eval(*e.args[1], scope);
      return binary_op(e.name, l, r);
    }
    case E::Compare: {
      Value l = eval(*e.args[0], scope);
      for (size_t k = 0; k < e.ops.size(); ++k) {
        Value r = eval(*e.args[k + 1], scope);
        if (!compare_op(e.ops[k], l, r)) return false;
        l = std::move(r);
      }
      return true;
    }
    case E::Cond:
      if (truthy(eval(*e.args[1], scope))) return eval(*e.args[0], scope);
      if (e.args[2]) return eval(*e.args[2], scope);
      return Undefined{"the inline if-expression on line " + std::to_string(e.line) +
                       " evaluated to false and no else section was defined."};
  }
  return Value();
}

Value Interpreter::call(const Value& callee, CallArgs& args) {
  if (callee.is_function()) {
    if (callee.function().type_name == "Macro" || call_depth_ < opts_.limits.max_call_depth)
      return callee.function().call(*this, args);
    limit("calls nested more than " + std::to_string(opts_.limits.max_call_depth) + " deep (sandbox limit)");
  }
  if (callee.is_undefined()) raise_undefined(callee);
  throw TemplateError("TypeError", "'" + type_name(callee) + "' object is not callable");
}

Value Interpreter::getattr(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) raise_undefined(obj);
  if (name.size() >= 1 && name[0] == '_')
    return Undefined{"access to attribute '" + name + "' of '" + type_name(obj) + "' object is unsafe.", "SecurityError"};
  if (obj.is_object()) {
    if (const Value* v = obj.object().attrs.find(Value(name))) return *v;
  } else {
    Value m = method_of(obj, name);
    if (!m.is_undefined() || !m.undef().message.empty()) return m;
    if (obj.is_dict())
      if (const Value* v = obj.dict().find(Value(name))) return *v;
  }
  std::string type = obj.is_object() ? (obj.object().type_name == "Namespace" ? "jinja2.utils.Namespace object"
                                                                              : "jinja2.runtime.LoopContext object")
                                     : object_type_repr(obj);
  return Undefined{string_repr(type) + " has no attribute " + string_repr(name)};
}

Value Interpreter::getitem(const Value& obj, const Value& key) {
  if (obj.is_undefined()) raise_undefined(obj);
  if (obj.is_dict()) {
    if (const Value* v = obj.dict().find(key)) return *v;
  } else if ((obj.is_list() || obj.is_string()) && (key.is_int() || key.is_bool())) {
    int64_t i = key.is_bool() ? int64_t{key.boolean()} : key.integer();
    if (obj.is_list()) {
      int64_t n = static_cast<int64_t>(obj.list().size());
      if (i < 0) i += n;
      if (i >= 0 && i < n) return obj.list()[static_cast<size_t>(i)];
    } else {
      std::u32string u = utf8_decode(obj.str());
      int64_t n = static_cast<int64_t>(u.size());
      if (i < 0) i += n;
      if (i >= 0 && i < n) {
        std::string s;
        utf8_append(s, u[static_cast<size_t>(i)]);
        return s;
      }
    }
  }
  if (key.is_string()) return getattr(obj, key.str());
  std::string type = obj.is_object() ? "jinja2.utils.Namespace object" : object_type_repr(obj);
  return Undefined{type + " has no element " + repr(key)};
}

List Interpreter::iterate(const Value& v) {
  switch (v.v.index()) {
    case 0: return {};
    case 5: {
      List out;
      for (char32_t c : utf8_decode(v.str())) {
        std::string s;
        utf8_append(s, c);
        out.push_back(std::move(s));
      }
      return out;
    }
    case 6: {
      List out(v.list().begin(), v.list().end());
      return out;
    }
    case 7: {
      List out;
      for (const auto& kv : v.dict().items) out.push_back(kv.first);
      return out;
    }
    default: throw TemplateError("TypeError", "'" + type_name(v) + "' object is not iterable");
  }
}

}  // namespace stablelm::chat
