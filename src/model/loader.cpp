// Binds the tensors of a model directory to the layer structure that config.json describes:
// every expected tensor must exist with exactly the expected shape, and nothing else may be
// present. Matrices stay in the mmap (advised for huge pages per LoadOptions::huge_pages) or are
// converted once to LoadOptions.weights; small vectors become fp32.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <set>
#include <string>

#include "common/huge_pages.h"
#include "model/formats.h"
#include "model/model_impl.h"
#include "stablelm/error.h"

namespace stablelm {
namespace {

kernels::WType wtype_of(io::DType t) {
  switch (t) {
    case io::DType::F32: return kernels::WType::F32;
    case io::DType::F16: return kernels::WType::F16;
    case io::DType::BF16: return kernels::WType::BF16;
    case io::DType::U8: break;  // quantized: see Binder::quantized
  }
  return kernels::WType::F32;
}

std::string shape_str(std::initializer_list<int64_t> s) {
  std::string out = "[";
  size_t i = 0;
  for (int64_t d : s) out += (i++ ? ", " : "") + std::to_string(d);
  return out + "]";
}

class Binder {
 public:
  explicit Binder(ModelImpl& m) : m_(m) {}

  const io::TensorInfo& tensor(const std::string& name, std::initializer_list<int64_t> shape) {
    const io::TensorInfo* t = m_.store->find(name);
    if (!t) throw Error(m_.store->source().string() + ": missing tensor " + name + " (expected by config.json)");
    bool same = t->shape.size() == shape.size();
    size_t i = 0;
    for (int64_t d : shape) same = same && t->shape[i++] == d;
    if (!same)
      throw Error(t->file->string() + ": tensor " + name + " has shape " + t->shape_str() + " but config.json implies " +
                  shape_str(shape));
    used_.insert(name);
    return *t;
  }

  // A weight matrix used in place from the mapping (copied out if the file misaligns it for its
  // dtype), or converted when the user asked for another format.
  kernels::Weight matrix(const std::string& name, int64_t rows, int64_t cols, bool convert = true) {
    if (const io::TensorInfo* raw = m_.store->find(name); raw && raw->dtype == io::DType::U8)
      return quantized(*raw, rows, cols, convert);
    const io::TensorInfo& t = tensor(name, {rows, cols});
    kernels::Weight w;
    w.type = wtype_of(t.dtype);
    w.rows = rows;
    w.cols = cols;
    w.data = t.data;
    w.bytes = t.bytes;
    const bool misaligned = reinterpret_cast<uintptr_t>(t.data) % io::dtype_size(t.dtype) != 0;
    if (convert && target_ && *target_ != w.type) {
      if (misaligned) w = copy_out(w);
      m_.owned.push_back(kernels::convert_weight(w, *target_, m_.pool.get()));
      return m_.owned.back().view;
    }
    return misaligned ? copy_out(w) : place(w, convert);
  }

  // A matrix already in a Q8/Q4 block format (a `stablelm quantize` directory): used in place,
  // after checking its size against the shape config.json implies.
  kernels::Weight quantized(const io::TensorInfo& t, int64_t rows, int64_t cols, bool convert) {
    kernels::Weight w;
    if (t.quant == "q8") w.type = kernels::WType::Q8;
    else if (t.quant == "q4") w.type = kernels::WType::Q4;
    else throw Error(t.file->string() + ": tensor " + t.name + ": unknown quantized format \"" + t.quant + "\" (expected q8 or q4)");
    const size_t want = kernels::weight_bytes(w.type, rows, cols);
    if (t.shape.size() != 1 || t.bytes != want)
      throw Error(t.file->string() + ": tensor " + t.name + " holds " + std::to_string(t.bytes) + " bytes of " + t.quant +
                  " but config.json implies " + shape_str({rows, cols}) + ", which needs " + std::to_string(want));
    used_.insert(t.name);
    w.rows = rows;
    w.cols = cols;
    w.data = t.data;
    w.bytes = t.bytes;
    if (convert && target_ && *target_ != w.type) {
      m_.owned.push_back(kernels::convert_weight(w, *target_, m_.pool.get()));
      return m_.owned.back().view;
    }
    return place(w, convert);
  }

  // A matrix used as stored and streamed by the decode: advised per LoadOptions::huge_pages. The
  // embedding (streamed == false) is read one row per token with pread (EmbeddingRows).
  kernels::Weight place(const kernels::Weight& w, bool streamed) {
    if (streamed && pages_ == HugePages::Auto) io::advise_huge_pages(w.data, w.bytes);
    return w;
  }

  // Copies a matrix that the file misaligns for its dtype out of the mapping, then drops the
  // mapping's pages of it from this process (they stay in the page cache), so resident memory
  // holds the weights once.
  kernels::Weight copy_out(const kernels::Weight& w) {
    kernels::OwnedWeight copy;
    copy.storage = huge_buffer(w.bytes);
    copy.view = w;
    copy.view.data = copy.storage.get();
    const auto* src = static_cast<const uint8_t*>(w.data);
    constexpr size_t kChunk = size_t{1} << 20;
    const auto chunks = static_cast<int64_t>((w.bytes + kChunk - 1) / kChunk);
    m_.pool->parallel_for(chunks, [&](int, int64_t c0, int64_t c1) {
      const size_t b0 = static_cast<size_t>(c0) * kChunk, b1 = std::min(w.bytes, static_cast<size_t>(c1) * kChunk);
      std::memcpy(copy.storage.get() + b0, src + b0, b1 - b0);
    });
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const uintptr_t p0 = reinterpret_cast<uintptr_t>(src) / page * page;
    const uintptr_t p1 = reinterpret_cast<uintptr_t>(src + w.bytes);
    madvise(reinterpret_cast<void*>(p0), p1 - p0, MADV_DONTNEED);  // file-backed, unmodified: safe
    m_.owned.push_back(copy);
    return copy.view;
  }

  std::vector<float> vector(const std::string& name, int64_t n) {
    const io::TensorInfo& t = tensor(name, {n});
    if (t.dtype == io::DType::U8) throw Error(t.file->string() + ": tensor " + name + " is quantized (U8) but must be a float vector");
    std::vector<float> out(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      const uint8_t* p = t.data + static_cast<size_t>(i) * io::dtype_size(t.dtype);
      if (t.dtype == io::DType::F32) {
        std::memcpy(&out[static_cast<size_t>(i)], p, 4);
      } else {
        uint16_t h;
        std::memcpy(&h, p, 2);
        out[static_cast<size_t>(i)] = t.dtype == io::DType::F16 ? kernels::f16_to_f32(h) : kernels::bf16_to_f32(h);
      }
    }
    return out;
  }

  void check_unused() const {
    for (auto& [name, t] : m_.store->all()) {
      if (used_.count(name)) continue;
      // Non-persistent rotary buffers that some old exports still carry carry no information.
      if (name.size() > 21 && name.ends_with(".rotary_emb.inv_freq")) continue;
      if (name == "lm_head.weight" && m_.config.tie_word_embeddings) continue;
      throw Error(t->file->string() + ": unexpected tensor " + name + " " + t->shape_str() +
                  " (not used by the architecture config.json describes)");
    }
  }

  void set_target(std::optional<kernels::WType> t) { target_ = t; }
  void set_pages(HugePages p) { pages_ = p; }

 private:
  ModelImpl& m_;
  std::optional<kernels::WType> target_;
  HugePages pages_ = HugePages::Auto;
  std::set<std::string> used_;
};

}  // namespace

ModelImpl::ModelImpl(const std::filesystem::path& model_dir, const LoadOptions& opts) : dir(model_dir) {
  config = ModelConfig::load(dir / "config.json");
  pool = std::make_unique<ThreadPool>(opts.threads);
  store = std::make_unique<io::TensorStore>(dir);
  const ModelConfig& c = config;
  const int64_t H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size, d = c.head_dim();
  const int64_t nh = c.num_attention_heads, nkv = c.num_key_value_heads;

  Binder b(*this);
  if (opts.weights != WeightFormat::Stored) b.set_target(wtype_of(opts.weights));
  b.set_pages(opts.huge_pages);
  // The embedding is read one row per token: it stays in its stored form.
  embed = b.matrix("model.embed_tokens.weight", V, H, /*convert=*/false);
  embed_rows = EmbeddingRows(embed, store->find("model.embed_tokens.weight"));
  layers.resize(static_cast<size_t>(c.num_hidden_layers));
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    LayerWeights& L = layers[static_cast<size_t>(i)];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    L.input_ln_w = b.vector(p + "input_layernorm.weight", H);
    L.input_ln_b = b.vector(p + "input_layernorm.bias", H);
    L.q = b.matrix(p + "self_attn.q_proj.weight", nh * d, H);
    L.k = b.matrix(p + "self_attn.k_proj.weight", nkv * d, H);
    L.v = b.matrix(p + "self_attn.v_proj.weight", nkv * d, H);
    L.o = b.matrix(p + "self_attn.o_proj.weight", H, nh * d);
    if (c.use_qkv_bias) {
      L.q_bias = b.vector(p + "self_attn.q_proj.bias", nh * d);
      L.k_bias = b.vector(p + "self_attn.k_proj.bias", nkv * d);
      L.v_bias = b.vector(p + "self_attn.v_proj.bias", nkv * d);
    }
    if (c.qk_layernorm) {
      for (int64_t h = 0; h < nh; ++h) {
        auto w = b.vector(p + "self_attn.q_layernorm.norms." + std::to_string(h) + ".weight", d);
        L.q_norm.insert(L.q_norm.end(), w.begin(), w.end());
      }
      for (int64_t h = 0; h < nkv; ++h) {
        auto w = b.vector(p + "self_attn.k_layernorm.norms." + std::to_string(h) + ".weight", d);
        L.k_norm.insert(L.k_norm.end(), w.begin(), w.end());
      }
    }
    if (!c.use_parallel_residual) {
      L.post_ln_w = b.vector(p + "post_attention_layernorm.weight", H);
      L.post_ln_b = b.vector(p + "post_attention_layernorm.bias", H);
    }
    L.gate = b.matrix(p + "mlp.gate_proj.weight", I, H);
    L.up = b.matrix(p + "mlp.up_proj.weight", I, H);
    L.down = b.matrix(p + "mlp.down_proj.weight", H, I);
  }
  norm_w = b.vector("model.norm.weight", H);
  norm_b = b.vector("model.norm.bias", H);
  if (c.tie_word_embeddings) {
    lm_head = embed;
    if (opts.weights != WeightFormat::Stored) {
      // Same conversion as the other matrices, as a separate copy (the embedding stays stored).
      const kernels::WType t = wtype_of(opts.weights);
      if (t != embed.type) {
        owned.push_back(kernels::convert_weight(embed, t, pool.get()));
        lm_head = owned.back().view;
      }
    }
    // Streamed whole every token as the output projection: the matrices' page policy.
    if (lm_head.data == embed.data) lm_head = b.place(embed, /*streamed=*/true);
  } else {
    lm_head = b.matrix("lm_head.weight", V, H);
  }
  b.check_unused();
  if (opts.matmul == MatmulPrecision::Medium) {
    for (auto& L : layers)
      for (kernels::Weight* w : {&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down}) w->bf16_acts = true;
    lm_head.bf16_acts = true;  // only takes effect for BF16 weights (kernels.h)
  }

  // inv_freq[j] = theta^(-2j/r), computed in float32 as transformers does.
  const int64_t r = c.rotary_dims();
  for (int64_t j = 0; j < r / 2; ++j) {
    const float e = static_cast<float>(2 * j) / static_cast<float>(r);
    inv_freq.push_back(1.0f / std::pow(static_cast<float>(c.rope_theta), e));
  }

  weight_bytes = lm_head.bytes + embed.bytes / static_cast<size_t>(V) + (norm_w.size() + norm_b.size()) * 4;
  for (auto& L : layers) {
    for (const kernels::Weight* w : {&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down}) weight_bytes += w->bytes;
    for (auto* v : {&L.input_ln_w, &L.input_ln_b, &L.post_ln_w, &L.post_ln_b, &L.q_bias, &L.k_bias, &L.v_bias, &L.q_norm,
                    &L.k_norm})
      weight_bytes += v->size() * 4;
  }
}

}  // namespace stablelm
