#include "model/kv_cache.h"

#include <string>

#include "stablelm/error.h"

namespace stablelm {

KVCache::KVCache(const ModelConfig& c, int64_t max_context, KVFormat format)
    : max_context_(max_context), layers_(c.num_hidden_layers) {
  if (max_context <= 0 || max_context > (int64_t{1} << 24))
    throw Error("context size " + std::to_string(max_context) + " is out of range");
  switch (format) {
    case KVFormat::F32: type_ = kernels::WType::F32; break;
    case KVFormat::F16: type_ = kernels::WType::F16; break;
    case KVFormat::BF16: type_ = kernels::WType::BF16; break;
    case KVFormat::Q8: type_ = kernels::WType::Q8; break;
  }
  row_bytes_ = static_cast<size_t>(kernels::kv_row_bytes(type_, c.num_key_value_heads, c.head_dim()));
  layer_bytes_ = row_bytes_ * static_cast<size_t>(max_context);
  // new[] without () leaves the bytes uninitialised: pages become resident only when written.
  k_.reset(new uint8_t[layer_bytes_ * static_cast<size_t>(layers_)]);
  v_.reset(new uint8_t[layer_bytes_ * static_cast<size_t>(layers_)]);
}

}  // namespace stablelm
