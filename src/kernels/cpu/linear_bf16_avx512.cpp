// AVX512-BF16 linear for BF16 weights at matmul precision "medium", for every n (decode too):
// activations are rounded to bf16 (vcvtneps2bf16) and each vdpbf16ps multiplies 16 column pairs
// of a weight row by 16 pairs of activations, accumulating in fp32. Products of two bf16 values
// are exact in fp32, so the only difference from the "highest" path is the activation rounding
// (the numerics of llama.cpp's BF16 matmul and PyTorch's bf16 autocast), for twice the fp32 FMA
// rate. Row-invariant like linear_float_avx512.cpp, with one order per output whatever n:
//   16 lanes, lane j accumulates the pair (32s + 2j, 32s + 2j + 1) for s = 0, 1, ... in order
//   (zeros past K), then _mm512_reduce_add_ps, then + bias[r].
// The weights are read in place (already bf16 pairs); the activations are packed once per call
// as token tiles [K / 32][kTileToks][32] (pack_acts_bf16).
//
// Where vdpbf16ps is slow (Intel's Sapphire/Emerald Rapids run it at about half the fp32 FMA
// rate) prefill can use dot_tile_fma instead (STABLELM_MEDIUM_DOT=fma; off by default, see simd.h): the same lanes, pairs and order, each vdpbf16ps
// replaced by what it computes -- two fp32 FMAs, the odd element of the pair first, with
// denormal inputs read as zero and denormal results flushed (MXCSR DAZ + FTZ around the FMAs), as
// Intel's definition of the instruction says (and Zen 4 does: 4.8M lanes of denormal-heavy
// random input gave the same bits; vdpbf16ps ignores MXCSR). Bitwise the same results (tested against
// vdpbf16ps at every shape), so the choice is invisible but for speed (simd::medium_dot_fma()).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>
#include <vector>

#include "kernels/cpu/avx512_common.h"

namespace stablelm::kernels::simd::avx512 {
namespace {

constexpr int kRows = 4;  // rows per register tile: kRows x kTileToks = 24 zmm accumulators

inline __m512bh as_bh(__m512i v) { return reinterpret_cast<__m512bh&>(v); }
inline __mmask32 lanes32(int64_t n) { return n >= 32 ? ~__mmask32(0) : static_cast<__mmask32>((1u << n) - 1); }

// y[t * ys + r] = Σ_k w[r, k] bf16(x[t, k]) (+ bias[r]) for R rows (K elements apart) and N
// tokens of one packed tile xp (tw tokens per step).
template <int R, int N>
void dot_tile(const uint16_t* w, int64_t K, const uint16_t* xp, int64_t tw, float* y, int64_t ys, const float* bias) {
  __m512 acc[R][N];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < N; ++t) acc[r][t] = _mm512_setzero_ps();
  const int64_t full = K / 32;
  for (int64_t s = 0; s < full; ++s) {
    __m512bh wv[R];
    for (int r = 0; r < R; ++r) wv[r] = as_bh(_mm512_loadu_si512(w + r * K + 32 * s));
    const uint16_t* xs = xp + s * 32 * tw;
    for (int t = 0; t < N; ++t) {
      const __m512bh xv = as_bh(_mm512_loadu_si512(xs + 32 * t));
      for (int r = 0; r < R; ++r) acc[r][t] = _mm512_dpbf16_ps(acc[r][t], wv[r], xv);
    }
  }
  if (full * 32 < K) {
    const __mmask32 m = lanes32(K - full * 32);
    __m512bh wv[R];
    for (int r = 0; r < R; ++r) wv[r] = as_bh(_mm512_maskz_loadu_epi16(m, w + r * K + 32 * full));
    const uint16_t* xs = xp + full * 32 * tw;
    for (int t = 0; t < N; ++t) {
      const __m512bh xv = as_bh(_mm512_loadu_si512(xs + 32 * t));
      for (int r = 0; r < R; ++r) acc[r][t] = _mm512_dpbf16_ps(acc[r][t], wv[r], xv);
    }
  }
  for (int t = 0; t < N; ++t)
    for (int r = 0; r < R; ++r) {
      const float s = _mm512_reduce_add_ps(acc[r][t]);
      y[t * ys + r] = bias ? s + bias[r] : s;
    }
}

// The even (low) and odd (high) bf16 halves of 16 pairs, as fp32.
inline __m512 even_f32(__m512i v) { return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)); }
inline __m512 odd_f32(__m512i v) { return _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32(-65536))); }

// Up to 3 tokens per pass: R x 3 accumulators + the split weights + one token's split
// activations stay in registers (each activation loaded once per step, not once per row).
template <int R, int N>
void dot_tile_fma_part(const uint16_t* w, int64_t K, const float* xf, int64_t tw, float* y, int64_t ys,
                       const float* bias) {
  __m512 acc[R][N];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < N; ++t) acc[r][t] = _mm512_setzero_ps();
  const int64_t steps = (K + 31) / 32, full = K / 32;
  const unsigned csr = _mm_getcsr();
  _mm_setcsr(csr | 0x8040u);
  for (int64_t s = 0; s < steps; ++s) {
    const __mmask32 m = s < full ? ~__mmask32(0) : lanes32(K - full * 32);
    __m512 we[R], wo[R];
    for (int r = 0; r < R; ++r) {
      const __m512i wv = s < full ? _mm512_loadu_si512(w + r * K + 32 * s) : _mm512_maskz_loadu_epi16(m, w + r * K + 32 * s);
      we[r] = even_f32(wv);
      wo[r] = odd_f32(wv);
    }
    const float* xs = xf + s * 32 * tw;
    for (int t = 0; t < N; ++t) {
      const __m512 xe = _mm512_loadu_ps(xs + 32 * t), xo = _mm512_loadu_ps(xs + 32 * t + 16);
      for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(we[r], xe, _mm512_fmadd_ps(wo[r], xo, acc[r][t]));
    }
  }
  _mm_setcsr(csr);
  for (int t = 0; t < N; ++t)
    for (int r = 0; r < R; ++r) {
      const float s = _mm512_reduce_add_ps(acc[r][t]);
      y[t * ys + r] = bias ? s + bias[r] : s;
    }
}

// dot_tile with vdpbf16ps(acc, w, x) written as fma(w.even, x.even, fma(w.odd, x.odd, acc)),
// under DAZ (0x40) + FTZ (0x8000) as vdpbf16ps always is; the reduction and the bias after it run
// under the caller's MXCSR, as they do after vdpbf16ps. xf: the packed tile's bf16 activations
// already split into fp32 (split_acts: per step and token 16 even elements, then 16 odd).
template <int R, int N>
void dot_tile_fma(const uint16_t* w, int64_t K, const float* xf, int64_t tw, float* y, int64_t ys,
                  const float* bias) {
  if constexpr (N <= 3) {
    dot_tile_fma_part<R, N>(w, K, xf, tw, y, ys, bias);
  } else {
    dot_tile_fma_part<R, 3>(w, K, xf, tw, y, ys, bias);
    dot_tile_fma_part<R, N - 3>(w, K, xf + 32 * 3, tw, y + 3 * ys, ys, bias);
  }
}

// bf16 packed tiles -> the same layout in fp32, each 32-element step as 16 even then 16 odd.
void split_acts(const uint16_t* xp, int64_t count32, float* xf) {
  for (int64_t i = 0; i < count32; ++i) {
    const __m512i v = _mm512_loadu_si512(xp + 32 * i);
    _mm512_storeu_ps(xf + 32 * i, even_f32(v));
    _mm512_storeu_ps(xf + 32 * i + 16, odd_f32(v));
  }
}

using DotTileFn = void (*)(const uint16_t*, int64_t, const uint16_t*, int64_t, float*, int64_t, const float*);
template <size_t... I>
constexpr std::array<DotTileFn, sizeof...(I)> dot_tiles(std::index_sequence<I...>) {
  // Index = (R - 1) * kTileToks + (N - 1).
  return {&dot_tile<static_cast<int>(I / kTileToks) + 1, static_cast<int>(I % kTileToks) + 1>...};
}
using DotTileFmaFn = void (*)(const uint16_t*, int64_t, const float*, int64_t, float*, int64_t, const float*);
template <size_t... I>
constexpr std::array<DotTileFmaFn, sizeof...(I)> dot_tiles_fma(std::index_sequence<I...>) {
  return {&dot_tile_fma<static_cast<int>(I / kTileToks) + 1, static_cast<int>(I % kTileToks) + 1>...};
}

// Decode: S rows from the S parts of the range side by side (S streams in flight, as the fp32
// decode), one accumulator each; with S > 1 prefetched ~2 KiB ahead (a 2048-wide row is one
// 4 KiB page), with S = 1 left to the hardware prefetchers (decode_stream_count() in simd.h).
template <int S>
void decode_streams(const uint16_t* wb, int64_t K, const uint16_t* xp, const float* bias, float* y, int64_t r0,
                    int64_t r1) {
  constexpr int64_t kAhead = 1024;  // elements
  auto rows = [&](const uint16_t* const* w, float* v, auto s_count) {
    constexpr int SS = decltype(s_count)::value;
    __m512 a[SS];
    for (int i = 0; i < SS; ++i) a[i] = _mm512_setzero_ps();
    const int64_t full = K / 32;
    for (int64_t s = 0; s < full; ++s) {
      for (int i = 0; S > 1 && i < SS; ++i)  // one 64-byte line per step
        _mm_prefetch(reinterpret_cast<const char*>(w[i] + 32 * s + kAhead), _MM_HINT_T0);
      const __m512bh xv = as_bh(_mm512_loadu_si512(xp + 32 * s));
      for (int i = 0; i < SS; ++i) a[i] = _mm512_dpbf16_ps(a[i], as_bh(_mm512_loadu_si512(w[i] + 32 * s)), xv);
    }
    if (full * 32 < K) {
      const __mmask32 m = lanes32(K - full * 32);
      const __m512bh xv = as_bh(_mm512_loadu_si512(xp + 32 * full));
      for (int i = 0; i < SS; ++i) a[i] = _mm512_dpbf16_ps(a[i], as_bh(_mm512_maskz_loadu_epi16(m, w[i] + 32 * full)), xv);
    }
    for (int i = 0; i < SS; ++i) v[i] = _mm512_reduce_add_ps(a[i]);
  };
  const int64_t part = (r1 - r0) / S;
  for (int64_t i = 0; i < part; ++i) {
    const uint16_t* w[S];
    float v[S];
    for (int s = 0; s < S; ++s) w[s] = wb + (r0 + s * part + i) * K;
    rows(w, v, std::integral_constant<int, S>{});
    for (int s = 0; s < S; ++s) {
      const int64_t r = r0 + s * part + i;
      y[r] = bias ? v[s] + bias[r] : v[s];
    }
  }
  for (int64_t r = r0 + S * part; r < r1; ++r) {
    const uint16_t* w = wb + r * K;
    float v;
    rows(&w, &v, std::integral_constant<int, 1>{});
    y[r] = bias ? v + bias[r] : v;
  }
}

}  // namespace

void pack_acts_bf16(const float* x, int64_t n, int64_t K, int64_t tile0, int64_t tile1, uint16_t* xp) {
  const int64_t tw = tile_width(n), steps = (K + 31) / 32;
  for (int64_t tt = tile0; tt < tile1; ++tt) {
    uint16_t* dst = xp + tt * steps * 32 * tw;
    for (int64_t t = 0; t < tw; ++t) {
      const int64_t tok = tt * tw + t;
      for (int64_t s = 0; s < steps; ++s) {
        uint16_t* d = dst + (s * tw + t) * 32;
        for (int64_t h = 0; h < 2; ++h) {
          const int64_t k = 32 * s + 16 * h;
          const __m512 v = tok < n && k < K ? _mm512_maskz_loadu_ps(lanes(K - k), x + tok * K + k) : _mm512_setzero_ps();
          const __m256bh b = _mm512_cvtneps_pbh(v);
          std::memcpy(d + 16 * h, &b, sizeof b);
        }
      }
    }
  }
}

void linear_bf16(const Weight& w, const float* bias, const uint16_t* xp, int64_t n, float* y, int64_t r0, int64_t r1) {
  static constexpr auto dp_tiles = dot_tiles(std::make_index_sequence<kRows * kTileToks>{});
  static constexpr auto fma_tiles = dot_tiles_fma(std::make_index_sequence<kRows * kTileToks>{});
  const int64_t K = w.cols, M = w.rows, Kp = (K + 31) / 32 * 32;
  const auto* wb = static_cast<const uint16_t*>(w.data);
  if (n == 1) {
    if (decode_stream_count() == 1) return decode_streams<1>(wb, K, xp, bias, y, r0, r1);
    return decode_streams<4>(wb, K, xp, bias, y, r0, r1);
  }
  // Token chunks of ~2 MiB of packed activations that every row tile runs over (as the fp32 path).
  const int64_t n_tiles = act_tiles(n);
  int64_t chunk = std::max<int64_t>(1, (int64_t{2} << 20) / (Kp * kTileToks * 2));
  const bool fma = medium_dot_fma();
  if (fma) chunk = std::max<int64_t>(1, chunk / 2);  // the split fp32 copy is twice the bytes
  thread_local std::vector<float> xf;  // the chunk split to fp32 (fma form): each thread its own copy
  for (int64_t c0 = 0; c0 < n_tiles; c0 += chunk) {
    const int64_t c1 = std::min(n_tiles, c0 + chunk);
    const int64_t tile_elems = Kp * kTileToks;
    if (fma) {
      xf.resize(static_cast<size_t>((c1 - c0) * tile_elems));
      split_acts(xp + c0 * tile_elems, (c1 - c0) * tile_elems / 32, xf.data());
    }
    for (int64_t r = r0; r < r1; r += kRows) {
      const int rb = static_cast<int>(std::min<int64_t>(kRows, r1 - r));
      for (int64_t tt = c0; tt < c1; ++tt) {
        const int nt = static_cast<int>(std::min<int64_t>(kTileToks, n - tt * kTileToks));
        const int which = (rb - 1) * kTileToks + (nt - 1);
        float* yt = y + tt * kTileToks * M + r;
        const float* bt = bias ? bias + r : nullptr;
        if (fma) fma_tiles[which](wb + r * K, K, xf.data() + (tt - c0) * tile_elems, kTileToks, yt, M, bt);
        else dp_tiles[which](wb + r * K, K, xp + tt * tile_elems, kTileToks, yt, M, bt);
      }
    }
  }
}

}  // namespace stablelm::kernels::simd::avx512
