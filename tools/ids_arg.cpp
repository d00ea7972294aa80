#include "ids_arg.h"

#include <charconv>
#include <limits>

#include "stablelm/error.h"

namespace stablelm::cli {

std::vector<int32_t> parse_ids(const std::string& text, const std::string& option) {
  std::vector<int32_t> ids;
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  };
  if (trim(text).empty()) throw Error(option + ": expected a comma-separated list of token ids, got an empty string");
  std::string_view rest(text);
  size_t index = 0;
  for (;;) {
    const size_t comma = rest.find(',');
    const std::string_view item = trim(rest.substr(0, comma));
    const std::string where = option + ": item " + std::to_string(index + 1);
    if (item.empty()) throw Error(where + " is empty (in \"" + text + "\")");
    int64_t v = 0;
    auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (ec == std::errc::result_out_of_range || (ec == std::errc() && p == item.data() + item.size() &&
                                                 v > std::numeric_limits<int32_t>::max()))
      throw Error(where + " \"" + std::string(item) + "\" is too large for a token id");
    if (ec != std::errc() || p != item.data() + item.size())
      throw Error(where + " \"" + std::string(item) + "\" is not an integer token id");
    if (v < 0) throw Error(where + " \"" + std::string(item) + "\" is negative");
    ids.push_back(static_cast<int32_t>(v));
    ++index;
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return ids;
}

}  // namespace stablelm::cli
