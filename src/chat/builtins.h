#pragma once
// jinja2's built-in filters, tests and globals, transformers' additions (tojson, raise_exception,
// strftime_now), and the Python str / dict / list methods templates call.
#include <string>

#include "chat/value.h"

namespace stablelm::chat {

class Interpreter;

bool has_filter(const std::string& name);
bool has_test(const std::string& name);
Value apply_filter(Interpreter& in, const std::string& name, const Value& subject, CallArgs& args);
bool apply_test(Interpreter& in, const std::string& name, const Value& subject, CallArgs& args);
// obj.name for a Python method of str / dict / list (a bound method), or Undefined.
Value method_of(const Value& obj, const std::string& name);
// The global functions: range, dict, namespace, raise_exception, strftime_now, joiner, cycler.
Value global_function(const std::string& name);

}  // namespace stablelm::chat
