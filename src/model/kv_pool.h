#pragma once
// The engine's KV memory: for every layer, a K and a V array of n_blocks * block_rows cache rows
// (kernels::kv_row_bytes each), handed out in blocks. A block is referenced by the sequences
// whose block tables hold it; a full block may also be keyed in the prefix cache by the hash
// chain of its tokens. Blocks with no reference stay cached (least-recently-used first out)
// while they are keyed, else go back to the free list. The memory is reserved up front but left
// untouched, so only blocks actually written become resident.
#include <cstdint>
#include <list>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "common/block_key.h"  // the prefix cache's keys
#include "kernels/kernels.h"
#include "stablelm/config.h"
#include "stablelm/model.h"

namespace stablelm {


class KVPool {
 public:
  KVPool(const ModelConfig& c, KVFormat format, int64_t n_blocks, int block_rows);

  kernels::WType type() const { return type_; }
  int64_t n_blocks() const { return n_blocks_; }
  int block_rows() const { return block_rows_; }
  int block_shift() const { return shift_; }
  int64_t row_bytes() const { return static_cast<int64_t>(row_bytes_); }
  uint8_t* k_layer(int64_t layer) { return k_.get() + static_cast<size_t>(layer) * layer_bytes_; }
  uint8_t* v_layer(int64_t layer) { return v_.get() + static_cast<size_t>(layer) * layer_bytes_; }
  // Physical row of position-in-block `row` of block b (rows of every layer array).
  int64_t phys_row(int32_t block, int64_t row) const { return (static_cast<int64_t>(block) << shift_) + row; }

  // Blocks that allocate() can return now: free ones, then unreferenced cached ones (evicted).
  int64_t available() const { return static_cast<int64_t>(free_.size() + lru_.size()); }
  int64_t referenced() const { return n_blocks_ - available(); }
  int64_t cached() const { return static_cast<int64_t>(lru_.size()); }

  // A block with one reference. The caller checks available() first.
  int32_t allocate();
  void incref(int32_t b) { ++meta_[static_cast<size_t>(b)].ref; }
  void decref(int32_t b);
  int refs(int32_t b) const { return meta_[static_cast<size_t>(b)].ref; }
  bool keyed(int32_t b) const { return meta_[static_cast<size_t>(b)].keyed; }
  // Copies the first `rows` rows of every layer of block src into dst.
  void copy_rows(int32_t src, int32_t dst, int64_t rows);

  // Prefix cache. key_block: remember full block b under `key` (no-op when the key is taken).
  // find: the block keyed by key whose tokens and parent match, with one more reference, or -1.
  // unkey: forget b's key (before b is written again).
  void key_block(int32_t b, uint64_t key, uint64_t parent, std::span<const int32_t> tokens);
  int32_t find(uint64_t key, uint64_t parent, std::span<const int32_t> tokens);
  void unkey(int32_t b);

 private:
  struct Meta {
    int ref = 0;
    bool keyed = false;
    uint64_t key = 0, parent = 0;
    std::vector<int32_t> tokens;  // a keyed block's tokens (hash collisions are checked, not trusted)
    std::list<int32_t>::iterator lru;
  };
  kernels::WType type_;
  int64_t n_blocks_, layers_;
  int block_rows_, shift_;
  size_t row_bytes_, layer_bytes_;
  std::unique_ptr<uint8_t[]> k_, v_;
  std::vector<Meta> meta_;
  std::vector<int32_t> free_;           // unreferenced, unkeyed
  std::list<int32_t> lru_;              // unreferenced, keyed; front = least recently used
  std::unordered_map<uint64_t, int32_t> by_key_;
};

}  // namespace stablelm
