// Mean and standard error of per-token NLLs (Welford's update: stable over millions of tokens).
#include <cmath>

#include "stablelm/eval.h"

namespace stablelm::eval {

void NllStats::add(double nll) {
  ++n_;
  const double d = nll - mean_;
  mean_ += d / static_cast<double>(n_);
  m2_ += d * (nll - mean_);
}

double NllStats::mean_stderr() const {
  if (n_ < 2) return 0.0;
  return std::sqrt(m2_ / static_cast<double>(n_ - 1) / static_cast<double>(n_));
}

double NllStats::ppl() const { return std::exp(mean_); }

double NllStats::ppl_stderr() const { return ppl() * mean_stderr(); }

}  // namespace stablelm::eval
