#pragma once
// Internal interface between the dispatcher (dispatch.cpp, which owns threading and scratch)
// and the per-ISA kernel files (*_avx2.cpp / *_avx512.cpp, compiled with those flags and only
// called after a CPUID check). Each function works on a slice of the output so the dispatcher
// can split it across the thread pool; none allocates.
#include <cstdint>

#include "kernels/cpu/quant_layout.h"
#include "kernels/kernels.h"

namespace stablelm::kernels::simd {

// Largest head_dim the SIMD attention keeps in registers; larger ones use the scalar oracle.
constexpr int64_t kMaxHeadDim = 256;

// One query's view of its sequence's KV cache for one layer: key/value row j (position j) is
// physical row table[j >> shift] * 2^shift + (j & mask) of the layer's K and V arrays. A
// contiguous cache is table {0} with shift 62.
struct KVRows {
  const uint8_t* k;
  const uint8_t* v;
  const int32_t* table;
  int shift;
  int64_t row_bytes;
  int64_t phys(int64_t j) const {
    return (static_cast<int64_t>(table[j >> shift]) << shift) + (j & ((int64_t{1} << shift) - 1));
  }
  const uint8_t* k_row(int64_t j) const { return k + phys(j) * row_bytes; }
  const uint8_t* v_row(int64_t j) const { return v + phys(j) * row_bytes; }
};

// One query of attention: q [n_heads][head_dim] against keys/values 0 .. n_keys-1 of kv.
struct AttnArgs {
  const float* q;
  int64_t n_heads, n_kv_heads, head_dim;
  KVRows kv;
  WType kv_type;
};

// Weight-row streams each thread reads side by side in the decode (n = 1) float kernels: 4
// (with software prefetch ~2 KiB ahead) on AMD Zen 5, where one stream left the memory system
// idle; 1 (hardware prefetch only, llama.cpp's pattern) elsewhere, e.g. Zen 4, where it decoded
// the 1.6B BF16 ~15 % faster. Chosen once per process (dispatch.cpp); STABLELM_DECODE_STREAMS=1|4
// overrides. Either way every row is summed in the same order: results do not depend on it.
int decode_stream_count();

// Whether matmul precision "medium" prefill (n > 1) computes vdpbf16ps's arithmetic with fp32 FMAs
// (linear_bf16_avx512.cpp: bitwise the same results) instead of vdpbf16ps itself. Meant for CPUs
// where vdpbf16ps is slow (0.09 against 0.17 TFLOP/s of fp32 FMA per core on the Xeon family 6
// model 207 of issue 15); off by default until measured there (on Zen 4 it ran at 0.79x the
// exact path, vdpbf16ps at 1.8x). STABLELM_MEDIUM_DOT=fma|dpbf16 chooses.
bool medium_dot_fma();

struct Ops {
  const char* name;
  // y[t, r] for r in [r0, r1) and all n tokens; F32/F16/BF16 weights, fp32 activations. xp: x
  // packed by pack_acts_f32 for n > 1 (nullptr where this level has no packing: it reads x).
  void (*linear_float)(const Weight& w, const float* bias, const float* x, const float* xp, int64_t n, float* y,
                       int64_t r0, int64_t r1);
  // Packs token tiles [tile0, tile1) of x[n, K] into xp (f32_pack_floats; nullptr where unused).
  void (*pack_acts_f32)(const float* x, int64_t n, int64_t K, int64_t tile0, int64_t tile1, float* xp);
  // Quantizes tokens [t0, t1) of x[n, cols] into xa (arrays sized by the caller).
  void (*quantize_acts)(const float* x, int64_t t0, int64_t t1, const qlayout::QActs& xa);
  // y[t, r] for the rows of groups [g0, g1) and all tokens of xa; Q8/Q4 weights.
  void (*linear_quant)(const Weight& w, const float* bias, const qlayout::QActs& xa, float* y, int64_t g0,
                       int64_t g1);
  // One query's attention over keys [0, n_keys), heads [h0, h1), normalised, into
  // out[(h - h0) * head_dim ...]; scratch holds >= attn_scratch_floats(a, n_keys, h1 - h0).
  void (*attention)(const AttnArgs& a, int64_t n_keys, int64_t h0, int64_t h1, float* scratch, float* out);
  void (*silu_mul)(float* gate, const float* up, int64_t n);
  void (*layer_norm)(const float* x, int64_t n, int64_t dim, const float* weight, const float* bias, float eps,
                     float* out);
  void (*store_kv)(const float* src, int64_t n, int64_t width, WType t, void* dst);
  // Matmul precision "medium" for BF16 weights (nullptr where the ISA lacks a bf16 dot product),
  // for every n: pack_acts_bf16 rounds token tiles [tile0, tile1) of x[n, K] to bf16 into xp
  // (bf16_pack_elems), then linear_bf16 computes y[t, r] for rows [r0, r1) from the packed tiles.
  void (*pack_acts_bf16)(const float* x, int64_t n, int64_t K, int64_t tile0, int64_t tile1, uint16_t* xp);
  void (*linear_bf16)(const Weight& w, const float* bias, const uint16_t* xp, int64_t n, float* y, int64_t r0,
                      int64_t r1);
  // Σ exp(x[i] - shift) (nullptr: the reference's).
  double (*sum_exp)(const float* x, int64_t n, float shift);
};

// Packed activations of the row-invariant linear kernels (linear_float_avx512.cpp): tokens in
// tiles of kTileToks (one tile of width 1 when n == 1), each tile laid out as [k step][token]
// [lanes] (16 fp32 or 32 bf16 per step), zero past K and past n, so that a register tile reads
// one sequential stream of activations.
constexpr int kTileToks = 6;
inline int64_t tile_width(int64_t n) { return n == 1 ? 1 : kTileToks; }
inline int64_t act_tiles(int64_t n) { return (n + tile_width(n) - 1) / tile_width(n); }
inline int64_t f32_pack_floats(int64_t n, int64_t K) { return act_tiles(n) * tile_width(n) * ((K + 15) / 16 * 16); }
inline int64_t bf16_pack_elems(int64_t n, int64_t K) { return act_tiles(n) * tile_width(n) * ((K + 31) / 32 * 32); }

// Per-thread scratch the attention kernels need for one query, n_keys keys and `heads` heads:
// scores for groups of 16 heads × keys, 1/Σ per head and the heads' sums; 16 floats of slack
// to align to 64 bytes.
inline int64_t attn_scratch_floats(const AttnArgs& a, int64_t n_keys, int64_t heads) {
  return (heads + 15) / 16 * 16 * (n_keys + 2) + heads * a.head_dim + 16;
}

namespace avx512 {
// store_kv into the Q8 KV cache (kernels.h layout); only called on the AVX-512 level.
void store_kv_q8(const float* src, int64_t n, int64_t width, int64_t head_dim, void* dst);
// One query, heads [h0, h1), keys [j0, j1) only, j0 < j1: out[(h - h0) * head_dim ...] =
// Σ_j exp(s_j - m[h - h0]) v_j, m = the max score over the range, l = Σ_j exp(s_j - m). The
// dispatcher cuts the keys into segments that depend on the key index only, spreads them over
// the threads and combines the partial results.
void attention_keys(const AttnArgs& a, int64_t h0, int64_t h1, int64_t j0, int64_t j1, float* scratch, float* out,
                    float* m, float* l);
}  // namespace avx512

// The scalar level's Ops::attention: the reference arithmetic over KVRows.
void scalar_attention(const AttnArgs& a, int64_t n_keys, int64_t h0, int64_t h1, float* scratch, float* out);

const Ops* avx512_ops();
const Ops* avx2_ops();

}  // namespace stablelm::kernels::simd
