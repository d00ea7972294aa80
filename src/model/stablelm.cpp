// The StableLM forward pass, for the whole family, driven by the config flags
// (fixtures/models/README.md, "Forward pass reproduced by the goldens"):
//
//   x = embed_tokens[ids]
//   per layer:  h = input_layernorm(x)
//               q, k, v = h·Wqᵀ(+bq), h·Wkᵀ(+bk), h·Wvᵀ(+bv)         (use_qkv_bias)
//               q, k = per-head LayerNorm(q), (k)                     (qk_layernorm)
//               rotary on the first rotary_dims of each q/k head (rotate_half pairing)
//               a = o_proj(causal_softmax(q·kᵀ/√d)·v)                 (GQA: kv head = h / group)
//               serial:   x = x + a;  x = x + mlp(post_attention_layernorm(x))
//               parallel: x = x + a + mlp(h)                          (use_parallel_residual)
//               mlp(u) = down(silu(gate(u)) * up(u))
//   logits = lm_head(norm(x))
//
// Only the kernels in kernels/kernels.h do arithmetic; this file is the graph, over a batch of
// rows from any number of sequences (stablelm/engine.h): every row-wise step runs on all rows at
// once, attention runs per row over its own sequence's KV blocks. Activations are fp32. The
// scratch buffers only grow (allocated once at the largest batch seen): no allocation per token.
#include <algorithm>
#include <cstring>
#include <string>

#include "model/engine_impl.h"
#include "model/model_impl.h"
#include "stablelm/error.h"

namespace stablelm {

// ---- Model ----------------------------------------------------------------------------------

Model::Model(std::unique_ptr<ModelImpl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

std::unique_ptr<Model> Model::load(const std::filesystem::path& dir, const LoadOptions& opts) {
  return std::unique_ptr<Model>(new Model(std::make_unique<ModelImpl>(dir, opts)));
}

const ModelConfig& Model::config() const { return impl_->config; }
const std::filesystem::path& Model::dir() const { return impl_->dir; }
size_t Model::weight_bytes() const { return impl_->weight_bytes; }

// ---- the forward graph over a batch ------------------------------------------------------------

void Engine::Impl::emit(const char* name, int64_t layer, const float* data, int64_t rows, int64_t cols) const {
  if (!trace) return;
  trace(layer < 0 ? std::string(name) : "layer" + std::to_string(layer) + "." + name, data, rows, cols);
}

void Engine::Impl::reserve(int64_t rows, int64_t logit_rows) {
  const ModelConfig& c = m.config;
  if (rows > rows_cap_) {
    const auto n = [&](int64_t width) { return static_cast<size_t>(rows * width); };
    const int64_t d = c.head_dim();
    x_.resize(n(c.hidden_size));
    h_.resize(n(c.hidden_size));
    q_.resize(n(c.num_attention_heads * d));
    k_.resize(n(c.num_key_value_heads * d));
    v_.resize(n(c.num_key_value_heads * d));
    ctx_.resize(n(c.num_attention_heads * d));
    attn_.resize(n(c.hidden_size));
    gate_.resize(n(c.intermediate_size));
    up_.resize(n(c.intermediate_size));
    mlp_.resize(n(c.hidden_size));
    head_in_.resize(n(c.hidden_size));
    pos_.resize(static_cast<size_t>(rows));
    slot_.resize(static_cast<size_t>(rows));
    view_of_.resize(static_cast<size_t>(rows));
    queries_.resize(static_cast<size_t>(rows));
    rows_cap_ = rows;
  }
  if (logit_rows > logit_rows_cap_) {
    logits_.resize(static_cast<size_t>(logit_rows * c.vocab_size));
    logit_rows_cap_ = logit_rows;
  }
}

void Engine::Impl::mlp(const LayerWeights& L, const float* in, int64_t T, float* out) {
  ThreadPool* tp = m.pool.get();
  kernels::linear(L.gate, nullptr, in, T, gate_.data(), tp);
  kernels::linear(L.up, nullptr, in, T, up_.data(), tp);
  kernels::silu_mul(gate_.data(), up_.data(), T * m.config.intermediate_size);
  kernels::linear(L.down, nullptr, gate_.data(), T, out, tp);
}

void Engine::Impl::compute(const Batch& batch, int64_t n_logits) {
  const ModelConfig& c = m.config;
  const int64_t T = static_cast<int64_t>(batch.size());
  std::lock_guard<std::mutex> lock(m.run_mutex);
  ThreadPool* tp = m.pool.get();
  const int64_t H = c.hidden_size, d = c.head_dim();
  const int64_t nh = c.num_attention_heads, nkv = c.num_key_value_heads, r = c.rotary_dims();
  const int64_t qw = nh * d, kvw = nkv * d;
  const float eps = static_cast<float>(c.layer_norm_eps);
  reserve(T, n_logits);
  float *x = x_.data(), *h = h_.data(), *q = q_.data(), *k = k_.data(), *v = v_.data();

  // Rows: embedding, position, KV slot, and which sequence's block table their query reads.
  views_.clear();
  for (int64_t t = 0; t < T; ++t) {
    const BatchRow& row = batch.rows[static_cast<size_t>(t)];
    const Seq& s = seq(row.seq);
    m.embed_rows.read(row.token, x + t * H);
    pos_[static_cast<size_t>(t)] = static_cast<int32_t>(row.pos);
    const int64_t blk = row.pos >> pool.block_shift(), in_blk = row.pos & (pool.block_rows() - 1);
    slot_[static_cast<size_t>(t)] = pool.phys_row(s.table[static_cast<size_t>(blk)], in_blk);
    int32_t vi = -1;
    for (size_t i = 0; i < views_.size(); ++i)
      if (views_[i].blocks == s.table.data()) vi = static_cast<int32_t>(i);
    if (vi < 0) {
      views_.push_back({nullptr, nullptr, s.table.data(), pool.block_shift()});
      vi = static_cast<int32_t>(views_.size() - 1);
    }
    view_of_[static_cast<size_t>(t)] = vi;
  }
  for (int64_t t = 0; t < T; ++t)
    queries_[static_cast<size_t>(t)] = {q + t * qw, ctx_.data() + t * qw, pos_[static_cast<size_t>(t)],
                                        &views_[static_cast<size_t>(view_of_[static_cast<size_t>(t)])]};
  emit("embeddings", -1, x, T, H);

  const int64_t rb = pool.row_bytes();
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const LayerWeights& L = m.layers[static_cast<size_t>(l)];
    kernels::layer_norm(x, T, H, L.input_ln_w.data(), L.input_ln_b.data(), eps, h);
    emit("input_layernorm", l, h, T, H);

    kernels::linear(L.q, L.q_bias.empty() ? nullptr : L.q_bias.data(), h, T, q, tp);
    kernels::linear(L.k, L.k_bias.empty() ? nullptr : L.k_bias.data(), h, T, k, tp);
    kernels::linear(L.v, L.v_bias.empty() ? nullptr : L.v_bias.data(), h, T, v, tp);
    emit("q_proj", l, q, T, qw);
    emit("k_proj", l, k, T, kvw);
    emit("v_proj", l, v, T, kvw);

    if (c.qk_layernorm) {  // LayerNorm over each head's d values, one weight vector per head
      for (int64_t t = 0; t < T; ++t) {
        for (int64_t hd = 0; hd < nh; ++hd)
          kernels::layer_norm(q + t * qw + hd * d, 1, d, L.q_norm.data() + hd * d, nullptr, eps, q + t * qw + hd * d);
        for (int64_t hd = 0; hd < nkv; ++hd)
          kernels::layer_norm(k + t * kvw + hd * d, 1, d, L.k_norm.data() + hd * d, nullptr, eps, k + t * kvw + hd * d);
      }
      emit("q_layernorm", l, q, T, qw);
      emit("k_layernorm", l, k, T, kvw);
    }

    kernels::rope(q, T, nh, d, r, pos_.data(), m.inv_freq.data());
    kernels::rope(k, T, nkv, d, r, pos_.data(), m.inv_freq.data());

    // Store the new keys and values, one call per run of rows that are adjacent in the pool.
    uint8_t *kl = pool.k_layer(l), *vl = pool.v_layer(l);
    for (int64_t t0 = 0; t0 < T;) {
      int64_t t1 = t0 + 1;
      while (t1 < T && slot_[static_cast<size_t>(t1)] == slot_[static_cast<size_t>(t1 - 1)] + 1) ++t1;
      const int64_t s0 = slot_[static_cast<size_t>(t0)];
      kernels::store_kv(k + t0 * kvw, t1 - t0, kvw, pool.type(), kl + s0 * rb, d);
      kernels::store_kv(v + t0 * kvw, t1 - t0, kvw, pool.type(), vl + s0 * rb, d);
      t0 = t1;
    }
    for (auto& view : views_) view.k = kl, view.v = vl;
    kernels::attention(queries_.data(), T, nh, nkv, d, pool.type(), tp);
    emit("attn_context", l, ctx_.data(), T, qw);

    kernels::linear(L.o, nullptr, ctx_.data(), T, attn_.data(), tp);
    emit("o_proj", l, attn_.data(), T, H);

    if (c.use_parallel_residual) {
      mlp(L, h, T, mlp_.data());
      emit("mlp", l, mlp_.data(), T, H);
      kernels::add(x, attn_.data(), T * H);  // x + attn + mlp, in transformers' order
      kernels::add(x, mlp_.data(), T * H);
    } else {
      kernels::add(x, attn_.data(), T * H);
      kernels::layer_norm(x, T, H, L.post_ln_w.data(), L.post_ln_b.data(), eps, h);
      emit("post_attention_layernorm", l, h, T, H);
      mlp(L, h, T, mlp_.data());
      emit("mlp", l, mlp_.data(), T, H);
      kernels::add(x, mlp_.data(), T * H);
    }
    emit("output", l, x, T, H);
  }

  // Final norm and lm_head on the rows that asked for logits (all rows' norm when tracing).
  float* head_in = head_in_.data();
  int64_t n = 0;
  for (int64_t t = 0; t < T; ++t)
    if (batch.rows[static_cast<size_t>(t)].logits) std::memcpy(head_in + (n++) * H, x + t * H, sizeof(float) * H);
  if (trace) {
    kernels::layer_norm(x, T, H, m.norm_w.data(), m.norm_b.data(), eps, h);
    emit("final_norm", -1, h, T, H);
  }
  kernels::layer_norm(head_in, n, H, m.norm_w.data(), m.norm_b.data(), eps, head_in);
  kernels::linear(m.lm_head, nullptr, head_in, n, logits_.data(), tp);
  logits_used_ = static_cast<size_t>(n * c.vocab_size);
  if (n == T) emit("logits", -1, logits_.data(), T, c.vocab_size);
}

}  // namespace stablelm
