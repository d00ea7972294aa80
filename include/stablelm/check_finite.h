#pragma once
// NaN or ±Inf in logits means broken weights (a damaged file, an overflow in a conversion), not a
// result: the commands check the rows they return or sample from with this, instead of printing
// null or sampling from garbage. Cheap: one pass over the rows already computed.
#include <cstdint>
#include <span>
#include <string>

namespace stablelm {

// Throws stablelm::Error("<what>: the logits at position P hold NaN (token id T) ...; check the
// model's weights") when any of the rows (rows x vocab, row-major) is not finite. first_position:
// the position of the first row, for the message (negative: not named).
void check_finite_logits(std::span<const float> logits, int64_t vocab, const std::string& what,
                         int64_t first_position = -1);

}  // namespace stablelm
