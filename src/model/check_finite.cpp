#include "stablelm/check_finite.h"

#include <cmath>

#include "stablelm/error.h"

namespace stablelm {

void check_finite_logits(std::span<const float> logits, int64_t vocab, const std::string& what,
                         int64_t first_position) {
  for (size_t i = 0; i < logits.size(); ++i) {
    const float v = logits[i];
    if (std::isfinite(v)) continue;
    const int64_t row = vocab > 0 ? static_cast<int64_t>(i) / vocab : 0;
    const int64_t id = vocab > 0 ? static_cast<int64_t>(i) % vocab : static_cast<int64_t>(i);
    const std::string where = first_position >= 0 ? " at position " + std::to_string(first_position + row) : "";
    throw Error(what + ": the logits" + where + " hold " +
                (std::isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf") + " (token id " + std::to_string(id) +
                "): the model's weights produce non-finite numbers; check them for NaN/Inf values (a damaged "
                "or badly converted model.safetensors)");
  }
}

}  // namespace stablelm
