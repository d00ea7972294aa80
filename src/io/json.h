#pragma once
// The one way this engine parses JSON from outside (model files, tokenizer files, hub answers,
// JSONL lines, and whatever the server and chat code read): a nesting limit checked before
// nlohmann builds anything, and error text that stays short whatever the input. nlohmann's
// parser is iterative, but dump(), copies and comparisons recurse: a 200 KB "[[[[..." value
// would overflow the stack in them.
#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace stablelm::io {

// Deepest nesting of arrays and objects accepted. Real files nest < 10 levels (tokenizer.json
// ~6, OpenAI-style request bodies with tool schemas ~20); 128 keeps every recursive walk of a
// parsed value far from the stack's end, also on small server threads and under ASan.
inline constexpr int kMaxJsonDepth = 128;

// Throws stablelm::Error("<where>: JSON nested deeper than 128 levels at byte N") when the text
// nests deeper than kMaxJsonDepth. Linear, no allocation; strings are skipped.
void check_json_depth(std::string_view text, const std::string& where);

// check_json_depth, then nlohmann::json::parse. A syntax error throws
// stablelm::Error("<where>: not valid JSON: <bounded parser message>").
nlohmann::json parse_json(std::string_view text, const std::string& where);
// The same, keeping the key order of objects (chat messages, tool schemas, request bodies: a
// template's rendering depends on it).
nlohmann::ordered_json parse_ordered_json(std::string_view text, const std::string& where);

// A value for an error message: its JSON text, cut to about max_chars ("..." marks the cut).
// Safe on any value parse_json returned.
std::string json_excerpt(const nlohmann::json& v, size_t max_chars = 80);
// The same for raw text (a line that is not JSON, a long string).
std::string text_excerpt(std::string_view s, size_t max_chars = 80);

}  // namespace stablelm::io
