#pragma once
// The key of a full block of tokens in a prefix cache: its tokens chained onto the key of the
// block before (kNoParent for the first block), as vLLM's automatic prefix caching keys its
// blocks. Shared by the KV pool's prefix cache and the server's prompt-logprob cache; a
// collision is caught by their lookups, which compare the tokens and the parent.
#include <cstdint>
#include <span>

namespace stablelm {

constexpr uint64_t kNoParent = 0x9e3779b97f4a7c15ull;
uint64_t block_key(uint64_t parent, std::span<const int32_t> tokens);

}  // namespace stablelm
