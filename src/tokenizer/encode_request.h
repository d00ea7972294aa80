#pragma once
// One line of `stablelm tokenize --jsonl` input: {"text": "...", "special": true|false}.
// In the library (not the CLI) so the fuzz target and any other front end parse it the same way.
#include <string>
#include <string_view>

namespace stablelm::tok {

struct EncodeRequest {
  std::string text;
  bool special = true;  // whether special-token strings in text are matched
};

// Parses one line; "special" is optional (default_special) and can only turn matching off.
// Throws stablelm::Error("<where>: ...") on bad JSON, too deep nesting or a missing "text".
EncodeRequest parse_encode_request(std::string_view line, bool default_special, const std::string& where);

}  // namespace stablelm::tok
