// AVX-512 float linear (F32/F16/BF16 weights, fp32 activations, fp32 FMA), row-invariant: every
// output y[t, r] is computed in one order whatever n, the thread count or the tile it falls in,
// so a token's row is bit for bit the same alone or in any batch (the batched engine's contract):
//   16 lanes, lane j accumulates fma(w[r, k], x[t, k]) for k = j, j + 16, j + 32, ... < K in
//   increasing k (the last partial step with zeros in the missing lanes), then
//   _mm512_reduce_add_ps, then + bias[r].
// Decode (n = 1) streams rows with one accumulator each (bandwidth bound; how many streams per
// thread depends on the CPU, decode_stream_count() in simd.h); n > 1 runs register
// tiles of up to kRows rows x kTileToks tokens over the whole K in this dot-product form, with the
// activations packed once per call (pack_acts_f32) and F16/BF16 rows widened to fp32 once per
// row tile and token chunk into an L1-resident buffer shared by the chunk's token tiles.
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

// y[t * ys + r] = Σ_k w[r, k] x[t, k] (+ bias[r]) for R rows of w (ws elements apart, format T)
// and N tokens of one packed activation tile xp ([K / 16][kTileToks][16]).
template <WType T, int R, int N>
void dot_tile(const void* w, int64_t ws, int64_t K, const float* xp, float* y, int64_t ys, const float* bias) {
  __m512 acc[R][N];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < N; ++t) acc[r][t] = _mm512_setzero_ps();
  const int64_t full = K / 16;
  for (int64_t s = 0; s < full; ++s) {
    __m512 wv[R];
    for (int r = 0; r < R; ++r) wv[r] = load16<T>(w, r * ws + 16 * s);
    const float* xs = xp + s * (16 * kTileToks);
    for (int t = 0; t < N; ++t) {
      const __m512 xv = _mm512_load_ps(xs + 16 * t);
      for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
    }
  }
  if (full * 16 < K) {
    const __mmask16 m = lanes(K - full * 16);
    __m512 wv[R];
    for (int r = 0; r < R; ++r) wv[r] = load16_mask<T>(w, r * ws + 16 * full, m);
    const float* xs = xp + full * (16 * kTileToks);
    for (int t = 0; t < N; ++t) {
      const __m512 xv = _mm512_load_ps(xs + 16 * t);
      for (int r = 0; r < R; ++r) acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
    }
  }
  for (int t = 0; t < N; ++t)
    for (int r = 0; r < R; ++r) {
      const float s = _mm512_reduce_add_ps(acc[r][t]);
      y[t * ys + r] = bias ? s + bias[r] : s;
    }
}

using DotTileFn = void (*)(const void*, int64_t, int64_t, const float*, float*, int64_t, const float*);
template <WType T, size_t... I>
constexpr std::array<DotTileFn, sizeof...(I)> dot_tiles(std::index_sequence<I...>) {
  // Index = (R - 1) * kTileToks + (N - 1).
  return {&dot_tile<T, static_cast<int>(I / kTileToks) + 1, static_cast<int>(I % kTileToks) + 1>...};
}

// Decode reads each weight byte once. With several streams per thread (Zen 5), a stored
// 2048-wide bf16 row is exactly one 4 KiB page and hardware prefetchers do not cross pages, so
// rows are prefetched explicitly ~2 KiB ahead; one stream per thread relies on the hardware.
constexpr int64_t kAhead = 2048;

// S rows from S distant places (S independent streams in flight), one accumulator each (the
// order above, whatever S); x stays in L1.
template <WType T, int S>
inline void decode_rows(const uint8_t* const* w, int64_t K, const float* x, float* v) {
  __m512 a[S];
  for (int i = 0; i < S; ++i) a[i] = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 32 <= K; k += 32) {
    const int64_t off = k * static_cast<int64_t>(elem_size(T));
    for (int i = 0; S > 1 && i < S; ++i) {
      _mm_prefetch(reinterpret_cast<const char*>(w[i] + off + kAhead), _MM_HINT_T0);
      if constexpr (T == WType::F32) _mm_prefetch(reinterpret_cast<const char*>(w[i] + off + kAhead + 64), _MM_HINT_T0);
    }
    const __m512 x0 = _mm512_loadu_ps(x + k), x1 = _mm512_loadu_ps(x + k + 16);
    for (int i = 0; i < S; ++i) a[i] = _mm512_fmadd_ps(load16<T>(w[i], k), x0, a[i]);
    for (int i = 0; i < S; ++i) a[i] = _mm512_fmadd_ps(load16<T>(w[i], k + 16), x1, a[i]);
  }
  for (; k < K; k += 16) {
    const __mmask16 m = lanes(K - k);
    const __m512 xv = _mm512_maskz_loadu_ps(m, x + k);
    for (int i = 0; i < S; ++i) a[i] = _mm512_fmadd_ps(load16_mask<T>(w[i], k, m), xv, a[i]);
  }
  for (int i = 0; i < S; ++i) v[i] = _mm512_reduce_add_ps(a[i]);
}

// Decode over rows [r0, r1): the range is cut into S parts read side by side, i.e. S sequential
// streams in flight at once. On Zen 5 one stream left the memory system idle between its misses
// (~42 GB/s of bf16 weights with one stream, ~60 with four, 2 threads); on Zen 4 one stream
// without software prefetch was the faster (docs/PERFORMANCE.md, "Decode read pattern").
template <WType T, int S>
void decode_streams(const uint8_t* wb, size_t row_bytes, int64_t K, const float* x, const float* bias, float* y,
                    int64_t r0, int64_t r1) {
  const int64_t part = (r1 - r0) / S;
  for (int64_t i = 0; i < part; ++i) {
    const uint8_t* w[S];
    float v[S];
    for (int s = 0; s < S; ++s) w[s] = wb + (r0 + s * part + i) * row_bytes;
    decode_rows<T, S>(w, K, x, v);
    for (int s = 0; s < S; ++s) {
      const int64_t r = r0 + s * part + i;
      y[r] = bias ? v[s] + bias[r] : v[s];
    }
  }
  for (int64_t r = r0 + S * part; r < r1; ++r) {  // the last (r1 - r0) % S rows, one at a time
    const uint8_t* w = wb + r * row_bytes;
    float v;
    decode_rows<T, 1>(&w, K, x, &v);
    y[r] = bias ? v + bias[r] : v;
  }
}

// Token tiles per chunk: every row tile of the thread's range runs over the chunk's packed
// activations (~kChunkBytes, one sequential stream per tile: L2 and L3 feed it fast enough);
// each row tile is widened once per chunk. (1 thread, bf16 n = 512: 384 KiB chunks ran the
// 2048 x 5632 matrix at 49 GFLOP/s, re-reading its weights from DRAM 43 times; 2 MiB at 89.)
constexpr int64_t kChunkBytes = 2 << 20;

// Widened rows start 64 bytes past a 4 KiB multiple apart, so kRows rows and the activation
// stream never compete for one L1 set.
inline int64_t wide_stride(int64_t K) { return (K + 15) / 16 * 16 + 16; }

template <WType T>
void tiles_float(const Weight& w, const float* bias, const float* xp, int64_t n, float* y, int64_t r0, int64_t r1) {
  static constexpr auto raw = dot_tiles<T>(std::make_index_sequence<kRows * kTileToks>{});
  static constexpr auto wide = dot_tiles<WType::F32>(std::make_index_sequence<kRows * kTileToks>{});
  const int64_t K = w.cols, M = w.rows, Kp = (K + 15) / 16 * 16, n_tiles = act_tiles(n);
  const size_t row_bytes = static_cast<size_t>(K) * elem_size(T);
  const auto* wb = static_cast<const uint8_t*>(w.data);
  const int64_t chunk = std::max<int64_t>(1, kChunkBytes / (Kp * kTileToks * 4));
  // Widening pays once a row tile is reused by several token tiles; F32 rows are read in place.
  const bool widen = T != WType::F32 && n_tiles > 2;
  static thread_local std::vector<float> buf;
  const int64_t ws = wide_stride(K);
  if (widen && buf.size() < static_cast<size_t>(kRows * ws + 16)) buf.resize(static_cast<size_t>(kRows * ws + 16));
  float* wide_rows = widen ? reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(buf.data()) + 63) & ~uintptr_t{63})
                           : nullptr;
  for (int64_t c0 = 0; c0 < n_tiles; c0 += chunk) {
    const int64_t c1 = std::min(n_tiles, c0 + chunk);
    for (int64_t r = r0; r < r1; r += kRows) {
      const int rb = static_cast<int>(std::min<int64_t>(kRows, r1 - r));
      if (widen) {
        for (int i = 0; i < rb; ++i) {
          const uint8_t* src = wb + (r + i) * row_bytes;
          float* dst = wide_rows + i * ws;
          int64_t k = 0;
          for (; k + 16 <= K; k += 16) _mm512_store_ps(dst + k, load16<T>(src, k));
          if (k < K) _mm512_store_ps(dst + k, load16_mask<T>(src, k, lanes(K - k)));
        }
      }
      for (int64_t tt = c0; tt < c1; ++tt) {
        const int nt = static_cast<int>(std::min<int64_t>(kTileToks, n - tt * kTileToks));
        const float* xt = xp + tt * Kp * kTileToks;
        float* yt = y + tt * kTileToks * M + r;
        const float* bt = bias ? bias + r : nullptr;
        if (widen) wide[(rb - 1) * kTileToks + (nt - 1)](wide_rows, ws, K, xt, yt, M, bt);
        else raw[(rb - 1) * kTileToks + (nt - 1)](wb + r * row_bytes, K, K, xt, yt, M, bt);
      }
    }
  }
}

template <WType T>
void linear_float_t(const Weight& w, const float* bias, const float* x, const float* xp, int64_t n, float* y,
                    int64_t r0, int64_t r1) {
  if (n == 1) {
    const auto* wb = static_cast<const uint8_t*>(w.data);
    const size_t row_bytes = static_cast<size_t>(w.cols) * elem_size(T);
    if (decode_stream_count() == 1) return decode_streams<T, 1>(wb, row_bytes, w.cols, x, bias, y, r0, r1);
    return decode_streams<T, 4>(wb, row_bytes, w.cols, x, bias, y, r0, r1);
  }
  tiles_float<T>(w, bias, xp, n, y, r0, r1);
}
}  // namespace

void pack_acts_f32(const float* x, int64_t n, int64_t K, int64_t tile0, int64_t tile1, float* xp) {
  const int64_t tw = tile_width(n), steps = (K + 15) / 16;
  for (int64_t tt = tile0; tt < tile1; ++tt) {
    float* dst = xp + tt * steps * 16 * tw;
    for (int64_t t = 0; t < tw; ++t) {
      const int64_t tok = tt * tw + t;
      for (int64_t s = 0; s < steps; ++s) {
        const __m512 v = tok < n ? _mm512_maskz_loadu_ps(lanes(K - 16 * s), x + tok * K + 16 * s) : _mm512_setzero_ps();
        _mm512_storeu_ps(dst + (s * tw + t) * 16, v);
      }
    }
  }
}

void linear_float(const Weight& w, const float* bias, const float* x, const float* xp, int64_t n, float* y,
                  int64_t r0, int64_t r1) {
  switch (w.type) {
    case WType::F32: return linear_float_t<WType::F32>(w, bias, x, xp, n, y, r0, r1);
    case WType::F16: return linear_float_t<WType::F16>(w, bias, x, xp, n, y, r0, r1);
    case WType::BF16: return linear_float_t<WType::BF16>(w, bias, x, xp, n, y, r0, r1);
    default: break;
  }
}
}  // namespace stablelm::kernels::simd::avx512
