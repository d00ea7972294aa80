// KL-divergence and token-probability statistics of a run against a saved base run, the
// figures llama-perplexity --kl-divergence prints.
#include <algorithm>
#include <cmath>

#include "stablelm/eval.h"

namespace stablelm::eval {

double quantile_sorted(std::span<const double> v, double q) {
  if (v.empty()) return 0.0;
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto i = static_cast<size_t>(pos);
  if (i + 1 >= v.size()) return v.back();
  const double f = pos - static_cast<double>(i);
  return v[i] + f * (v[i + 1] - v[i]);
}

void KldStats::add(const SavedRow& base, std::span<const float> logits, const LogSoftmax& ls, int32_t target) {
  // This run's values go through the same float rounding as the saved ones, so a run against
  // its own file gives exactly 0.
  double kld = 0.0;
  for (size_t i = 0; i < base.ids.size(); ++i) {
    const double lp = base.logprobs[i];
    const double lq = static_cast<float>(ls(logits[base.ids[i]]));
    kld += std::exp(lp) * (lp - lq);
  }
  const double rest_p = base.rest_mass;
  if (rest_p > 0.0) {
    const double rest_q = std::max(static_cast<double>(static_cast<float>(rest_mass(logits, ls, base.ids))), 1e-300);
    kld += rest_p * (std::log(rest_p) - std::log(rest_q));
  }
  kld_.push_back(kld);
  const double lq_target = static_cast<float>(ls(logits[static_cast<size_t>(target)]));
  const double dp = std::exp(lq_target) - std::exp(static_cast<double>(base.target_logprob));
  dp_sq_ += dp * dp;
  dp_max_ = std::max(dp_max_, std::abs(dp));
  rest_ += rest_p;
  if (!base.ids.empty() && static_cast<uint32_t>(argmax(logits)) == base.ids[0]) ++same_top_;
  nll_.add(-lq_target);
  base_nll_.add(-static_cast<double>(base.target_logprob));
}

KldSummary KldStats::summary() const {
  KldSummary s;
  const auto n = static_cast<int64_t>(kld_.size());
  s.tokens = n;
  if (n == 0) return s;
  NllStats k;  // mean and standard error of the per-token KLD
  for (double v : kld_) k.add(v);
  s.kld_mean = k.mean();
  s.kld_stderr = k.mean_stderr();
  std::vector<double> sorted = kld_;
  std::sort(sorted.begin(), sorted.end());
  s.kld_median = quantile_sorted(sorted, 0.5);
  s.kld_q90 = quantile_sorted(sorted, 0.90);
  s.kld_q95 = quantile_sorted(sorted, 0.95);
  s.kld_q99 = quantile_sorted(sorted, 0.99);
  s.kld_q999 = quantile_sorted(sorted, 0.999);
  s.kld_max = sorted.back();
  const double dn = static_cast<double>(n);
  const double same = static_cast<double>(same_top_) / dn;
  s.same_top_pct = 100.0 * same;
  s.same_top_stderr_pct = n > 1 ? 100.0 * std::sqrt(same * (1.0 - same) / (dn - 1.0)) : 0.0;
  s.dp_rms_pct = 100.0 * std::sqrt(dp_sq_ / dn);
  s.dp_max_pct = 100.0 * dp_max_;
  s.ppl = nll_.ppl();
  s.base_ppl = base_nll_.ppl();
  s.ppl_ratio = std::exp(nll_.mean() - base_nll_.mean());
  s.base_rest_mass_mean = rest_ / dn;
  return s;
}

}  // namespace stablelm::eval
