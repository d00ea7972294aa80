// The request rules the CLI (`stablelm generate`) and the server share: how sampling options
// combine with the model's defaults, where an empty prompt starts, and how a prompt and its
// budget are fitted into the context.
#include <string>

#include "stablelm/error.h"
#include "stablelm/generate.h"

namespace stablelm {

GenerationConfig apply_sampling(GenerationConfig g, const SamplingRequest& r) {
  if (r.greedy && r.do_sample) throw Error("generate: --greedy and --do-sample contradict each other");
  if (r.greedy) {
    const std::pair<bool, const char*> sampling_opts[] = {
        {r.temperature.has_value(), "--temperature"}, {r.top_k.has_value(), "--top-k"},
        {r.top_p.has_value(), "--top-p"},             {r.min_p.has_value(), "--min-p"},
        {r.typical_p.has_value(), "--typical-p"},
    };
    for (const auto& [given, name] : sampling_opts)
      if (given)
        throw Error(std::string("generate: --greedy conflicts with ") + name + " (a sampling option); drop one of them");
  }
  if (r.do_sample && r.temperature && *r.temperature == 0.0f)
    throw Error("generate: --temperature 0 means greedy decoding; it contradicts --do-sample");
  if (r.temperature) g.temperature = *r.temperature;
  if (r.top_k) g.top_k = *r.top_k;
  if (r.top_p) g.top_p = *r.top_p;
  if (r.min_p) g.min_p = *r.min_p;
  if (r.typical_p) g.typical_p = *r.typical_p;
  // Sampling when asked for, or implied by a sampling option; greedy when forced.
  const bool implied = (r.temperature && *r.temperature > 0.0f) || r.top_k || r.top_p || r.min_p || r.typical_p;
  if (r.greedy) g.do_sample = false;
  else if (r.do_sample || implied) g.do_sample = true;
  if (r.temperature && *r.temperature == 0.0f) g.do_sample = false;
  g.validate();
  return g;
}

void start_prompt(std::vector<int32_t>& prompt, const GenerationConfig& cfg, int64_t vocab_size) {
  if (prompt.empty()) {
    if (!cfg.bos_token_id) throw Error("generate: the prompt is empty and the model has no bos_token_id to start from");
    prompt.push_back(*cfg.bos_token_id);
  }
  for (int32_t id : prompt)
    if (id < 0 || id >= vocab_size)
      throw Error("generate: prompt token id " + std::to_string(id) + " is out of range (vocab_size " +
                  std::to_string(vocab_size) + ")");
}

PromptFit fit_prompt(std::vector<int32_t>& prompt, GenerationConfig& cfg, int64_t context, bool truncate_left) {
  PromptFit fit;
  fit.budget = cfg.new_token_budget(static_cast<int64_t>(prompt.size()));
  if (static_cast<int64_t>(prompt.size()) + fit.budget <= context) return fit;
  if (!truncate_left || fit.budget >= context)
    throw Error("generate: prompt of " + std::to_string(prompt.size()) + " tokens + " + std::to_string(fit.budget) +
                " new tokens exceeds max_position_embeddings " + std::to_string(context) +
                (fit.budget >= context ? " (lower --max-new-tokens)"
                                       : " (shorten the prompt, lower --max-new-tokens, or pass --truncate left)"));
  const auto keep = static_cast<size_t>(context - fit.budget);
  fit.dropped = static_cast<int64_t>(prompt.size() - keep);
  prompt.erase(prompt.begin(), prompt.end() - static_cast<std::ptrdiff_t>(keep));
  if (!cfg.max_new_tokens) cfg.max_new_tokens = fit.budget;  // the budget must not grow as the prompt shrinks
  fit.budget = cfg.new_token_budget(static_cast<int64_t>(prompt.size()));
  return fit;
}

}  // namespace stablelm
