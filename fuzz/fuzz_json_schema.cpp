// The JSON Schema compiler and recognizer (src/sampling/json_schema.cpp, schema_prefix.cpp) on
// arbitrary input: SCHEMA, a NUL byte, then DOCUMENT bytes. Compiling either succeeds or throws
// stablelm::Error (nothing else, no crash); the recognizer takes any bytes, and whatever prefix it
// accepts can still be completed (the promise constrained decoding needs) into JSON a strict
// parser reads. Whether that JSON validates is checked against Python's jsonschema by
// tests/sampling/schema_vs_jsonschema.py.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <nlohmann/json.hpp>

#include "fuzz_util.h"
#include "io/json.h"
#include "sampling/json_schema.h"
#include "sampling/schema_prefix.h"
#include "stablelm/error.h"
#include "stablelm/sampling.h"

using stablelm::sampling::JsonPrefix;
using stablelm::sampling::SchemaPrefix;

namespace {
// Closing bytes first, whitespace last. A fixed order need not finish (a required key among free
// ones: it may add empty keys forever): then no verdict.
std::optional<std::string> close(SchemaPrefix& p, std::string done) {
  static const std::string kOrder = [] {
    std::string o = "\"}]0,:tfn";
    for (int b = 1; b < 256; ++b)
      if (b != ' ' && b != '\t' && b != '\n' && b != '\r') o += static_cast<char>(b);
    return o + " \n";
  }();
  return stablelm::fuzz::close_in_order(p, std::move(done), kOrder, 20000);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string schema = input.substr(0, nul);
  const std::string doc = nul == std::string::npos ? std::string() : input.substr(nul + 1);
  std::shared_ptr<const stablelm::sampling::SchemaGraph> g;
  try {
    g = stablelm::compile_json_schema(schema);
  } catch (const stablelm::Error&) {
    // Refused with a message: fine. The lenient reading (tool parameters) may still take it.
    try {
      g = stablelm::sampling::compile_json_schema(stablelm::io::parse_ordered_json(schema, "schema"), true);
    } catch (const stablelm::Error&) {
      return 0;
    }
  }
  for (const auto ws : {JsonPrefix::Whitespace::Any, JsonPrefix::Whitespace::Bounded}) {
    SchemaPrefix p(g.get(), ws);
    size_t n = 0;
    while (n < doc.size() && p.push(static_cast<uint8_t>(doc[n]))) ++n;
    const std::optional<std::string> done = close(p, doc.substr(0, n));
    if (!done) continue;
    try {
      (void)nlohmann::json::parse(*done);
    } catch (const nlohmann::json::parse_error& e) {
      if (std::string(e.what()).find("number overflow") == std::string::npos) std::abort();
    } catch (const nlohmann::json::out_of_range&) {
    }
  }
  return 0;
}
