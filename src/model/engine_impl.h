#pragma once
// Engine internals: the sequences' block tables over the KV pool (engine.cpp) and the forward
// graph over a batch of rows (stablelm.cpp).
#include <cstdint>
#include <vector>

#include "model/kv_pool.h"
#include "model/model_impl.h"
#include "stablelm/engine.h"

namespace stablelm {

class Engine::Impl {
 public:
  Impl(const Model& model, const EngineOptions& opts);

  struct Seq {
    bool live = false;
    std::vector<int32_t> table;   // block ids; position j is in table[j >> block_shift]
    std::vector<int32_t> tokens;  // the positions held (their KV is in the blocks)
    std::vector<uint64_t> keys;   // prefix-cache key of each full block, in order
  };

  const Model& model;
  const ModelImpl& m;
  EngineOptions opts;
  int64_t max_context;
  KVPool pool;
  std::vector<Seq> seqs;
  std::vector<SeqId> free_ids;
  int64_t prefix_queries = 0, prefix_hits = 0;
  TraceFn trace;

  Seq& seq(SeqId id);
  const Seq& seq(SeqId id) const;
  // Checks the batch (throws on a bad row) and returns the new blocks it needs.
  int64_t plan(const Batch& batch) const;
  // Makes the block that receives position `pos` of s writable (copy-on-write when shared,
  // unkeyed when cached) and appends blocks up to new_len.
  void prepare_blocks(Seq& s, int64_t new_len);
  // The forward graph over the batch's rows (stablelm.cpp); KV slots are ready.
  void compute(const Batch& batch, int64_t n_logits);

  std::span<const float> logits() const { return {logits_.data(), logits_used_}; }

 private:
  void reserve(int64_t rows, int64_t logit_rows);
  void mlp(const LayerWeights& L, const float* in, int64_t T, float* out);
  void emit(const char* name, int64_t layer, const float* data, int64_t rows, int64_t cols) const;

  // Scratch, [rows, width] row-major, grown on demand and then reused.
  int64_t rows_cap_ = 0, logit_rows_cap_ = 0;
  std::vector<float> x_, h_, q_, k_, v_, ctx_, attn_, gate_, up_, mlp_, head_in_, logits_;
  size_t logits_used_ = 0;
  std::vector<int32_t> pos_;
  std::vector<int64_t> slot_;                 // physical KV row of each batch row
  std::vector<int32_t> view_of_;              // batch row -> index into views_
  std::vector<kernels::KVLayerView> views_;   // one per sequence in the batch
  std::vector<kernels::AttnQuery> queries_;
};

}  // namespace stablelm
