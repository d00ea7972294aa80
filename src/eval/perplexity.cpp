// The whole perplexity run: windows through the scorer, NLLs into the statistics, rows into
// the saved-logits file or against the base's.
#include <algorithm>

#include "stablelm/error.h"
#include "stablelm/eval.h"

namespace stablelm::eval {

PerplexityResult run_perplexity(WindowScorer& scorer, std::span<const int32_t> tokens, const WindowPlan& plan,
                                const PerplexityRun& run) {
  if (run.batch < 1) throw Error("--batch " + std::to_string(run.batch) + ": must be at least 1");
  if (run.base) run.base->check_plan(plan);
  PerplexityResult r;
  r.token_nll.reserve(static_cast<size_t>(plan.scored_tokens));
  r.targets.reserve(static_cast<size_t>(plan.scored_tokens));
  KldStats kld;
  const RowFn on_row = [&](int64_t target, std::span<const float> logits) {
    const int32_t id = tokens[static_cast<size_t>(target)];
    const LogSoftmax ls = log_softmax_of(logits);
    const double nll = -ls(logits[static_cast<size_t>(id)]);
    r.nll.add(nll);
    r.token_nll.push_back(nll);
    r.targets.push_back(target);
    if (run.save) run.save->add(logits, ls, id);
    if (run.base) kld.add(run.base->next(), logits, ls, id);
  };
  const std::span<const Window> windows(plan.windows);
  const auto batch = static_cast<size_t>(run.batch);
  for (size_t i = 0; i < windows.size(); i += batch) {
    const size_t n = std::min(batch, windows.size() - i);
    scorer.score(tokens, windows.subspan(i, n), on_row);
    if (run.on_progress) run.on_progress(i + n, r.nll);
  }
  if (r.nll.count() != plan.scored_tokens)
    throw Error("perplexity: the scorer returned " + std::to_string(r.nll.count()) + " rows for " +
                std::to_string(plan.scored_tokens) + " scored tokens");
  if (run.save) run.save->finish();
  if (run.base) {
    r.has_kld = true;
    r.kld = kld.summary();
  }
  return r;
}

}  // namespace stablelm::eval
