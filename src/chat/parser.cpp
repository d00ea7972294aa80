#include "chat/parser.h"

#include <cstdlib>
#include <initializer_list>

#include "chat/builtins.h"
#include "chat/lexer.h"
#include "stablelm/chat.h"

namespace stablelm::chat {
namespace {

// Bounds the parser's own recursion so a template like "((((((..." fails cleanly.
constexpr int kMaxNesting = 200;

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : t_(std::move(toks)) {}

  std::shared_ptr<const Program> run() {
    auto prog = std::make_shared<Program>();
    prog->body = subparse({});
    if (cur().type != Tok::Eof) fail("unexpected '" + describe(cur()) + "'");
    return prog;
  }

 private:
  std::vector<Token> t_;
  size_t i_ = 0;
  int depth_ = 0;
  std::vector<std::string> open_blocks_;

  const Token& cur() const { return t_[i_]; }
  const Token& peek(size_t k = 1) const { return t_[std::min(i_ + k, t_.size() - 1)]; }
  void next() {
    if (i_ + 1 < t_.size()) ++i_;
  }

  static std::string describe(const Token& t) {
    switch (t.type) {
      case Tok::Eof: return "end of template";
      case Tok::BlockEnd: return "end of statement block";
      case Tok::VarEnd: return "end of print statement";
      case Tok::BlockBegin: return "begin of statement block";
      case Tok::VarBegin: return "begin of print statement";
      case Tok::Data: return "template data";
      case Tok::String: return "string";
      case Tok::Int: return "integer";
      case Tok::Float: return "float";
      default: return t.text;
    }
  }

  [[noreturn]] void fail(const std::string& msg) const { fail_at(msg, cur()); }
  [[noreturn]] static void fail_at(const std::string& msg, const Token& t) {
    throw TemplateError("TemplateSyntaxError", at_position(msg, t.line, t.column), t.line, t.column);
  }

  bool is_op(const char* op) const { return cur().type == Tok::Op && cur().text == op; }
  bool is_name(const char* n) const { return cur().type == Tok::Name && cur().text == n; }
  void expect_op(const char* op) {
    if (!is_op(op)) fail(std::string("expected token '") + op + "', got '" + describe(cur()) + "'");
    next();
  }
  void expect_block_end() {
    if (cur().type != Tok::BlockEnd) fail("expected token 'end of statement block', got '" + describe(cur()) + "'");
    next();
  }
  std::string expect_name() {
    if (cur().type != Tok::Name) fail("expected token 'name', got '" + describe(cur()) + "'");
    std::string n = cur().text;
    next();
    return n;
  }

  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& parser) : p(parser) {
      if (++p.depth_ > kMaxNesting) p.fail("template nesting too deep (more than " + std::to_string(kMaxNesting) + " levels)");
    }
    ~DepthGuard() { --p.depth_; }
  };

  ExprPtr node(E kind, const Token& at) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = at.line;
    e->column = at.column;
    return e;
  }
  StmtPtr stmt(S kind, const Token& at) {
    auto s = std::make_unique<Stmt>();
    s->kind = kind;
    s->line = at.line;
    s->column = at.column;
    return s;
  }

  // ---- statements --------------------------------------------------------------------------

  // Parses until a block tag whose name is in `ends` (left unconsumed: the current token is
  // that name) or the end of the template (an error when ends is not empty).
  Body subparse(std::initializer_list<const char*> ends) {
    DepthGuard g(*this);
    Body body;
    for (;;) {
      const Token& t = cur();
      if (t.type == Tok::Eof) {
        if (ends.size() == 0) return body;
        std::string want;
        for (const char* e : ends) want += (want.empty() ? "'" : " or '") + std::string(e) + "'";
        fail("Unexpected end of template. Jinja was looking for the following tags: " + want +
             ". The innermost block that needs to be closed is '" + open_blocks_.back() + "'.");
      }
      if (t.type == Tok::Data) {
        auto s = stmt(S::Text, t);
        s->text = t.text;
        body.push_back(std::move(s));
        next();
      } else if (t.type == Tok::VarBegin) {
        next();
        auto s = stmt(S::Output, t);
        s->expr = parse_tuple(true);
        if (cur().type != Tok::VarEnd) fail("expected token 'end of print statement', got '" + describe(cur()) + "'");
        next();
        body.push_back(std::move(s));
      } else if (t.type == Tok::BlockBegin) {
        next();
        if (cur().type == Tok::Name)
          for (const char* e : ends)
            if (cur().text == e) return body;
        body.push_back(parse_statement(ends));
      } else {
        fail("unexpected '" + describe(t) + "'");
      }
    }
  }

  StmtPtr parse_statement(std::initializer_list<const char*> ends) {
    const Token& t = cur();
    if (t.type != Tok::Name) fail("tag name expected");
    const std::string n = t.text;
    if (n == "if") return parse_if();
    if (n == "for") return parse_for();
    if (n == "set") return parse_set();
    if (n == "macro") return parse_macro();
    if (n == "call") return parse_call_block();
    if (n == "filter") return parse_filter_block();
    if (n == "generation") return parse_scope_block("generation", "endgeneration");
    if (n == "with") return parse_with();
    if (n == "break" || n == "continue") {
      bool in_loop = false;
      for (const auto& b : open_blocks_) in_loop |= b == "for";
      if (!in_loop) fail("'" + n + "' outside of a loop");
      auto s = stmt(n == "break" ? S::Break : S::Continue, t);
      next();
      expect_block_end();
      return s;
    }
    std::string msg = "Encountered unknown tag '" + n + "'.";
    if (ends.size()) {
      std::string want;
      for (const char* e : ends) want += (want.empty() ? "'" : " or '") + std::string(e) + "'";
      msg += " Jinja was looking for the following tags: " + want + ". The innermost block that needs to be closed is '" +
             open_blocks_.back() + "'.";
    }
    if (n == "include" || n == "import" || n == "from" || n == "extends" || n == "block")
      msg = "Encountered unsupported tag '" + n + "': chat templates are rendered without a loader (no other templates can be read)";
    fail(msg);
  }

  StmtPtr parse_if() {
    auto s = stmt(S::If, cur());
    open_blocks_.push_back("if");
    next();
    for (;;) {
      ExprPtr cond = parse_tuple(false);
      expect_block_end();
      Body body = subparse({"elif", "else", "endif"});
      s->branches.emplace_back(std::move(cond), std::move(body));
      std::string tag = cur().text;
      next();
      if (tag == "elif") continue;
      if (tag == "else") {
        expect_block_end();
        Body eb = subparse({"endif"});
        s->branches.emplace_back(nullptr, std::move(eb));
        next();
      }
      break;
    }
    expect_block_end();
    open_blocks_.pop_back();
    return s;
  }

  ExprPtr parse_assign_target(bool allow_attr) {
    const Token& t = cur();
    std::vector<ExprPtr> names;
    bool paren = is_op("(");
    if (paren) next();
    for (;;) {
      const Token& nt = cur();
      std::string n = expect_name();
      if (allow_attr && is_op(".")) {
        next();
        auto a = node(E::Attr, nt);
        auto base = node(E::Name, nt);
        base->name = n;
        a->args.push_back(std::move(base));
        a->name = expect_name();
        return a;
      }
      auto e = node(E::Name, nt);
      e->name = n;
      names.push_back(std::move(e));
      if (!is_op(",")) break;
      next();
      if (cur().type != Tok::Name) break;
    }
    if (paren) expect_op(")");
    if (names.size() == 1 && !paren) return std::move(names[0]);
    auto tup = node(E::Tuple, t);
    tup->args = std::move(names);
    return tup;
  }

  StmtPtr parse_for() {
    auto s = stmt(S::For, cur());
    open_blocks_.push_back("for");
    next();
    s->target = parse_assign_target(false);
    if (!is_name("in")) fail("expected token 'in', got '" + describe(cur()) + "'");
    next();
    s->expr = parse_tuple(false, /*stop_at_if=*/true);
    if (is_name("if")) {
      next();
      s->condition = parse_expression(true);
    }
    if (is_name("recursive")) fail("recursive for loops are not supported");
    expect_block_end();
    s->body = subparse({"endfor", "else"});
    if (cur().text == "else") {
      next();
      expect_block_end();
      s->else_body = subparse({"endfor"});
    }
    next();
    expect_block_end();
    open_blocks_.pop_back();
    return s;
  }

  StmtPtr parse_set() {
    const Token& at = cur();
    next();
    ExprPtr target = parse_assign_target(true);
    if (is_op("=")) {
      next();
      auto s = stmt(S::Set, at);
      s->target = std::move(target);
      s->expr = parse_tuple(true);
      expect_block_end();
      return s;
    }
    if (target->kind != E::Name) fail("expected token '=', got '" + describe(cur()) + "'");
    auto s = stmt(S::SetBlock, at);
    s->target = std::move(target);
    if (is_op("|")) s->expr = parse_filter(nullptr);
    expect_block_end();
    open_blocks_.push_back("set");
    s->body = subparse({"endset"});
    open_blocks_.pop_back();
    next();
    expect_block_end();
    return s;
  }

  void parse_signature(std::vector<MacroParam>& params) {
    expect_op("(");
    while (!is_op(")")) {
      if (!params.empty()) expect_op(",");
      MacroParam p;
      p.name = expect_name();
      if (is_op("=")) {
        next();
        p.default_value = parse_expression(true);
      }
      params.push_back(std::move(p));
    }
    next();
  }

  StmtPtr parse_macro() {
    auto s = stmt(S::Macro, cur());
    next();
    s->name = expect_name();
    parse_signature(s->params);
    expect_block_end();
    open_blocks_.push_back("macro");
    s->body = subparse({"endmacro"});
    open_blocks_.pop_back();
    next();
    if (cur().type == Tok::Name && cur().text == s->name) next();
    expect_block_end();
    return s;
  }

  StmtPtr parse_call_block() {
    auto s = stmt(S::CallBlock, cur());
    next();
    if (is_op("(")) parse_signature(s->params);
    s->expr = parse_expression(true);
    if (s->expr->kind != E::Call) fail("expected call");
    expect_block_end();
    open_blocks_.push_back("call");
    s->body = subparse({"endcall"});
    open_blocks_.pop_back();
    next();
    expect_block_end();
    return s;
  }

  StmtPtr parse_filter_block() {
    auto s = stmt(S::FilterBlock, cur());
    next();
    s->expr = parse_filter(nullptr);
    expect_block_end();
    open_blocks_.push_back("filter");
    s->body = subparse({"endfilter"});
    open_blocks_.pop_back();
    next();
    expect_block_end();
    return s;
  }

  StmtPtr parse_scope_block(const char* name, const char* end) {
    auto s = stmt(S::Scope, cur());
    next();
    expect_block_end();
    open_blocks_.push_back(name);
    s->body = subparse({end});
    open_blocks_.pop_back();
    next();
    expect_block_end();
    return s;
  }

  // {% with a = 1, b = 2 %}...{% endwith %}: a scope whose first statements are the sets.
  StmtPtr parse_with() {
    auto s = stmt(S::Scope, cur());
    next();
    Body sets;
    while (cur().type != Tok::BlockEnd) {
      if (!sets.empty()) expect_op(",");
      auto set = stmt(S::Set, cur());
      set->target = parse_assign_target(false);
      expect_op("=");
      set->expr = parse_expression(true);
      sets.push_back(std::move(set));
    }
    next();
    open_blocks_.push_back("with");
    s->body = subparse({"endwith"});
    open_blocks_.pop_back();
    for (size_t k = 0; k < sets.size(); ++k) s->body.insert(s->body.begin() + static_cast<long>(k), std::move(sets[k]));
    next();
    expect_block_end();
    return s;
  }

  // ---- expressions -------------------------------------------------------------------------

  // Comma-separated expressions; more than one (or a trailing comma) make a tuple.
  ExprPtr parse_tuple(bool with_condexpr, bool stop_at_if = false) {
    const Token& at = cur();
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    for (;;) {
      if (!items.empty()) {
        if (!is_op(",")) break;
        next();
        is_tuple = true;
      }
      if (cur().type == Tok::BlockEnd || cur().type == Tok::VarEnd || is_op(")") || (stop_at_if && is_name("if")))
        break;
      items.push_back(with_condexpr ? parse_expression(true) : parse_or());
    }
    if (items.empty()) fail("Expected an expression, got '" + describe(cur()) + "'");
    if (!is_tuple) return std::move(items[0]);
    auto t = node(E::Tuple, at);
    t->args = std::move(items);
    return t;
  }

  ExprPtr parse_expression(bool with_condexpr) { return with_condexpr ? parse_condexpr() : parse_or(); }

  ExprPtr parse_condexpr() {
    DepthGuard g(*this);
    ExprPtr e = parse_or();
    while (is_name("if")) {
      const Token& at = cur();
      next();
      ExprPtr cond = parse_or();
      ExprPtr other;
      if (is_name("else")) {
        next();
        other = parse_condexpr();
      }
      auto c = node(E::Cond, at);
      c->args.push_back(std::move(e));
      c->args.push_back(std::move(cond));
      c->args.push_back(std::move(other));
      e = std::move(c);
    }
    return e;
  }

  ExprPtr binary(const Token& at, const std::string& op, ExprPtr l, ExprPtr r) {
    auto b = node(E::Binary, at);
    b->name = op;
    b->args.push_back(std::move(l));
    b->args.push_back(std::move(r));
    return b;
  }

  ExprPtr parse_or() {
    ExprPtr l = parse_and();
    while (is_name("or")) {
      const Token& at = cur();
      next();
      l = binary(at, "or", std::move(l), parse_and());
    }
    return l;
  }

  ExprPtr parse_and() {
    ExprPtr l = parse_not();
    while (is_name("and")) {
      const Token& at = cur();
      next();
      l = binary(at, "and", std::move(l), parse_not());
    }
    return l;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      DepthGuard g(*this);
      auto u = node(E::Unary, cur());
      next();
      u->name = "not";
      u->args.push_back(parse_not());
      return u;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const Token& at = cur();
    ExprPtr first = parse_math1();
    ExprPtr cmp;
    for (;;) {
      std::string op;
      if (cur().type == Tok::Op && (cur().text == "==" || cur().text == "!=" || cur().text == "<" ||
                                     cur().text == ">" || cur().text == "<=" || cur().text == ">=")) {
        op = cur().text;
        next();
      } else if (is_name("in")) {
        op = "in";
        next();
      } else if (is_name("not") && peek().type == Tok::Name && peek().text == "in") {
        op = "not in";
        next();
        next();
      } else {
        break;
      }
      if (!cmp) {
        cmp = node(E::Compare, at);
        cmp->args.push_back(std::move(first));
      }
      cmp->ops.push_back(op);
      cmp->args.push_back(parse_math1());
    }
    return cmp ? std::move(cmp) : std::move(first);
  }

  ExprPtr parse_math1() {
    ExprPtr l = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token& at = cur();
      std::string op = at.text;
      next();
      l = binary(at, op, std::move(l), parse_concat());
    }
    return l;
  }

  ExprPtr parse_concat() {
    ExprPtr l = parse_math2();
    while (is_op("~")) {
      const Token& at = cur();
      next();
      l = binary(at, "~", std::move(l), parse_math2());
    }
    return l;
  }

  ExprPtr parse_math2() {
    ExprPtr l = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& at = cur();
      std::string op = at.text;
      next();
      l = binary(at, op, std::move(l), parse_pow());
    }
    return l;
  }

  ExprPtr parse_pow() {
    ExprPtr l = parse_unary(true);
    while (is_op("**")) {
      const Token& at = cur();
      next();
      l = binary(at, "**", std::move(l), parse_unary(true));
    }
    return l;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard g(*this);
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      auto u = node(E::Unary, cur());
      u->name = cur().text;
      next();
      u->args.push_back(parse_unary(false));
      e = std::move(u);
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    if (with_filter) e = parse_filter_expr(std::move(e));
    return e;
  }

  ExprPtr parse_primary() {
    DepthGuard g(*this);
    const Token& t = cur();
    switch (t.type) {
      case Tok::Name: {
        next();
        if (t.text == "true" || t.text == "True") return literal(t, Value(true));
        if (t.text == "false" || t.text == "False") return literal(t, Value(false));
        if (t.text == "none" || t.text == "None") return literal(t, Value(None{}));
        auto e = node(E::Name, t);
        e->name = t.text;
        return e;
      }
      case Tok::String: {
        std::string s;
        while (cur().type == Tok::String) {
          s += cur().text;
          next();
        }
        return literal(t, Value(std::move(s)));
      }
      case Tok::Int: next(); return literal(t, Value(static_cast<int64_t>(std::strtoll(t.text.c_str(), nullptr, 10))));
      case Tok::Float: next(); return literal(t, Value(std::strtod(t.text.c_str(), nullptr)));
      case Tok::Op:
        if (t.text == "(") {
          next();
          if (is_op(")")) {
            next();
            auto e = node(E::Tuple, t);
            return e;
          }
          ExprPtr e = parse_tuple(true);
          expect_op(")");
          return e;
        }
        if (t.text == "[") {
          next();
          auto e = node(E::List, t);
          while (!is_op("]")) {
            if (!e->args.empty()) {
              expect_op(",");
              if (is_op("]")) break;
            }
            e->args.push_back(parse_expression(true));
          }
          next();
          return e;
        }
        if (t.text == "{") {
          next();
          auto e = node(E::Dict, t);
          while (!is_op("}")) {
            if (!e->args.empty()) {
              expect_op(",");
              if (is_op("}")) break;
            }
            e->args.push_back(parse_expression(true));
            expect_op(":");
            e->args.push_back(parse_expression(true));
          }
          next();
          return e;
        }
        break;
      default: break;
    }
    if (t.type == Tok::Op) fail("unexpected '" + t.text + "'");
    fail("Expected an expression, got '" + describe(t) + "'");
  }

  ExprPtr literal(const Token& t, Value v) {
    auto e = node(E::Literal, t);
    e->value = std::move(v);
    return e;
  }

  ExprPtr parse_postfix(ExprPtr e) {
    for (;;) {
      const Token& at = cur();
      if (is_op(".")) {
        next();
        if (cur().type == Tok::Name) {
          auto a = node(E::Attr, at);
          a->name = cur().text;
          next();
          a->args.push_back(std::move(e));
          e = std::move(a);
        } else if (cur().type == Tok::Int) {
          auto a = node(E::Item, at);
          a->args.push_back(std::move(e));
          a->args.push_back(literal(cur(), Value(static_cast<int64_t>(std::strtoll(cur().text.c_str(), nullptr, 10)))));
          next();
          e = std::move(a);
        } else {
          fail("expected name or number");
        }
      } else if (is_op("[")) {
        next();
        e = parse_subscript(std::move(e), at);
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr base, const Token& at) {
    DepthGuard g(*this);
    ExprPtr parts[3];
    bool is_slice = false;
    int k = 0;
    for (;;) {
      if (is_op(":")) {
        is_slice = true;
        if (++k > 2) fail("unexpected ':'");
        next();
        continue;
      }
      if (is_op("]")) break;
      if (parts[k]) fail("expected token ']', got '" + describe(cur()) + "'");
      parts[k] = parse_expression(true);
      if (!is_slice && is_op(",")) fail("tuple subscripts are not supported");
    }
    next();
    if (!is_slice) {
      if (!parts[0]) fail("Expected an expression, got ']'");
      auto e = node(E::Item, at);
      e->args.push_back(std::move(base));
      e->args.push_back(std::move(parts[0]));
      return e;
    }
    auto e = node(E::Slice, at);
    e->args.push_back(std::move(base));
    for (auto& p : parts) e->args.push_back(std::move(p));
    return e;
  }

  void parse_args(Expr& call) {
    expect_op("(");
    bool first = true;
    while (!is_op(")")) {
      if (!first) {
        expect_op(",");
        if (is_op(")")) break;
      }
      first = false;
      if (is_op("*") || is_op("**")) fail("*args / **kwargs in calls are not supported");
      if (cur().type == Tok::Name && peek().type == Tok::Op && peek().text == "=") {
        std::string k = cur().text;
        next();
        next();
        call.kwargs.emplace_back(k, parse_expression(true));
      } else {
        if (!call.kwargs.empty()) fail("invalid syntax for function call expression");
        call.args.push_back(parse_expression(true));
      }
    }
    next();
  }

  ExprPtr parse_call(ExprPtr callee) {
    DepthGuard g(*this);
    auto c = node(E::Call, cur());
    c->args.push_back(std::move(callee));
    parse_args(*c);
    return c;
  }

  std::string dotted_name() {
    std::string n = expect_name();
    while (is_op(".")) {
      next();
      n += "." + expect_name();
    }
    return n;
  }

  // One or more "| name(args)" (subject may be null: {% filter %} / {% set x | f %}).
  ExprPtr parse_filter(ExprPtr subject) {
    bool first = true;
    while (is_op("|") || (first && !subject)) {
      if (is_op("|")) next();
      first = false;
      const Token& at = cur();
      std::string n = dotted_name();
      if (!has_filter(n)) fail_at("No filter named '" + n + "'.", at);
      auto f = node(E::Filter, at);
      f->name = n;
      f->args.push_back(std::move(subject));
      if (is_op("(")) parse_args(*f);
      subject = std::move(f);
    }
    return subject;
  }

  ExprPtr parse_filter_expr(ExprPtr e) {
    for (;;) {
      if (is_op("|")) {
        e = parse_filter(std::move(e));
      } else if (is_name("is")) {
        e = parse_test(std::move(e));
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_test(ExprPtr subject) {
    const Token& at = cur();
    next();
    bool negated = false;
    if (is_name("not")) {
      negated = true;
      next();
    }
    const Token& nt = cur();
    std::string n = dotted_name();
    if (!has_test(n)) fail_at("No test named '" + n + "'.", nt);
    auto t = node(E::Test, at);
    t->name = n;
    t->negated = negated;
    t->args.push_back(std::move(subject));
    if (is_op("(")) {
      parse_args(*t);
    } else if ((cur().type == Tok::Name || cur().type == Tok::String || cur().type == Tok::Int ||
                cur().type == Tok::Float || is_op("(") || is_op("[") || is_op("{")) &&
               !is_name("else") && !is_name("or") && !is_name("and")) {
      if (is_name("is")) fail("You cannot chain multiple tests with is");
      ExprPtr arg = parse_primary();
      t->args.push_back(parse_postfix(std::move(arg)));
    }
    return t;
  }
};

}  // namespace

std::shared_ptr<const Program> parse_template(std::string_view source) { return Parser(tokenize(source)).run(); }

}  // namespace stablelm::chat
