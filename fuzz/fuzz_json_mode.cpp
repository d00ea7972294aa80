// JSON mode's recognizer (src/sampling/json_prefix.cpp) on arbitrary bytes, against nlohmann's
// strict parser: the bytes are one complete JSON object for both or for neither (a float beyond
// double range aside, which the grammar allows and nlohmann declines; and NUL bytes, where
// nlohmann stops reading), and whatever prefix the
// recognizer accepts can still be completed to an object (the promise constrained decoding needs).
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>
#include <nlohmann/json.hpp>

#include "fuzz_util.h"
#include "sampling/json_prefix.h"
#include "sampling/tool_calls_prefix.h"

using stablelm::sampling::JsonPrefix;
using stablelm::sampling::ToolCallsPrefix;

namespace {
// 0: not an object, 1: an object, 2: declined for a reason that is not syntax.
int strict(const std::string& s) {
  try {
    return nlohmann::json::parse(s).is_object() ? 1 : 0;
  } catch (const nlohmann::json::out_of_range&) {
    return 2;
  } catch (const nlohmann::json::parse_error& e) {
    return std::string(e.what()).find("number overflow") != std::string::npos ? 2 : 0;
  }
}
}  // namespace

namespace {
// Closes an accepted prefix by trying bytes in a fixed order; aborts when nothing moves it on, or
// when it does not finish (JSON's objects always close in this order).
template <class P>
std::string close(P& p, std::string done) {
  static const std::string kOrder = [] {
    std::string o = std::string("\"}]:,0ruealsDC\\u") + "\x80\x90\xa0{[";
    for (int b = 1; b < 256; ++b) o += static_cast<char>(b);  // the literal keys' letters, whitespace
    return o;
  }();
  std::optional<std::string> closed = stablelm::fuzz::close_in_order(p, std::move(done), kOrder, 100000);
  if (!closed) std::abort();
  return *closed;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string s(reinterpret_cast<const char*>(data), size);
  // nlohmann takes a NUL byte for the end of the input: no verdict to compare with then.
  const int want = s.find('\0') == std::string::npos ? strict(s) : 2;
  for (const auto ws : {JsonPrefix::Whitespace::Any, JsonPrefix::Whitespace::Bounded}) {
    JsonPrefix p(ws);
    size_t n = 0;
    while (n < size && p.push(data[n])) ++n;
    const bool complete = n == size && p.complete();
    // Any: exactly the strict parser's objects. Bounded: some of them (whitespace runs bounded).
    if (want != 2 && (ws == JsonPrefix::Whitespace::Any ? complete != (want == 1) : complete && want == 0))
      std::abort();
    if (strict(close(p, s.substr(0, n))) == 0) std::abort();
  }
  // The tool-call list (tool_choice "required"): every accepted prefix closes into calls.
  static const std::vector<std::string> names = {"f", "get", "get_time"};
  for (const auto ws : {JsonPrefix::Whitespace::Any, JsonPrefix::Whitespace::Bounded}) {
    ToolCallsPrefix p(&names, size % 2 == 0 ? 0 : 1, ws);
    size_t n = 0;
    while (n < size && p.push(data[n])) ++n;
    const std::string done = close(p, s.substr(0, n));
    try {
      const nlohmann::json j = nlohmann::json::parse(done);
      if (!j.is_array() || j.empty()) std::abort();
    } catch (const nlohmann::json::parse_error& e) {
      if (std::string(e.what()).find("number overflow") == std::string::npos) std::abort();
    }
  }
  return 0;
}
