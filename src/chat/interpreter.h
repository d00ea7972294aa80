#pragma once
// Renders a parsed template: jinja2's runtime semantics (scoping, loop, macros, Undefined) with
// Python's operators, under the sandbox limits of RenderOptions.
#include <memory>
#include <string>
#include <unordered_map>

#include "chat/ast.h"
#include "chat/value.h"
#include "stablelm/chat.h"

namespace stablelm::chat {

struct Scope {
  std::unordered_map<std::string, Value> vars;
  std::shared_ptr<Scope> parent;
  const Value* find(const std::string& name) const;
};
using ScopePtr = std::shared_ptr<Scope>;

class Interpreter {
 public:
  Interpreter(std::shared_ptr<const Program> program, const RenderOptions& opts);
  // Empties the namespaces made during the render: `{% set ns.me = ns %}` makes a cycle of
  // shared pointers that would otherwise never be freed (jinja2 has a garbage collector).
  ~Interpreter();
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;
  std::string render(const Dict& variables);
  // namespace() objects register here so that the destructor can break their cycles.
  void track_namespace(std::shared_ptr<Object> o) { namespaces_.push_back(std::move(o)); }

  // Python operations the builtins share.
  Value call(const Value& callee, CallArgs& args);
  Value getattr(const Value& obj, const std::string& name);
  Value getitem(const Value& obj, const Value& key);
  // Iterates like Python's iter(): list items, dict keys, str characters, Undefined as empty;
  // throws TypeError for anything else.
  List iterate(const Value& v);
  const RenderOptions& options() const { return opts_; }
  // Counts loop-like work (for loops, range, filters walking a list) against the sandbox limit.
  void count_iterations(int64_t n);

 private:
  enum class Flow { Normal, Break, Continue };

  std::shared_ptr<const Program> program_;
  RenderOptions opts_;
  ScopePtr root_;
  std::vector<std::shared_ptr<Object>> namespaces_;
  int64_t iterations_ = 0;
  int call_depth_ = 0;
  const Expr* current_expr_ = nullptr;

  Flow exec_body(const Body& body, const ScopePtr& scope, std::string& out);
  Flow exec(const Stmt& s, const ScopePtr& scope, std::string& out);
  void exec_for(const Stmt& s, const ScopePtr& scope, std::string& out);
  void assign(const Expr& target, const Value& v, const ScopePtr& scope);
  Value make_macro(const Stmt& s, const ScopePtr& scope);
  Value invoke_macro(const Stmt& s, const ScopePtr& defining, CallArgs& args, const Value& caller);
  std::string capture(const Body& body, const ScopePtr& scope);

  Value eval(const Expr& e, const ScopePtr& scope);
  Value eval_inner(const Expr& e, const ScopePtr& scope);
  Value eval_filter(const Expr& e, const ScopePtr& scope, const Value* subject);
  CallArgs eval_args(const Expr& e, const ScopePtr& scope, size_t first);
  Value lookup(const std::string& name, const ScopePtr& scope);
  void append(std::string& out, const std::string& text);
  [[noreturn]] void limit(const std::string& what);
};

[[noreturn]] void raise_undefined(const Value& v);
// Python's binary operators (+ - * / // % ** ~) and comparisons; throw TypeError like Python.
Value binary_op(const std::string& op, const Value& a, const Value& b);
bool compare_op(const std::string& op, const Value& a, const Value& b);
bool contains(const Value& container, const Value& item);
Value slice(const Value& v, const Value& start, const Value& stop, const Value& step);

}  // namespace stablelm::chat
