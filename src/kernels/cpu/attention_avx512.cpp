// AVX-512 attention of one query over an F32/F16/BF16/Q8 KV cache held in blocks (KVRows).
//
// Every query runs the same code whatever else is in the batch (prefill, decode, chunked
// prefill): that is what makes a sequence's results independent of the batch. The dispatcher
// cuts each query's keys into fixed 256-key segments (by key index, never by thread or batch),
// runs this kernel per (query, segment, head range) and combines the segments' softmax
// partials; heads never mix, so splitting them between threads changes no bit.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/cpu/avx512_common.h"

namespace stablelm::kernels::simd::avx512 {

namespace {

constexpr int kMaxChunks = kMaxHeadDim / 16;

// Where the values of one cache row live, per cache format.
struct KVGeom {
  int64_t kvw, hd, blocks;  // blocks: Q8 scale blocks per head
};

template <WType T>
inline __m512 load_kv(const uint8_t* row, const KVGeom& g, int64_t kvh, int64_t c, __mmask16 m) {
  if constexpr (T == WType::Q8) {
    // Row: kvw int8 values, then one fp32 scale per 32-value block of each head (kernels.h).
    float d;
    std::memcpy(&d, row + g.kvw + 4 * (kvh * g.blocks + c / 2), 4);
    const __m512i q = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, row + kvh * g.hd + 16 * c));
    return _mm512_mul_ps(_mm512_cvtepi32_ps(q), _mm512_set1_ps(d));
  } else {
    return load16_mask<T>(row, kvh * g.hd + 16 * c, m);
  }
}

inline __mmask16 chunk_mask(int64_t c, int64_t chunks, __mmask16 tail) { return c + 1 == chunks ? tail : __mmask16(0xFFFF); }

// ---------------------------------------------------------------------------------------------
// One query over a range of heads and a range of keys: position-major, so the cache is read as one contiguous
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
inline __m512 dot_row(const float* qh, const uint8_t* row, const KVGeom& g, int64_t kvh, int64_t chunks,
                      __mmask16 tail) {
  if constexpr (C > 0) chunks = C;
  __m512 s = _mm512_setzero_ps();
  if constexpr (T == WType::Q8) {
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
      s = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, qh + 16 * c), load_kv<T>(row, g, kvh, c, m), s);
    }
  }
  return s;
}

// o[c] += p · v[c] for kv head kvh of row j (o: the head's accumulators, in registers).
template <WType T, int C>
inline void axpy_row(float p, const uint8_t* row, const KVGeom& g, int64_t kvh, int64_t chunks,
                     __mmask16 tail, __m512* o) {
  if constexpr (C > 0) chunks = C;
  if constexpr (T == WType::Q8) {
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
      o[c] = _mm512_fmadd_ps(pv, load_kv<T>(row, g, kvh, c, chunk_mask(c, chunks, tail)), o[c]);
  }
}

// Rows are kvw elements apart (4 KiB and more): each is a new page, where the hardware
// prefetcher stops. Prefetch this thread's slice of row j (kv heads [kv0, kv1)).
template <WType T>
inline void prefetch_row(const uint8_t* row_bytes, const KVGeom& g, int64_t kv0, int64_t kv1) {
  const auto* row = reinterpret_cast<const char*>(row_bytes);
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
  const KVGeom g{a.n_kv_heads * hd, hd, (hd + 31) / 32};
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
    if (j + kAhead < j1k) prefetch_row<T>(a.kv.k_row(j + kAhead), g, kv0, kv1);
    const uint8_t* krow = a.kv.k_row(j);
    for (int64_t gi = 0; gi < n_groups; ++gi) {
      const int64_t hb = h0 + 16 * gi, he = std::min(h1, hb + 16);
      __m512 r[16];
      if (he - hb == 16) {  // the common case, unrolled: the 16 sums stay in registers
#pragma GCC unroll 16
        for (int i = 0; i < 16; ++i) r[i] = dot_row<T, C>(a.q + (hb + i) * hd, krow, g, (hb + i) / group, chunks, tail);
      } else {
        for (int64_t h = hb; h < hb + 16; ++h)
          r[h - hb] = h < he ? dot_row<T, C>(a.q + h * hd, krow, g, h / group, chunks, tail) : _mm512_setzero_ps();
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
    for (int64_t j = j0k + jj0 + kAhead; j < std::min(j0k + jj1 + kAhead, j1k); ++j) prefetch_row<T>(a.kv.v_row(j), g, kv0, kv1);
    for (int64_t h = h0; h < h1; ++h) {
      const int64_t hi = h - h0, gi = hi / 16, lane = hi % 16;
      float* ah = acc + hi * hd;
      const float* ph = sc + gi * n_keys * 16 + lane;
      __m512 o[kMaxChunks];
      for (int64_t c = 0; c < nc; ++c) o[c] = _mm512_maskz_loadu_ps(chunk_mask(c, nc, tail), ah + 16 * c);
      for (int64_t jj = jj0; jj < jj1; ++jj) axpy_row<T, C>(ph[jj * 16], a.kv.v_row(j0k + jj), g, h / group, nc, tail, o);
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

// The dispatcher only calls these with head_dim <= kMaxHeadDim (simd.h) and a 64-byte aligned
// scratch of attn_scratch_floats() floats.
void attention(const AttnArgs& a, int64_t n_keys, int64_t h0, int64_t h1, float* scratch, float* out) {
  attention_decode_any(a, h0, h1, 0, n_keys, scratch, out, nullptr, nullptr);
}

void attention_keys(const AttnArgs& a, int64_t h0, int64_t h1, int64_t j0, int64_t j1, float* scratch, float* out,
                    float* m, float* l) {
  attention_decode_any(a, h0, h1, j0, j1, scratch, out, m, l);
}

}  // namespace stablelm::kernels::simd::avx512
