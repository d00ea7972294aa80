#include "io/json.h"

#include "stablelm/error.h"

namespace stablelm::io {

void check_json_depth(std::string_view text, const std::string& where) {
  int depth = 0;
  const char* p = text.data();
  const char* const end = p + text.size();
  while (p < end) {
    const char c = *p;
    if (c == '"') {
      // Skip the string: its brackets do not nest. An unterminated string ends the scan (the
      // parser reports it).
      for (++p; p < end && *p != '"'; ++p)
        if (*p == '\\') ++p;
      ++p;
      continue;
    }
    if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth)
        throw Error(where + ": JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels at byte " +
                    std::to_string(p - text.data()));
    } else if (c == ']' || c == '}') {
      --depth;
    }
    ++p;
  }
}

namespace {
template <class Json>
Json parse_checked(std::string_view text, const std::string& where) {
  check_json_depth(text, where);
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    // nlohmann quotes the last token read, which can be a whole multi-megabyte string.
    throw Error(where + ": not valid JSON: " + text_excerpt(e.what(), 300));
  }
}
}  // namespace

nlohmann::json parse_json(std::string_view text, const std::string& where) {
  return parse_checked<nlohmann::json>(text, where);
}

nlohmann::ordered_json parse_ordered_json(std::string_view text, const std::string& where) {
  return parse_checked<nlohmann::ordered_json>(text, where);
}

std::string text_excerpt(std::string_view s, size_t max_chars) {
  if (s.size() <= max_chars) return std::string(s);
  size_t cut = max_chars;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 sequence
  return std::string(s.substr(0, cut)) + "... (" + std::to_string(s.size()) + " bytes)";
}

std::string json_excerpt(const nlohmann::json& v, size_t max_chars) {
  // Big containers are summarized without dumping them whole.
  if (v.is_array() && v.size() > max_chars) return "[an array of " + std::to_string(v.size()) + " values]";
  if (v.is_object() && v.size() > max_chars) return "{an object of " + std::to_string(v.size()) + " keys}";
  std::string s;
  try {
    s = v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } catch (const nlohmann::json::exception&) {
    return "(a value that cannot be printed)";
  }
  if (s.size() <= max_chars) return s;
  return text_excerpt(s, max_chars);
}

}  // namespace stablelm::io
