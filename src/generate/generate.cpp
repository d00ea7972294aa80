// The decode loop: one batched forward pass over the prompt, then one token per step until eos,
// a stop string, the token budget or the caller says stop.
#include <chrono>
#include <string>

#include "stablelm/error.h"
#include "stablelm/check_finite.h"
#include "stablelm/generate.h"
#include "stablelm/model.h"
#include "stablelm/sampling.h"
#include "stablelm/tokenizer.h"

namespace stablelm {

const char* stop_reason_name(StopReason r) {
  switch (r) {
    case StopReason::Eos: return "eos";
    case StopReason::MaxNewTokens: return "max_new_tokens";
    case StopReason::StopString: return "stop_string";
    case StopReason::Callback: return "callback";
  }
  return "?";
}

GenerationResult generate(Session& session, std::span<const int32_t> prompt, const GenerationConfig& cfg,
                          const GenerateOptions& opts) {
  using Clock = std::chrono::steady_clock;
  cfg.validate();
  if (prompt.empty()) throw Error("generate: the prompt is empty (no token to start from)");
  const auto prompt_len = static_cast<int64_t>(prompt.size());
  const int64_t budget = cfg.new_token_budget(prompt_len);
  // Checked up front (as the issue asks: prompt + max_new_tokens must fit the context) rather than
  // failing halfway through the output.
  if (prompt_len + budget > session.max_context())
    throw Error("generate: prompt of " + std::to_string(prompt_len) + " tokens + " + std::to_string(budget) +
                " new tokens exceeds the context of " + std::to_string(session.max_context()) +
                " positions (shorten the prompt or lower --max-new-tokens)");
  if (!cfg.stop_strings.empty() && opts.tokenizer == nullptr)
    throw Error("generate: stop strings need a tokenizer (the model directory has none)");
  if (session.n_past() > 0) session.truncate(0);

  StopStringMatcher stops(cfg.stop_strings);
  if (!stops.empty()) {
    // The prompt's tail, so a stop string may begin in the prompt as in transformers.
    std::string tail;
    for (size_t i = prompt.size(); i-- > 0 && tail.size() < 256;) tail.insert(0, opts.tokenizer->token_bytes(prompt[i]));
    stops.reset(tail);
  }

  GenerationResult r;
  r.prompt_tokens = prompt_len;
  r.ids.reserve(static_cast<size_t>(budget));

  const auto t0 = Clock::now();
  std::span<const float> logits = session.forward(prompt, /*all_logits=*/false);
  check_finite_logits(logits, static_cast<int64_t>(logits.size()), "generate", static_cast<int64_t>(prompt.size()) - 1);
  sampling::LogitsPipeline pipe(cfg, static_cast<int64_t>(logits.size()), prompt, opts.seed);
  auto t_first = t0;
  std::string bytes;
  for (int64_t step = 0;; ++step) {
    const int32_t id = pipe.choose(logits);
    pipe.push(id);
    r.ids.push_back(id);
    if (step == 0) t_first = Clock::now();

    bool stop = false;
    if (opts.on_token && !opts.on_token(id)) {
      r.stop = StopReason::Callback;
      stop = true;
    }
    if (!stop) {
      for (int32_t e : cfg.eos_token_ids)
        if (e == id) {
          r.stop = StopReason::Eos;
          stop = true;
          break;
        }
    }
    if (!stop && !stops.empty()) {
      bytes = opts.tokenizer->token_bytes(id);
      r.stop_string_index = stops.push(bytes);
      if (r.stop_string_index >= 0) {
        r.stop = StopReason::StopString;
        stop = true;
      }
    }
    if (!stop && static_cast<int64_t>(r.ids.size()) >= budget) {
      r.stop = StopReason::MaxNewTokens;
      stop = true;
    }
    if (stop) break;
    logits = session.forward(std::span<const int32_t>(&r.ids.back(), 1), false);
    check_finite_logits(logits, static_cast<int64_t>(logits.size()), "generate",
                        static_cast<int64_t>(prompt.size() + r.ids.size()) - 1);
    ++r.decode_steps;
  }
  const auto t_end = Clock::now();
  r.prefill_seconds = std::chrono::duration<double>(t_first - t0).count();
  r.decode_seconds = std::chrono::duration<double>(t_end - t_first).count();
  return r;
}

}  // namespace stablelm
