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
// Only the kernels in kernels/kernels.h do arithmetic; this file is the graph. Activations are
// fp32. The session keeps a KV cache so a decoded token costs one token of compute, and its
// scratch buffers only grow (allocated once at the largest batch seen): no allocation per token.
#include <algorithm>
#include <cstring>
#include <string>

#include "model/kv_cache.h"
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

// ---- Session --------------------------------------------------------------------------------

class SessionImpl {
 public:
  SessionImpl(const ModelImpl& m, int64_t max_context, KVFormat kv)
      : m_(m), cache_(m.config, max_context > 0 ? max_context : m.config.max_position_embeddings, kv) {}

  std::span<const float> forward(std::span<const int32_t> tokens, bool all_logits);

  const ModelImpl& m_;
  KVCache cache_;
  int64_t n_past_ = 0;
  TraceFn trace_;

 private:
  void reserve(int64_t rows, int64_t logit_rows);
  void mlp(const LayerWeights& L, const float* in, int64_t T, float* out);
  void emit(const char* name, int64_t layer, const float* data, int64_t rows, int64_t cols) const {
    if (!trace_) return;
    trace_(layer < 0 ? std::string(name) : "layer" + std::to_string(layer) + "." + name, data, rows, cols);
  }

  // Scratch, [rows, width] row-major, grown on demand and then reused.
  int64_t rows_cap_ = 0, logit_rows_cap_ = 0;
  std::vector<float> x_, h_, q_, k_, v_, ctx_, attn_, gate_, up_, mlp_, logits_;
  std::vector<int32_t> pos_;
};

void SessionImpl::reserve(int64_t rows, int64_t logit_rows) {
  const ModelConfig& c = m_.config;
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
    pos_.resize(static_cast<size_t>(rows));
    rows_cap_ = rows;
  }
  if (logit_rows > logit_rows_cap_) {
    logits_.resize(static_cast<size_t>(logit_rows * c.vocab_size));
    logit_rows_cap_ = logit_rows;
  }
}

void SessionImpl::mlp(const LayerWeights& L, const float* in, int64_t T, float* out) {
  ThreadPool* pool = m_.pool.get();
  kernels::linear(L.gate, nullptr, in, T, gate_.data(), pool);
  kernels::linear(L.up, nullptr, in, T, up_.data(), pool);
  kernels::silu_mul(gate_.data(), up_.data(), T * m_.config.intermediate_size);
  kernels::linear(L.down, nullptr, gate_.data(), T, out, pool);
}

std::span<const float> SessionImpl::forward(std::span<const int32_t> tokens, bool all_logits) {
  const ModelConfig& c = m_.config;
  const int64_t T = static_cast<int64_t>(tokens.size());
  if (T == 0) throw Error("forward: no tokens");
  if (n_past_ + T > cache_.max_context())
    throw Error("context overflow: " + std::to_string(n_past_) + " cached + " + std::to_string(T) + " new tokens exceed the " +
                std::to_string(cache_.max_context()) + "-token context");
  for (int32_t id : tokens)
    if (id < 0 || id >= c.vocab_size)
      throw Error("token id " + std::to_string(id) + " is outside the vocabulary [0, " + std::to_string(c.vocab_size) + ")");

  std::lock_guard<std::mutex> lock(m_.run_mutex);
  ThreadPool* pool = m_.pool.get();
  const int64_t H = c.hidden_size, I = c.intermediate_size, d = c.head_dim();
  const int64_t nh = c.num_attention_heads, nkv = c.num_key_value_heads, r = c.rotary_dims();
  const int64_t qw = nh * d, kvw = nkv * d;
  const float eps = static_cast<float>(c.layer_norm_eps);
  const int64_t logit_rows = all_logits ? T : 1;
  reserve(T, logit_rows);
  float *x = x_.data(), *h = h_.data(), *q = q_.data(), *k = k_.data(), *v = v_.data();

  for (int64_t t = 0; t < T; ++t) {
    m_.embed_rows.read(tokens[static_cast<size_t>(t)], x + t * H);
    pos_[static_cast<size_t>(t)] = static_cast<int32_t>(n_past_ + t);
  }
  emit("embeddings", -1, x, T, H);

  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const LayerWeights& L = m_.layers[static_cast<size_t>(l)];
    kernels::layer_norm(x, T, H, L.input_ln_w.data(), L.input_ln_b.data(), eps, h);
    emit("input_layernorm", l, h, T, H);

    kernels::linear(L.q, L.q_bias.empty() ? nullptr : L.q_bias.data(), h, T, q, pool);
    kernels::linear(L.k, L.k_bias.empty() ? nullptr : L.k_bias.data(), h, T, k, pool);
    kernels::linear(L.v, L.v_bias.empty() ? nullptr : L.v_bias.data(), h, T, v, pool);
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

    kernels::rope(q, T, nh, d, r, pos_.data(), m_.inv_freq.data());
    kernels::rope(k, T, nkv, d, r, pos_.data(), m_.inv_freq.data());

    kernels::store_kv(k, T, kvw, cache_.type(), cache_.k_at(l, n_past_), d);
    kernels::store_kv(v, T, kvw, cache_.type(), cache_.v_at(l, n_past_), d);
    kernels::attention(q, T, n_past_, nh, nkv, d, cache_.k_at(l, 0), cache_.v_at(l, 0), cache_.type(), ctx_.data(), pool);
    emit("attn_context", l, ctx_.data(), T, qw);

    kernels::linear(L.o, nullptr, ctx_.data(), T, attn_.data(), pool);
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
  (void)I;

  // Final norm on every row only when tracing; otherwise just the rows whose logits we return.
  const int64_t first = (all_logits || trace_) ? 0 : T - 1;
  kernels::layer_norm(x + first * H, T - first, H, m_.norm_w.data(), m_.norm_b.data(), eps, h + first * H);
  emit("final_norm", -1, h, T, H);
  const float* head_in = all_logits ? h : h + (T - 1) * H;
  kernels::linear(m_.lm_head, nullptr, head_in, logit_rows, logits_.data(), pool);
  if (all_logits) emit("logits", -1, logits_.data(), T, c.vocab_size);

  n_past_ += T;
  return {logits_.data(), static_cast<size_t>(logit_rows * c.vocab_size)};
}

Session::Session(const Model& model, int64_t max_context, KVFormat kv)
    : impl_(std::make_unique<SessionImpl>(model.impl(), max_context, kv)) {}
Session::~Session() = default;

std::span<const float> Session::forward(std::span<const int32_t> tokens, bool all_logits) {
  return impl_->forward(tokens, all_logits);
}
int64_t Session::n_past() const { return impl_->n_past_; }
int64_t Session::max_context() const { return impl_->cache_.max_context(); }
void Session::truncate(int64_t n) {
  if (n < 0 || n > impl_->n_past_)
    throw Error("truncate(" + std::to_string(n) + "): the session holds " + std::to_string(impl_->n_past_) + " positions");
  impl_->n_past_ = n;
}
void Session::set_trace(TraceFn fn) { impl_->trace_ = std::move(fn); }

}  // namespace stablelm
