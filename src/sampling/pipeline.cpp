// One generation step's logits -> next id, in the order transformers' _get_logits_processor
// builds its list (see stablelm/sampling.h).
#include <algorithm>
#include <string>

#include "stablelm/error.h"
#include "stablelm/generation_config.h"
#include "stablelm/sampling.h"

namespace stablelm::sampling {

LogitsPipeline::LogitsPipeline(const GenerationConfig& cfg, int64_t vocab_size, std::span<const int32_t> prompt,
                               uint64_t seed)
    : do_sample_(cfg.sampling()),
      temperature_(cfg.temperature),
      repetition_penalty_(cfg.repetition_penalty),
      presence_penalty_(cfg.presence_penalty),
      frequency_penalty_(cfg.frequency_penalty),
      logit_bias_(cfg.logit_bias),
      top_p_(cfg.top_p),
      min_p_(cfg.min_p.value_or(0.0)),
      typical_p_(cfg.typical_p),
      top_k_(cfg.top_k),
      use_min_p_(cfg.min_p.has_value()),
      no_repeat_ngram_size_(cfg.no_repeat_ngram_size),
      min_length_(cfg.min_length),
      min_new_tokens_(cfg.min_new_tokens.value_or(0)),
      eos_(cfg.eos_token_ids),
      prompt_len_(static_cast<int64_t>(prompt.size())),
      rng_(seed) {
  if (vocab_size <= 0) throw Error("generation: vocabulary size must be positive");
  const auto v = static_cast<size_t>(vocab_size);
  history_.reserve(prompt.size() + 4096);
  seen_distinct_.reserve(std::min<size_t>(v, prompt.size() + 4096));
  seen_.assign(v, 0);
  for (const auto& [id, bias] : logit_bias_)
    if (id < 0 || id >= vocab_size)
      throw Error("generation: logit_bias names token " + std::to_string(id) + ", outside the vocabulary [0, " +
                  std::to_string(vocab_size) + ")");
  if (presence_penalty_ != 0.0f || frequency_penalty_ != 0.0f) gen_count_.assign(v, 0);
  scores_.resize(v);
  cand_.reserve(v);
  for (int32_t id : prompt) push(id);
}

void LogitsPipeline::push(int32_t id) {
  history_.push_back(id);
  if (id >= 0 && static_cast<size_t>(id) < seen_.size() && !seen_[static_cast<size_t>(id)]) {
    seen_[static_cast<size_t>(id)] = 1;
    seen_distinct_.push_back(id);
  }
  // Generated (not prompt) ids, for OpenAI's penalties.
  if (!gen_count_.empty() && generated() > 0 && id >= 0 && static_cast<size_t>(id) < gen_count_.size())
    if (gen_count_[static_cast<size_t>(id)]++ == 0) gen_distinct_.push_back(id);
}

int32_t LogitsPipeline::choose(std::span<const float> logits) {
  if (logits.size() != scores_.size())
    throw Error("generation: got " + std::to_string(logits.size()) + " logits, expected vocabulary size " +
                std::to_string(scores_.size()));
  std::copy(logits.begin(), logits.end(), scores_.begin());
  std::span<float> s(scores_);

  // Processors, in transformers' order (OpenAI's where vLLM puts them).
  for (const auto& [id, bias] : logit_bias_) s[static_cast<size_t>(id)] += bias;
  if (repetition_penalty_ != 1.0f) apply_repetition_penalty(s, seen_distinct_, repetition_penalty_);
  if (!gen_count_.empty()) apply_presence_frequency(s, gen_distinct_, gen_count_, presence_penalty_, frequency_penalty_);
  if (no_repeat_ngram_size_ > 0) apply_no_repeat_ngram(s, history_, no_repeat_ngram_size_);
  if (min_length_ > 0 && static_cast<int64_t>(history_.size()) < min_length_) suppress_ids(s, eos_);
  if (min_new_tokens_ > 0 && generated() < min_new_tokens_) suppress_ids(s, eos_);
  if (constraint_ != nullptr) constraint_->mask(s);

  if (!do_sample_) {
    const int32_t id = argmax(s);
    if (id < 0) throw Error("generation: every token was filtered out (all scores are -inf)");
    return id;
  }

  // Warpers (min_tokens_to_keep is 1 for a single sequence without beams).
  cand_.assign(s);
  if (temperature_ != 1.0f) apply_temperature(cand_, temperature_);
  if (top_k_ != 0) apply_top_k(cand_, top_k_);
  if (top_p_ < 1.0) apply_top_p(cand_, top_p_);
  if (use_min_p_) apply_min_p(cand_, min_p_);
  if (typical_p_ < 1.0) apply_typical_p(cand_, typical_p_);
  return sample(cand_, rng_);
}

}  // namespace stablelm::sampling
