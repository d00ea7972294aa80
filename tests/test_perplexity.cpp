// The perplexity library (stablelm/eval.h): window plans against transformers' and
// llama-perplexity's loops, NLLs against the transformers goldens and bitwise against
// `stablelm score`, the saved-logits file (round trip, truncated, other model, other tokens) and
// the KL-divergence statistics against a direct computation from the logits.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <numeric>

#include "golden_util.h"
#include "stablelm/error.h"
#include "stablelm/eval.h"
#include "stablelm/model.h"

namespace stablelm::test {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using eval::Mode;
using eval::Window;

const fs::path kModels = fixtures_dir() / "models";

// transformers' "Perplexity of fixed-length models" loop, transcribed: for each window, the
// positions whose label survives the -100 mask and the shift (label 0 of a window is dropped).
std::vector<std::vector<int64_t>> hf_scored(int64_t n, int64_t ctx, int64_t stride) {
  std::vector<std::vector<int64_t>> out;
  int64_t prev_end = 0;
  for (int64_t begin = 0; begin < n; begin += stride) {
    const int64_t end = std::min(begin + ctx, n);
    const int64_t trg_len = end - prev_end;
    std::vector<int64_t> scored;
    for (int64_t i = 1; i < end - begin; ++i)          // shift: label index 0 never counts
      if (i >= (end - begin) - trg_len) scored.push_back(begin + i);  // target_ids[:, :-trg_len] = -100
    out.push_back(scored);
    prev_end = end;
    if (end == n) break;
  }
  return out;
}

// llama-perplexity's loop, transcribed: n_chunk = n / n_ctx, first = n_ctx / 2, the logits at
// first .. n_ctx-2 score the tokens first+1 .. n_ctx-1 of each chunk.
std::vector<std::vector<int64_t>> llama_scored(int64_t n, int64_t ctx) {
  std::vector<std::vector<int64_t>> out;
  for (int64_t i = 0; i < n / ctx; ++i) {
    std::vector<int64_t> scored;
    const int64_t first = ctx / 2;
    for (int64_t j = first; j < ctx - 1; ++j) scored.push_back(i * ctx + j + 1);
    out.push_back(scored);
  }
  return out;
}

std::vector<std::vector<int64_t>> plan_scored(const eval::WindowPlan& p) {
  std::vector<std::vector<int64_t>> out;
  for (const Window& w : p.windows) {
    std::vector<int64_t> s;
    for (int64_t t = w.first_scored; t < w.end; ++t) s.push_back(t);
    out.push_back(s);
  }
  return out;
}

TEST(PerplexityPlan, SlidingIsTransformersRecipe) {
  // Shorter than one window, exactly one window, strides that do and do not divide the length.
  for (int64_t n : {2, 7, 40, 64, 65, 100, 301})
    for (int64_t ctx : {2, 16, 40, 64})
      for (int64_t stride : {int64_t{1}, ctx / 2, ctx - 1, ctx, int64_t{7}}) {
        if (stride < 1 || stride > ctx) continue;
        SCOPED_TRACE("n " + std::to_string(n) + " ctx " + std::to_string(ctx) + " stride " + std::to_string(stride));
        const auto plan = eval::plan_windows(n, Mode::Sliding, ctx, stride);
        auto want = hf_scored(n, ctx, stride);
        std::erase_if(want, [](const auto& v) { return v.empty(); });
        EXPECT_EQ(plan_scored(plan), want);
        int64_t scored = 0, evaluated = 0;
        for (const Window& w : plan.windows) {
          EXPECT_LE(w.end - w.begin, ctx);
          EXPECT_GT(w.first_scored, w.begin);
          // Each window has up to ctx - stride tokens of context before its first scored token.
          if (w.begin > 0 && stride < ctx) {
            EXPECT_EQ(w.first_scored - w.begin, ctx - stride);
          }
          scored += w.scored();
          evaluated += w.end - w.begin - 1;
        }
        EXPECT_EQ(plan.scored_tokens, scored);
        EXPECT_EQ(plan.evaluated_tokens, evaluated);
        if (stride < ctx) {
          EXPECT_EQ(scored, n - 1);  // every token after the first, once
        }
      }
}

TEST(PerplexityPlan, ChunksAreLlamaPerplexity) {
  for (int64_t ctx : {3, 4, 16, 17, 64})
    for (int64_t n : {ctx, ctx + 1, 2 * ctx, 3 * ctx + 5}) {
      SCOPED_TRACE("n " + std::to_string(n) + " ctx " + std::to_string(ctx));
      const auto plan = eval::plan_windows(n, Mode::Chunks, ctx, 0);
      EXPECT_EQ(plan_scored(plan), llama_scored(n, ctx));
      EXPECT_EQ(plan.unused_tokens, n % ctx);
      EXPECT_EQ(plan.stride, ctx);
    }
}

void expect_error(const std::function<void()>& f, const std::string& part) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one naming " << part;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

TEST(PerplexityPlan, Errors) {
  expect_error([] { eval::plan_windows(100, Mode::Sliding, 32, 33); }, "--stride 33 is larger than --ctx 32");
  expect_error([] { eval::plan_windows(100, Mode::Sliding, 32, 0); }, "--stride");
  expect_error([] { eval::plan_windows(100, Mode::Sliding, 1, 1); }, "--ctx");
  expect_error([] { eval::plan_windows(1, Mode::Sliding, 32, 16); }, "at least 2");
  expect_error([] { eval::plan_windows(0, Mode::Chunks, 32, 0); }, "at least 2");
  expect_error([] { eval::plan_windows(31, Mode::Chunks, 32, 0); }, "fewer than one chunk");
  expect_error([] { eval::plan_windows(100, Mode::Chunks, 2, 0); }, "--ctx");
}

TEST(PerplexityStats, NllMeanAndStderrAreTheDefinitions) {
  std::vector<double> v;
  for (int i = 0; i < 1000; ++i) v.push_back(3.0 + std::sin(i * 0.37) * 2.0 + i * 1e-3);
  eval::NllStats s;
  for (double x : v) s.add(x);
  const double n = static_cast<double>(v.size());
  const double mean = std::accumulate(v.begin(), v.end(), 0.0) / n;
  double ss = 0;
  for (double x : v) ss += (x - mean) * (x - mean);
  const double se = std::sqrt(ss / (n - 1) / n);
  EXPECT_EQ(s.count(), 1000);
  EXPECT_NEAR(s.mean(), mean, 1e-12);
  EXPECT_NEAR(s.mean_stderr(), se, 1e-12);
  EXPECT_NEAR(s.ppl(), std::exp(mean), 1e-9 * std::exp(mean));
  EXPECT_NEAR(s.ppl_stderr(), std::exp(mean) * se, 1e-9);
}

TEST(PerplexityStats, QuantileIsNumpyLinear) {
  // numpy.quantile's default ("linear"): sorted[(n-1) q] interpolated; its documented example
  // numpy.percentile([[10, 7, 4], [3, 2, 1]], 50) is 3.5.
  const std::vector<double> v = {1, 2, 3, 4, 7, 10};
  EXPECT_DOUBLE_EQ(eval::quantile_sorted(v, 0.5), 3.5);
  EXPECT_DOUBLE_EQ(eval::quantile_sorted(v, 0.0), 1.0);
  EXPECT_DOUBLE_EQ(eval::quantile_sorted(v, 1.0), 10.0);
}

std::vector<int32_t> ids_of(const json& j) {
  std::vector<int32_t> v;
  for (const auto& x : j) v.push_back(x.get<int32_t>());
  return v;
}

// Runs explicit windows through the session scorer, collecting the NLL of every scored token.
std::vector<double> window_nlls(const Model& m, std::span<const int32_t> tokens, const std::vector<Window>& windows,
                                int64_t ctx) {
  auto scorer = eval::make_session_scorer(m, ctx, KVFormat::F32);
  std::vector<double> out;
  scorer->score(tokens, windows, [&](int64_t t, std::span<const float> logits) {
    out.push_back(-eval::log_softmax_of(logits)(logits[static_cast<size_t>(tokens[static_cast<size_t>(t)])]));
  });
  return out;
}

TEST(PerplexityGolden, ContinuationNllsMatchScoreGoldens) {
  for (const char* name : {"micro-v2-f32", "micro-12b-style-f32", "micro-3b-style-f16", "tiny-stablelm-2"}) {
    const fs::path dir = kModels / name;
    const json g = load_json(dir / "golden" / "score.json");
    const double atol = load_json(dir / "golden" / "meta.json")["tolerances"]["token_logprob_atol"].get<double>();
    auto m = Model::load(dir, {.threads = 2});
    for (const json& p : g["prompts"]) {
      if (sanitized() && p["input_ids"].size() > 64) continue;
      std::vector<int32_t> tokens = ids_of(p["input_ids"]);
      const auto T = static_cast<int64_t>(tokens.size());
      for (int32_t id : ids_of(p["continuation"])) tokens.push_back(id);
      const auto n = static_cast<int64_t>(tokens.size());
      const auto nll = window_nlls(*m, tokens, {Window{0, n, T}}, n);
      ASSERT_EQ(nll.size(), p["token_logprobs"].size());
      double golden_sum = 0;
      for (size_t j = 0; j < nll.size(); ++j) {
        const double want = p["token_logprobs"][j].get<double>();
        EXPECT_NEAR(-nll[j], want, atol) << name << " " << p["name"] << " token " << j;
        golden_sum += want;
      }
      eval::NllStats s;
      for (double x : nll) s.add(x);
      const double golden_ppl = std::exp(-golden_sum / static_cast<double>(nll.size()));
      EXPECT_NEAR(s.ppl(), golden_ppl, golden_ppl * atol) << name << " " << p["name"];
    }
  }
}

TEST(PerplexityGolden, WholePromptPerplexityMatchesGoldenLogits) {
  // logits.json has the full logit row at every position of the 7- and 40-token prompts of the
  // vocab-512 models: log p(token t) = logits[t-1][id] - logsumexp[t-1].
  for (const char* name : {"micro-v2-f32", "micro-12b-style-f32", "micro-3b-style-f16"}) {
    const fs::path dir = kModels / name;
    const json g = load_json(dir / "golden" / "logits.json");
    const double atol = load_json(dir / "golden" / "meta.json")["tolerances"]["token_logprob_atol"].get<double>();
    auto m = Model::load(dir, {.threads = 2});
    for (const json& p : g["prompts"]) {
      const std::vector<int32_t> tokens = ids_of(p["input_ids"]);
      const auto n = static_cast<int64_t>(tokens.size());
      if (p["full_logits_positions"].size() != tokens.size()) continue;
      std::vector<double> golden;
      for (int64_t t = 1; t < n; ++t)
        golden.push_back(p["full_logits"][t - 1][tokens[t]].get<double>() - p["logsumexp"][t - 1].get<double>());
      const double golden_ppl = std::exp(-std::accumulate(golden.begin(), golden.end(), 0.0) / (n - 1));
      // One window (ctx >= n) in both modes of the sliding plan, and the chunk of exactly n tokens.
      for (int64_t ctx : {n, n + 10}) {
        auto scorer = eval::make_session_scorer(*m, ctx, KVFormat::F32);
        const auto r = eval::run_perplexity(*scorer, tokens, eval::plan_windows(n, Mode::Sliding, ctx, ctx / 2));
        ASSERT_EQ(r.token_nll.size(), golden.size());
        for (size_t j = 0; j < golden.size(); ++j) EXPECT_NEAR(-r.token_nll[j], golden[j], atol) << name << " t " << j + 1;
        EXPECT_NEAR(r.nll.ppl(), golden_ppl, golden_ppl * atol) << name << " " << p["name"];
      }
      auto scorer = eval::make_session_scorer(*m, n, KVFormat::F32);
      const auto r = eval::run_perplexity(*scorer, tokens, eval::plan_windows(n, Mode::Chunks, n, 0));
      ASSERT_EQ(r.targets.front(), n / 2 + 1);
      for (size_t j = 0; j < r.token_nll.size(); ++j)
        EXPECT_NEAR(-r.token_nll[j], golden[static_cast<size_t>(r.targets[j] - 1)], atol);
    }
  }
}

std::string join(std::span<const int32_t> ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s;
}

TEST(PerplexityScoreParity, NllsAreBitwiseThoseOfStablelmScore) {
  // A stride that does not divide the length; every window's scored tokens through `stablelm
  // score` (context = the window before its first scored token, continuation = the scored ones).
  for (const char* name : {"micro-12b-style-f32", "tiny-stablelm-2"}) {
    const fs::path dir = kModels / name;
    const json g = load_json(dir / "golden" / "logits.json");
    std::vector<int32_t> tokens = ids_of(g["prompts"][2]["input_ids"]);  // p300
    tokens.resize(sanitized() ? 100 : 160);
    const auto n = static_cast<int64_t>(tokens.size());
    const int64_t ctx = 64, stride = 41;
    auto m = Model::load(dir, {.threads = 2});
    auto scorer = eval::make_session_scorer(*m, ctx, KVFormat::F32);
    const auto plan = eval::plan_windows(n, Mode::Sliding, ctx, stride);
    const auto r = eval::run_perplexity(*scorer, tokens, plan);
    ASSERT_EQ(r.nll.count(), n - 1);
    size_t k = 0;
    for (const Window& w : plan.windows) {
      const std::span<const int32_t> all(tokens);
      auto out = run_cli({"score", "--model", dir.string(), "--threads", "2", "--ids",
                          join(all.subspan(static_cast<size_t>(w.begin), static_cast<size_t>(w.first_scored - w.begin))),
                          "--continuation", join(all.subspan(static_cast<size_t>(w.first_scored), static_cast<size_t>(w.scored())))});
      ASSERT_EQ(out.exit_code, 0) << out.err;
      const json lps = json::parse(out.out)["token_logprobs"];
      ASSERT_EQ(static_cast<int64_t>(lps.size()), w.scored());
      for (const auto& lp : lps) {
        EXPECT_EQ(-r.token_nll[k], lp.get<double>()) << name << " target " << r.targets[k];
        ++k;
      }
    }
  }
}

// ---- saved logits and KL-divergence ---------------------------------------------------------

struct Recorded {
  eval::PerplexityResult result;
  std::vector<std::vector<float>> rows;  // the raw logits of every scored token
};

Recorded run_with(const Model& m, std::span<const int32_t> tokens, const eval::WindowPlan& plan, eval::LogitsWriter* save,
             eval::LogitsReader* base, KVFormat kv = KVFormat::F32) {
  auto inner = eval::make_session_scorer(m, plan.ctx, kv);
  // Keeps a copy of the rows it passes on (to compute the KLD directly in the test).
  struct Recording : eval::WindowScorer {
    eval::WindowScorer& inner;
    std::vector<std::vector<float>>& rows;
    Recording(eval::WindowScorer& i, std::vector<std::vector<float>>& r) : inner(i), rows(r) {}
    void score(std::span<const int32_t> t, std::span<const Window> w, const eval::RowFn& f) override {
      inner.score(t, w, [&](int64_t target, std::span<const float> l) {
        rows.emplace_back(l.begin(), l.end());
        f(target, l);
      });
    }
  };
  Recorded r;
  Recording rec(*inner, r.rows);
  eval::PerplexityRun pr;
  pr.batch = 3;
  pr.save = save;
  pr.base = base;
  r.result = eval::run_perplexity(rec, tokens, plan, pr);
  return r;
}

eval::LogitsFileHeader header_for(const Model& m, std::span<const int32_t> tokens, const eval::WindowPlan& plan,
                                  int64_t top_k) {
  eval::LogitsFileHeader h;
  h.model = eval::model_identity(m);
  h.description = "test";
  h.token_count = static_cast<int64_t>(tokens.size());
  h.token_sha256 = eval::tokens_sha256(tokens);
  h.mode = plan.mode;
  h.ctx = plan.ctx;
  h.stride = plan.stride;
  h.top_k = top_k;
  h.rows = plan.scored_tokens;
  return h;
}

TEST(PerplexityKld, AgainstItselfIsZeroAndAgainstQ8IsTheDefinition) {
  const fs::path dir = kModels / "micro-v2-f32";
  const std::vector<int32_t> tokens = ids_of(load_json(dir / "golden" / "logits.json")["prompts"][2]["input_ids"]);
  const auto plan = eval::plan_windows(static_cast<int64_t>(tokens.size()), Mode::Sliding, 64, 40);
  auto base_model = Model::load(dir, {.threads = 2});
  const fs::path tmp = temp_dir("kld");
  const int64_t V = base_model->config().vocab_size;
  Recorded base;
  {
    eval::LogitsWriter w(tmp / "full.bin", header_for(*base_model, tokens, plan, V));  // full rows: exact KLD
    base = run_with(*base_model, tokens, plan, &w, nullptr);
  }
  {
    eval::LogitsWriter w(tmp / "top8.bin", header_for(*base_model, tokens, plan, 8));
    run_with(*base_model, tokens, plan, &w, nullptr);
  }
  for (const char* file : {"full.bin", "top8.bin"}) {
    eval::LogitsReader rd(tmp / file);
    rd.check_matches(eval::model_identity(*base_model), tokens);
    const Recorded self = run_with(*base_model, tokens, plan, nullptr, &rd);
    ASSERT_TRUE(self.result.has_kld);
    const auto& k = self.result.kld;
    EXPECT_EQ(k.tokens, plan.scored_tokens);
    EXPECT_EQ(k.kld_mean, 0.0) << file;
    EXPECT_EQ(k.kld_max, 0.0) << file;
    EXPECT_EQ(k.same_top_pct, 100.0) << file;
    EXPECT_EQ(k.dp_rms_pct, 0.0) << file;
    EXPECT_EQ(k.ppl_ratio, 1.0) << file;
  }

  // Q8 weights against the full-row base: the statistics from their definitions, computed here
  // in double from the two runs' logits.
  auto q8 = Model::load(dir, {.weights = WeightFormat::Q8, .threads = 2});
  eval::LogitsReader rd(tmp / "full.bin");
  rd.check_matches(eval::model_identity(*q8), tokens);  // another format of the same model is accepted
  const Recorded run = run_with(*q8, tokens, plan, nullptr, &rd);
  ASSERT_EQ(run.rows.size(), base.rows.size());
  std::vector<double> kl;
  double dp2 = 0, dpmax = 0, nll_p = 0, nll_q = 0;
  int same = 0;
  for (size_t i = 0; i < run.rows.size(); ++i) {
    const auto& P = base.rows[i];
    const auto& Q = run.rows[i];
    double zp = 0, zq = 0;
    const double mp = *std::max_element(P.begin(), P.end()), mq = *std::max_element(Q.begin(), Q.end());
    for (int64_t v = 0; v < V; ++v) zp += std::exp(P[v] - mp), zq += std::exp(Q[v] - mq);
    double d = 0;
    for (int64_t v = 0; v < V; ++v) {
      const double lp = P[v] - mp - std::log(zp), lq = Q[v] - mq - std::log(zq);
      d += std::exp(lp) * (lp - lq);
    }
    kl.push_back(d);
    const int32_t t = tokens[static_cast<size_t>(run.result.targets[i])];
    const double lpt = P[t] - mp - std::log(zp), lqt = Q[t] - mq - std::log(zq);
    dp2 += (std::exp(lqt) - std::exp(lpt)) * (std::exp(lqt) - std::exp(lpt));
    dpmax = std::max(dpmax, std::abs(std::exp(lqt) - std::exp(lpt)));
    nll_p -= lpt;
    nll_q -= lqt;
    same += std::max_element(P.begin(), P.end()) - P.begin() == std::max_element(Q.begin(), Q.end()) - Q.begin();
  }
  const double n = static_cast<double>(kl.size());
  const double mean = std::accumulate(kl.begin(), kl.end(), 0.0) / n;
  std::vector<double> sorted = kl;
  std::sort(sorted.begin(), sorted.end());
  const auto& k = run.result.kld;
  EXPECT_GT(mean, 0.0);
  EXPECT_NEAR(k.kld_mean, mean, 1e-5 * mean);
  EXPECT_NEAR(k.kld_median, eval::quantile_sorted(sorted, 0.5), 1e-4 * mean);
  EXPECT_NEAR(k.kld_q99, eval::quantile_sorted(sorted, 0.99), 1e-4 * mean);
  EXPECT_NEAR(k.kld_max, sorted.back(), 1e-4 * sorted.back());
  EXPECT_NEAR(k.dp_rms_pct, 100 * std::sqrt(dp2 / n), 1e-4);
  EXPECT_NEAR(k.dp_max_pct, 100 * dpmax, 1e-4);
  EXPECT_NEAR(k.same_top_pct, 100.0 * same / n, 1e-9);
  EXPECT_NEAR(k.ppl_ratio, std::exp((nll_q - nll_p) / n), 1e-6);
  EXPECT_EQ(k.base_rest_mass_mean, 0.0);

  // With the top 8 only, the grouped KLD is a lower bound of the full one.
  eval::LogitsReader rd8(tmp / "top8.bin");
  const Recorded run8 = run_with(*q8, tokens, plan, nullptr, &rd8);
  EXPECT_LE(run8.result.kld.kld_mean, k.kld_mean * (1 + 1e-6));
  EXPECT_GT(run8.result.kld.base_rest_mass_mean, 0.0);
}

TEST(PerplexityKld, SavedFileIsCheckedOnRead) {
  const fs::path dir = kModels / "micro-v2-f32";
  const json g = load_json(dir / "golden" / "logits.json");
  const std::vector<int32_t> tokens = ids_of(g["prompts"][1]["input_ids"]);  // p40
  const auto plan = eval::plan_windows(static_cast<int64_t>(tokens.size()), Mode::Sliding, 32, 16);
  auto m = Model::load(dir, {.threads = 2});
  const fs::path tmp = temp_dir("saved");
  const fs::path file = tmp / "base.bin";
  {
    eval::LogitsWriter w(file, header_for(*m, tokens, plan, 16));
    run_with(*m, tokens, plan, &w, nullptr);
  }
  const std::string bytes = read_file(file);

  // Truncated by one byte, or to the header only.
  for (size_t cut : {bytes.size() - 1, bytes.size() / 2, size_t{20}, size_t{0}}) {
    write_file(tmp / "cut.bin", bytes.substr(0, cut));
    expect_error([&] { eval::LogitsReader r(tmp / "cut.bin"); }, "cut.bin");
  }
  write_file(tmp / "cut.bin", bytes.substr(0, bytes.size() - 1));
  expect_error([&] { eval::LogitsReader r(tmp / "cut.bin"); }, "truncated");
  write_file(tmp / "junk.bin", "not a file of ours at all");
  expect_error([&] { eval::LogitsReader r(tmp / "junk.bin"); }, "not a saved-logits file");

  eval::LogitsReader ok(file);
  // The same weights in shards are the same model.
  EXPECT_NO_THROW(ok.check_matches(eval::model_identity(*Model::load(kModels / "micro-sharded")), tokens));
  // Another architecture.
  expect_error([&] { ok.check_matches(eval::model_identity(*Model::load(kModels / "micro-12b-style-f32")), tokens); },
               "another model");
  // The same architecture with other weights: a copy of the model with one embedding sign flipped.
  const fs::path other = tmp / "other-weights";
  fs::create_directories(other);
  fs::copy_file(dir / "config.json", other / "config.json");
  std::string st = read_file(dir / "model.safetensors");
  uint64_t hn = 0;
  std::memcpy(&hn, st.data(), 8);
  const json hdr = json::parse(st.substr(8, hn));
  const size_t off = 8 + hn + hdr["model.embed_tokens.weight"]["data_offsets"][0].get<size_t>();
  st[off + 3] = static_cast<char>(st[off + 3] ^ 0x80);  // the sign of element 0 of row 0 (f32 little-endian)
  write_file(other / "model.safetensors", st);
  expect_error([&] { ok.check_matches(eval::model_identity(*Model::load(other)), tokens); }, "other weights");
  // Other tokens (one id changed, or one fewer).
  std::vector<int32_t> changed = tokens;
  changed[5] = (changed[5] + 1) % 512;
  expect_error([&] { ok.check_matches(eval::model_identity(*m), changed); }, "other tokens");
  expect_error([&] { ok.check_matches(eval::model_identity(*m), std::span(tokens).first(tokens.size() - 1)); },
               "other tokens");
  // Other window settings.
  auto scorer = eval::make_session_scorer(*m, 32, KVFormat::F32);
  eval::LogitsReader again(file);
  eval::PerplexityRun pr;
  pr.base = &again;
  expect_error(
      [&] { eval::run_perplexity(*scorer, tokens, eval::plan_windows(static_cast<int64_t>(tokens.size()), Mode::Sliding, 32, 8), pr); },
      "--stride 16");
}

}  // namespace
}  // namespace stablelm::test
