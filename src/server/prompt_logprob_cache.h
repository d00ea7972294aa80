#pragma once
// The prompt log-probabilities of whole KV blocks, kept so that echo + logprobs requests (lm-eval's
// loglikelihood: one context, several continuations) can take a cached prefix too. The KV of a
// prefix lets the engine skip its rows, but the answer also needs each prompt token's logprob and
// top alternatives, which come from the logits of those rows; this cache keeps them, block by
// block, under a hash chain of the tokens (like the engine's prefix cache), and hands them back
// only for a prefix whose every block it holds. Entries are what the rows computed (the logits are
// row-invariant), so a hit answers bit for bit what a computation would. LRU, bounded in blocks.
#include <cstdint>
#include <list>
#include <span>
#include <unordered_map>
#include <vector>

#include "server/token_logprob.h"

namespace stablelm::server {

class PromptLogprobCache {
 public:
  // block: tokens per block (the engine's); capacity: blocks kept; top: alternatives kept per
  // token (the largest top_logprobs a request may ask for).
  PromptLogprobCache(int64_t block, int64_t capacity, int top);

  int top() const { return top_; }

  // How many leading whole blocks of `prompt` are cached (at most max_blocks).
  int64_t cached_blocks(std::span<const int32_t> prompt, int64_t max_blocks);

  // The entries for prompt positions [1, end) (index i = position i + 1), end <= the cached
  // blocks' tokens; each entry's top list cut to k.
  std::vector<TokenLogprob> entries(std::span<const int32_t> prompt, int64_t end, int k) const;

  // Stores the blocks of `prompt` that `lps` covers: lps[i] is position i + 1's entry, with the
  // full top list.
  void insert(std::span<const int32_t> prompt, std::span<const TokenLogprob> lps);

 private:
  struct Block {
    uint64_t parent = 0;
    std::vector<int32_t> tokens;
    std::vector<TokenLogprob> lps;  // the block's positions; position 0's entry is empty
    std::list<uint64_t>::iterator lru;
  };
  const Block* find(uint64_t key, uint64_t parent, std::span<const int32_t> tokens) const;

  int64_t block_, capacity_;
  int top_;
  std::unordered_map<uint64_t, Block> blocks_;
  std::list<uint64_t> lru_;  // most recently used first
};

}  // namespace stablelm::server
