// A test driver for the JSON Schema recognizer, run by schema_vs_jsonschema.py (which checks its
// answers with Python's jsonschema, the reference validator):
//
//   schema_walk sample SCHEMA.json SEED N   N random complete outputs the recognizer allows, each
//                                            a JSON string (the output's text) on its own line
//   schema_walk check SCHEMA.json           for each line of stdin (a JSON string: a candidate
//                                            output), 1 when the recognizer accepts it whole and
//                                            complete, else 0
//   schema_walk regex-sample full|search PATTERN SEED N
//                                            N random texts the pattern's automaton accepts (a
//                                            JSON string each), or "error: ..." when it refuses it
//   schema_walk regex-check full|search PATTERN
//                                            for each line of stdin (a JSON string), 1 when the
//                                            automaton accepts it, else 0
//
// A random walk picks among the bytes push() accepts; after a while it prefers closing bytes.
// (now and then another: a pattern may need one).
// The recognizer promises that a walk never gets stuck: an exit code of 3 says one did.
#include <cstdio>
#include <iostream>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "sampling/json_schema.h"
#include "sampling/regex.h"
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
    } else if (rng() % 8 == 0) {
      // Now and then any byte: a pattern may need a character no closing byte offers.
      pick = ok[std::uniform_int_distribution<size_t>(0, ok.size() - 1)(rng)];
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

// A random text the automaton accepts: random bytes it can take for a while, then the shortest
// way to a match.
std::string regex_walk(const sampling::RegexDfa& d, std::mt19937_64& rng) {
  // Bytes to a match, by state (breadth-first over reversed transitions).
  static const sampling::RegexDfa* for_dfa = nullptr;
  static std::vector<uint32_t> dist;
  if (for_dfa != &d) {
    for_dfa = &d;
    dist.assign(d.states(), UINT32_MAX);
    for (bool changed = true; changed;) {
      changed = false;
      for (uint32_t s = 0; s < d.states(); ++s) {
        uint32_t best = d.accepting(s) ? 0 : UINT32_MAX;
        for (int b = 0; b < 256; ++b) {
          const uint32_t t = d.next(s, static_cast<uint8_t>(b));
          if (t != sampling::RegexDfa::kDead && dist[t] != UINT32_MAX) best = std::min(best, dist[t] + 1);
        }
        if (best < dist[s]) dist[s] = best, changed = true;
      }
    }
  }
  static const std::string kNice = "abcxyzABZ019 -._@:/\"\\\n\t\xc3\xa9\xe2\x82\xac";
  uint32_t s = d.start();
  std::string out;
  const size_t explore = std::uniform_int_distribution<size_t>(0, 40)(rng);
  while (true) {
    std::vector<uint8_t> ok, nice, closer;
    for (int b = 0; b < 256; ++b) {
      const uint32_t t = d.next(s, static_cast<uint8_t>(b));
      if (t == sampling::RegexDfa::kDead) continue;
      ok.push_back(static_cast<uint8_t>(b));
      if (kNice.find(static_cast<char>(b)) != std::string::npos) nice.push_back(static_cast<uint8_t>(b));
      if (dist[t] < dist[s]) closer.push_back(static_cast<uint8_t>(b));
    }
    if (d.accepting(s) && (ok.empty() || out.size() >= explore)) return out;
    if (ok.empty() || out.size() > 100000) {
      std::cerr << "regex walk stuck after " << out.size() << " bytes\n";
      std::exit(3);
    }
    const std::vector<uint8_t>& from = out.size() >= explore ? closer : !nice.empty() && rng() % 4 != 0 ? nice : ok;
    const uint8_t b = from[std::uniform_int_distribution<size_t>(0, from.size() - 1)(rng)];
    out += static_cast<char>(b);
    s = d.next(s, b);
  }
}

int regex_mode(int argc, char** argv) {
  const std::string mode = argv[1], how = argv[2];
  if (how != "full" && how != "search") throw Error("regex modes take full or search");
  std::shared_ptr<const sampling::RegexDfa> d;
  try {
    d = sampling::compile_regex(argv[3], how == "full" ? sampling::RegexDfa::Match::Full : sampling::RegexDfa::Match::Search);
  } catch (const Error& e) {
    std::cout << "error: " << e.what() << "\n";
    return 0;
  }
  if (mode == "regex-sample" && argc == 6) {
    std::mt19937_64 rng(std::stoull(argv[4]));
    const int n = std::stoi(argv[5]);
    if (!d->completes(d->start(), 0, sampling::RegexDfa::kUnlimited)) return 0;  // matches nothing
    for (int i = 0; i < n; ++i)
      std::cout << nlohmann::json(regex_walk(*d, rng)).dump(-1, ' ', false, nlohmann::json::error_handler_t::strict) << "\n";
    return 0;
  }
  std::string line;
  while (std::getline(std::cin, line)) std::cout << (d->matches(nlohmann::json::parse(line).get<std::string>()) ? 1 : 0) << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 3) throw Error("usage: schema_walk sample SCHEMA SEED N | check SCHEMA");
    const std::string mode = argv[1];
    if (mode.starts_with("regex-") && argc >= 4) return regex_mode(argc, argv);
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
