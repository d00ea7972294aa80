// stablelm perplexity: perplexity of a model on a text (transformers' sliding window or
// llama-perplexity's chunks), and KL-divergence of a format against a saved base run. The
// policy (windows, statistics, saved-logits file) is in the library, stablelm/eval.h.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "command.h"
#include "ids_arg.h"
#include "model_path.h"
#include "run_options.h"
#include "stablelm/error.h"
#include "stablelm/eval.h"
#include "stablelm/model.h"
#include "stablelm/tokenizer.h"
#include "text_input.h"

namespace stablelm::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string model;
  std::string revision;
  std::string file;
  std::string ids;
  std::string tokenizer;
  int64_t ctx = 0;  // 0: min(512, max_position_embeddings)
  int64_t stride = 0;  // 0: ctx / 2
  bool chunks = false;
  int64_t batch = 1;
  std::string save_logits;
  int64_t top_k = 64;
  std::string kl_divergence;
  bool json = false;
  RunOptions run;
  CLI::Option* file_opt = nullptr;
  CLI::Option* ids_opt = nullptr;
  CLI::Option* ctx_opt = nullptr;
  CLI::Option* stride_opt = nullptr;
  CLI::Option* chunks_opt = nullptr;
};

std::vector<int32_t> read_tokens(const Options& o, const std::filesystem::path& dir) {
  if (o.ids_opt->count() > 0) return parse_ids(o.ids, "--ids");
  std::ifstream in(o.file, std::ios::binary);
  if (!in) throw Error("--file " + o.file + ": cannot open the file");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  if (text.empty()) throw Error("--file " + o.file + ": the file is empty");
  try {
    return Tokenizer::from_dir(o.tokenizer.empty() ? dir : std::filesystem::path(o.tokenizer))->encode(text);
  } catch (const Error& e) {
    throw Error("--file " + o.file + ": " + e.what());
  }
}

std::string clock_text(double s) {
  if (!(s >= 0) || s > 99 * 3600) return "--:--";
  const auto t = static_cast<long>(s + 0.5);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%02ld:%02ld", t / 60, t % 60);
  return buf;
}

// Sliding window: a bar with ETA redrawn in place on a terminal. Chunks: the running perplexity
// after each chunk, as llama-perplexity prints it ("[1]12.3456,[2]...").
class Progress {
 public:
  Progress(const eval::WindowPlan& plan, bool json)
      : plan_(plan), out_(json ? stderr : stdout), tty_(isatty(STDERR_FILENO) != 0), start_(Clock::now()) {}

  void update(size_t done, const eval::NllStats& nll) {
    const double secs = std::chrono::duration<double>(Clock::now() - start_).count();
    const size_t total = plan_.windows.size();
    if (plan_.mode == eval::Mode::Chunks) {
      if (done == 1 && total > 1)
        std::fprintf(stderr, "perplexity: %.2f s per chunk, ETA %s\n", secs,
                     clock_text(secs * static_cast<double>(total - 1)).c_str());
      std::fprintf(out_, "[%zu]%.4f,", done, nll.ppl());
      if (done == total) std::fputc('\n', out_);
      std::fflush(out_);
      return;
    }
    if (!tty_) return;
    const int width = 24;
    const int fill = static_cast<int>(static_cast<double>(width) * static_cast<double>(done) / static_cast<double>(total));
    const double eta = done ? secs * static_cast<double>(total - done) / static_cast<double>(done) : -1;
    std::fprintf(stderr, "\rperplexity [%s%s] %zu/%zu windows  ppl %.4f  ETA %s\x1b[K", std::string(fill, '#').c_str(),
                 std::string(width - fill, ' ').c_str(), done, total, nll.ppl(), clock_text(eta).c_str());
    if (done == total) std::fputc('\n', stderr);
    std::fflush(stderr);
  }

 private:
  const eval::WindowPlan& plan_;
  std::FILE* out_;
  bool tty_;
  Clock::time_point start_;
};

nlohmann::json kld_json(const eval::KldSummary& k) {
  return {{"kld_mean", k.kld_mean},         {"kld_stderr", k.kld_stderr},
          {"kld_median", k.kld_median},     {"kld_q90", k.kld_q90},
          {"kld_q95", k.kld_q95},           {"kld_q99", k.kld_q99},
          {"kld_q999", k.kld_q999},         {"kld_max", k.kld_max},
          {"same_top_pct", k.same_top_pct}, {"same_top_stderr_pct", k.same_top_stderr_pct},
          {"dp_rms", k.dp_rms_pct},         {"dp_max", k.dp_max_pct},
          {"ppl_ratio", k.ppl_ratio},       {"base_ppl", k.base_ppl},
          {"base_rest_mass_mean", k.base_rest_mass_mean}};
}

void print_kld_table(const eval::KldSummary& k, const std::string& base) {
  std::printf("\n====== KL divergence against %s ======\n", base.c_str());
  std::printf("PPL(this)           : %10.4f\n", k.ppl);
  std::printf("PPL(base)           : %10.4f\n", k.base_ppl);
  std::printf("PPL ratio           : %10.6f\n", k.ppl_ratio);
  std::printf("Mean    KLD         : %10.6f ± %.6f\n", k.kld_mean, k.kld_stderr);
  std::printf("Maximum KLD         : %10.6f\n", k.kld_max);
  std::printf("99.9%%   KLD         : %10.6f\n", k.kld_q999);
  std::printf("99.0%%   KLD         : %10.6f\n", k.kld_q99);
  std::printf("95.0%%   KLD         : %10.6f\n", k.kld_q95);
  std::printf("90.0%%   KLD         : %10.6f\n", k.kld_q90);
  std::printf("Median  KLD         : %10.6f\n", k.kld_median);
  std::printf("RMS Δp              : %10.4f %%\n", k.dp_rms_pct);
  std::printf("Maximum |Δp|        : %10.4f %%\n", k.dp_max_pct);
  std::printf("Same top token      : %10.4f ± %.4f %%\n", k.same_top_pct, k.same_top_stderr_pct);
  std::printf("Base mass outside the saved top k (mean): %.6f (the KLD above is a lower bound by this much grouping)\n",
              k.base_rest_mass_mean);
}

std::string describe(const Options& o, const std::filesystem::path& dir) {
  return dir.filename().string() + ", weights " + o.run.weights + ", kv " + o.run.kv + ", matmul " + o.run.matmul;
}

int run(Options o) {
  require_one(o.ids_opt->count() > 0, o.file_opt->count() > 0, "--ids", "--file");
  if (!o.save_logits.empty() && !o.kl_divergence.empty())
    throw Error("--save-logits and --kl-divergence conflict: save the base in one run, compare in another");
  if (o.chunks && o.stride_opt->count() > 0) throw Error("--stride applies to the sliding window, not to --chunks");
  const std::filesystem::path dir = resolve_model_dir(o.model, o.revision);

  std::unique_ptr<eval::LogitsReader> base;
  if (!o.kl_divergence.empty()) {
    base = std::make_unique<eval::LogitsReader>(o.kl_divergence);
    // Without explicit window options the base's are used.
    if (o.ctx_opt->count() == 0 && o.stride_opt->count() == 0 && o.chunks_opt->count() == 0) {
      o.chunks = base->header().mode == eval::Mode::Chunks;
      o.ctx = base->header().ctx;
      o.stride = o.chunks ? 0 : base->header().stride;
    }
  }
  const std::vector<int32_t> tokens = read_tokens(o, dir);
  auto model = Model::load(dir, o.run.load_options());
  const ModelConfig& c = model->config();
  for (size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i] >= c.vocab_size)
      throw Error("--ids: token id " + std::to_string(tokens[i]) + " (at " + std::to_string(i) +
                  ") is outside the vocabulary [0, " + std::to_string(c.vocab_size) + ")");
  const int64_t ctx = o.ctx > 0 ? o.ctx : std::min<int64_t>(512, c.max_position_embeddings);
  if (ctx > c.max_position_embeddings)
    throw Error("--ctx " + std::to_string(ctx) + " exceeds max_position_embeddings " +
                std::to_string(c.max_position_embeddings));
  const eval::Mode mode = o.chunks ? eval::Mode::Chunks : eval::Mode::Sliding;
  const int64_t stride = o.stride_opt->count() > 0 || o.stride > 0 ? o.stride : std::max<int64_t>(1, ctx / 2);
  const eval::WindowPlan plan = eval::plan_windows(static_cast<int64_t>(tokens.size()), mode, ctx, stride);

  const eval::ModelIdentity identity = eval::model_identity(*model);
  if (base) {
    base->check_matches(identity, tokens);
    base->check_plan(plan);
  }
  std::unique_ptr<eval::LogitsWriter> save;
  if (!o.save_logits.empty()) {
    eval::LogitsFileHeader h;
    h.model = identity;
    h.description = describe(o, dir);
    h.token_count = static_cast<int64_t>(tokens.size());
    h.token_sha256 = eval::tokens_sha256(tokens);
    h.mode = plan.mode;
    h.ctx = plan.ctx;
    h.stride = plan.stride;
    h.top_k = o.top_k;
    h.rows = plan.scored_tokens;
    save = std::make_unique<eval::LogitsWriter>(o.save_logits, h);
  }

  std::fprintf(stderr, "perplexity: %zu tokens, %s, ctx %lld, stride %lld: %zu windows, %lld tokens scored%s\n",
               tokens.size(), eval::mode_name(plan.mode), static_cast<long long>(plan.ctx),
               static_cast<long long>(plan.stride), plan.windows.size(), static_cast<long long>(plan.scored_tokens),
               plan.unused_tokens ? (", " + std::to_string(plan.unused_tokens) + " after the last chunk unused").c_str()
                                  : "");
  auto scorer = eval::make_session_scorer(*model, plan.ctx, o.run.kv_format());
  Progress progress(plan, o.json);
  eval::PerplexityRun pr;
  pr.batch = o.batch;
  pr.save = save.get();
  pr.base = base.get();
  pr.on_progress = [&](size_t done, const eval::NllStats& nll) { progress.update(done, nll); };
  const auto t0 = Clock::now();
  const eval::PerplexityResult r = eval::run_perplexity(*scorer, tokens, plan, pr);
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  const double tps = secs > 0 ? static_cast<double>(plan.evaluated_tokens) / secs : 0.0;

  if (o.json) {
    nlohmann::json j{{"ppl", r.nll.ppl()},
                     {"ppl_stderr", r.nll.ppl_stderr()},
                     {"nll_mean", r.nll.mean()},
                     {"tokens", r.nll.count()},
                     {"mode", eval::mode_name(plan.mode)},
                     {"ctx", plan.ctx},
                     {"stride", plan.stride},
                     {"windows", plan.windows.size()},
                     {"evaluated_tokens", plan.evaluated_tokens},
                     {"seconds", secs},
                     {"tokens_per_second", tps}};
    if (r.has_kld) j.update(kld_json(r.kld));
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("PPL = %.4f +/- %.4f  (mean NLL %.6f nats over %lld tokens)\n", r.nll.ppl(), r.nll.ppl_stderr(),
                r.nll.mean(), static_cast<long long>(r.nll.count()));
    std::printf("%lld tokens evaluated in %.2f s: %.1f tok/s\n", static_cast<long long>(plan.evaluated_tokens), secs,
                tps);
    if (r.has_kld) print_kld_table(r.kld, base->header().description);
    if (save) std::printf("saved the log-probabilities (top %lld) to %s\n", static_cast<long long>(o.top_k),
                          o.save_logits.c_str());
  }
  return 0;
}

Registration reg("perplexity", "Perplexity of a text, and KL-divergence against a saved base run", [](CLI::App& app) {
  auto o = std::make_shared<Options>();
  add_model_options(app, o->model, o->revision);
  o->file_opt = app.add_option("--file", o->file, "The text (UTF-8), tokenized with the model's tokenizer");
  o->ids_opt = app.add_option("--ids", o->ids, "Token ids, comma-separated (instead of --file)");
  app.add_option("--tokenizer", o->tokenizer,
                 "Tokenizer directory for --file when the model directory has none (e.g. a make-random model)");
  o->ctx_opt = app.add_option("--ctx", o->ctx, "Window / chunk length in tokens (default min(512, max_position_embeddings))")
                   ->check(CLI::PositiveNumber);
  o->stride_opt = app.add_option("--stride", o->stride,
                                 "Sliding window: tokens between window starts (default ctx/2); each window scores "
                                 "the tokens no earlier one scored")
                      ->check(CLI::PositiveNumber);
  o->chunks_opt = app.add_flag("--chunks", o->chunks,
                               "llama-perplexity's mode: non-overlapping chunks of --ctx tokens, each scoring its "
                               "second half; prints the running perplexity per chunk");
  app.add_option("--batch", o->batch,
                 "Windows handed to the engine per call (one forward pass each until the batched engine lands)")
      ->check(CLI::PositiveNumber);
  app.add_option("--save-logits", o->save_logits,
                 "Write this run's per-token log-probabilities (top k + the rest's mass) for --kl-divergence");
  app.add_option("--save-logits-top-k", o->top_k, "How many log-probabilities per token --save-logits keeps (default 64)")
      ->check(CLI::PositiveNumber);
  app.add_option("--kl-divergence", o->kl_divergence,
                 "Compare against a --save-logits file of a base run on the same text: KLD, top-token agreement, Δp");
  app.add_flag("--json", o->json, "Print one JSON object");
  add_run_options(app, o->run);
  return [o] { return run(*o); };
});

}  // namespace
}  // namespace stablelm::cli
