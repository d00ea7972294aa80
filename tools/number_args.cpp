#include "number_args.h"

#include <charconv>
#include <limits>
#include <string>

namespace stablelm::cli {

CLI::Validator uint64_value() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        uint64_t v = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (ec == std::errc::result_out_of_range)
          return s + " is larger than the largest allowed value " +
                 std::to_string(std::numeric_limits<uint64_t>::max()) + " (2^64-1)";
        if (ec != std::errc() || p != s.data() + s.size()) return s + " is not a non-negative integer";
        return "";
      },
      "UINT64");
}

CLI::Validator count_at_most(int64_t max) {
  return CLI::Validator(
      [max](std::string& s) -> std::string {
        int64_t v = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (ec == std::errc::result_out_of_range || (ec == std::errc() && p == s.data() + s.size() && v > max))
          return s + " is larger than the limit " + std::to_string(max);
        if (ec != std::errc() || p != s.data() + s.size()) return s + " is not an integer";
        if (v < 0) return s + " is negative";
        return "";
      },
      "0.." + std::to_string(max));
}

}  // namespace stablelm::cli
