// AVX-512 attention over an F32/F16/BF16/Q8 KV cache.
//
// Prefill (n > 1 queries) runs as two small GEMMs per head, like a BLAS would: the head's keys
// are converted to fp32 once into 64-key panels stored transposed ([panel][d][64]), its values
// into [key][head_dim padded to 16] rows; then per block of kQBlock queries, scores = Q·Kᵀ with
// 4-query × 64-key register tiles (broadcast q[d] × 4 zmm of keys: no horizontal sums), a
// vectorized causal softmax, and out = P·V with 4-query × 64-dim register tiles (broadcast p ×
// value rows). Decode (one query) streams the cache position-major instead (see below).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/avx512_common.h"

namespace stablelm::kernels::simd::avx512 {

namespace {

constexpr int kMaxChunks = kMaxHeadDim / 16;

// Where the 16-element chunk c of kv head kvh of cache row j lives, per cache format.
struct KVGeom {
  int64_t kvw, hd, row_bytes, blocks;  // blocks: Q8 scale blocks per head
};

template <WType T>
inline __m512 load_kv(const void* base, const KVGeom& g, int64_t j, int64_t kvh, int64_t c, __mmask16 m) {
  if constexpr (T == WType::Q8) {
    // Row: kvw int8 values, then one fp32 scale per 32-value block of each head (kernels.h).
    const auto* row = static_cast<const uint8_t*>(base) + j * g.row_bytes;
    float d;
    std::memcpy(&d, row + g.kvw + 4 * (kvh * g.blocks + c / 2), 4);
    const __m512i q = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, row + kvh * g.hd + 16 * c));
    return _mm512_mul_ps(_mm512_cvtepi32_ps(q), _mm512_set1_ps(d));
  } else {
    return load16_mask<T>(base, j * g.kvw + kvh * g.hd + 16 * c, m);
  }
}

inline __mmask16 chunk_mask(int64_t c, int64_t chunks, __mmask16 tail) { return c + 1 == chunks ? tail : __mmask16(0xFFFF); }

// ---------------------------------------------------------------------------------------------
// Prefill.
constexpr int64_t kPanel = kAttnPanel;    // keys per K panel = 4 zmm (simd.h sizes the scratch)
constexpr int64_t kQBlock = kAttnQBlock;  // queries per score block: kQBlock rows of scores
constexpr int64_t kMr = 6;                // queries per register tile

struct PrefillLayout {
  int64_t n_keys, panels, ld_s, hdp;
  float *kp, *v, *s;
};

PrefillLayout prefill_layout(const AttnArgs& a, float* scratch) {
  PrefillLayout l;
  // 64-byte aligned base (attn_scratch_floats adds 16 floats of slack): panels, rows and score
  // rows are then whole cache lines.
  scratch = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(scratch) + 63) & ~uintptr_t{63});
  l.n_keys = a.pos0 + a.n;
  l.panels = (l.n_keys + kPanel - 1) / kPanel;
  l.ld_s = l.panels * kPanel;
  l.hdp = (a.head_dim + 15) / 16 * 16;
  l.kp = scratch;
  l.v = l.kp + l.panels * kPanel * a.head_dim;
  l.s = l.v + l.n_keys * l.hdp;
  return l;
}

// out[j][i] = in[i][j] for a 16×16 block of floats (unpack within 128-bit lanes, then lane shuffles).
inline void transpose16(const __m512* in, __m512* out) {
  __m512 t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(in[2 * i], in[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(in[2 * i], in[2 * i + 1]);
  }
  // u[4g+k], lane L = column 4L+k of rows 4g..4g+3.
  for (int g = 0; g < 4; ++g) {
    const __m512d t0 = _mm512_castps_pd(t[4 * g]), t1 = _mm512_castps_pd(t[4 * g + 1]);
    const __m512d t2 = _mm512_castps_pd(t[4 * g + 2]), t3 = _mm512_castps_pd(t[4 * g + 3]);
    u[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
    u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
    u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
    u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
  }
  for (int k = 0; k < 4; ++k) {
    const __m512 v0 = _mm512_shuffle_f32x4(u[k], u[4 + k], 0x44), v1 = _mm512_shuffle_f32x4(u[k], u[4 + k], 0xEE);
    const __m512 w0 = _mm512_shuffle_f32x4(u[8 + k], u[12 + k], 0x44), w1 = _mm512_shuffle_f32x4(u[8 + k], u[12 + k], 0xEE);
    out[k] = _mm512_shuffle_f32x4(v0, w0, 0x88);
    out[4 + k] = _mm512_shuffle_f32x4(v0, w0, 0xDD);
    out[8 + k] = _mm512_shuffle_f32x4(v1, w1, 0x88);
    out[12 + k] = _mm512_shuffle_f32x4(v1, w1, 0xDD);
  }
}

// Converts kv head kvh: K into transposed panels (zero-padded past the last key), V into rows.
template <WType T>
void convert_head(const AttnArgs& a, const KVGeom& g, int64_t kvh, const PrefillLayout& l) {
  const int64_t hd = a.head_dim, chunks = l.hdp / 16;
  const __mmask16 tail = lanes(hd - (chunks - 1) * 16);
  // One head's slice of a cache row is 64..512 bytes, rows are kvw elements apart (often 4 KiB):
  // every row is a new page, which the hardware prefetcher does not follow. Prefetch ahead.
  constexpr int64_t kAhead = 16;
  const int64_t slice_bytes = T == WType::Q8 ? hd : hd * static_cast<int64_t>(elem_size(T));
  const int64_t elem_off = T == WType::Q8 ? kvh * hd : kvh * hd * static_cast<int64_t>(elem_size(T));
  const int64_t row_stride = g.row_bytes;
  for (int64_t j0 = 0; j0 < l.n_keys; j0 += 16) {
    const int64_t rows = std::min<int64_t>(16, l.n_keys - j0);
    for (int64_t j = j0 + kAhead; j < std::min(j0 + kAhead + 16, l.n_keys); ++j) {
      const int64_t off = j * row_stride + elem_off;
      for (int64_t b = 0; b < slice_bytes + 63; b += 64) {  // + 63: an unaligned slice's last line
        const int64_t o = off + std::min(b, slice_bytes - 1);
        _mm_prefetch(static_cast<const char*>(a.k) + o, _MM_HINT_T0);
        _mm_prefetch(static_cast<const char*>(a.v) + o, _MM_HINT_T0);
      }
      if constexpr (T == WType::Q8) {
        const int64_t soff = j * row_stride + g.kvw + 4 * kvh * g.blocks;
        _mm_prefetch(static_cast<const char*>(a.k) + soff, _MM_HINT_T0);
        _mm_prefetch(static_cast<const char*>(a.v) + soff, _MM_HINT_T0);
      }
    }
    for (int64_t j = j0; j < j0 + rows; ++j)
      for (int64_t c = 0; c < chunks; ++c)  // masked lanes load as 0: the padding of V rows
        _mm512_storeu_ps(l.v + j * l.hdp + 16 * c, load_kv<T>(a.v, g, j, kvh, c, chunk_mask(c, chunks, tail)));
    // K: 16 keys × 16 dims at a time, transposed in registers into 16 dims × 16 keys.
    float* kblk = l.kp + (j0 / kPanel) * kPanel * hd + j0 % kPanel;
    for (int64_t c = 0; c < chunks; ++c) {
      __m512 r[16], col[16];
      for (int64_t i = 0; i < 16; ++i)
        r[i] = i < rows ? load_kv<T>(a.k, g, j0 + i, kvh, c, chunk_mask(c, chunks, tail)) : _mm512_setzero_ps();
      transpose16(r, col);
      const int64_t cnt = std::min<int64_t>(16, hd - 16 * c);
      for (int64_t i = 0; i < cnt; ++i) _mm512_storeu_ps(kblk + (16 * c + i) * kPanel, col[i]);
    }
  }
  // Keys past the last 16-key group in the last panel: zeros (their scores are masked anyway).
  for (int64_t j = (l.n_keys + 15) / 16 * 16; j < l.panels * kPanel; j += 16) {
    float* kblk = l.kp + (j / kPanel) * kPanel * hd + j % kPanel;
    for (int64_t d = 0; d < hd; ++d) _mm512_storeu_ps(kblk + d * kPanel, _mm512_setzero_ps());
  }
}

// s[i][0..16·NV) = scale · q_i · K[panel]ᵀ for the kMr query rows q[i] (rows may repeat).
template <int NV>
inline void score_tile(const float* const* q, const float* kp, int64_t hd, float scale, float* const* s) {
  __m512 acc[kMr][NV];  // 24 accumulators + 4 keys + 1 broadcast of 32 zmm registers
  for (auto& r : acc)
    for (auto& v : r) v = _mm512_setzero_ps();
  for (int64_t d = 0; d < hd; ++d) {
    const float* kd = kp + d * kPanel;
    __m512 kv[NV];
    for (int v = 0; v < NV; ++v) kv[v] = _mm512_loadu_ps(kd + 16 * v);
    for (int64_t i = 0; i < kMr; ++i) {
      const __m512 qb = _mm512_set1_ps(q[i][d]);
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(qb, kv[v], acc[i][v]);
    }
  }
  const __m512 vs = _mm512_set1_ps(scale);
  for (int64_t i = 0; i < kMr; ++i)
    for (int v = 0; v < NV; ++v) _mm512_storeu_ps(s[i] + 16 * v, _mm512_mul_ps(acc[i][v], vs));
}

// In place over s[0, n_valid): exp(s - max), zeros on [n_valid, n_zero); returns 1 / Σ. Nothing
// at or past n_zero is read or written (prefill passes its tile's keys rounded up to 16).
inline float softmax_row(float* s, int64_t n_valid, int64_t n_zero) {
  __m512 mx = _mm512_set1_ps(-INFINITY);
  for (int64_t j = 0; j < n_valid; j += 16) {
    const __mmask16 m = lanes(n_valid - j);
    mx = _mm512_mask_max_ps(mx, m, mx, _mm512_maskz_loadu_ps(m, s + j));
  }
  const __m512 vmax = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
  __m512 vsum = _mm512_setzero_ps();
  for (int64_t j = 0; j < n_zero; j += 16) {
    const __mmask16 mz = lanes(n_zero - j);
    const __mmask16 m = j < n_valid ? lanes(n_valid - j) : __mmask16(0);
    const __m512 e = _mm512_maskz_mov_ps(m, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(mz, s + j), vmax)));
    _mm512_mask_storeu_ps(s + j, mz, e);
    vsum = _mm512_add_ps(vsum, e);
  }
  return 1.0f / _mm512_reduce_add_ps(vsum);
}

// Rows i of the tile, dims [16*c0, 16*(c0+NV)): out_i (+)= Σ_{k0 <= j < k1} p_i[j] · V[j]. The
// output rows hold the partial sums between key chunks (first: start from zero); the last chunk
// applies the softmax normalisation inv_i.
template <int NV>
inline void pv_tile(const float* const* p, const float* v, int64_t ldv, int64_t k0, int64_t k1, int64_t c0,
                    bool first, const float* inv, float* const* out, int64_t hd) {
  __m512 acc[kMr][NV];
  for (int64_t i = 0; i < kMr; ++i)
    for (int c = 0; c < NV; ++c) {
      const int64_t d = 16 * (c0 + c);
      acc[i][c] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(lanes(hd - d), out[i] + d);
    }
  const float* vj = v + k0 * ldv + 16 * c0;
  for (int64_t j = k0; j < k1; ++j, vj += ldv) {
    __m512 vv[NV];
    for (int c = 0; c < NV; ++c) vv[c] = _mm512_loadu_ps(vj + 16 * c);
    for (int64_t i = 0; i < kMr; ++i) {
      const __m512 pb = _mm512_set1_ps(p[i][j]);
      for (int c = 0; c < NV; ++c) acc[i][c] = _mm512_fmadd_ps(pb, vv[c], acc[i][c]);
    }
  }
  for (int64_t i = 0; i < kMr; ++i) {
    const __m512 vi = _mm512_set1_ps(inv ? inv[i] : 1.0f);
    for (int c = 0; c < NV; ++c) {
      const int64_t d = 16 * (c0 + c);
      _mm512_mask_storeu_ps(out[i] + d, lanes(hd - d), inv ? _mm512_mul_ps(acc[i][c], vi) : acc[i][c]);
    }
  }
}

// kMr queries of one head; a short last tile repeats its last query (same values written to
// the same place, so the repeats are harmless).
struct Tile {
  const float* q[kMr];
  float* s[kMr];
  float* o[kMr];
  float inv[kMr];
  int64_t keys;  // causal: keys the tile's last query sees
};

template <WType T>
void attention_prefill_t(const AttnArgs& a, int64_t h0, int64_t h1, float* scratch) {
  const int64_t hd = a.head_dim, group = a.n_heads / a.n_kv_heads;
  const KVGeom g{a.n_kv_heads * hd, hd, kv_row_bytes(a.kv_type, a.n_kv_heads, hd), (hd + 31) / 32};
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const PrefillLayout l = prefill_layout(a, scratch);
  const int64_t vchunks = l.hdp / 16;
  const int64_t key_chunk = std::max<int64_t>(16, 8192 / l.hdp);  // 32 KiB of V: stays in L1
  Tile tiles[(kQBlock + kMr - 1) / kMr];
  int64_t converted = -1;
  for (int64_t h = h0; h < h1; ++h) {
    const int64_t kvh = h / group;
    if (kvh != converted) convert_head<T>(a, g, kvh, l), converted = kvh;  // GQA: heads share it
    for (int64_t b0 = 0; b0 < a.n; b0 += kQBlock) {
      const int64_t b1 = std::min(a.n, b0 + kQBlock), n_tiles = (b1 - b0 + kMr - 1) / kMr;
      for (int64_t ti = 0; ti < n_tiles; ++ti) {
        Tile& tl = tiles[ti];
        const int64_t t = b0 + ti * kMr;
        for (int64_t i = 0; i < kMr; ++i) {
          const int64_t r = std::min(t + i, b1 - 1);
          tl.q[i] = a.q + (r * a.n_heads + h) * hd;
          tl.s[i] = l.s + (r - b0) * l.ld_s;
          tl.o[i] = a.out + (r * a.n_heads + h) * hd;
        }
        tl.keys = a.pos0 + std::min(t + kMr, b1);
      }
      const int64_t block_keys = a.pos0 + b1;
      // Scores, panel-major: one K panel stays in L1 while every tile of the block uses it.
      for (int64_t p = 0; p * kPanel < block_keys; ++p) {
        for (int64_t ti = 0; ti < n_tiles; ++ti) {
          Tile& tl = tiles[ti];
          if (p * kPanel >= tl.keys) continue;
          float* sp[kMr];
          for (int64_t i = 0; i < kMr; ++i) sp[i] = tl.s[i] + p * kPanel;
          const float* kp = l.kp + p * kPanel * hd;
          switch (std::min<int64_t>(4, (tl.keys - p * kPanel + 15) / 16)) {  // skip masked 16-key groups
            case 1: score_tile<1>(tl.q, kp, hd, scale, sp); break;
            case 2: score_tile<2>(tl.q, kp, hd, scale, sp); break;
            case 3: score_tile<3>(tl.q, kp, hd, scale, sp); break;
            default: score_tile<4>(tl.q, kp, hd, scale, sp); break;
          }
        }
      }
      for (int64_t ti = 0; ti < n_tiles; ++ti) {
        Tile& tl = tiles[ti];
        const int64_t t = b0 + ti * kMr, zero_to = (tl.keys + 15) / 16 * 16;
        for (int64_t i = 0; i < kMr; ++i) {
          if (i > 0 && tl.s[i] == tl.s[i - 1]) tl.inv[i] = tl.inv[i - 1];
          else tl.inv[i] = softmax_row(tl.s[i], a.pos0 + t + i + 1, zero_to);
        }
      }
      // out = P·V, key-chunk-major: one chunk of V stays in L1 across the block's tiles.
      for (int64_t k0 = 0; k0 < block_keys; k0 += key_chunk) {
        for (int64_t ti = 0; ti < n_tiles; ++ti) {
          const Tile& tl = tiles[ti];
          if (k0 >= tl.keys) continue;
          const int64_t k1 = std::min(k0 + key_chunk, tl.keys);
          const float* inv = k1 == tl.keys ? tl.inv : nullptr;
          for (int64_t c0 = 0; c0 < vchunks; c0 += 4) {
            switch (std::min<int64_t>(4, vchunks - c0)) {
              case 1: pv_tile<1>(tl.s, l.v, l.hdp, k0, k1, c0, k0 == 0, inv, tl.o, hd); break;
              case 2: pv_tile<2>(tl.s, l.v, l.hdp, k0, k1, c0, k0 == 0, inv, tl.o, hd); break;
              case 3: pv_tile<3>(tl.s, l.v, l.hdp, k0, k1, c0, k0 == 0, inv, tl.o, hd); break;
              default: pv_tile<4>(tl.s, l.v, l.hdp, k0, k1, c0, k0 == 0, inv, tl.o, hd); break;
            }
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Decode (one query) over a range of heads and a range of keys (the dispatcher gives threads key
// ranges at depth, head ranges below): position-major, so the cache is read as one contiguous
// run per position (heads h0..h1 of a row are adjacent) instead of one strided slice per head
// and position. Rows are usually 4 KiB apart, so several rows' slices of one
// head share L1 sets: the kernel walks row by row and never holds many rows at once.
// Scores are laid out [head group of 16][key][16 heads], one lane per head: 16 heads' dot
// products come out of one transposing reduction per row, and the softmax runs down the keys
// with every lane a head (vertical operations only). Scratch: scores, 1/Σ, then [heads][hd] sums.

inline __m512 cvt_q8(const uint8_t* p, __mmask16 m) {
  return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, p)));
}

// Lane i = the sum of the lanes of r[i] (a 16 x 16 transpose folded into the additions).
inline __m512 reduce16(const __m512* r) {
  __m512 s[8], v[4];
  for (int i = 0; i < 8; ++i)  // per 128-bit lane: [r2i 0+2, r2i+1 0+2, r2i 1+3, r2i+1 1+3]
    s[i] = _mm512_add_ps(_mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]), _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]));
  for (int i = 0; i < 4; ++i)  // per 128-bit lane L: rows 4i..4i+3, summed over lane L
    v[i] = _mm512_add_ps(_mm512_shuffle_ps(s[2 * i], s[2 * i + 1], 0x44), _mm512_shuffle_ps(s[2 * i], s[2 * i + 1], 0xEE));
  const __m512 w0 = _mm512_add_ps(_mm512_shuffle_f32x4(v[0], v[1], 0x44), _mm512_shuffle_f32x4(v[0], v[1], 0xEE));
  const __m512 w1 = _mm512_add_ps(_mm512_shuffle_f32x4(v[2], v[3], 0x44), _mm512_shuffle_f32x4(v[2], v[3], 0xEE));
  return _mm512_add_ps(_mm512_shuffle_f32x4(w0, w1, 0x88), _mm512_shuffle_f32x4(w0, w1, 0xDD));
}

// Lanes whose sum is q · k for kv head kvh of row j; C > 0: the head's 16-lane chunk count known
// at compile time (the loops unroll), C == 0: `chunks`. Q8: the block scale is applied once per
// 32 values (Σ_b d_b · Σ_{i in b} q_i k_i) instead of once per element.
template <WType T, int C>
inline __m512 dot_row(const float* qh, const void* base, const KVGeom& g, int64_t j, int64_t kvh, int64_t chunks,
                      __mmask16 tail) {
  if constexpr (C > 0) chunks = C;
  __m512 s = _mm512_setzero_ps();
  if constexpr (T == WType::Q8) {
    const auto* row = static_cast<const uint8_t*>(base) + j * g.row_bytes;
    const uint8_t* kq = row + kvh * g.hd;
    const uint8_t* dsc = row + g.kvw + 4 * kvh * g.blocks;
    for (int64_t c = 0; c < chunks; c += 2) {
      const __mmask16 m0 = chunk_mask(c, chunks, tail);
      __m512 sb = _mm512_mul_ps(_mm512_maskz_loadu_ps(m0, qh + 16 * c), cvt_q8(kq + 16 * c, m0));
      if (c + 1 < chunks) {
        const __mmask16 m1 = chunk_mask(c + 1, chunks, tail);
        sb = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m1, qh + 16 * c + 16), cvt_q8(kq + 16 * c + 16, m1), sb);
      }
      float d;
      std::memcpy(&d, dsc + 2 * c, 4);  // block c / 2
      s = _mm512_fmadd_ps(sb, _mm512_set1_ps(d), s);
    }
  } else {
    for (int64_t c = 0; c < chunks; ++c) {
      const __mmask16 m = chunk_mask(c, chunks, tail);
      s = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, qh + 16 * c), load_kv<T>(base, g, j, kvh, c, m), s);
    }
  }
  return s;
}

// o[c] += p · v[c] for kv head kvh of row j (o: the head's accumulators, in registers).
template <WType T, int C>
inline void axpy_row(float p, const void* base, const KVGeom& g, int64_t j, int64_t kvh, int64_t chunks,
                     __mmask16 tail, __m512* o) {
  if constexpr (C > 0) chunks = C;
  if constexpr (T == WType::Q8) {
    const auto* row = static_cast<const uint8_t*>(base) + j * g.row_bytes;
    const uint8_t* vq = row + kvh * g.hd;
    const uint8_t* dsc = row + g.kvw + 4 * kvh * g.blocks;
    for (int64_t c = 0; c < chunks; c += 2) {
      float d;
      std::memcpy(&d, dsc + 2 * c, 4);
      const __m512 pd = _mm512_set1_ps(p * d);
      o[c] = _mm512_fmadd_ps(pd, cvt_q8(vq + 16 * c, chunk_mask(c, chunks, tail)), o[c]);
      if (c + 1 < chunks) o[c + 1] = _mm512_fmadd_ps(pd, cvt_q8(vq + 16 * c + 16, chunk_mask(c + 1, chunks, tail)), o[c + 1]);
    }
  } else {
    const __m512 pv = _mm512_set1_ps(p);
    for (int64_t c = 0; c < chunks; ++c)
      o[c] = _mm512_fmadd_ps(pv, load_kv<T>(base, g, j, kvh, c, chunk_mask(c, chunks, tail)), o[c]);
  }
}

// Rows are kvw elements apart (4 KiB and more): each is a new page, where the hardware
// prefetcher stops. Prefetch this thread's slice of row j (kv heads [kv0, kv1)).
template <WType T>
inline void prefetch_row(const void* base, const KVGeom& g, int64_t j, int64_t kv0, int64_t kv1) {
  const auto* row = static_cast<const char*>(base) + j * g.row_bytes;
  const int64_t es = T == WType::Q8 ? 1 : static_cast<int64_t>(elem_size(T));
  const char* p0 = row + kv0 * g.hd * es;
  const char* p1 = row + kv1 * g.hd * es;
  for (const char* p = p0; p < p1; p += 64) _mm_prefetch(p, _MM_HINT_T0);
  _mm_prefetch(p1 - 1, _MM_HINT_T0);
  if constexpr (T == WType::Q8) {
    _mm_prefetch(row + g.kvw + 4 * kv0 * g.blocks, _MM_HINT_T0);
    _mm_prefetch(row + g.kvw + 4 * kv1 * g.blocks - 1, _MM_HINT_T0);
  }
}

// Heads [h0, h1) over keys [j0k, j1k). With m and l null: the normalised result into
// out[(h - h0) * hd ...]. Otherwise a partial result for the caller to combine: out = Σ_j
// exp(s_j - m) v_j (not normalised), m = the heads' max score over the range, l = Σ_j exp(s_j - m).
template <WType T, int C>
void attention_decode_t(const AttnArgs& a, int64_t h0, int64_t h1, int64_t j0k, int64_t j1k, float* scratch,
                        float* out, float* m, float* l) {
  const int64_t hd = a.head_dim, group = a.n_heads / a.n_kv_heads;
  const KVGeom g{a.n_kv_heads * hd, hd, kv_row_bytes(a.kv_type, a.n_kv_heads, hd), (hd + 31) / 32};
  const int64_t chunks = (hd + 15) / 16, nh = h1 - h0, n_keys = j1k - j0k;  // n_keys >= 1
  const int64_t kv0 = h0 / group, kv1 = (h1 - 1) / group + 1;
  const __mmask16 tail = lanes(hd - (chunks - 1) * 16);
  const __m512 scale = _mm512_set1_ps(1.0f / std::sqrt(static_cast<float>(hd)));
  constexpr int64_t kAhead = 4;  // rows
  constexpr int64_t kPv = 4;     // value rows per pass over the heads' accumulators
  const int64_t n_groups = (nh + 15) / 16;
  const int64_t nc = C > 0 ? C : chunks;  // a constant where C is: o[] then lives in registers
  float* sc = scratch;                         // [n_groups][n_keys][16]
  float* inv = sc + n_groups * n_keys * 16;    // [n_groups][16]: 1 / Σ per head
  float* acc = inv + n_groups * 16;            // [nh][hd]
  // Scores: per row, every head of the range.
  for (int64_t jj = 0; jj < n_keys; ++jj) {
    const int64_t j = j0k + jj;
    if (j + kAhead < j1k) prefetch_row<T>(a.k, g, j + kAhead, kv0, kv1);
    for (int64_t gi = 0; gi < n_groups; ++gi) {
      const int64_t hb = h0 + 16 * gi, he = std::min(h1, hb + 16);
      __m512 r[16];
      if (he - hb == 16) {  // the common case, unrolled: the 16 sums stay in registers
#pragma GCC unroll 16
        for (int i = 0; i < 16; ++i) r[i] = dot_row<T, C>(a.q + (hb + i) * hd, a.k, g, j, (hb + i) / group, chunks, tail);
      } else {
        for (int64_t h = hb; h < hb + 16; ++h)
          r[h - hb] = h < he ? dot_row<T, C>(a.q + h * hd, a.k, g, j, h / group, chunks, tail) : _mm512_setzero_ps();
      }
      _mm512_storeu_ps(sc + (gi * n_keys + jj) * 16, _mm512_mul_ps(reduce16(r), scale));
    }
  }
  // Softmax down the keys, 16 heads at a time: p = exp(s - max) in place, inv = 1 / Σ p (or
  // max and Σ handed back for a partial result).
  for (int64_t gi = 0; gi < n_groups; ++gi) {
    float* s = sc + gi * n_keys * 16;
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int64_t j = 0; j < n_keys; ++j) mx = _mm512_max_ps(mx, _mm512_loadu_ps(s + 16 * j));
    __m512 sum = _mm512_setzero_ps();
    for (int64_t j = 0; j < n_keys; ++j) {
      const __m512 e = exp512(_mm512_sub_ps(_mm512_loadu_ps(s + 16 * j), mx));
      _mm512_storeu_ps(s + 16 * j, e);
      sum = _mm512_add_ps(sum, e);
    }
    if (m) {
      const __mmask16 mh = lanes(nh - 16 * gi);
      _mm512_mask_storeu_ps(m + 16 * gi, mh, mx);
      _mm512_mask_storeu_ps(l + 16 * gi, mh, sum);
      _mm512_storeu_ps(inv + 16 * gi, _mm512_set1_ps(1.0f));
    } else {
      _mm512_storeu_ps(inv + 16 * gi, _mm512_div_ps(_mm512_set1_ps(1.0f), sum));
    }
  }
  // Values: kPv rows at a time, each head's accumulators in registers over those rows.
  std::fill(acc, acc + nh * hd, 0.0f);
  for (int64_t jj0 = 0; jj0 < n_keys; jj0 += kPv) {
    const int64_t jj1 = std::min(jj0 + kPv, n_keys);
    for (int64_t j = j0k + jj0 + kAhead; j < std::min(j0k + jj1 + kAhead, j1k); ++j) prefetch_row<T>(a.v, g, j, kv0, kv1);
    for (int64_t h = h0; h < h1; ++h) {
      const int64_t hi = h - h0, gi = hi / 16, lane = hi % 16;
      float* ah = acc + hi * hd;
      const float* ph = sc + gi * n_keys * 16 + lane;
      __m512 o[kMaxChunks];
      for (int64_t c = 0; c < nc; ++c) o[c] = _mm512_maskz_loadu_ps(chunk_mask(c, nc, tail), ah + 16 * c);
      for (int64_t jj = jj0; jj < jj1; ++jj) axpy_row<T, C>(ph[jj * 16], a.v, g, j0k + jj, h / group, nc, tail, o);
      for (int64_t c = 0; c < nc; ++c) _mm512_mask_storeu_ps(ah + 16 * c, chunk_mask(c, nc, tail), o[c]);
    }
  }
  for (int64_t hi = 0; hi < nh; ++hi) {
    const float w = inv[hi];
    for (int64_t d = 0; d < hd; ++d) out[hi * hd + d] = acc[hi * hd + d] * w;
  }
}

// The common head sizes (64: 1.6B, 80: 3B, 128, 160: 12B) with unrolled chunk loops.
template <WType T>
void attention_decode(const AttnArgs& a, int64_t h0, int64_t h1, int64_t j0, int64_t j1, float* scratch, float* out,
                      float* m, float* l) {
  switch ((a.head_dim + 15) / 16) {
    case 4: return attention_decode_t<T, 4>(a, h0, h1, j0, j1, scratch, out, m, l);
    case 5: return attention_decode_t<T, 5>(a, h0, h1, j0, j1, scratch, out, m, l);
    case 8: return attention_decode_t<T, 8>(a, h0, h1, j0, j1, scratch, out, m, l);
    case 10: return attention_decode_t<T, 10>(a, h0, h1, j0, j1, scratch, out, m, l);
    default: return attention_decode_t<T, 0>(a, h0, h1, j0, j1, scratch, out, m, l);
  }
}

void attention_decode_any(const AttnArgs& a, int64_t h0, int64_t h1, int64_t j0, int64_t j1, float* scratch,
                          float* out, float* m, float* l) {
  switch (a.kv_type) {
    case WType::F32: return attention_decode<WType::F32>(a, h0, h1, j0, j1, scratch, out, m, l);
    case WType::F16: return attention_decode<WType::F16>(a, h0, h1, j0, j1, scratch, out, m, l);
    case WType::BF16: return attention_decode<WType::BF16>(a, h0, h1, j0, j1, scratch, out, m, l);
    case WType::Q8: return attention_decode<WType::Q8>(a, h0, h1, j0, j1, scratch, out, m, l);
    default: return;
  }
}

}  // namespace

// The dispatcher only calls this with head_dim <= kMaxHeadDim (simd.h) and a 64-byte aligned
// scratch of attn_scratch_floats() floats.
void attention(const AttnArgs& a, int64_t h0, int64_t h1, float* scratch) {
  if (a.n == 1) return attention_decode_any(a, h0, h1, 0, a.pos0 + 1, scratch, a.out + h0 * a.head_dim, nullptr, nullptr);
  switch (a.kv_type) {
    case WType::F32: return attention_prefill_t<WType::F32>(a, h0, h1, scratch);
    case WType::F16: return attention_prefill_t<WType::F16>(a, h0, h1, scratch);
    case WType::BF16: return attention_prefill_t<WType::BF16>(a, h0, h1, scratch);
    case WType::Q8: return attention_prefill_t<WType::Q8>(a, h0, h1, scratch);
    default: break;
  }
}

void attention_decode_keys(const AttnArgs& a, int64_t j0, int64_t j1, float* scratch, float* out, float* m, float* l) {
  attention_decode_any(a, 0, a.n_heads, j0, j1, scratch, out, m, l);
}

}  // namespace stablelm::kernels::simd::avx512
