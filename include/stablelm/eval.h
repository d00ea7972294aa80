#pragma once
// Perplexity and KL-divergence of a model on a token sequence (`stablelm perplexity`).
//
// The policy lives here: how a text is cut into windows (transformers' sliding window or
// llama-perplexity's chunks), the per-token NLL statistics, the saved-logits file of a base run
// and the KL-divergence statistics of another run against it. The model is driven through
// WindowScorer, which hands back the logits row that predicts each scored token; today one
// Session runs the windows one after another (make_session_scorer), a batched engine can run
// several windows per forward pass behind the same interface without touching the statistics.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "stablelm/model.h"

namespace stablelm::eval {

// ---- log-softmax (shared with `stablelm score`) ---------------------------------------------

// log_softmax of one logits row: logprob(x) = x - max - log(sum(exp(row - max))), the result in
// double, the sum of fp32 exp terms in double (kernels::sum_exp; within ~1e-7 of double exps).
struct LogSoftmax {
  float max = 0.0f;
  double log_sum = 0.0;  // log(sum(exp(row - max)))
  double operator()(float logit) const { return static_cast<double>(logit) - max - log_sum; }
};
LogSoftmax log_softmax_of(std::span<const float> row);
// Index of the largest logit (the lowest index among equal ones).
int32_t argmax(std::span<const float> row);

// ---- windows --------------------------------------------------------------------------------

enum class Mode {
  // transformers' "perplexity of fixed-length models": windows of ctx tokens starting every
  // stride tokens; each scores the tokens no earlier window scored, with up to ctx - stride
  // tokens of context. With stride < ctx every token after the first is scored once; with
  // stride == ctx each window's first token has no context and is not scored (as in the recipe).
  Sliding,
  // llama-perplexity: non-overlapping chunks of ctx tokens, each scoring the tokens after its
  // first half (positions ctx/2+1 .. ctx-1); tokens after the last whole chunk are not used.
  Chunks,
};
const char* mode_name(Mode m);  // "sliding" / "chunks"

// tokens[begin, end) are the window; the tokens at [first_scored, end) are scored, each predicted
// from the tokens before it in the window (begin < first_scored < end).
struct Window {
  int64_t begin = 0, end = 0, first_scored = 0;
  int64_t scored() const { return end - first_scored; }
};

struct WindowPlan {
  Mode mode = Mode::Sliding;
  int64_t ctx = 0;
  int64_t stride = 0;  // chunks: ctx
  std::vector<Window> windows;
  int64_t scored_tokens = 0;     // sum of scored()
  int64_t evaluated_tokens = 0;  // tokens the model runs over (each window's end - begin - 1)
  int64_t unused_tokens = 0;     // chunks: tokens after the last whole chunk
};

// Throws stablelm::Error (naming --ctx / --stride) when ctx < 2 (chunks: < 3), stride < 1,
// stride > ctx, fewer than 2 tokens, or (chunks) fewer tokens than one chunk.
WindowPlan plan_windows(int64_t n_tokens, Mode mode, int64_t ctx, int64_t stride);

// ---- driving the model ----------------------------------------------------------------------

// Called with the logits row (vocab_size floats) that predicts tokens[target].
using RowFn = std::function<void(int64_t target, std::span<const float> logits)>;

class WindowScorer {
 public:
  virtual ~WindowScorer() = default;
  // Runs `windows` over `tokens` (in any grouping, e.g. all of them in one batched forward
  // pass) and calls on_row for every scored token: windows in order, targets ascending.
  virtual void score(std::span<const int32_t> tokens, std::span<const Window> windows, const RowFn& on_row) = 0;
};

// One Session of max_context ctx, one window at a time. A window's rows are computed exactly as
// `stablelm score` computes a continuation after a context (the context's first tokens without
// logits, then the rest with all rows), so its NLLs are bitwise those of score.
std::unique_ptr<WindowScorer> make_session_scorer(const Model& model, int64_t ctx, KVFormat kv);

// The batched engine: the windows of one score() call (at most `windows` of them) run together,
// one sequence each, in forward passes of at most max_rows rows. Bitwise the same NLLs as the
// Session scorer (the engine is row-invariant), several windows per weight pass.
std::unique_ptr<WindowScorer> make_engine_scorer(const Model& model, int64_t ctx, KVFormat kv, int64_t windows,
                                                 int64_t max_rows = 2048);

// ---- NLL statistics -------------------------------------------------------------------------

// Running mean and variance of per-token NLLs (Welford, in double).
class NllStats {
 public:
  void add(double nll);
  int64_t count() const { return n_; }
  double mean() const { return mean_; }
  double mean_stderr() const;  // sample standard deviation / sqrt(n); 0 below 2 tokens
  double ppl() const;          // exp(mean)
  double ppl_stderr() const;   // ppl * mean_stderr (first-order error propagation, as llama-perplexity)

 private:
  int64_t n_ = 0;
  double mean_ = 0.0, m2_ = 0.0;
};

// ---- saved logits (the base of a KL-divergence run) -----------------------------------------
//
// File layout (little-endian), docs/PERFORMANCE.md "Quality":
//   "SLMLOGP1"  8 bytes magic
//   u64 N       length of the JSON header
//   N bytes     JSON header (LogitsFileHeader)
//   rows        one per scored token, in scoring order:
//               f32 logprob of the scored token, f32 probability mass outside the top k,
//               u32 ids[k] (descending probability), f32 logprobs[k]
// Top-k plus the rest's mass, not full rows: a full row of the 100k vocabulary is 200 KB per
// token even at 16 bits (60 GB for wikitext-2), top 64 is 520 bytes. The KL-divergence over the
// top k plus one bin for the rest is a lower bound of the full one, equal when k >= vocab_size;
// the mean base mass outside the top k is reported so the gap can be judged.

// What a saved file must agree on with the run that reads it.
struct ModelIdentity {
  std::string architecture;  // sha256 of the config fields the forward pass depends on
  std::string weights;       // sha256 of the sign bits of embedding rows 0, V/2, V-1 (the same
                             // in every stored dtype: rounding keeps signs)
  int64_t vocab_size = 0;
};
ModelIdentity model_identity(const Model& model);
std::string tokens_sha256(std::span<const int32_t> tokens);

struct LogitsFileHeader {
  ModelIdentity model;
  std::string description;  // the base run, for display ("DIR, weights f32, kv f32")
  int64_t token_count = 0;
  std::string token_sha256;
  Mode mode = Mode::Sliding;
  int64_t ctx = 0, stride = 0;
  int64_t top_k = 0;
  int64_t rows = 0;  // = the plan's scored_tokens
};

struct SavedRow {
  float target_logprob = 0.0f;
  float rest_mass = 0.0f;
  std::vector<uint32_t> ids;      // top_k, descending probability
  std::vector<float> logprobs;    // top_k
};

// Computes a row from logits and their log_softmax_of (top k by logit, ties to the lower id).
SavedRow make_saved_row(std::span<const float> logits, const LogSoftmax& ls, int32_t target, int64_t top_k);
// Probability mass of the tokens not in `ids`.
double rest_mass(std::span<const float> logits, const LogSoftmax& ls, std::span<const uint32_t> ids);

class LogitsWriter {
 public:
  // Writes the header; rows follow with add(). Throws stablelm::Error naming the file.
  LogitsWriter(const std::filesystem::path& path, const LogitsFileHeader& header);
  void add(std::span<const float> logits, const LogSoftmax& ls, int32_t target);
  void finish();  // checks the row count and flushes

 private:
  std::filesystem::path path_;
  std::ofstream out_;
  LogitsFileHeader header_;
  int64_t written_ = 0;
};

class LogitsReader {
 public:
  // Reads and checks the header and the file size (a truncated file is refused here).
  explicit LogitsReader(const std::filesystem::path& path);
  const LogitsFileHeader& header() const { return header_; }
  const std::filesystem::path& path() const { return path_; }
  // Refuses (stablelm::Error naming the file) a file from another model or other tokens.
  void check_matches(const ModelIdentity& model, std::span<const int32_t> tokens) const;
  // Refuses a run whose windows differ from the base's (mode, ctx, stride).
  void check_plan(const WindowPlan& plan) const;
  SavedRow next();

 private:
  std::filesystem::path path_;
  std::ifstream in_;
  LogitsFileHeader header_;
  int64_t read_ = 0;
};

// ---- KL-divergence against a saved base -----------------------------------------------------

struct KldSummary {
  int64_t tokens = 0;
  double kld_mean = 0, kld_stderr = 0, kld_median = 0, kld_q90 = 0, kld_q95 = 0, kld_q99 = 0, kld_q999 = 0,
         kld_max = 0;
  double same_top_pct = 0, same_top_stderr_pct = 0;
  double dp_rms_pct = 0, dp_max_pct = 0;  // Δp = p(scored token) - p_base(scored token), in percentage points; max of |Δp|
  double ppl = 0, base_ppl = 0, ppl_ratio = 0;  // over the same tokens, from the float-rounded log-probs
  double base_rest_mass_mean = 0;         // mean base probability outside the saved top k
};

class KldStats {
 public:
  // One scored token: the base's saved row and this run's logits.
  void add(const SavedRow& base, std::span<const float> logits, const LogSoftmax& ls, int32_t target);
  KldSummary summary() const;

 private:
  std::vector<double> kld_;
  double dp_sq_ = 0, dp_max_ = 0, rest_ = 0;
  int64_t same_top_ = 0;
  NllStats base_nll_, nll_;
};

// Linear interpolation between order statistics (numpy's default): sorted[q * (n - 1)].
double quantile_sorted(std::span<const double> sorted, double q);

// ---- the whole run --------------------------------------------------------------------------

struct PerplexityResult {
  NllStats nll;
  std::vector<double> token_nll;  // per scored token, in order
  std::vector<int64_t> targets;   // their positions in the token sequence
  bool has_kld = false;
  KldSummary kld;
};

struct PerplexityRun {
  int64_t batch = 1;             // windows handed to the scorer per call
  LogitsWriter* save = nullptr;  // writes every scored row
  LogitsReader* base = nullptr;  // compares every scored row against it
  // After each group of windows: windows done so far and the running statistics.
  std::function<void(size_t windows_done, const NllStats&)> on_progress;
};

PerplexityResult run_perplexity(WindowScorer& scorer, std::span<const int32_t> tokens, const WindowPlan& plan,
                                const PerplexityRun& run = {});

}  // namespace stablelm::eval
