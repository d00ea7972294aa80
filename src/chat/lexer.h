#pragma once
// Template source -> tokens, as jinja2's lexer produces them with transformers' settings
// (trim_blocks, lstrip_blocks, keep_trailing_newline off): whitespace control is applied here,
// so the parser sees the final text of every data run.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace stablelm::chat {

enum class Tok { Data, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Int, Float, Op, Eof };

struct Token {
  Tok type;
  std::string text;  // data text, name, decoded string literal, number text, operator
  int line = 1;
  int column = 1;
};

// Throws TemplateError("TemplateSyntaxError", ...) naming the line and column.
std::vector<Token> tokenize(std::string_view source);

// "line L, column C" appended to a message, the form every syntax/limit error uses.
std::string at_position(const std::string& message, int line, int column);

}  // namespace stablelm::chat
