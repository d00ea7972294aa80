// stablelm bench: llama-bench-like prefill / decode throughput of a model directory.
//   stablelm bench --model DIR [--weights bf16,q8] [-p 512] [-n 128] [--depth 0,1024]
//                  [--threads 2] [--reps 3] [--kv f16] [--json]
// For every (weights, threads) the model is loaded once (load_s), then for every depth D:
// the cache is filled with D tokens (untimed), a p-token prompt is timed as one prefill, the
// cache is cut back to D and n tokens are decoded one at a time (like llama-bench's pp / tg
// tests). Medians over --reps runs; the spread is min..max. Token ids are fixed pseudo-random.
// --parallel 1,4,16,32 (like llama-batched-bench -npl): N sequences, each with its own p-token
// prompt (one batch of N x p rows), then n decode steps of N rows; aggregate tok/s per N.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <sstream>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "command.h"
#include "number_args.h"
#include "kernels/kernels.h"
#include "model_path.h"
#include "run_options.h"
#include "stablelm/engine.h"
#include "stablelm/error.h"
#include "stablelm/model.h"

namespace stablelm::cli {
namespace {

struct Options {
  std::string model, revision;
  std::string weights = "stored";
  std::string threads = "0";
  std::string depth = "0";
  int64_t n_prompt = 512;
  int64_t n_gen = 128;
  int reps = 3;
  std::string kv = "f16";
  std::string matmul = "highest";
  std::string huge_pages = "auto";
  bool json = false;
  std::string parallel;
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  if (out.empty()) throw Error("bench: empty list '" + s + "'");
  return out;
}

int64_t to_int(const std::string& s, const char* opt) {
  try {
    size_t used = 0;
    const long long v = std::stoll(s, &used);
    if (used == s.size() && v >= 0) return v;
  } catch (const std::exception&) {
  }
  throw Error(std::string(opt) + ": expected a non-negative integer, got '" + s + "'");
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

size_t peak_rss_bytes() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<size_t>(ru.ru_maxrss) * 1024;  // Linux reports KiB
}

struct Stat {
  double median = 0, min = 0, max = 0;
};
Stat stat(std::vector<double> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  const size_t m = v.size() / 2;
  const double med = v.size() % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
  return {med, v.front(), v.back()};
}

// N sequences through one Engine: prefill all prompts as one batch, then decode steps of N rows.
template <class Rng, class Dist>
void run_parallel(const Options& o, const Model& model, KVFormat kv, int64_t N, int64_t depth, Rng& rng, Dist& tok,
                  const std::string& wname, int used_threads, double load_s) {
  if (depth != 0) throw Error("bench: --parallel measures from an empty cache; drop --depth");
  if (o.n_prompt + o.n_gen + 1 > model.config().max_position_embeddings)
    throw Error("bench: -p + -n (" + std::to_string(o.n_prompt + o.n_gen + 1) + ") exceed max_position_embeddings " +
                std::to_string(model.config().max_position_embeddings));
  EngineOptions eo;
  eo.kv = kv;
  eo.max_context = o.n_prompt + o.n_gen + 1;
  eo.kv_tokens = N * (eo.max_context + eo.block_size);
  eo.prefix_cache = false;
  Engine engine(model, eo);
  std::vector<std::vector<int32_t>> prompts(static_cast<size_t>(N), std::vector<int32_t>(static_cast<size_t>(o.n_prompt)));
  for (auto& p : prompts)
    for (auto& id : p) id = tok(rng);
  std::vector<int32_t> gen(static_cast<size_t>(o.n_gen));
  for (auto& id : gen) id = tok(rng);
  std::vector<double> pp, tg;
  Batch b;
  for (int rep = -1; rep < o.reps; ++rep) {  // rep -1: untimed warm-up
    std::vector<SeqId> seqs;
    for (int64_t i = 0; i < N; ++i) seqs.push_back(engine.create());
    if (o.n_prompt > 0) {
      b.clear();
      for (int64_t i = 0; i < N; ++i)
        for (int64_t t = 0; t < o.n_prompt; ++t) b.add(prompts[static_cast<size_t>(i)][static_cast<size_t>(t)], t, seqs[static_cast<size_t>(i)], t == o.n_prompt - 1);
      const auto t0 = std::chrono::steady_clock::now();
      engine.forward(b);
      if (rep >= 0) pp.push_back(static_cast<double>(N * o.n_prompt) / seconds_since(t0));
    } else {
      // Decode needs a first position: one token each, untimed.
      b.clear();
      for (int64_t i = 0; i < N; ++i) b.add(gen.empty() ? 0 : gen[0], 0, seqs[static_cast<size_t>(i)], true);
      engine.forward(b);
    }
    if (o.n_gen > 0) {
      const auto t0 = std::chrono::steady_clock::now();
      for (int32_t id : gen) {
        b.clear();
        for (int64_t i = 0; i < N; ++i) b.add(id, engine.length(seqs[static_cast<size_t>(i)]), seqs[static_cast<size_t>(i)], true);
        engine.forward(b);
      }
      if (rep >= 0) tg.push_back(static_cast<double>(N * o.n_gen) / seconds_since(t0));
    }
    for (SeqId s : seqs) engine.release(s);
  }
  const Stat p = stat(pp), g = stat(tg);
  const size_t rss = peak_rss_bytes();
  if (o.json) {
    nlohmann::json j{{"weights", wname},         {"threads", used_threads},   {"n_prompt", o.n_prompt},
                     {"n_gen", o.n_gen},         {"depth", depth},            {"parallel", N},
                     {"prefill_tok_s", p.median}, {"decode_tok_s", g.median},  {"prefill_tok_s_min", p.min},
                     {"prefill_tok_s_max", p.max}, {"decode_tok_s_min", g.min}, {"decode_tok_s_max", g.max},
                     {"weight_bytes", model.weight_bytes()}, {"load_s", load_s}, {"peak_rss_bytes", rss},
                     {"reps", o.reps},           {"kv", o.kv},                {"matmul_precision", o.matmul},
                     {"huge_pages", o.huge_pages}, {"isa", kernels::active_isa()},
                     {"decode_reads", kernels::decode_read_pattern()}, {"medium_dot", kernels::medium_dot_kernel()}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    auto row = [&](const std::string& test, const Stat& st) {
      std::printf("| %s | %d | %s x%lld | %.2f | %.2f .. %.2f | %.1f | %.2f | %.0f |\n", wname.c_str(), used_threads,
                  test.c_str(), static_cast<long long>(N), st.median, st.min, st.max,
                  static_cast<double>(model.weight_bytes()) / 1e6, load_s, static_cast<double>(rss) / 1e6);
    };
    if (o.n_prompt > 0) row("pp" + std::to_string(o.n_prompt), p);
    if (o.n_gen > 0) row("tg" + std::to_string(o.n_gen), g);
  }
  std::fflush(stdout);
}

int run(const Options& o) {
  if (o.reps < 1) throw Error("--reps: must be at least 1");
  if (o.n_prompt == 0 && o.n_gen == 0) throw Error("bench: -p and -n are both 0, nothing to measure");
  const auto dir = resolve_model_dir(o.model, o.revision);
  const auto weights = split(o.weights);
  std::vector<int> threads;
  for (const auto& t : split(o.threads)) {
    const int64_t v = to_int(t, "--threads");
    if (v > kMaxThreads) throw Error("--threads " + t + ": must be at most " + std::to_string(kMaxThreads));
    threads.push_back(static_cast<int>(v));
  }
  std::vector<int64_t> depths;
  for (const auto& d : split(o.depth)) {
    const int64_t v = to_int(d, "--depth");
    if (v < 0 || v > kMaxTokenCount)
      throw Error("--depth " + d + ": must be in [0, " + std::to_string(kMaxTokenCount) + "]");
    depths.push_back(v);
  }
  RunOptions kvopt;
  kvopt.kv = o.kv;
  const KVFormat kv = kvopt.kv_format();

  if (!o.json) {
    std::printf("kernels: %s; decode reads %s per thread; medium prefill multiplies with %s\n\n", kernels::active_isa(),
                kernels::decode_read_pattern(), kernels::medium_dot_kernel());
    std::printf("| weights | threads | test | tok/s (median) | min .. max | weight MB/token | load s | peak RSS MB |\n");
    std::printf("|---|---|---|---|---|---|---|---|\n");
  }
  for (const auto& wname : weights) {
    for (int nt : threads) {
      RunOptions ro;
      ro.weights = wname;
      ro.threads = nt;
      ro.matmul = o.matmul;
      ro.huge_pages = o.huge_pages;
      const LoadOptions lo = ro.load_options();
      const auto t_load = std::chrono::steady_clock::now();
      auto model = Model::load(dir, lo);
      const double load_s = seconds_since(t_load);
      const ModelConfig& c = model->config();
      const int used_threads = nt > 0 ? nt : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
      std::mt19937 rng(1234);
      std::uniform_int_distribution<int32_t> tok(0, static_cast<int32_t>(c.vocab_size - 1));
      for (int64_t depth : depths) {
        const int64_t ctx = depth + std::max(o.n_prompt, o.n_gen) + 1;
        if (ctx > c.max_position_embeddings)
          throw Error("bench: depth + tokens (" + std::to_string(ctx) + ") exceed max_position_embeddings " +
                      std::to_string(c.max_position_embeddings));
        std::vector<int32_t> fill(static_cast<size_t>(depth)), prompt(static_cast<size_t>(o.n_prompt)),
            gen(static_cast<size_t>(o.n_gen));
        for (auto* v : {&fill, &prompt, &gen})
          for (auto& id : *v) id = tok(rng);
        if (!o.parallel.empty()) {
          for (const auto& np : split(o.parallel)) {
            const int64_t N = to_int(np, "--parallel");
            if (N < 1 || N > 4096) throw Error("--parallel: " + np + " is outside [1, 4096]");
            run_parallel(o, *model, kv, N, depth, rng, tok, wname, used_threads, load_s);
          }
          continue;
        }
        Session session(*model, ctx, kv);
        std::vector<double> pp, tg;
        for (int rep = -1; rep < o.reps; ++rep) {  // rep -1: untimed warm-up (page faults, scratch growth)
          session.truncate(0);
          for (int64_t i = 0; i < depth; i += 512) {
            const int64_t len = std::min<int64_t>(512, depth - i);
            session.forward(std::span<const int32_t>(fill).subspan(static_cast<size_t>(i), static_cast<size_t>(len)));
          }
          if (o.n_prompt > 0) {
            const auto t0 = std::chrono::steady_clock::now();
            session.forward(prompt);
            if (rep >= 0) pp.push_back(static_cast<double>(o.n_prompt) / seconds_since(t0));
            session.truncate(depth);
          }
          if (o.n_gen > 0) {
            const auto t0 = std::chrono::steady_clock::now();
            for (int32_t id : gen) session.forward(std::span<const int32_t>(&id, 1));
            if (rep >= 0) tg.push_back(static_cast<double>(o.n_gen) / seconds_since(t0));
          }
        }
        const Stat p = stat(pp), g = stat(tg);
        const size_t rss = peak_rss_bytes();
        if (o.json) {
          nlohmann::json j{{"weights", wname},
                           {"threads", used_threads},
                           {"n_prompt", o.n_prompt},
                           {"n_gen", o.n_gen},
                           {"depth", depth},
                           {"prefill_tok_s", p.median},
                           {"decode_tok_s", g.median},
                           {"prefill_tok_s_min", p.min},
                           {"prefill_tok_s_max", p.max},
                           {"decode_tok_s_min", g.min},
                           {"decode_tok_s_max", g.max},
                           {"weight_bytes", model->weight_bytes()},
                           {"load_s", load_s},
                           {"peak_rss_bytes", rss},
                           {"reps", o.reps},
                           {"kv", o.kv},
                           {"matmul_precision", o.matmul},
                           {"huge_pages", o.huge_pages},
                           {"isa", kernels::active_isa()},
                           {"decode_reads", kernels::decode_read_pattern()}, {"medium_dot", kernels::medium_dot_kernel()}};
          std::printf("%s\n", j.dump().c_str());
        } else {
          const std::string at = depth ? " @ d" + std::to_string(depth) : "";
          auto row = [&](const std::string& test, const Stat& s) {
            std::printf("| %s | %d | %s | %.2f | %.2f .. %.2f | %.1f | %.2f | %.0f |\n", wname.c_str(), used_threads,
                        (test + at).c_str(), s.median, s.min, s.max, static_cast<double>(model->weight_bytes()) / 1e6,
                        load_s, static_cast<double>(rss) / 1e6);
          };
          if (o.n_prompt > 0) row("pp" + std::to_string(o.n_prompt), p);
          if (o.n_gen > 0) row("tg" + std::to_string(o.n_gen), g);
        }
        std::fflush(stdout);
      }
    }
  }
  return 0;
}

Registration reg("bench", "Prefill and decode throughput (llama-bench-like)", [](CLI::App& app) {
  auto o = std::make_shared<Options>();
  add_model_options(app, o->model, o->revision);
  app.add_option("--weights", o->weights, "Weight formats, comma-separated: stored|f32|f16|bf16|q8|q4");
  app.add_option("-p,--n-prompt", o->n_prompt, "Prompt tokens for the prefill test (0 = skip)")->check(count_at_most(kMaxTokenCount));
  app.add_option("-n,--n-gen", o->n_gen, "Tokens for the decode test (0 = skip)")->check(count_at_most(kMaxTokenCount));
  app.add_option("--depth", o->depth, "Tokens already in the KV cache before each test, comma-separated");
  app.add_option("--threads", o->threads, "Kernel threads, comma-separated (0 = all cores)");
  app.add_option("--reps", o->reps, "Repetitions per test (median reported)");
  app.add_option("--matmul-precision", o->matmul, "highest (fp32 activations) | medium (bf16 dot products for bf16 weights)")
      ->check(CLI::IsMember({"highest", "medium"}));
  add_huge_pages_option(app, o->huge_pages);
  app.add_option("--kv", o->kv, "KV cache element type: f32|f16|bf16|q8")->check(CLI::IsMember({"f32", "f16", "bf16", "q8"}));
  app.add_option("--parallel", o->parallel,
                 "Sequences decoded together, comma-separated (e.g. 1,4,16,32): aggregate tok/s per count "
                 "(like llama-batched-bench -npl)");
  app.add_flag("--json", o->json, "One JSON object per configuration and depth");
  return [o] { return run(*o); };
});

}  // namespace
}  // namespace stablelm::cli
