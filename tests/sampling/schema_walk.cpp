// A test driver for the JSON Schema recognizer, run by schema_vs_jsonschema.py (which checks its
// answers with Python's jsonschema, the reference validator):
//
//   schema_walk sample SCHEMA.json SEED N   N random complete outputs the recognizer allows, each
//                                            a JSON string (the output's text) on its own line
//   schema_walk check SCHEMA.json           for each line of stdin (a JSON string: a candidate
//                                            output), 1 when the recognizer accepts it whole and
//                                            complete, else 0
//
// A random walk picks among the bytes push() accepts; after a while it prefers closing bytes.
// The recognizer promises that a walk never gets stuck: an exit code of 3 says one did.
#include <cstdio>
#include <iostream>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "sampling/json_schema.h"
#include "sampling/schema_prefix.h"
#include "stablelm/error.h"
#include "stablelm/sampling.h"
#include "io/regular_file.h"

using namespace stablelm;
using sampling::SchemaPrefix;

namespace {

std::string walk(const sampling::SchemaGraph* g, std::mt19937_64& rng, bool bounded_ws) {
  SchemaPrefix p(g, bounded_ws ? sampling::JsonPrefix::Whitespace::Bounded : sampling::JsonPrefix::Whitespace::Any);
  std::string out;
  static const std::string kNice = "abcxyz019 -.eE+\"\\u{}[],:tfnrl\n\t\xc3\xa9\xe2\x82\xac";
  static const std::string kClosing = "\"}]0tnf,:a";
  const size_t explore = std::uniform_int_distribution<size_t>(0, 400)(rng);
  while (!p.complete()) {
    std::vector<uint8_t> ok;
    for (int b = 0; b < 256; ++b) {
      SchemaPrefix q = p;
      if (q.push(static_cast<uint8_t>(b))) ok.push_back(static_cast<uint8_t>(b));
    }
    if (ok.empty() || out.size() > 100000) {
      std::cerr << "stuck after " << out.size() << " bytes: "
                << nlohmann::json(out.substr(0, 300)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
      std::exit(3);
    }
    // Else the first accepted byte that is not whitespace (whitespace alone can go on forever).
    uint8_t pick = ok.front();
    for (uint8_t b : ok)
      if (b != ' ' && b != '\t' && b != '\n' && b != '\r') {
        pick = b;
        break;
      }
    if (out.size() < explore) {
      std::vector<uint8_t> nice;
      for (uint8_t b : ok)
        if (kNice.find(static_cast<char>(b)) != std::string::npos) nice.push_back(b);
      const std::vector<uint8_t>& from = nice.empty() ? ok : nice;
      pick = from[std::uniform_int_distribution<size_t>(0, from.size() - 1)(rng)];
    } else {
      for (char c : kClosing)
        if (std::find(ok.begin(), ok.end(), static_cast<uint8_t>(c)) != ok.end()) {
          pick = static_cast<uint8_t>(c);
          break;
        }
    }
    p.push(pick);
    out += static_cast<char>(pick);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 3) throw Error("usage: schema_walk sample SCHEMA SEED N | check SCHEMA");
    const std::string mode = argv[1];
    const auto graph = compile_json_schema(io::read_regular_file(argv[2]));
    if (mode == "sample" && argc == 5) {
      std::mt19937_64 rng(std::stoull(argv[3]));
      const int n = std::stoi(argv[4]);
      for (int i = 0; i < n; ++i)
        std::cout << nlohmann::json(walk(graph.get(), rng, i % 2 == 0)).dump() << "\n";
      return 0;
    }
    if (mode == "check") {
      std::string line;
      while (std::getline(std::cin, line)) {
        const std::string text = nlohmann::json::parse(line).get<std::string>();
        SchemaPrefix p(graph.get());
        bool ok = true;
        for (char c : text)
          if (!p.push(static_cast<uint8_t>(c))) {
            ok = false;
            break;
          }
        std::cout << (ok && p.complete() ? 1 : 0) << "\n";
      }
      return 0;
    }
    throw Error("usage: schema_walk sample SCHEMA SEED N | check SCHEMA");
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
}
