#include "model/kv_pool.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "model/formats.h"
#include "stablelm/error.h"

namespace stablelm {

KVPool::KVPool(const ModelConfig& c, KVFormat format, int64_t n_blocks, int block_rows)
    : type_(wtype_of(format)), n_blocks_(n_blocks), layers_(c.num_hidden_layers), block_rows_(block_rows) {
  if (block_rows < 1 || block_rows > 4096 || (block_rows & (block_rows - 1)) != 0)
    throw Error("KV block size " + std::to_string(block_rows) + " must be a power of two in [1, 4096]");
  if (n_blocks < 1 || n_blocks * block_rows > (int64_t{1} << 24))
    throw Error("KV pool of " + std::to_string(n_blocks) + " blocks of " + std::to_string(block_rows) +
                " tokens is out of range (at most 16777216 tokens)");
  shift_ = 0;
  while ((1 << shift_) < block_rows) ++shift_;
  row_bytes_ = static_cast<size_t>(kernels::kv_row_bytes(type_, c.num_key_value_heads, c.head_dim()));
  layer_bytes_ = row_bytes_ * static_cast<size_t>(n_blocks * block_rows);
  // new[] without () leaves the bytes uninitialised: pages become resident only when written.
  k_.reset(new uint8_t[layer_bytes_ * static_cast<size_t>(layers_)]);
  v_.reset(new uint8_t[layer_bytes_ * static_cast<size_t>(layers_)]);
  meta_.resize(static_cast<size_t>(n_blocks));
  free_.reserve(static_cast<size_t>(n_blocks));
  for (int64_t b = n_blocks - 1; b >= 0; --b) free_.push_back(static_cast<int32_t>(b));  // block 0 first
}

int32_t KVPool::allocate() {
  if (free_.empty() && !lru_.empty()) unkey(lru_.front());  // evict the least recently used
  if (free_.empty()) throw std::logic_error("KVPool::allocate: no block available (callers check available())");
  const int32_t b = free_.back();
  free_.pop_back();
  meta_[static_cast<size_t>(b)].ref = 1;
  return b;
}

void KVPool::decref(int32_t b) {
  Meta& m = meta_[static_cast<size_t>(b)];
  if (--m.ref > 0) return;
  if (m.keyed) m.lru = lru_.insert(lru_.end(), b);
  else free_.push_back(b);
}

void KVPool::copy_rows(int32_t src, int32_t dst, int64_t rows) {
  const size_t n = static_cast<size_t>(rows) * row_bytes_;
  const size_t s = static_cast<size_t>(phys_row(src, 0)) * row_bytes_, d = static_cast<size_t>(phys_row(dst, 0)) * row_bytes_;
  for (int64_t l = 0; l < layers_; ++l) {
    std::memcpy(k_layer(l) + d, k_layer(l) + s, n);
    std::memcpy(v_layer(l) + d, v_layer(l) + s, n);
  }
}

void KVPool::key_block(int32_t b, uint64_t key, uint64_t parent, std::span<const int32_t> tokens) {
  Meta& m = meta_[static_cast<size_t>(b)];
  if (m.keyed || by_key_.count(key)) return;  // an equal block is cached already: keep that one
  m.keyed = true;
  m.key = key;
  m.parent = parent;
  m.tokens.assign(tokens.begin(), tokens.end());
  by_key_.emplace(key, b);
}

int32_t KVPool::find(uint64_t key, uint64_t parent, std::span<const int32_t> tokens) {
  const auto it = by_key_.find(key);
  if (it == by_key_.end()) return -1;
  Meta& m = meta_[static_cast<size_t>(it->second)];
  if (m.parent != parent || !std::equal(tokens.begin(), tokens.end(), m.tokens.begin(), m.tokens.end())) return -1;
  if (m.ref == 0) lru_.erase(m.lru);  // revived: no longer evictable
  ++m.ref;
  return it->second;
}

void KVPool::unkey(int32_t b) {
  Meta& m = meta_[static_cast<size_t>(b)];
  if (!m.keyed) return;
  by_key_.erase(m.key);
  m.keyed = false;
  m.tokens.clear();
  if (m.ref == 0) {  // cached and unreferenced: now plain free
    lru_.erase(m.lru);
    free_.push_back(b);
  }
}

}  // namespace stablelm
