// log_softmax of a logits row in double, the one definition `stablelm score` and
// `stablelm perplexity` share (so their per-token log-probabilities are the same numbers).
#include <algorithm>
#include <cmath>

#include "stablelm/eval.h"

namespace stablelm::eval {

LogSoftmax log_softmax_of(std::span<const float> row) {
  LogSoftmax r;
  r.max = *std::max_element(row.begin(), row.end());
  double s = 0.0;
  for (float x : row) s += std::exp(static_cast<double>(x) - r.max);
  r.log_sum = std::log(s);
  return r;
}

int32_t argmax(std::span<const float> row) {
  return static_cast<int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
}

}  // namespace stablelm::eval
