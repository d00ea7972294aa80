#pragma once
// Tokens -> statements and expressions, with jinja2's grammar and operator precedence.
#include <memory>
#include <string_view>

#include "chat/ast.h"

namespace stablelm::chat {

// Throws TemplateError("TemplateSyntaxError", ...) naming the line and column; unknown filters
// and tests are syntax errors here, as they are when jinja2 compiles the template.
std::shared_ptr<const Program> parse_template(std::string_view source);

}  // namespace stablelm::chat
