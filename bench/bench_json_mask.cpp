// JSON mode's cost per generated token: the mask over the whole vocabulary (JsonObjectConstraint),
// inside strings and between them, along a real document tokenized by Arcade100k; the one-time
// index build; and the same document under a JSON Schema (JsonSchemaConstraint): with free
// strings, with every string length-bounded (which walks the vocabulary inside strings), held to a
// pattern (string text tokens checked once per automaton state, per request), and both; and
// raw text under a regex (RegexConstraint, guided_regex).
// Plain driver: bench_json_mask [tokenizer dir] [repetitions]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "sampling/prefix_constraint.h"
#include "stablelm/sampling.h"
#include "stablelm/tokenizer.h"

using namespace stablelm;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : STABLELM_FIXTURES_DIR "/arcade100k";
  const int reps = argc > 2 ? std::atoi(argv[2]) : 5;
  auto tok = Tokenizer::from_dir(dir);
  auto t0 = Clock::now();
  auto index = std::make_shared<const sampling::TokenBytesIndex>(*tok);
  const double build_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  // An answer of the kind JSON mode is asked for: keys, prose, numbers, nesting, non-ASCII.
  const std::string doc =
      "{\n  \"name\": \"Ada Lovelace\",\n  \"born\": 1815,\n  \"ratio\": -0.125e3,\n  \"tags\": [\"math\", "
      "\"poetry\", \"engines\"],\n  \"bio\": \"She wrote the first published algorithm for Babbage's Analytical "
      "Engine, and saw that it could act on more than numbers — “la poésie des nombres”.\",\n  \"alive\": "
      "false,\n  \"notes\": {\"source\": null, \"quote\": \"\\\"imagination\\\" is the discovering faculty\"}\n}";
  const std::vector<int32_t> ids = tok->encode(doc, false);
  std::vector<float> scores(static_cast<size_t>(tok->vocab_size()));
  double in_string = 0, between = 0;
  int n_in = 0, n_between = 0;
  for (int r = 0; r < reps; ++r) {
    sampling::JsonObjectConstraint c(index);
    sampling::JsonPrefix state;
    for (int32_t id : ids) {
      const bool str = state.in_plain_string();
      const auto t = Clock::now();
      c.mask(scores);
      const double us = std::chrono::duration<double, std::micro>(Clock::now() - t).count();
      (str ? in_string : between) += us;
      (str ? n_in : n_between) += 1;
      c.accept(id);
      const std::string b = tok->token_bytes(id);
      for (char ch : b) state.push(static_cast<uint8_t>(ch));
    }
  }
  std::printf("vocabulary %d tokens (%zu allowed at once inside strings), document %zu tokens\n", tok->vocab_size(),
              index->string_text().size(), ids.size());
  std::printf("index build: %.1f ms (once per tokenizer)\n", build_ms);
  std::printf("mask inside strings: %.0f us/token (%d)\n", in_string / n_in, n_in);
  std::printf("mask between strings: %.0f us/token (%d)\n", between / n_between, n_between);
  std::printf("mask over the document: %.0f us/token\n", (in_string + between) / (n_in + n_between));

  // The same document under a schema that describes it, its strings free, length-bounded, held to
  // a pattern, and both.
  const std::pair<const char*, const char*> kStrings[] = {
      {"free", ""},
      {"bounded", ", \"maxLength\": 500"},
      {"pattern", ", \"pattern\": \"^[^<>]*$\""},
      {"pattern + bounded", ", \"pattern\": \"^[^<>]*$\", \"maxLength\": 500"}};
  for (const auto& [label, bound] : kStrings) {
    const std::string str = std::string("{\"type\": \"string\"") + bound + "}";
    const std::string schema = "{\"type\": \"object\", \"properties\": {\"name\": " + str +
                               ", \"born\": {\"type\": \"integer\"}, \"ratio\": {\"type\": \"number\"}, "
                               "\"tags\": {\"type\": \"array\", \"items\": " + str + "}, \"bio\": " + str +
                               ", \"alive\": {\"type\": \"boolean\"}, \"notes\": {\"type\": \"object\", "
                               "\"properties\": {\"source\": {\"type\": [\"string\", \"null\"]}, \"quote\": " + str +
                               "}}}, \"required\": [\"name\", \"born\"]}";
    const auto graph = compile_json_schema(schema);
    double total = 0;
    for (int r = 0; r < reps; ++r) {
      auto c = sampling::make_json_schema_constraint(index, graph);
      for (int32_t id : ids) {
        const auto t = Clock::now();
        c->mask(scores);
        total += std::chrono::duration<double, std::micro>(Clock::now() - t).count();
        c->accept(id);
      }
      if (!c->complete()) {
        std::fprintf(stderr, "the document does not complete the schema\n");
        return 1;
      }
    }
    std::printf("schema mask over the document (%s strings): %.0f us/token\n", label,
                total / (static_cast<double>(reps) * static_cast<double>(ids.size())));
  }
  // Raw text under a regex (guided_regex): the allowed tokens are worked out once per automaton
  // state, so a long text in few states costs little after its first tokens.
  {
    const std::string prose =
        "She wrote the first published algorithm for Babbage's Analytical Engine, and saw that it could act on "
        "more than numbers — “la poésie des nombres”.";
    const std::vector<int32_t> pids = tok->encode(prose, false);
    const auto re = compile_regex("[^<>{}]+");
    double total = 0;
    for (int r = 0; r < reps; ++r) {
      sampling::RegexConstraint c(index, re, {});
      for (int32_t id : pids) {
        const auto t = Clock::now();
        c.mask(scores);
        total += std::chrono::duration<double, std::micro>(Clock::now() - t).count();
        c.accept(id);
      }
    }
    std::printf("regex mask over %zu tokens of prose: %.0f us/token\n", pids.size(),
                total / (static_cast<double>(reps) * static_cast<double>(pids.size())));
  }
  return 0;
}
