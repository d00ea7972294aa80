// The engine's bookkeeping: sequences as block tables over the KV pool, fork / copy-on-write,
// the prefix cache, and the checks that keep a bad batch from changing anything. The forward
// graph itself is in stablelm.cpp.
#include <algorithm>
#include <string>

#include "model/engine_impl.h"
#include "stablelm/error.h"

namespace stablelm {

namespace {
int64_t blocks_for(int64_t tokens, int shift) { return (tokens + (int64_t{1} << shift) - 1) >> shift; }
}  // namespace

Engine::Impl::Impl(const Model& mdl, const EngineOptions& o)
    : model(mdl),
      m(model_impl(mdl)),
      opts(o),
      max_context(o.max_context > 0 ? o.max_context : mdl.config().max_position_embeddings),
      pool(mdl.config(), o.kv, (std::max<int64_t>(o.kv_tokens > 0 ? o.kv_tokens : max_context, 1) + o.block_size - 1) / std::max(o.block_size, 1),
           o.block_size) {
  if (max_context <= 0 || max_context > (int64_t{1} << 24))
    throw Error("context size " + std::to_string(max_context) + " is out of range");
}

Engine::Impl::Seq& Engine::Impl::seq(SeqId id) {
  if (id < 0 || static_cast<size_t>(id) >= seqs.size() || !seqs[static_cast<size_t>(id)].live)
    throw Error("unknown sequence " + std::to_string(id));
  return seqs[static_cast<size_t>(id)];
}
const Engine::Impl::Seq& Engine::Impl::seq(SeqId id) const { return const_cast<Impl*>(this)->seq(id); }

int64_t Engine::Impl::plan(const Batch& batch) const {
  const int64_t vocab = m.config.vocab_size;
  // Rows per sequence so far, to check that each row is its sequence's next position.
  std::vector<std::pair<SeqId, int64_t>> counts;
  auto count_of = [&](SeqId id) -> int64_t& {
    for (auto& [sid, n] : counts)
      if (sid == id) return n;
    counts.emplace_back(id, 0);
    return counts.back().second;
  };
  for (size_t i = 0; i < batch.rows.size(); ++i) {
    const BatchRow& row = batch.rows[i];
    const Seq& s = seq(row.seq);
    if (row.token < 0 || row.token >= vocab)
      throw Error("token id " + std::to_string(row.token) + " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
    int64_t& n = count_of(row.seq);
    const int64_t expect = static_cast<int64_t>(s.tokens.size()) + n;
    if (row.pos != expect)
      throw Error("batch row " + std::to_string(i) + ": position " + std::to_string(row.pos) + " of sequence " +
                  std::to_string(row.seq) + " is not its next position " + std::to_string(expect));
    if (expect + 1 > max_context)
      throw Error("context overflow: sequence " + std::to_string(row.seq) + " holds " + std::to_string(s.tokens.size()) +
                  " positions; " + std::to_string(n + 1) + "+ new tokens exceed the " + std::to_string(max_context) +
                  "-token context");
    ++n;
  }
  int64_t need = 0;
  const int shift = pool.block_shift();
  for (const auto& [id, n] : counts) {
    const Seq& s = seq(id);
    const int64_t len = static_cast<int64_t>(s.tokens.size());
    need += blocks_for(len + n, shift) - static_cast<int64_t>(s.table.size());
    const int64_t first = len >> shift;  // the block that receives the first new position
    if (first < static_cast<int64_t>(s.table.size()) && pool.refs(s.table[static_cast<size_t>(first)]) > 1) ++need;
  }
  return need;
}

void Engine::Impl::prepare_blocks(Seq& s, int64_t new_len) {
  const int shift = pool.block_shift();
  const int64_t len = static_cast<int64_t>(s.tokens.size()), first = len >> shift;
  if (first < static_cast<int64_t>(s.table.size())) {
    int32_t& b = s.table[static_cast<size_t>(first)];
    if (pool.refs(b) > 1) {  // shared: copy on write
      const int32_t copy = pool.allocate();
      pool.copy_rows(b, copy, len & (pool.block_rows() - 1));
      pool.decref(b);
      b = copy;
    } else {
      pool.unkey(b);  // its key no longer describes what it will hold
    }
  }
  while (static_cast<int64_t>(s.table.size()) < blocks_for(new_len, shift)) s.table.push_back(pool.allocate());
}

// ---- Engine ------------------------------------------------------------------------------------

Engine::Engine(const Model& model, const EngineOptions& opts) : impl_(std::make_unique<Impl>(model, opts)) {}
Engine::~Engine() {
  for (SeqId id = 0; id < static_cast<SeqId>(impl_->seqs.size()); ++id)
    if (impl_->seqs[static_cast<size_t>(id)].live) release(id);
}

SeqId Engine::create() {
  Impl& e = *impl_;
  SeqId id;
  if (!e.free_ids.empty()) {
    id = e.free_ids.back();
    e.free_ids.pop_back();
  } else {
    id = static_cast<SeqId>(e.seqs.size());
    e.seqs.emplace_back();
  }
  e.seqs[static_cast<size_t>(id)] = Impl::Seq{};
  e.seqs[static_cast<size_t>(id)].live = true;
  return id;
}

SeqId Engine::fork(SeqId src) {
  impl_->seq(src);  // checks it exists before anything changes
  const SeqId id = create();
  Impl::Seq& s = impl_->seq(src);  // after create(): seqs may have grown
  Impl::Seq& d = impl_->seq(id);
  d.table = s.table;
  d.tokens = s.tokens;
  d.keys = s.keys;
  for (int32_t b : d.table) impl_->pool.incref(b);
  return id;
}

void Engine::release(SeqId id) {
  Impl::Seq& s = impl_->seq(id);
  for (int32_t b : s.table) impl_->pool.decref(b);
  s = Impl::Seq{};
  impl_->free_ids.push_back(id);
}

void Engine::truncate(SeqId id, int64_t n) {
  Impl::Seq& s = impl_->seq(id);
  if (n < 0 || n > static_cast<int64_t>(s.tokens.size()))
    throw Error("truncate(" + std::to_string(n) + "): sequence " + std::to_string(id) + " holds " +
                std::to_string(s.tokens.size()) + " positions");
  const int shift = impl_->pool.block_shift();
  const size_t keep = static_cast<size_t>(blocks_for(n, shift));
  for (size_t i = keep; i < s.table.size(); ++i) impl_->pool.decref(s.table[i]);
  s.table.resize(keep);
  s.tokens.resize(static_cast<size_t>(n));
  s.keys.resize(std::min(s.keys.size(), static_cast<size_t>(n >> shift)));
}

int64_t Engine::length(SeqId id) const { return static_cast<int64_t>(impl_->seq(id).tokens.size()); }
std::span<const int32_t> Engine::tokens(SeqId id) const { return impl_->seq(id).tokens; }

int64_t Engine::attach_prefix(SeqId id, std::span<const int32_t> prompt) {
  Impl& e = *impl_;
  Impl::Seq& s = e.seq(id);
  if (!e.opts.prefix_cache || prompt.empty()) return static_cast<int64_t>(s.tokens.size());
  if (!s.tokens.empty()) throw Error("attach_prefix: sequence " + std::to_string(id) + " is not empty");
  const int64_t B = e.pool.block_rows();
  const int64_t max_blocks = std::min<int64_t>((static_cast<int64_t>(prompt.size()) - 1) / B, e.max_context / B);
  e.prefix_queries += max_blocks * B;
  uint64_t parent = kNoParent;
  for (int64_t i = 0; i < max_blocks; ++i) {
    const auto block = prompt.subspan(static_cast<size_t>(i * B), static_cast<size_t>(B));
    const uint64_t key = block_key(parent, block);
    const int32_t b = e.pool.find(key, parent, block);
    if (b < 0) break;
    s.table.push_back(b);
    s.keys.push_back(key);
    s.tokens.insert(s.tokens.end(), block.begin(), block.end());
    parent = key;
    e.prefix_hits += B;
  }
  return static_cast<int64_t>(s.tokens.size());
}

std::span<const float> Engine::forward(const Batch& batch) {
  Impl& e = *impl_;
  if (batch.empty()) throw Error("forward: empty batch");
  const int64_t need = e.plan(batch);
  if (need > e.pool.available())
    throw PoolExhausted("KV pool full: the batch needs " + std::to_string(need) + " more blocks of " +
                        std::to_string(e.pool.block_rows()) + " tokens, " + std::to_string(e.pool.available()) +
                        " of " + std::to_string(e.pool.n_blocks()) + " are available");
  // New lengths, then blocks (nothing above this line changed any state).
  std::vector<std::pair<SeqId, int64_t>> grow;
  for (const BatchRow& row : batch.rows) {
    auto it = std::find_if(grow.begin(), grow.end(), [&](const auto& g) { return g.first == row.seq; });
    if (it == grow.end()) grow.emplace_back(row.seq, row.pos + 1);
    else it->second = row.pos + 1;
  }
  for (const auto& [id, new_len] : grow) e.prepare_blocks(e.seq(id), new_len);
  int64_t n_logits = 0;
  for (const BatchRow& row : batch.rows) n_logits += row.logits ? 1 : 0;
  e.compute(batch, n_logits);

  // The rows' tokens are now in the cache; full blocks join the prefix cache.
  for (const BatchRow& row : batch.rows) e.seq(row.seq).tokens.push_back(row.token);
  if (e.opts.prefix_cache) {
    const int64_t B = e.pool.block_rows();
    for (const auto& [id, new_len] : grow) {
      Impl::Seq& s = e.seq(id);
      for (int64_t i = static_cast<int64_t>(s.keys.size()); i < new_len / B; ++i) {
        const uint64_t parent = i == 0 ? kNoParent : s.keys[static_cast<size_t>(i - 1)];
        const std::span<const int32_t> block(s.tokens.data() + i * B, static_cast<size_t>(B));
        const uint64_t key = block_key(parent, block);
        e.pool.key_block(s.table[static_cast<size_t>(i)], key, parent, block);
        s.keys.push_back(key);
      }
    }
  }
  return e.logits();
}

int64_t Engine::blocks_needed(const Batch& batch) const { return impl_->plan(batch); }
int64_t Engine::blocks_available() const { return impl_->pool.available(); }
int64_t Engine::max_context() const { return impl_->max_context; }
int64_t Engine::block_size() const { return impl_->pool.block_rows(); }
const Model& Engine::model() const { return impl_->model; }
void Engine::set_trace(TraceFn fn) { impl_->trace = std::move(fn); }

EngineStats Engine::stats() const {
  EngineStats st;
  st.blocks_total = impl_->pool.n_blocks();
  st.blocks_used = impl_->pool.referenced();
  st.blocks_cached = impl_->pool.cached();
  st.prefix_queries = impl_->prefix_queries;
  st.prefix_hits = impl_->prefix_hits;
  return st;
}

}  // namespace stablelm
