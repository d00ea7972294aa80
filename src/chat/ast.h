#pragma once
// The parsed template: expression and statement nodes, each with its line and column.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/value.h"

namespace stablelm::chat {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

enum class E {
  Literal,   // value
  Name,      // name
  List,      // args
  Tuple,     // args
  Dict,      // args: key, value, key, value...
  Attr,      // args[0] . name
  Item,      // args[0] [ args[1] ]
  Slice,     // args[0] [ args[1] : args[2] : args[3] ] (null parts = omitted)
  Call,      // args[0] ( args[1..], kwargs )
  Filter,    // args[0] | name ( args[1..], kwargs ); args[0] null inside {% filter %}
  Test,      // args[0] is [not] name ( args[1..], kwargs )
  Unary,     // op: "-", "+", "not"
  Binary,    // op: + - * / // % ** ~ and or
  Compare,   // args[0] ops[i] args[i+1] ...
  Cond,      // args[0] if args[1] else args[2] (args[2] may be null)
};

struct Expr {
  E kind;
  int line = 0, column = 0;
  Value value;
  std::string name;  // Name, Attr, Filter, Test; op for Unary / Binary
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;  // Compare
  bool negated = false;          // Test
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

enum class S { Text, Output, If, For, Set, SetBlock, Macro, CallBlock, FilterBlock, Break, Continue, Scope };

struct MacroParam {
  std::string name;
  ExprPtr default_value;  // may be null
};

struct Stmt {
  S kind;
  int line = 0, column = 0;
  std::string text;                                  // Text
  ExprPtr expr;                                      // Output, Set value, For iterable, CallBlock call, FilterBlock filter chain
  std::vector<std::pair<ExprPtr, Body>> branches;    // If: (condition, body)...; else has a null condition
  ExprPtr target;                                    // For / Set target (Name, Tuple, or Attr for ns.x)
  ExprPtr condition;                                 // For ... if condition
  Body body, else_body;                              // For, SetBlock, Macro, CallBlock, FilterBlock, Scope
  std::string name;                                  // Macro name
  std::vector<MacroParam> params;                    // Macro / CallBlock caller parameters
};

struct Program {
  Body body;
};

}  // namespace stablelm::chat
