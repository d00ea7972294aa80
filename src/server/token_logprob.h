#pragma once
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace stablelm::server {

// A token with its log-probability under the model (log_softmax of the raw logits, as
// `stablelm score` computes it) and the top alternatives (highest logit first, ties to the lower id).
struct TokenLogprob {
  int32_t id = -1;
  double logprob = 0;
  std::vector<std::pair<int32_t, double>> top;
};

// Log-probability of `target` and the top k of a logits row. The top k are the first k of any
// larger top list (one order, ties to the lower id), so a list may be cut to a smaller k.
TokenLogprob token_logprob(std::span<const float> row, int32_t target, int k);

}  // namespace stablelm::server
