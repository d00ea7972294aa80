#pragma once
// Text generation like transformers' GenerationMixin.generate() for one sequence: the settings of
// generation_config.json (with transformers' defaults), the logits processors and warpers of
// stablelm/sampling.h, and the decode loop over a Session (prefill once, then one token a step).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "stablelm/config.h"
#include "stablelm/generation_config.h"
#include "stablelm/sampling.h"

namespace stablelm {

class Engine;
class Session;
class Tokenizer;

// ---- the request rules that the CLI and the server share ------------------------------------

// Sampling options as a user gives them (unset = not given), named after the CLI's options.
struct SamplingRequest {
  bool greedy = false;     // force argmax; conflicts with the sampling options
  bool do_sample = false;  // sample (also implied by the options below)
  std::optional<float> temperature;
  std::optional<int> top_k;
  std::optional<double> top_p, min_p, typical_p;
};
// The model's defaults (cfg) with the request on top: giving temperature > 0, top_k, top_p,
// min_p or typical_p turns sampling on, as a user of the model card expects (transformers would
// need do_sample=True); greedy forces argmax; temperature 0 means greedy. Returns the validated
// config; throws stablelm::Error on contradictions (naming --greedy, --do-sample, --temperature…)
// or out-of-range values.
GenerationConfig apply_sampling(GenerationConfig cfg, const SamplingRequest& r);

// An empty prompt starts from BOS (as generate() does without input_ids; an error when the model
// has no bos_token_id); every id must be inside the vocabulary.
void start_prompt(std::vector<int32_t>& prompt, const GenerationConfig& cfg, int64_t vocab_size);

// The prompt and its token budget in a context of `context` positions: when they do not fit,
// an error naming the numbers, or with truncate_left the prompt's oldest tokens are dropped (the
// budget then stays what it was, as max_new_tokens). Returns the budget and the tokens dropped.
struct PromptFit {
  int64_t budget = 0;
  int64_t dropped = 0;
};
PromptFit fit_prompt(std::vector<int32_t>& prompt, GenerationConfig& cfg, int64_t context, bool truncate_left);

// Stop strings checked like transformers' StopStringCriteria: after each new token, stop when a
// stop string ends inside that token's bytes (it may start in earlier tokens, prompt included, and
// the token may run past its end). Matching is on raw token bytes.
class StopStringMatcher {
 public:
  explicit StopStringMatcher(std::vector<std::string> stops);
  bool empty() const { return stops_.empty(); }
  // Seeds the window with the bytes before the first generated token (the prompt's tail).
  void reset(std::string_view preceding_bytes);
  // Appends a token's bytes; returns the index of a stop string that now ends in them, or -1.
  int push(std::string_view token_bytes);

 private:
  std::vector<std::string> stops_;
  size_t keep_ = 0;     // longest stop - 1: the bytes of history a match can start in
  std::string window_;  // the last keep_ bytes, then the new token
};

// JsonComplete: constrained output finished: JSON mode's object, the tool-call list or the
// schema's value closed, or a regex match that nothing can extend (GenerationConfig::Format).
enum class StopReason { Eos, MaxNewTokens, StopString, Callback, JsonComplete };
const char* stop_reason_name(StopReason r);

struct GenerateOptions {
  uint64_t seed = 0;
  // Needed for stop strings (token bytes); may be null otherwise.
  const Tokenizer* tokenizer = nullptr;
  // Called with each new id as soon as it is chosen (the id that triggers a stop included);
  // return false to stop after it.
  std::function<bool(int32_t id)> on_token;
};

struct GenerationResult {
  std::vector<int32_t> ids;  // new tokens, the eos / stop-completing token included (as transformers returns)
  StopReason stop = StopReason::MaxNewTokens;
  int stop_string_index = -1;
  int64_t prompt_tokens = 0;
  double prefill_seconds = 0;  // the prompt's forward pass and the first token's choice
  double decode_seconds = 0;   // the remaining steps
  int64_t decode_steps = 0;    // forward passes of one token (ids.size() - 1 unless it stopped early)
};

// One sequence's generation, fed one logits row at a time: the decode loop inverted, so that the
// caller runs the forward passes (many sequences in one Engine batch, the server's scheduler, or
// generate() below over a Session). step() applies the processors and warpers, draws or takes
// the argmax, appends the token, and says whether the sequence stops (eos, stop string, budget).
class SequenceGenerator {
 public:
  // cfg is validated here; prompt = the ids fed to the model (for penalties, min_length and the
  // stop strings' look-back); tokenizer is needed for stop strings and JSON mode (may be null
  // otherwise).
  SequenceGenerator(const GenerationConfig& cfg, int64_t vocab_size, std::span<const int32_t> prompt, uint64_t seed,
                    const Tokenizer* tokenizer);

  struct Step {
    int32_t id = -1;
    bool done = false;
    StopReason reason = StopReason::MaxNewTokens;  // when done
    int stop_string_index = -1;
  };
  // logits: the vocab_size logits of the sequence's last position.
  Step step(std::span<const float> logits);
  // Ends the sequence from outside (a client went away, a callback said stop).
  void stop(StopReason reason) { done_ = true, reason_ = reason; }

  bool done() const { return done_; }
  StopReason reason() const { return reason_; }
  const std::vector<int32_t>& ids() const { return ids_; }  // generated so far (the stopping token included)
  int64_t budget() const { return budget_; }
  const sampling::LogitsPipeline& pipeline() const { return pipe_; }

 private:
  const GenerationConfig& cfg_;
  const Tokenizer* tok_;
  int64_t budget_;
  sampling::LogitsPipeline pipe_;
  std::unique_ptr<sampling::TokenConstraint> constraint_;  // JSON mode, tool calls
  StopStringMatcher stops_;
  std::vector<int32_t> ids_;
  bool done_ = false;
  StopReason reason_ = StopReason::MaxNewTokens;
};

// Runs generation on an empty session (a used one is reset to position 0). The prompt must be
// non-empty and prompt + budget must fit the session's context; otherwise stablelm::Error says so.
GenerationResult generate(Session& session, std::span<const int32_t> prompt, const GenerationConfig& cfg,
                          const GenerateOptions& opts = {});

}  // namespace stablelm

namespace stablelm {

// num_return_sequences: n samples of one prompt in one batch per step on an Engine, sharing
// the prompt's KV blocks (prefilled once, then forked). Sample i draws with seed + i, so each
// sample equals a single-sequence generate() with that seed (the engine is row-invariant).
// Needs sampling when n > 1, as transformers does. on_token, when set, is called as
// on_token(i, id) and may return false to stop sample i.
struct MultiGenerateOptions {
  uint64_t seed = 0;
  const Tokenizer* tokenizer = nullptr;
  std::function<bool(int index, int32_t id)> on_token;
};
std::vector<GenerationResult> generate_n(Engine& engine, std::span<const int32_t> prompt, int n,
                                         const GenerationConfig& cfg, const MultiGenerateOptions& opts = {});

}  // namespace stablelm
