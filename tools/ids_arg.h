#pragma once
// Parsing of token-id lists given on the command line ("--ids 1,2,3"), shared by every
// subcommand that takes ids (logits, generate, score, detokenize).
#include <cstdint>
#include <string>
#include <vector>

namespace stablelm::cli {

// "1,2,3" (spaces around numbers allowed) → {1, 2, 3}. Throws stablelm::Error naming `option`
// and the offending item for empty lists, empty items, non-numbers, negatives and overflow.
// Range against the vocabulary is checked by the model.
std::vector<int32_t> parse_ids(const std::string& text, const std::string& option);

}  // namespace stablelm::cli
