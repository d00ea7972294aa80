// Cost of choosing the next token (processors + warpers + draw) on a 100352-entry vocabulary,
// per configuration, in microseconds per token. Plain driver: bench_sampling [steps] [only case i]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "stablelm/generate.h"
#include "stablelm/sampling.h"

using namespace stablelm;

int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::atoi(argv[1]) : 200;
  const int64_t vocab = 100352;
  // Logits shaped like a language model's: most mass on a few hundred tokens.
  std::mt19937_64 rng(1);
  std::normal_distribution<float> nd(0.0f, 2.5f);
  std::vector<std::vector<float>> logits(8, std::vector<float>(static_cast<size_t>(vocab)));
  for (auto& l : logits)
    for (auto& v : l) v = nd(rng);
  std::vector<int32_t> prompt(64);
  for (auto& id : prompt) id = static_cast<int32_t>(rng() % static_cast<uint64_t>(vocab));

  struct Case {
    const char* name;
    GenerationConfig cfg;
  };
  std::vector<Case> cases;
  auto add = [&](const char* name, auto mutate) {
    GenerationConfig g;
    mutate(g);
    cases.push_back({name, g});
  };
  add("greedy", [](GenerationConfig&) {});
  add("greedy + repetition_penalty 1.1 + no_repeat_ngram 3", [](GenerationConfig& g) {
    g.repetition_penalty = 1.1f;
    g.no_repeat_ngram_size = 3;
  });
  add("sample (top_k 50 default)", [](GenerationConfig& g) { g.do_sample = true; });
  add("model card: T 0.7, top_k 50, top_p 0.95", [](GenerationConfig& g) {
    g.do_sample = true;
    g.temperature = 0.7f;
    g.top_p = 0.95;
  });
  add("T 0.7, top_k 0, top_p 0.95 (whole vocabulary)", [](GenerationConfig& g) {
    g.do_sample = true;
    g.temperature = 0.7f;
    g.top_k = 0;
    g.top_p = 0.95;
  });
  add("top_k 0, min_p 0.05", [](GenerationConfig& g) {
    g.do_sample = true;
    g.top_k = 0;
    g.min_p = 0.05;
  });
  add("top_k 0, typical_p 0.9", [](GenerationConfig& g) {
    g.do_sample = true;
    g.top_k = 0;
    g.typical_p = 0.9;
  });
  add("pure sampling (top_k 0)", [](GenerationConfig& g) {
    g.do_sample = true;
    g.top_k = 0;
  });

  std::printf("%-50s %12s\n", "configuration", "us/token");
  const int only = argc > 2 ? std::atoi(argv[2]) : -1;
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    if (only >= 0 && static_cast<size_t>(only) != ci) continue;
    auto& c = cases[ci];
    sampling::LogitsPipeline pipe(c.cfg, vocab, prompt, 42);
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < steps; ++i) pipe.push(pipe.choose(logits[static_cast<size_t>(i) % logits.size()]));
    const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / steps;
    std::printf("%-50s %12.1f\n", c.name, us);
  }
  return 0;
}
