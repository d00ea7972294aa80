#pragma once
// Log-likelihood of continuations after contexts (what lm-eval's loglikelihood requests need),
// many at once through an Engine: requests are batched, and contexts that start like earlier
// ones take those blocks from the prefix cache. Every number equals what scoring the request
// alone gives, bitwise (the engine is row-invariant).
#include <cstdint>
#include <span>
#include <vector>

#include "stablelm/engine.h"

namespace stablelm::eval {

struct ScoreRequest {
  std::vector<int32_t> context;       // at least one token
  std::vector<int32_t> continuation;  // at least one token
};

struct ScoreResult {
  double logprob = 0;                  // sum of token_logprobs
  std::vector<double> token_logprobs;  // log p(continuation[i] | context, continuation[:i]), in double
  bool greedy = true;                  // every continuation token is its row's argmax
};

// The log-probability of `id` under one logits row, log_softmax evaluated in double; *is_argmax
// (when given) tells whether id is the row's first maximum.
double token_logprob(std::span<const float> row, int32_t id, bool* is_argmax = nullptr);

// Scores every request (results in input order) with up to max_batch_rows rows per forward
// pass. Throws stablelm::Error naming the request (its index) when it is empty, has an id
// outside the vocabulary or does not fit the engine's context or pool.
std::vector<ScoreResult> score_requests(Engine& engine, std::span<const ScoreRequest> requests,
                                        int64_t max_batch_rows = 512);

}  // namespace stablelm::eval
