// Golden tests: every model under fixtures/models (discovered) must reproduce transformers'
// logits, greedy continuations (with and without the KV cache), scores and hidden states within
// the tolerances of its golden/meta.json.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <numeric>

#include "golden_util.h"
#include "stablelm/model.h"

namespace stablelm::test {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

struct Fixture {
  std::unique_ptr<Model> model;
  json meta;
  double atol = 0;
};

// Models are loaded once per test process.
Fixture& fixture(const fs::path& dir) {
  static std::map<fs::path, Fixture> cache;
  auto it = cache.find(dir);
  if (it == cache.end()) {
    Fixture f;
    f.model = Model::load(dir);
    f.meta = load_json(dir / "golden" / "meta.json");
    f.atol = f.meta["tolerances"]["logits_atol"].get<double>();
    it = cache.emplace(dir, std::move(f)).first;
  }
  return it->second;
}

std::vector<int32_t> ids_of(const json& a) { return a.get<std::vector<int32_t>>(); }

double logsumexp(const float* row, int64_t n) {
  const double mx = *std::max_element(row, row + n);
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += std::exp(row[i] - mx);
  return mx + std::log(s);
}

int64_t argmax(const float* row, int64_t n) { return std::max_element(row, row + n) - row; }

class Golden : public ::testing::TestWithParam<fs::path> {};

TEST_P(Golden, Logits) {
  Fixture& f = fixture(GetParam());
  const int64_t V = f.model->config().vocab_size;
  const json g = load_json(GetParam() / "golden" / "logits.json");
  const auto probe_ids = g["probe_ids"].get<std::vector<int64_t>>();
  for (const json& p : g["prompts"]) {
    const std::string name = p["name"];
    const auto ids = ids_of(p["input_ids"]);
    const int64_t T = static_cast<int64_t>(ids.size());
    SCOPED_TRACE(name);
    Session s(*f.model, T);
    const auto logits = s.forward(ids, /*all_logits=*/true);
    ASSERT_EQ(static_cast<int64_t>(logits.size()), T * V);
    auto row = [&](int64_t t) { return logits.data() + t * V; };

    double worst = 0;
    // Full vectors at the stored positions.
    const auto positions = p["full_logits_positions"].get<std::vector<int64_t>>();
    for (size_t i = 0; i < positions.size(); ++i) {
      const json& want = p["full_logits"][i];
      ASSERT_EQ(static_cast<int64_t>(want.size()), V);
      for (int64_t v = 0; v < V; ++v) {
        const double d = std::abs(row(positions[i])[v] - want[v].get<double>());
        worst = std::max(worst, d);
        if (d > f.atol) FAIL() << "full_logits pos " << positions[i] << " id " << v << ": diff " << d;
      }
    }
    // Per-position fields.
    for (int64_t t = 0; t < T; ++t) {
      EXPECT_EQ(argmax(row(t), V), p["argmax"][t].get<int64_t>()) << "argmax at position " << t;
      const double lse = logsumexp(row(t), V);
      EXPECT_NEAR(lse, p["logsumexp"][t].get<double>(), f.atol) << "logsumexp at position " << t;
      const json& kids = p["top_k_ids"][t];
      const json& klog = p["top_k_logits"][t];
      for (size_t j = 0; j < kids.size(); ++j) {
        const double d = std::abs(row(t)[kids[j].get<int64_t>()] - klog[j].get<double>());
        worst = std::max(worst, d);
        EXPECT_LE(d, f.atol) << "top_k_logits position " << t << " rank " << j;
      }
      // Our own top-k ids must agree wherever the golden ranking is unambiguous.
      std::vector<int64_t> order(static_cast<size_t>(V));
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + static_cast<int64_t>(kids.size()), order.end(),
                        [&](int64_t a, int64_t b) { return row(t)[a] > row(t)[b]; });
      for (size_t j = 0; j < kids.size(); ++j) {
        const bool gap_before = j == 0 || klog[j - 1].get<double>() - klog[j].get<double>() > 2 * f.atol;
        const bool gap_after = j + 1 == kids.size() || klog[j].get<double>() - klog[j + 1].get<double>() > 2 * f.atol;
        if (gap_before && gap_after) {
          EXPECT_EQ(order[j], kids[j].get<int64_t>()) << "top_k_ids position " << t << " rank " << j;
        }
      }
      for (size_t j = 0; j < probe_ids.size(); ++j) {
        const double d = std::abs(row(t)[probe_ids[j]] - p["probe_logits"][t][j].get<double>());
        worst = std::max(worst, d);
        EXPECT_LE(d, f.atol) << "probe_logits position " << t << " id " << probe_ids[j];
      }
    }
    std::printf("  %-22s %-5s max |logit diff| %.3g (atol %.3g)\n", GetParam().filename().c_str(), name.c_str(), worst, f.atol);
  }
}

TEST_P(Golden, GreedyWithKVCache) {
  Fixture& f = fixture(GetParam());
  const int64_t V = f.model->config().vocab_size;
  const json g = load_json(GetParam() / "golden" / "generate.json");
  const int64_t n_new = g["max_new_tokens"].get<int64_t>();
  for (const json& p : g["prompts"]) {
    SCOPED_TRACE(p["name"].get<std::string>());
    const auto ids = ids_of(p["input_ids"]);
    const auto want = p["new_tokens_with_cache"].get<std::vector<int64_t>>();
    Session s(*f.model, static_cast<int64_t>(ids.size()) + n_new);
    std::vector<int64_t> got;
    std::vector<int32_t> next = ids;  // prefill the prompt as one batch, then one token a step
    for (int64_t step = 0; step < n_new; ++step) {
      const auto logits = s.forward(next);
      std::vector<int64_t> order(static_cast<size_t>(V));
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + 2, order.end(),
                        [&](int64_t a, int64_t b) { return logits[a] > logits[b]; });
      EXPECT_NEAR(logits[order[0]], p["step_top1_logits"][step].get<double>(), f.atol) << "step " << step;
      EXPECT_NEAR(logits[p["step_top2_ids"][step].get<int64_t>()], p["step_top2_logits"][step].get<double>(), f.atol)
          << "step " << step;
      got.push_back(order[0]);
      next = {static_cast<int32_t>(order[0])};
    }
    EXPECT_EQ(got, want);
  }
}

TEST_P(Golden, GreedyWithoutCache) {
  // Recomputes the whole sequence at every step (short prompts only, to keep the suite fast).
  Fixture& f = fixture(GetParam());
  const int64_t V = f.model->config().vocab_size;
  const json g = load_json(GetParam() / "golden" / "generate.json");
  const int64_t n_new = sanitized() ? 8 : g["max_new_tokens"].get<int64_t>();
  for (const json& p : g["prompts"]) {
    auto seq = ids_of(p["input_ids"]);
    if (seq.size() > 64) continue;
    SCOPED_TRACE(p["name"].get<std::string>());
    const auto want = p["new_tokens_without_cache"].get<std::vector<int64_t>>();
    for (int64_t step = 0; step < n_new; ++step) {
      Session s(*f.model, static_cast<int64_t>(seq.size()));
      const auto logits = s.forward(seq);
      const int64_t tok = argmax(logits.data(), V);
      ASSERT_EQ(tok, want[static_cast<size_t>(step)]) << "step " << step;
      seq.push_back(static_cast<int32_t>(tok));
    }
  }
}

TEST_P(Golden, Score) {
  Fixture& f = fixture(GetParam());
  const int64_t V = f.model->config().vocab_size;
  const json g = load_json(GetParam() / "golden" / "score.json");
  const double tok_tol = f.meta["tolerances"]["token_logprob_atol"].get<double>();
  const double sum_tol = f.meta["tolerances"]["sum_logprob_atol"].get<double>();
  for (const json& p : g["prompts"]) {
    SCOPED_TRACE(p["name"].get<std::string>());
    auto seq = ids_of(p["input_ids"]);
    const int64_t T = static_cast<int64_t>(seq.size());
    const auto cont = ids_of(p["continuation"]);
    seq.insert(seq.end(), cont.begin(), cont.end());
    Session s(*f.model, static_cast<int64_t>(seq.size()));
    const auto logits = s.forward(seq, true);
    double sum = 0;
    bool greedy = true;
    for (size_t j = 0; j < cont.size(); ++j) {
      const float* row = logits.data() + (T - 1 + static_cast<int64_t>(j)) * V;
      const double lp = row[cont[j]] - logsumexp(row, V);
      EXPECT_NEAR(lp, p["token_logprobs"][j].get<double>(), tok_tol) << "token " << j;
      EXPECT_EQ(argmax(row, V), p["greedy_ids"][j].get<int64_t>()) << "token " << j;
      greedy = greedy && argmax(row, V) == cont[j];
      sum += lp;
    }
    EXPECT_NEAR(sum, p["sum_logprob"].get<double>(), sum_tol);
    EXPECT_EQ(greedy, p["is_greedy"].get<bool>());
  }
}

// Per-tensor parity of the traced activations with a max-abs-diff report (like llm.c's
// test_gpt2.c): when something breaks, the first tensor over tolerance shows where.
TEST_P(Golden, HiddenStates) {
  Fixture& f = fixture(GetParam());
  const json g = load_json(GetParam() / "golden" / "hidden_states.json");
  std::map<std::string, const json*> want;
  want["embeddings"] = &g["embeddings"];
  want["final_norm"] = &g["final_norm"];
  if (g["logits"].is_array()) want["logits"] = &g["logits"];
  for (size_t l = 0; l < g["layer_outputs"].size(); ++l) want["layer" + std::to_string(l) + ".output"] = &g["layer_outputs"][l];
  for (auto& [k, v] : g["layer0"].items()) want["layer0." + k] = &v;

  std::map<std::string, std::pair<double, double>> report;  // name → (max diff, tolerance)
  Session s(*f.model);
  s.set_trace([&](std::string_view name, const float* data, int64_t rows, int64_t cols) {
    auto it = want.find(std::string(name));
    if (it == want.end()) return;
    const json& w = *it->second;
    ASSERT_EQ(static_cast<int64_t>(w.size()), rows) << name;
    double max_want = 1.0, diff = 0.0;
    for (int64_t r = 0; r < rows; ++r) {
      ASSERT_EQ(static_cast<int64_t>(w[r].size()), cols) << name;
      for (int64_t c = 0; c < cols; ++c) {
        max_want = std::max(max_want, std::abs(w[r][c].get<double>()));
        diff = std::max(diff, std::abs(data[r * cols + c] - w[r][c].get<double>()));
      }
    }
    report[std::string(name)] = {diff, 1e-4 * max_want};
  });
  s.forward(ids_of(g["input_ids"]), /*all_logits=*/true);

  std::printf("  %s hidden states (p7):\n", GetParam().filename().c_str());
  for (auto& [name, dt] : report)
    std::printf("    %-34s max |diff| %-10.3g tol %-10.3g %s\n", name.c_str(), dt.first, dt.second,
                dt.first <= dt.second ? "ok" : "FAIL");
  for (auto& [name, _] : want) EXPECT_TRUE(report.count(name)) << "tensor " << name << " was never traced";
  for (auto& [name, dt] : report) EXPECT_LE(dt.first, dt.second) << name;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Golden, ::testing::ValuesIn(fixture_models()),
                         [](const auto& info) { return test_name(info.param); });

TEST(GoldenDiscovery, FindsModels) { EXPECT_GE(fixture_models().size(), 1u); }

}  // namespace
}  // namespace stablelm::test
