#pragma once
// Next-token selection with transformers' semantics (generation/logits_process.py and the order in
// which GenerationMixin._get_logits_processor builds the list), for one sequence (batch 1):
//
//   processors (greedy and sampling): [logit_bias] -> repetition_penalty -> [presence/frequency]
//                                     -> no_repeat_ngram_size -> min_length
//                                     -> min_new_tokens (eos suppressed while too short)
//                                     -> [constraint] (prefix_allowed_tokens_fn's place, e.g. JSON mode)
//   (the bracketed ones are OpenAI's, not transformers'; placed where vLLM applies them: the bias
//   first, the two penalties right after the repetition penalty)
//   warpers (sampling only):          temperature -> top_k -> top_p -> min_p -> typical_p
//   then softmax and one multinomial draw from a seeded PRNG; greedy = argmax of the processed scores.
//
// Processors work on the full vocabulary (span<float>, in place, filtered = -inf). Warpers work on a
// Candidates set: the (id, score) pairs still finite. A token at -inf has probability 0 in every
// transformers warper and stays filtered, so dropping it from the set gives the same distribution
// while keeping top_p/typical_p sorts to the survivors (50 after the default top_k, not 100k).
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stablelm {

struct GenerationConfig;

namespace sampling {

struct SchemaGraph;
class RegexDfa;

inline constexpr float kFiltered = -std::numeric_limits<float>::infinity();

// ---- processors: full-vocabulary scores, in place ------------------------------------------------

// RepetitionPenaltyLogitsProcessor: each distinct id of `seen` (prompt + generated) once:
// score < 0 ? score * penalty : score / penalty.
void apply_repetition_penalty(std::span<float> scores, std::span<const int32_t> seen_distinct, float penalty);

// OpenAI's presence / frequency penalties: each id of `generated_distinct` (the distinct generated
// ids) loses frequency * counts[id] + presence. `counts` is vocabulary-sized.
void apply_presence_frequency(std::span<float> scores, std::span<const int32_t> generated_distinct,
                              std::span<const int32_t> counts, float presence, float frequency);

// NoRepeatNGramLogitsProcessor: bans every token that would complete an n-gram already present in
// `tokens` (prompt + generated). Nothing is banned while tokens.size() + 1 < n.
void apply_no_repeat_ngram(std::span<float> scores, std::span<const int32_t> tokens, int n);

// MinLength / MinNewTokensLength: sets the given (eos) ids to -inf. Ids outside the vocabulary are ignored.
void suppress_ids(std::span<float> scores, std::span<const int32_t> ids);

// First index of the largest score (torch.argmax); -1 when no score is finite.
int32_t argmax(std::span<const float> scores);

// ---- warpers: the finite candidates -----------------------------------------------------------

struct Candidate {
  float score;
  int32_t id;
};

class Candidates {
 public:
  // Every finite entry of scores (id = index). Reuses its buffers: no allocation once reserved.
  void assign(std::span<const float> scores);
  void reserve(size_t n);
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  std::span<const Candidate> items() const { return items_; }
  // Full-vocabulary view (filtered = -inf); for tests and debugging.
  std::vector<float> to_full(size_t vocab_size) const;
  // Probabilities of the candidates, softmax in double, in items() order.
  std::span<const double> probs();

  // Work buffers for the warpers.
  struct Keyed {
    double key;  // what the warper orders by
    double p;    // the candidate's probability
    Candidate c;
  };
  std::vector<Candidate>& mutable_items() { return items_; }
  std::vector<Keyed>& keyed() { return keyed_; }

 private:
  std::vector<Candidate> items_;
  std::vector<double> probs_;
  std::vector<Keyed> keyed_;
};

// TemperatureLogitsWarper: scores / temperature (temperature > 0).
void apply_temperature(Candidates& c, float temperature);
// TopKLogitsWarper: keeps scores >= the k-th largest score (ties at the boundary are all kept);
// k = max(top_k, min_keep); no-op when k >= size.
void apply_top_k(Candidates& c, int top_k, int min_keep = 1);
// TopPLogitsWarper: sorts ascending (ties: lower id first), cumulative softmax, drops entries whose
// cumulative probability <= 1 - top_p, never the last (most probable) min_keep.
void apply_top_p(Candidates& c, double top_p, int min_keep = 1);
// MinPLogitsWarper: drops probs < min_p * max prob, keeping at least the min_keep most probable.
void apply_min_p(Candidates& c, double min_p, int min_keep = 1);
// TypicalLogitsWarper: orders by |-log p - entropy| ascending, keeps the shortest prefix reaching
// `mass` (with every entry tied with its last element), at least min_keep.
void apply_typical_p(Candidates& c, double mass, int min_keep = 1);

// ---- the PRNG ----------------------------------------------------------------------------------

// mt19937_64 with our own [0, 1) mapping (53 random bits), so that the same seed gives the same
// draws with any standard library.
class Rng {
 public:
  explicit Rng(uint64_t seed) : engine_(seed) {}
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

 private:
  std::mt19937_64 engine_;
};

// Multinomial draw from the candidates' softmax; throws stablelm::Error when c is empty.
int32_t sample(Candidates& c, Rng& rng);

// ---- constraints ---------------------------------------------------------------------------

// A rule on which tokens may come next (transformers' prefix_allowed_tokens_fn, e.g. JSON mode).
// The pipeline applies mask() after the other processors; whoever owns the sequence calls
// accept() with each chosen token and stops once complete().
class TokenConstraint {
 public:
  virtual ~TokenConstraint() = default;
  // Sets every token that may not come next to -inf.
  virtual void mask(std::span<float> scores) const = 0;
  virtual void accept(int32_t id) = 0;
  virtual bool complete() const = 0;
};

// ---- the per-step pipeline -------------------------------------------------------------------

// What GenerationMixin does to the last-position logits at each step, for one sequence. Holds the
// token history (prompt + generated) the processors need and every work buffer, so a step
// allocates nothing.
class LogitsPipeline {
 public:
  // cfg must be validated (GenerationConfig::validate). prompt = the ids fed to the model.
  LogitsPipeline(const GenerationConfig& cfg, int64_t vocab_size, std::span<const int32_t> prompt, uint64_t seed);

  // Applies processors (+ warpers and a draw when sampling, else argmax) to `logits`
  // (vocab_size floats) and returns the chosen id; does not append it.
  int32_t choose(std::span<const float> logits);
  // Appends a chosen (or forced) id to the history.
  void push(int32_t id);
  // A constraint applied from the next choose() on (not owned; null: none).
  void set_constraint(const TokenConstraint* c) { constraint_ = c; }

  std::span<const int32_t> history() const { return history_; }
  int64_t generated() const { return static_cast<int64_t>(history_.size()) - prompt_len_; }
  bool sampling() const { return do_sample_; }
  // After choose(): the processed full-vocabulary scores (before warpers) and the final candidates.
  std::span<const float> processed_scores() const { return scores_; }
  const Candidates& candidates() const { return cand_; }

 private:
  bool do_sample_;
  float temperature_, repetition_penalty_, presence_penalty_, frequency_penalty_;
  std::vector<std::pair<int32_t, float>> logit_bias_;
  double top_p_, min_p_, typical_p_;
  int top_k_;
  bool use_min_p_;
  int no_repeat_ngram_size_;
  int64_t min_length_, min_new_tokens_;
  std::vector<int32_t> eos_;
  int64_t prompt_len_;
  const TokenConstraint* constraint_ = nullptr;

  std::vector<int32_t> history_;
  std::vector<uint8_t> seen_;           // vocab-sized: id appears in history_
  std::vector<int32_t> seen_distinct_;  // ids with seen_ set, in first-seen order
  std::vector<int32_t> gen_count_;       // vocab-sized: times each id was generated (penalties only)
  std::vector<int32_t> gen_distinct_;    // ids with gen_count_ > 0, in first-generated order
  std::vector<float> scores_;
  Candidates cand_;
  Rng rng_;
};

}  // namespace sampling

// Compiles a JSON Schema (its JSON text) for GenerationConfig::json_schema (Format::JsonSchema).
// Throws stablelm::Error("json schema: ... (at #/...)") for bad JSON, unsupported keywords and
// schemas no value satisfies; src/sampling/json_schema.h lists what is supported.
std::shared_ptr<const sampling::SchemaGraph> compile_json_schema(std::string_view schema_json);

// Compiles a regular expression (ECMAScript syntax; src/sampling/regex.h lists what is
// supported) for GenerationConfig::regex (Format::Regex): the whole output must match it. Throws
// stablelm::Error("regex: ... (at offset N of the pattern)").
std::shared_ptr<const sampling::RegexDfa> compile_regex(std::string_view pattern);
// The regex that matches exactly one of the choices, as they are (vLLM's guided_choice). Throws
// stablelm::Error for an empty list.
std::shared_ptr<const sampling::RegexDfa> compile_choice(const std::vector<std::string>& choices);

}  // namespace stablelm
