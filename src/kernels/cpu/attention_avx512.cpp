// AVX-512 attention over an F32/F16/BF16 KV cache.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "kernels/cpu/avx512_common.h"

namespace stablelm::kernels::simd::avx512 {

namespace {

// Attention: per (query, head) the scores over the cache are zmm dot products (4 keys in flight),
// the softmax uses exp512, and the weighted sum of values accumulates in registers.
constexpr int kMaxChunks = kMaxHeadDim / 16;

template <WType T>
void attention_t(const AttnArgs& a, int64_t h0, int64_t h1, float* scores) {
  const int64_t hd = a.head_dim, group = a.n_heads / a.n_kv_heads, kvw = a.n_kv_heads * hd;
  const int64_t chunks = (hd + 15) / 16;
  const __mmask16 tail = hd % 16 ? static_cast<__mmask16>((1u << (hd % 16)) - 1) : __mmask16(0xFFFF);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  for (int64_t h = h0; h < h1; ++h) {
    const int64_t kvoff = (h / group) * hd;
    for (int64_t t = 0; t < a.n; ++t) {
      const int64_t n_keys = a.pos0 + t + 1;
      const float* qh = a.q + (t * a.n_heads + h) * hd;
      __m512 qv[kMaxChunks];
      for (int64_t c = 0; c < chunks; ++c)
        qv[c] = _mm512_maskz_loadu_ps(c + 1 == chunks ? tail : __mmask16(0xFFFF), qh + 16 * c);
      // Scores.
      int64_t j = 0;
      for (; j + 4 <= n_keys; j += 4) {
        __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        for (int64_t c = 0; c < chunks; ++c) {
          const __mmask16 m = c + 1 == chunks ? tail : __mmask16(0xFFFF);
          const int64_t base = j * kvw + kvoff + 16 * c;
          s0 = _mm512_fmadd_ps(qv[c], load16_mask<T>(a.k, base, m), s0);
          s1 = _mm512_fmadd_ps(qv[c], load16_mask<T>(a.k, base + kvw, m), s1);
          s2 = _mm512_fmadd_ps(qv[c], load16_mask<T>(a.k, base + 2 * kvw, m), s2);
          s3 = _mm512_fmadd_ps(qv[c], load16_mask<T>(a.k, base + 3 * kvw, m), s3);
        }
        scores[j] = _mm512_reduce_add_ps(s0) * scale;
        scores[j + 1] = _mm512_reduce_add_ps(s1) * scale;
        scores[j + 2] = _mm512_reduce_add_ps(s2) * scale;
        scores[j + 3] = _mm512_reduce_add_ps(s3) * scale;
      }
      for (; j < n_keys; ++j) {
        __m512 s0 = _mm512_setzero_ps();
        for (int64_t c = 0; c < chunks; ++c)
          s0 = _mm512_fmadd_ps(qv[c], load16_mask<T>(a.k, j * kvw + kvoff + 16 * c, c + 1 == chunks ? tail : __mmask16(0xFFFF)), s0);
        scores[j] = _mm512_reduce_add_ps(s0) * scale;
      }
      // Softmax numerators.
      __m512 mx = _mm512_set1_ps(-INFINITY);
      for (j = 0; j < n_keys; j += 16) {
        const __mmask16 m = n_keys - j >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << (n_keys - j)) - 1);
        mx = _mm512_mask_max_ps(mx, m, mx, _mm512_maskz_loadu_ps(m, scores + j));
      }
      const __m512 vmax = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
      __m512 vsum = _mm512_setzero_ps();
      for (j = 0; j < n_keys; j += 16) {
        const __mmask16 m = n_keys - j >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << (n_keys - j)) - 1);
        const __m512 e = _mm512_maskz_mov_ps(m, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, scores + j), vmax)));
        _mm512_mask_storeu_ps(scores + j, m, e);
        vsum = _mm512_add_ps(vsum, e);
      }
      const float inv = 1.0f / _mm512_reduce_add_ps(vsum);
      // Weighted sum of values.
      __m512 acc[kMaxChunks];
      for (int64_t c = 0; c < chunks; ++c) acc[c] = _mm512_setzero_ps();
      for (j = 0; j < n_keys; ++j) {
        const __m512 p = _mm512_set1_ps(scores[j]);
        for (int64_t c = 0; c < chunks; ++c)
          acc[c] = _mm512_fmadd_ps(p, load16_mask<T>(a.v, j * kvw + kvoff + 16 * c, c + 1 == chunks ? tail : __mmask16(0xFFFF)), acc[c]);
      }
      float* oh = a.out + (t * a.n_heads + h) * hd;
      const __m512 vinv = _mm512_set1_ps(inv);
      for (int64_t c = 0; c < chunks; ++c)
        _mm512_mask_storeu_ps(oh + 16 * c, c + 1 == chunks ? tail : __mmask16(0xFFFF), _mm512_mul_ps(acc[c], vinv));
    }
  }
}

// Decode (one query): position-major over this thread's heads, so the cache is read as one
// contiguous run per position (heads h0..h1 of a row are adjacent) instead of one strided
// 128-byte slice per head and position. Scratch: [heads][n_keys] scores, then [heads][hd] sums.
template <WType T>
void attention_decode_t(const AttnArgs& a, int64_t h0, int64_t h1, float* scratch) {
  const int64_t hd = a.head_dim, group = a.n_heads / a.n_kv_heads, kvw = a.n_kv_heads * hd;
  const int64_t chunks = (hd + 15) / 16, nh = h1 - h0, n_keys = a.pos0 + 1;
  const __mmask16 tail = hd % 16 ? static_cast<__mmask16>((1u << (hd % 16)) - 1) : __mmask16(0xFFFF);
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  float* sc = scratch;
  float* acc = scratch + nh * n_keys;
  for (int64_t j = 0; j < n_keys; ++j) {
    for (int64_t h = h0; h < h1; ++h) {
      const float* qh = a.q + h * hd;
      const int64_t base = j * kvw + (h / group) * hd;
      __m512 s0 = _mm512_setzero_ps();
      for (int64_t c = 0; c < chunks; ++c) {
        const __mmask16 m = c + 1 == chunks ? tail : __mmask16(0xFFFF);
        s0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, qh + 16 * c), load16_mask<T>(a.k, base + 16 * c, m), s0);
      }
      sc[(h - h0) * n_keys + j] = _mm512_reduce_add_ps(s0) * scale;
    }
  }
  for (int64_t h = 0; h < nh; ++h) {
    float* row = sc + h * n_keys;
    __m512 mx = _mm512_set1_ps(-INFINITY);
    for (int64_t j = 0; j < n_keys; j += 16) {
      const __mmask16 m = n_keys - j >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << (n_keys - j)) - 1);
      mx = _mm512_mask_max_ps(mx, m, mx, _mm512_maskz_loadu_ps(m, row + j));
    }
    const __m512 vmax = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    __m512 vsum = _mm512_setzero_ps();
    for (int64_t j = 0; j < n_keys; j += 16) {
      const __mmask16 m = n_keys - j >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << (n_keys - j)) - 1);
      const __m512 e = _mm512_maskz_mov_ps(m, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, row + j), vmax)));
      _mm512_mask_storeu_ps(row + j, m, e);
      vsum = _mm512_add_ps(vsum, e);
    }
    const float inv = 1.0f / _mm512_reduce_add_ps(vsum);
    for (int64_t j = 0; j < n_keys; ++j) row[j] *= inv;
  }
  std::fill(acc, acc + nh * hd, 0.0f);
  for (int64_t j = 0; j < n_keys; ++j) {
    for (int64_t h = h0; h < h1; ++h) {
      const __m512 p = _mm512_set1_ps(sc[(h - h0) * n_keys + j]);
      const int64_t base = j * kvw + (h / group) * hd;
      float* ah = acc + (h - h0) * hd;
      for (int64_t c = 0; c < chunks; ++c) {
        const __mmask16 m = c + 1 == chunks ? tail : __mmask16(0xFFFF);
        _mm512_mask_storeu_ps(ah + 16 * c, m,
                              _mm512_fmadd_ps(p, load16_mask<T>(a.v, base + 16 * c, m), _mm512_maskz_loadu_ps(m, ah + 16 * c)));
      }
    }
  }
  for (int64_t h = h0; h < h1; ++h) std::copy(acc + (h - h0) * hd, acc + (h - h0 + 1) * hd, a.out + h * hd);
}

}  // namespace

// The dispatcher only calls this with head_dim <= kMaxHeadDim (simd.h).
void attention(const AttnArgs& a, int64_t h0, int64_t h1, float* scratch) {
  if (a.n == 1) {
    switch (a.kv_type) {
      case WType::F32: return attention_decode_t<WType::F32>(a, h0, h1, scratch);
      case WType::F16: return attention_decode_t<WType::F16>(a, h0, h1, scratch);
      case WType::BF16: return attention_decode_t<WType::BF16>(a, h0, h1, scratch);
      default: return;
    }
  }
  switch (a.kv_type) {
    case WType::F32: return attention_t<WType::F32>(a, h0, h1, scratch);
    case WType::F16: return attention_t<WType::F16>(a, h0, h1, scratch);
    case WType::BF16: return attention_t<WType::BF16>(a, h0, h1, scratch);
    default: break;
  }
}

}  // namespace stablelm::kernels::simd::avx512
