#pragma once
// Many sequences in one forward pass (after llama.cpp's llama_batch and gpt-fast's
// forward(idx, input_pos)): an Engine owns a KV pool of fixed-size blocks and the compute
// scratch; a sequence is a block table and a length; a Batch is a list of rows (token,
// position, sequence, wants-logits). One forward() runs every row: the row-wise work
// (embedding, norms, projections, rotary, MLP, lm_head) over all rows at once, attention per
// row over its own sequence's blocks.
//
// Results do not depend on the batch: every kernel computes each row the same way whatever the
// other rows, so a sequence's logits are bitwise identical alone or in any batch, prefilled
// whole or in chunks, with its prefix computed or taken from the cache (tests/test_engine.cpp).
//
// Prefix sharing: fork() shares a sequence's blocks (reference-counted; a shared block is
// copied before it is written). With the prefix cache on, every full block is keyed by a hash
// chain of its tokens (vLLM's automatic prefix caching); attach_prefix() gives a new sequence
// the cached blocks its prompt starts with, so their prefill is skipped. Unreferenced cached
// blocks are evicted least-recently-used when the pool needs room.
//
// Not thread-safe: one thread drives an Engine (engines of one model take turns on its threads).
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "stablelm/error.h"
#include "stablelm/model.h"

namespace stablelm {

using SeqId = int32_t;

struct BatchRow {
  int32_t token;
  int64_t pos;  // must be the sequence's length + the number of its earlier rows in the batch
  SeqId seq;
  bool logits;  // return this row's logits
};

struct Batch {
  std::vector<BatchRow> rows;
  void add(int32_t token, int64_t pos, SeqId seq, bool logits) { rows.push_back({token, pos, seq, logits}); }
  void clear() { rows.clear(); }
  size_t size() const { return rows.size(); }
  bool empty() const { return rows.empty(); }
};

struct EngineOptions {
  KVFormat kv = KVFormat::F32;
  // KV pool capacity in tokens, all sequences together (rounded up to whole blocks);
  // 0 = one full context.
  int64_t kv_tokens = 0;
  int64_t max_context = 0;  // longest sequence; 0 = config.max_position_embeddings
  int block_size = 16;      // tokens per KV block, a power of two
  bool prefix_cache = true;
};

// The pool cannot hold a batch's new positions, even after evicting every unreferenced cached
// block. Nothing changed: release or truncate sequences (or wait for others to finish) and retry.
class PoolExhausted : public Error {
 public:
  using Error::Error;
};

struct EngineStats {
  int64_t blocks_total = 0;
  int64_t blocks_used = 0;        // referenced by a sequence
  int64_t blocks_cached = 0;      // unreferenced, kept for the prefix cache (evictable)
  int64_t prefix_queries = 0;     // tokens offered to attach_prefix (whole blocks)
  int64_t prefix_hits = 0;        // tokens attach_prefix found cached
};

class Engine {
 public:
  explicit Engine(const Model& model, const EngineOptions& opts = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  SeqId create();            // an empty sequence
  SeqId fork(SeqId src);     // a copy of src sharing its blocks
  void release(SeqId seq);   // frees the sequence and drops its block references
  void truncate(SeqId seq, int64_t n);  // forget positions >= n
  int64_t length(SeqId seq) const;
  std::span<const int32_t> tokens(SeqId seq) const;  // the tokens whose KV the sequence holds

  // For an empty sequence: takes the cached blocks that the prompt starts with (whole blocks,
  // always leaving at least the prompt's last token to compute). Returns the number of prompt
  // tokens now in the sequence; prefill the rest. 0 when the prefix cache is off.
  int64_t attach_prefix(SeqId seq, std::span<const int32_t> prompt);

  // Runs every row; returns the logits of the rows that asked for them, [k, vocab_size] in
  // batch order. Throws stablelm::Error (state unchanged) on a bad row: unknown sequence, id
  // outside the vocabulary, a position that is not the sequence's next, a sequence past
  // max_context(); PoolExhausted when the blocks do not fit.
  std::span<const float> forward(const Batch& batch);

  // Blocks the batch's new positions need beyond what its sequences hold (shared blocks that
  // must be copied included), and blocks that can be had now (free + evictable cached).
  int64_t blocks_needed(const Batch& batch) const;
  int64_t blocks_available() const;

  int64_t max_context() const;
  int64_t block_size() const;
  const Model& model() const;
  EngineStats stats() const;
  void set_trace(TraceFn fn);  // see Session::set_trace

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace stablelm
