#pragma once
// The seam between the model graph (src/model) and the compute kernels.
//
// The model only ever calls the functions below. Each has a plain scalar implementation in
// namespace `reference` (src/kernels/cpu/reference.cpp) that stays forever as the test oracle;
// the un-namespaced entry points dispatch at run time to the best implementation for this CPU
// (src/kernels/cpu/dispatch.cpp). All activations and accumulations are fp32.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace stablelm {
class ThreadPool;
}

namespace stablelm::kernels {

// Storage format of a weight matrix. F32/F16/BF16 are the safetensors dtypes (used in place from
// the mmap); Q8/Q4 are our block-quantized formats (layout in src/kernels/quant.h).
enum class WType : uint8_t { F32, F16, BF16, Q8, Q4 };
const char* wtype_name(WType t);

// A row-major weight matrix [rows = out_features, cols = in_features], as nn.Linear stores it.
struct Weight {
  WType type = WType::F32;
  int64_t rows = 0;
  int64_t cols = 0;
  const void* data = nullptr;  // not owned: points into the mmap or into model-owned buffers
  size_t bytes = 0;            // size of data, for bandwidth accounting
  // Matmul precision "medium" (BF16 weights only): the activations are rounded to bf16 and the
  // CPU's bf16 dot product (vdpbf16ps, fp32 accumulation) is used — twice the fp32 FMA rate at
  // llama.cpp's / PyTorch-bf16 accuracy — for every n, decode included (so that a row's result
  // does not depend on n). CPUs without AVX512-BF16 stay exact fp32.
  bool bf16_acts = false;
};

// Exact conversions of the stored element types.
float bf16_to_f32(uint16_t v);
float f16_to_f32(uint16_t v);
uint16_t f32_to_bf16(float v);  // round to nearest even
uint16_t f32_to_f16(float v);   // round to nearest even

// out[0, cols) = row `row` of w, converted to fp32 (embedding lookup).
void embed_row(const Weight& w, int64_t row, float* out);

// y[n, rows] = x[n, cols] · wᵀ (+ bias[rows] when bias != nullptr). The workhorse: decode is
// n = 1 (matrix × vector, bandwidth bound), prefill is n = prompt length (compute bound).
// Row-invariant: at a given ISA level (and precision), row t of y is bit for bit the result of
// linear(w, bias, x + t * cols, 1, ...) whatever n and the thread count (one summation order per
// output element on every path); levels may differ from each other.
void linear(const Weight& w, const float* bias, const float* x, int64_t n, float* y, ThreadPool* pool);

// LayerNorm over the last dim of x[n, dim]: (x - mean) / sqrt(var + eps) * weight (+ bias).
// bias may be nullptr. out may alias x.
void layer_norm(const float* x, int64_t n, int64_t dim, const float* weight, const float* bias, float eps,
                float* out);

// Rotary embedding (rotate_half pairing) on the first rot_dims dims of each head of
// x[n, n_heads, head_dim], in place. inv_freq has rot_dims/2 entries, positions has n.
void rope(float* x, int64_t n, int64_t n_heads, int64_t head_dim, int64_t rot_dims, const int32_t* positions,
          const float* inv_freq);

// One sequence's KV cache for one layer, held in blocks of 2^block_shift rows: position j's key
// and value rows are physical row blocks[j >> block_shift] * 2^block_shift + (j mod 2^block_shift)
// of the layer's K and V arrays (rows kv_row_bytes(kv_type, n_kv_heads, head_dim) apart).
struct KVLayerView {
  const void* k;
  const void* v;
  const int32_t* blocks;
  int block_shift;
};

// One query of causal attention: q [n_heads, head_dim] at position pos attends keys 0 .. pos of
// its sequence's cache kv; the result goes to out [n_heads, head_dim].
struct AttnQuery {
  const float* q;
  float* out;
  int64_t pos;
  const KVLayerView* kv;
};

// Attention for a batch of queries (any sequences, any positions). Query head h uses kv head
// h / (n_heads / n_kv_heads); scale 1/sqrt(head_dim). Row-invariant: every query's result is
// computed the same way whatever the other queries, the thread count or how a prompt was split
// into calls (its keys are cut into segments by key index only).
void attention(const AttnQuery* queries, int64_t n_queries, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim,
               WType kv_type, ThreadPool* pool);

// Causal attention for n new queries at positions pos0 .. pos0+n-1 against a contiguous cache
// that already holds keys/values for positions 0 .. pos0+n-1 (the batch form above over one
// block holding the whole cache).
//   q:   [n, n_heads, head_dim]
//   k,v: [n_ctx_stored, n_kv_heads, head_dim] rows, element type kv_type (F32, F16, BF16 or Q8;
//        rows kv_row_bytes(kv_type, n_kv_heads, head_dim) apart)
//   out: [n, n_heads, head_dim]
void attention(const float* q, int64_t n, int64_t pos0, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim,
               const void* k, const void* v, WType kv_type, float* out, ThreadPool* pool);

// Store n rows of fp32 [n, width] into a cache of element type t (F32, F16, BF16, Q8), rows
// kv_row_bytes(t, width / head_dim, head_dim) apart. head_dim matters only for Q8 (0 = width).
// Q8 KV row (--kv q8): width int8 values, then for each head (in order) one fp32 scale per block
// of 32 values of that head (the last block shorter when head_dim % 32 != 0); value = q · scale,
// scale = absmax(block) / 127, q = round-to-nearest-even(x / scale) (docs/FORMATS.md).
void store_kv(const float* src, int64_t n, int64_t width, WType t, void* dst, int64_t head_dim = 0);
// Bytes of one KV cache row of n_kv_heads × head_dim values in format t.
int64_t kv_row_bytes(WType t, int64_t n_kv_heads, int64_t head_dim);

// gate[i] = silu(gate[i]) * up[i] for i < n.
void silu_mul(float* gate, const float* up, int64_t n);

// y[i] += x[i].
void add(float* y, const float* x, int64_t n);

// Σ exp(x[i] - shift) over n floats: the log-sum-exp of a logits row (shift = its max, so every
// term is <= 1). Each term is an fp32 exp of the fp32 difference, the sum is in double.
double sum_exp(const float* x, int64_t n, float shift);

// Scalar oracles: same contracts, plain loops, no threads.
namespace reference {
void embed_row(const Weight& w, int64_t row, float* out);
void linear(const Weight& w, const float* bias, const float* x, int64_t n, float* y);
void layer_norm(const float* x, int64_t n, int64_t dim, const float* weight, const float* bias, float eps,
                float* out);
void rope(float* x, int64_t n, int64_t n_heads, int64_t head_dim, int64_t rot_dims, const int32_t* positions,
          const float* inv_freq);
void attention(const float* q, int64_t n, int64_t pos0, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim,
               const void* k, const void* v, WType kv_type, float* out);
void store_kv(const float* src, int64_t n, int64_t width, WType t, void* dst);  // head_dim = width
void store_kv(const float* src, int64_t n, int64_t width, WType t, void* dst, int64_t head_dim);
void silu_mul(float* gate, const float* up, int64_t n);
void add(float* y, const float* x, int64_t n);
double sum_exp(const float* x, int64_t n, float shift);
}  // namespace reference

// Which implementation the dispatcher picked ("scalar", "avx2", "avx512", ...). The environment
// variable STABLELM_ISA=scalar|avx2|avx512 forces a lower level (for tests and comparisons).
const char* active_isa();

// How the decode float kernels read weights on this CPU: "1 stream" or "4 streams" per thread
// (STABLELM_DECODE_STREAMS=1|4 forces it); reported by `stablelm bench`.
const char* decode_read_pattern();
// Forces 1 or 4 streams at run time (tests and benchmarks; not thread-safe against kernel calls).
// Throws stablelm::Error for other counts.
void set_decode_streams(int streams);

// How matmul precision "medium" prefill multiplies: "vdpbf16ps" (the default), or "fp32 FMA" (the
// same arithmetic, bitwise, on the FMA units; simd::medium_dot_fma). Reported by `stablelm
// bench`; STABLELM_MEDIUM_DOT=fma|dpbf16 chooses.
const char* medium_dot_kernel();
// Forces "fma" or "dpbf16" at run time (tests and benchmarks; not thread-safe against kernel
// calls). Throws stablelm::Error for other names.
void set_medium_dot(const char* name);

// Switches the dispatcher to ISA level `name` ("scalar", "avx2", "avx512") at run time, for
// tests and benchmarks that compare levels in one process. Throws stablelm::Error when the name
// is unknown or this CPU lacks the level. Not thread-safe against concurrent kernel calls.
void set_isa(const char* name);
// The levels this CPU supports, lowest first ("scalar" always).
std::vector<std::string> supported_isas();

}  // namespace stablelm::kernels
