// AVX-512 float linear (F32/F16/BF16 weights, fp32 activations, fp32 FMA): register tiles of R
// weight rows x N tokens for a few tokens, a 4-stream decode kernel for one token, and a
// BLIS-style GEMM for prefill.
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

// y[t * ys + r] (+)= Σ_k w[r, k] x[t, k] over k in [k0, k1), for R rows from `w` (row stride K
// elements) and N tokens from x (row stride xs). `first`: store (adding bias) instead of add.
template <WType T, int R, int N>
void float_tile(const void* w, int64_t K, int64_t k0, int64_t k1, const float* x, int64_t xs, float* y, int64_t ys,
                const float* bias, bool first) {
  __m512 acc[N][R];
  for (int t = 0; t < N; ++t)
    for (int r = 0; r < R; ++r) acc[t][r] = _mm512_setzero_ps();
  int64_t k = k0;
  for (; k + 16 <= k1; k += 16) {
    __m512 wv[R];
    for (int r = 0; r < R; ++r) wv[r] = load16<T>(w, r * K + k);
    for (int t = 0; t < N; ++t) {
      const __m512 xv = _mm512_loadu_ps(x + t * xs + k);
      for (int r = 0; r < R; ++r) acc[t][r] = _mm512_fmadd_ps(wv[r], xv, acc[t][r]);
    }
  }
  if (k < k1) {
    const __mmask16 m = static_cast<__mmask16>((1u << (k1 - k)) - 1);
    __m512 wv[R];
    for (int r = 0; r < R; ++r) wv[r] = load16_mask<T>(w, r * K + k, m);
    for (int t = 0; t < N; ++t) {
      const __m512 xv = _mm512_maskz_loadu_ps(m, x + t * xs + k);
      for (int r = 0; r < R; ++r) acc[t][r] = _mm512_fmadd_ps(wv[r], xv, acc[t][r]);
    }
  }
  for (int t = 0; t < N; ++t)
    for (int r = 0; r < R; ++r) {
      const float s = _mm512_reduce_add_ps(acc[t][r]);
      float& out = y[t * ys + r];
      out = first ? (bias ? s + bias[r] : s) : out + s;
    }
}

using FloatTileFn = void (*)(const void*, int64_t, int64_t, int64_t, const float*, int64_t, float*, int64_t,
                             const float*, bool);
constexpr int kRows = 4, kToks = 6;

template <WType T, size_t... I>
constexpr std::array<FloatTileFn, sizeof...(I)> float_tiles(std::index_sequence<I...>) {
  // Index = (R - 1) * kToks + (N - 1).
  return {&float_tile<T, static_cast<int>(I / kToks) + 1, static_cast<int>(I % kToks) + 1>...};
}

// Prefill GEMM (n >= kGemmMinTokens): BLIS-style. For each chunk of kKc columns and each panel
// of 32 weight rows, the panel is widened to fp32 and transposed once into L1 ([k][32]), then
// a 32-row x kMr-token register tile (2 x kMr zmm accumulators) runs over every token: per
// column, 2 panel loads + kMr broadcast activations feed 2 * kMr FMAs, no horizontal sums.
constexpr int64_t kKc = 256, kNr = 32;
constexpr int kMr = 12;
constexpr int64_t kGemmMinTokens = 16;

// x: the token tile packed as [k][kMr] (contiguous broadcasts; the rows of x are 4 KiB-aliased
// multiples apart and would fight over the same L1 sets).
template <int MR>
void gemm_ukernel(const float* panel, int64_t kc, const float* x, float* y, int64_t ys, __mmask16 m0,
                  __mmask16 m1, const float* bias, bool first) {
  __m512 c0[MR], c1[MR];
  for (int t = 0; t < MR; ++t) c0[t] = c1[t] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 w0 = _mm512_load_ps(panel + kNr * k), w1 = _mm512_load_ps(panel + kNr * k + 16);
    for (int t = 0; t < MR; ++t) {
      const __m512 xb = _mm512_set1_ps(x[k * kMr + t]);
      c0[t] = _mm512_fmadd_ps(w0, xb, c0[t]);
      c1[t] = _mm512_fmadd_ps(w1, xb, c1[t]);
    }
  }
  store_tile32<MR>(c0, c1, y, ys, m0, m1, bias, first);
}

using UkernelFn = void (*)(const float*, int64_t, const float*, float*, int64_t, __mmask16, __mmask16, const float*,
                           bool);
template <size_t... I>
constexpr std::array<UkernelFn, sizeof...(I)> ukernels(std::index_sequence<I...>) {
  return {&gemm_ukernel<static_cast<int>(I) + 1>...};
}

// panel[k][j] = w[r0 + j, k0 + k] as fp32 for j < nr (zero rows above nr).
template <WType T>
void pack_panel(const void* w, int64_t K, int64_t r0, int64_t nr, int64_t k0, int64_t kc, float* panel) {
  for (int64_t j = 0; j < kNr; ++j) {
    if (j >= nr) {
      for (int64_t k = 0; k < kc; ++k) panel[k * kNr + j] = 0.0f;
      continue;
    }
    const int64_t base = (r0 + j) * K + k0;
    int64_t k = 0;
    alignas(64) float tmp[16];
    for (; k + 16 <= kc; k += 16) {
      _mm512_store_ps(tmp, load16<T>(w, base + k));
      for (int i = 0; i < 16; ++i) panel[(k + i) * kNr + j] = tmp[i];
    }
    if (k < kc) {
      _mm512_store_ps(tmp, load16_mask<T>(w, base + k, static_cast<__mmask16>((1u << (kc - k)) - 1)));
      for (int64_t i = 0; i < kc - k; ++i) panel[(k + i) * kNr + j] = tmp[i];
    }
  }
}

template <WType T>
void gemm_float(const Weight& w, const float* bias, const float* x, int64_t n, float* y, int64_t r0, int64_t r1,
                float* xpack) {
  static constexpr auto uk = ukernels(std::make_index_sequence<kMr>{});
  alignas(64) static thread_local float panel[kKc * kNr];
  const int64_t K = w.cols, M = w.rows;
  for (int64_t k0 = 0; k0 < K; k0 += kKc) {
    const int64_t kc = std::min(kKc, K - k0);
    // Pack this column chunk of every token: tile tt holds [k][kMr] (missing tokens are zero).
    for (int64_t t0 = 0; t0 < n; t0 += kMr) {
      float* dst = xpack + (t0 / kMr) * kKc * kMr;
      for (int64_t t = 0; t < kMr; ++t)
        for (int64_t k = 0; k < kc; ++k) dst[k * kMr + t] = t0 + t < n ? x[(t0 + t) * K + k0 + k] : 0.0f;
    }
    for (int64_t r = r0; r < r1; r += kNr) {
      const int64_t nr = std::min(kNr, r1 - r);
      pack_panel<T>(w.data, K, r, nr, k0, kc, panel);
      const __mmask16 m0 = nr >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << nr) - 1);
      const __mmask16 m1 = nr >= 32 ? __mmask16(0xFFFF) : nr <= 16 ? __mmask16(0) : static_cast<__mmask16>((1u << (nr - 16)) - 1);
      for (int64_t t = 0; t < n; t += kMr) {
        const int mr = static_cast<int>(std::min<int64_t>(kMr, n - t));
        uk[mr - 1](panel, kc, xpack + (t / kMr) * kKc * kMr, y + t * M + r, M, m0, m1, bias ? bias + r : nullptr,
                   k0 == 0);
      }
    }
  }
}

// Decode reads each weight byte once. A stored 2048-wide bf16 row is exactly one 4 KiB page and
// hardware prefetchers do not cross pages, so rows are prefetched explicitly ~2 KiB ahead.
constexpr int64_t kAhead = 2048;

// S rows from S distant places (S independent streams in flight), 2 accumulators each; x stays
// in L1.
template <WType T, int S>
inline void decode_rows(const uint8_t* const* w, int64_t K, const float* x, float* v) {
  __m512 a[S][2];
  for (int i = 0; i < S; ++i) a[i][0] = a[i][1] = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 32 <= K; k += 32) {
    const int64_t off = k * static_cast<int64_t>(elem_size(T));
    for (int i = 0; i < S; ++i) {
      _mm_prefetch(reinterpret_cast<const char*>(w[i] + off + kAhead), _MM_HINT_T0);
      if constexpr (T == WType::F32) _mm_prefetch(reinterpret_cast<const char*>(w[i] + off + kAhead + 64), _MM_HINT_T0);
    }
    const __m512 x0 = _mm512_loadu_ps(x + k), x1 = _mm512_loadu_ps(x + k + 16);
    for (int i = 0; i < S; ++i) {
      a[i][0] = _mm512_fmadd_ps(load16<T>(w[i], k), x0, a[i][0]);
      a[i][1] = _mm512_fmadd_ps(load16<T>(w[i], k + 16), x1, a[i][1]);
    }
  }
  for (; k < K; k += 16) {
    const __mmask16 m = lanes(K - k);
    const __m512 xv = _mm512_maskz_loadu_ps(m, x + k);
    for (int i = 0; i < S; ++i) a[i][0] = _mm512_fmadd_ps(load16_mask<T>(w[i], k, m), xv, a[i][0]);
  }
  for (int i = 0; i < S; ++i) v[i] = _mm512_reduce_add_ps(_mm512_add_ps(a[i][0], a[i][1]));
}

// Decode over rows [r0, r1): the range is cut into S parts read side by side, i.e. S sequential
// streams in flight at once. One stream leaves the memory system idle between its misses (this
// thread reached ~42 GB/s of bf16 weights with one stream, ~60 with four, 2 threads).
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

template <WType T>
void linear_float_t(const Weight& w, const float* bias, const float* x, int64_t n, float* y, int64_t r0, int64_t r1) {
  if (n >= kGemmMinTokens) {
    // Per-thread activation pack buffer, grown (rarely) to the largest prompt seen.
    static thread_local std::vector<float> xpack;
    const size_t need = static_cast<size_t>((n + kMr - 1) / kMr * kMr * kKc);
    if (xpack.size() < need) xpack.resize(need);
    return gemm_float<T>(w, bias, x, n, y, r0, r1, xpack.data());
  }
  static constexpr auto tiles = float_tiles<T>(std::make_index_sequence<kRows * kToks>{});
  const int64_t K = w.cols, M = w.rows;
  const auto* wb = static_cast<const uint8_t*>(w.data);
  const size_t row_bytes = static_cast<size_t>(K) * elem_size(T);
  if (n == 1) return decode_streams<T, 4>(wb, row_bytes, K, x, bias, y, r0, r1);
  // A few tokens: register tiles of kRows rows x kToks tokens straight from the stored rows.
  for (int64_t r = r0; r < r1; r += kRows) {
    const int rb = static_cast<int>(std::min<int64_t>(kRows, r1 - r));
    for (int64_t t = 0; t < n; t += kToks) {
      const int nt = static_cast<int>(std::min<int64_t>(kToks, n - t));
      tiles[(rb - 1) * kToks + (nt - 1)](wb + r * row_bytes, K, 0, K, x + t * K, K, y + t * M + r, M,
                                         bias ? bias + r : nullptr, true);
    }
  }
}
}  // namespace

void linear_float(const Weight& w, const float* bias, const float* x, int64_t n, float* y, int64_t r0, int64_t r1) {
  switch (w.type) {
    case WType::F32: return linear_float_t<WType::F32>(w, bias, x, n, y, r0, r1);
    case WType::F16: return linear_float_t<WType::F16>(w, bias, x, n, y, r0, r1);
    case WType::BF16: return linear_float_t<WType::BF16>(w, bias, x, n, y, r0, r1);
    default: break;
  }
}
}  // namespace stablelm::kernels::simd::avx512
