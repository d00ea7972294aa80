#include "server/prompt_logprob_cache.h"

#include <algorithm>

#include "common/block_key.h"

namespace stablelm::server {

PromptLogprobCache::PromptLogprobCache(int64_t block, int64_t capacity, int top)
    : block_(block), capacity_(capacity), top_(top) {}

const PromptLogprobCache::Block* PromptLogprobCache::find(uint64_t key, uint64_t parent,
                                                          std::span<const int32_t> tokens) const {
  const auto it = blocks_.find(key);
  if (it == blocks_.end() || it->second.parent != parent ||
      !std::equal(tokens.begin(), tokens.end(), it->second.tokens.begin(), it->second.tokens.end()))
    return nullptr;
  return &it->second;
}

int64_t PromptLogprobCache::cached_blocks(std::span<const int32_t> prompt, int64_t max_blocks) {
  const int64_t n = std::min<int64_t>(max_blocks, static_cast<int64_t>(prompt.size()) / block_);
  uint64_t parent = kNoParent;
  int64_t i = 0;
  for (; i < n; ++i) {
    const auto tokens = prompt.subspan(static_cast<size_t>(i * block_), static_cast<size_t>(block_));
    const uint64_t key = block_key(parent, tokens);
    if (!find(key, parent, tokens)) break;
    auto& b = blocks_.at(key);
    lru_.splice(lru_.begin(), lru_, b.lru);
    parent = key;
  }
  return i;
}

std::vector<TokenLogprob> PromptLogprobCache::entries(std::span<const int32_t> prompt, int64_t end, int k) const {
  std::vector<TokenLogprob> out;
  uint64_t parent = kNoParent;
  for (int64_t i = 0; i * block_ < end; ++i) {
    const auto tokens = prompt.subspan(static_cast<size_t>(i * block_), static_cast<size_t>(block_));
    const uint64_t key = block_key(parent, tokens);
    const Block* b = find(key, parent, tokens);
    if (!b) break;  // callers ask only for what cached_blocks() found
    for (int64_t j = 0; j < block_; ++j) {
      const int64_t pos = i * block_ + j;
      if (pos == 0) continue;
      if (pos >= end) break;
      TokenLogprob t = b->lps[static_cast<size_t>(j)];
      if (t.top.size() > static_cast<size_t>(std::max(0, k))) t.top.resize(static_cast<size_t>(std::max(0, k)));
      out.push_back(std::move(t));
    }
    parent = key;
  }
  return out;
}

void PromptLogprobCache::insert(std::span<const int32_t> prompt, std::span<const TokenLogprob> lps) {
  // Whole blocks whose every position has its entry: positions 1..lps.size().
  const int64_t n = std::min<int64_t>(static_cast<int64_t>(prompt.size()), static_cast<int64_t>(lps.size()) + 1) / block_;
  uint64_t parent = kNoParent;
  for (int64_t i = 0; i < n && capacity_ > 0; ++i) {
    const auto tokens = prompt.subspan(static_cast<size_t>(i * block_), static_cast<size_t>(block_));
    const uint64_t key = block_key(parent, tokens);
    auto it = blocks_.find(key);
    if (it != blocks_.end()) {
      if (it->second.parent != parent || !std::equal(tokens.begin(), tokens.end(), it->second.tokens.begin(),
                                                     it->second.tokens.end()))
        return;  // a hash collision: the chain cannot go on through this key
      lru_.splice(lru_.begin(), lru_, it->second.lru);
    } else {
      if (static_cast<int64_t>(blocks_.size()) >= capacity_) {
        blocks_.erase(lru_.back());
        lru_.pop_back();
      }
      Block b;
      b.parent = parent;
      b.tokens.assign(tokens.begin(), tokens.end());
      b.lps.resize(static_cast<size_t>(block_));
      for (int64_t j = 0; j < block_; ++j) {
        const int64_t pos = i * block_ + j;
        if (pos > 0) b.lps[static_cast<size_t>(j)] = lps[static_cast<size_t>(pos - 1)];
      }
      lru_.push_front(key);
      b.lru = lru_.begin();
      blocks_.emplace(key, std::move(b));
    }
    parent = key;
  }
}

}  // namespace stablelm::server
