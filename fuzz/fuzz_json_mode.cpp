// JSON mode's recognizer (src/sampling/json_prefix.cpp) on arbitrary bytes, against nlohmann's
// strict parser: the bytes are one complete JSON object for both or for neither (a float beyond
// double range aside, which the grammar allows and nlohmann declines; and NUL bytes, where
// nlohmann stops reading), and whatever prefix the
// recognizer accepts can still be completed to an object (the promise constrained decoding needs).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <nlohmann/json.hpp>

#include "sampling/json_prefix.h"

using stablelm::sampling::JsonPrefix;

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

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string s(reinterpret_cast<const char*>(data), size);
  JsonPrefix p;
  size_t n = 0;
  while (n < size && p.push(data[n])) ++n;
  // nlohmann takes a NUL byte for the end of the input: no verdict to compare with then.
  const int want = s.find('\0') == std::string::npos ? strict(s) : 2;
  if (want != 2 && (n == size && p.complete()) != (want == 1)) std::abort();
  // Close the accepted prefix by trying bytes in a fixed order.
  static const std::string kOrder = std::string("\"}]:0ruealsDC\\u") + "\x80\x90\xa0{";
  std::string done = s.substr(0, n);
  for (int step = 0; step < 100000 && !p.complete(); ++step) {
    bool moved = false;
    for (char c : kOrder)
      if (p.push(static_cast<uint8_t>(c))) {
        done += c;
        moved = true;
        break;
      }
    if (!moved) std::abort();  // an accepted prefix with no way to finish
  }
  if (!p.complete() || strict(done) == 0) std::abort();
  return 0;
}
