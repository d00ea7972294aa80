#pragma once
// Per-session key/value cache: for every layer, keys and values of positions 0..max_context-1,
// rows of n_kv_heads*head_dim elements (F32, F16 or BF16), or int8 values + per-32 scales (Q8,
// layout in kernels.h). The memory is reserved up front but
// left untouched, so only the positions actually used become resident.
#include <cstdint>
#include <memory>

#include "kernels/kernels.h"
#include "stablelm/config.h"
#include "stablelm/model.h"

namespace stablelm {

class KVCache {
 public:
  KVCache(const ModelConfig& c, int64_t max_context, KVFormat format);

  int64_t max_context() const { return max_context_; }
  kernels::WType type() const { return type_; }
  void* k_at(int64_t layer, int64_t pos) { return k_.get() + offset(layer, pos); }
  void* v_at(int64_t layer, int64_t pos) { return v_.get() + offset(layer, pos); }
  size_t bytes() const { return 2 * layer_bytes_ * static_cast<size_t>(layers_); }

 private:
  size_t offset(int64_t layer, int64_t pos) const {
    return static_cast<size_t>(layer) * layer_bytes_ + static_cast<size_t>(pos) * row_bytes_;
  }
  int64_t max_context_;
  int64_t layers_;
  kernels::WType type_;
  size_t row_bytes_, layer_bytes_;
  std::unique_ptr<uint8_t[]> k_, v_;
};

}  // namespace stablelm
