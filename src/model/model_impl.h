#pragma once
// The loaded model's internals: config, weight views bound by name and shape (loader.cpp), and
// the thread pool the kernels run on. Shared by the forward pass (stablelm.cpp) and tools that
// need to look inside (bench, quantize).
#include <filesystem>
#include <memory>
#include <mutex>
#include <vector>

#include "common/thread_pool.h"
#include "io/safetensors.h"
#include "kernels/kernels.h"
#include "kernels/quant.h"
#include "model/embedding_rows.h"
#include "stablelm/model.h"

namespace stablelm {

struct LayerWeights {
  std::vector<float> input_ln_w, input_ln_b;  // [H]
  std::vector<float> post_ln_w, post_ln_b;    // [H], serial residual only
  kernels::Weight q, k, v, o;                 // [nh*d, H], [nkv*d, H] x2, [H, H]
  std::vector<float> q_bias, k_bias, v_bias;  // empty without use_qkv_bias
  std::vector<float> q_norm, k_norm;          // per-head LayerNorm weights [nh*d], [nkv*d]; qk_layernorm only
  kernels::Weight gate, up, down;             // [I, H] x2, [H, I]
};

class ModelImpl {
 public:
  ModelImpl(const std::filesystem::path& dir, const LoadOptions& opts);  // loader.cpp

  ModelConfig config;
  std::filesystem::path dir;
  std::unique_ptr<io::TensorStore> store;       // the mappings that the views point into
  std::vector<kernels::OwnedWeight> owned;      // weights converted (or realigned) at load
  kernels::Weight embed;                        // [V, H], stored dtype
  EmbeddingRows embed_rows;                     // reads rows of embed (pread from the file when mapped)
  kernels::Weight lm_head;                      // [V, H] (the embedding when tied)
  std::vector<float> norm_w, norm_b;            // final LayerNorm
  std::vector<LayerWeights> layers;
  std::vector<float> inv_freq;                  // rotary_dims / 2 entries
  size_t weight_bytes = 0;                      // bytes read per decoded token

  std::unique_ptr<ThreadPool> pool;
  // The pool runs one job at a time: sessions of one model take turns.
  mutable std::mutex run_mutex;
};

// The loaded model's internals, for the engine and the tools that look inside (bench, quantize).
inline const ModelImpl& model_impl(const Model& m) { return *m.impl_; }

}  // namespace stablelm
