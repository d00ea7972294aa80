// Logits processors that apply in greedy and sampling modes alike (full vocabulary, in place).
#include <cmath>

#include "stablelm/sampling.h"

namespace stablelm::sampling {

void apply_repetition_penalty(std::span<float> scores, std::span<const int32_t> seen_distinct, float penalty) {
  const auto vocab = static_cast<int64_t>(scores.size());
  for (int32_t id : seen_distinct) {
    if (id < 0 || id >= vocab) continue;
    float& s = scores[static_cast<size_t>(id)];
    // Dividing a negative logit would raise it, so negatives are multiplied instead.
    s = s < 0.0f ? s * penalty : s / penalty;
  }
}

void apply_presence_frequency(std::span<float> scores, std::span<const int32_t> generated_distinct,
                              std::span<const int32_t> counts, float presence, float frequency) {
  const auto vocab = static_cast<int64_t>(scores.size());
  for (int32_t id : generated_distinct) {
    if (id < 0 || id >= vocab || static_cast<size_t>(id) >= counts.size()) continue;
    const auto i = static_cast<size_t>(id);
    // Two float subtractions, as vLLM does them.
    scores[i] -= frequency * static_cast<float>(counts[i]);
    scores[i] -= presence;
  }
}

void apply_no_repeat_ngram(std::span<float> scores, std::span<const int32_t> tokens, int n) {
  if (n <= 0) return;
  const size_t len = tokens.size();
  const auto un = static_cast<size_t>(n);
  if (len + 1 < un) return;
  // The n-1 most recent tokens form the prefix; every earlier occurrence of that prefix bans the
  // token that followed it. A scan is O(len * n) with no allocation (len <= context size).
  const size_t p = un - 1;
  const int32_t* prefix = tokens.data() + (len - p);
  const auto vocab = static_cast<int64_t>(scores.size());
  for (size_t start = 0; start + un <= len; ++start) {
    bool match = true;
    for (size_t j = 0; j < p; ++j)
      if (tokens[start + j] != prefix[j]) {
        match = false;
        break;
      }
    if (!match) continue;
    const int32_t banned = tokens[start + p];
    if (banned >= 0 && banned < vocab) scores[static_cast<size_t>(banned)] = kFiltered;
  }
}

void suppress_ids(std::span<float> scores, std::span<const int32_t> ids) {
  const auto vocab = static_cast<int64_t>(scores.size());
  for (int32_t id : ids)
    if (id >= 0 && id < vocab) scores[static_cast<size_t>(id)] = kFiltered;
}

int32_t argmax(std::span<const float> scores) {
  int32_t best = -1;
  float best_v = 0.0f;
  for (size_t i = 0; i < scores.size(); ++i) {
    const float v = scores[i];
    if (!(v > kFiltered) || std::isnan(v)) continue;  // -inf and NaN are never chosen
    if (best < 0 || v > best_v) {
      best = static_cast<int32_t>(i);
      best_v = v;
    }
  }
  return best;
}

}  // namespace stablelm::sampling
