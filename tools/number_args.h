#pragma once
// Validators for numeric options whose range CLI11 would not check or would clamp silently.
#include <CLI/CLI.hpp>
#include <cstdint>

namespace stablelm::cli {

// An unsigned 64-bit integer written in decimal: "99999999999999999999" is an error naming the
// limit, not 18446744073709551615.
CLI::Validator uint64_value();
// An integer in [0, max]; the message names the limit.
CLI::Validator count_at_most(int64_t max);

// The most tokens any count option may ask for (a context of 2^30 positions is far beyond every
// model); larger values would overflow the size arithmetic and allocations.
inline constexpr int64_t kMaxTokenCount = int64_t{1} << 30;
// --threads: far more than any machine has; what the system allows is checked when they start.
inline constexpr int64_t kMaxThreads = 1 << 16;

}  // namespace stablelm::cli
