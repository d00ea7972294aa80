// AVX-512 kernels (F/BW/VL/DQ + VNNI + BF16 at compile time; dispatch.cpp checks CPUID first).
//
// Float linear (F32/F16/BF16 weights, fp32 activations, fp32 FMA): register tiles of R weight
// rows x N tokens, each accumulator a zmm of 16 partial sums along the input dimension, reduced
// once per tile. Weights are read straight from their row-major storage (no packing: bf16/f16
// widen to fp32 in registers), each loaded row chunk feeds N tokens and each activation chunk R
// rows. Decode (n = 1) is the same kernel with 8 rows: a pure stream over the weights.
//
// Quantized linear (Q8/Q4, layout in quant_layout.h): activations quantized per 32-block to
// int8; each vpdpbusd multiplies 4 columns of a 16-row group (u8 codes) by 4 broadcast
// activation bytes (s8). Q4 indices become their grid level + 128 through one vpshufb. The int32
// accumulator starts at -128 * Σx so the +128 offset cancels exactly; per block it is scaled by
// d_w (16 lanes) and d_x.
// GCC 12's AVX-512 headers use _mm512_undefined_*() inside reductions and conversions, which
// -Wuninitialized flags at -O3 (GCC bug 105593): silence it for this file only.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "kernels/cpu/simd.h"

namespace stablelm::kernels::simd {
namespace {

// ---------------------------------------------------------------------------------------------
// Float linear
template <WType T>
inline __m512 load16(const void* base, int64_t i) {
  if constexpr (T == WType::F32) {
    return _mm512_loadu_ps(static_cast<const float*>(base) + i);
  } else if constexpr (T == WType::F16) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(base) + i)));
  } else {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(static_cast<const uint16_t*>(base) + i));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
}

template <WType T>
inline __m512 load16_mask(const void* base, int64_t i, __mmask16 m) {
  if constexpr (T == WType::F32) {
    return _mm512_maskz_loadu_ps(m, static_cast<const float*>(base) + i);
  } else if constexpr (T == WType::F16) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(base) + i));
  } else {
    const __m256i h = _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(base) + i);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
}

constexpr size_t elem_size(WType t) { return t == WType::F32 ? 4 : 2; }

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
  const __m512 b0 = bias && first ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
  const __m512 b1 = bias && first ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
  for (int t = 0; t < MR; ++t) {
    float* yt = y + t * ys;
    const __m512 p0 = first ? b0 : _mm512_maskz_loadu_ps(m0, yt);
    const __m512 p1 = first ? b1 : _mm512_maskz_loadu_ps(m1, yt + 16);
    _mm512_mask_storeu_ps(yt, m0, _mm512_add_ps(c0[t], p0));
    _mm512_mask_storeu_ps(yt + 16, m1, _mm512_add_ps(c1[t], p1));
  }
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

// Decode: one weight row (x stays in L1), 4 independent accumulators. Rows are read strictly in
// order, so the thread's weights form one sequential stream: a stored 2048-wide bf16 row is
// exactly one 4 KiB page, and hardware prefetchers neither cross pages nor ramp up on many short
// interleaved streams, so the next rows are prefetched explicitly, ~2 KiB ahead.
template <WType T>
inline float decode_row(const uint8_t* w, int64_t K, const float* x) {
  constexpr int64_t kAhead = 2048;
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  int64_t k = 0;
  for (; k + 64 <= K; k += 64) {
    const uint8_t* p = w + k * static_cast<int64_t>(elem_size(T));
    _mm_prefetch(reinterpret_cast<const char*>(p + kAhead), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(p + kAhead + 64), _MM_HINT_T0);
    if constexpr (T == WType::F32) {
      _mm_prefetch(reinterpret_cast<const char*>(p + kAhead + 128), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(p + kAhead + 192), _MM_HINT_T0);
    }
    a0 = _mm512_fmadd_ps(load16<T>(w, k), _mm512_loadu_ps(x + k), a0);
    a1 = _mm512_fmadd_ps(load16<T>(w, k + 16), _mm512_loadu_ps(x + k + 16), a1);
    a2 = _mm512_fmadd_ps(load16<T>(w, k + 32), _mm512_loadu_ps(x + k + 32), a2);
    a3 = _mm512_fmadd_ps(load16<T>(w, k + 48), _mm512_loadu_ps(x + k + 48), a3);
  }
  for (; k < K; k += 16) {
    const __mmask16 m = K - k >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << (K - k)) - 1);
    a0 = _mm512_fmadd_ps(load16_mask<T>(w, k, m), _mm512_maskz_loadu_ps(m, x + k), a0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
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
  if (n == 1) {  // decode: one sequential stream over this thread's rows
    for (int64_t r = r0; r < r1; ++r) {
      const float v = decode_row<T>(wb + r * row_bytes, K, x);
      y[r] = bias ? v + bias[r] : v;
    }
    return;
  }
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

void linear_float(const Weight& w, const float* bias, const float* x, int64_t n, float* y, int64_t r0, int64_t r1) {
  switch (w.type) {
    case WType::F32: return linear_float_t<WType::F32>(w, bias, x, n, y, r0, r1);
    case WType::F16: return linear_float_t<WType::F16>(w, bias, x, n, y, r0, r1);
    case WType::BF16: return linear_float_t<WType::BF16>(w, bias, x, n, y, r0, r1);
    default: break;
  }
}

// ---------------------------------------------------------------------------------------------
// Activation quantization (bit-identical to qlayout::quantize_act_block).
void quantize_acts(const float* x, int64_t t0, int64_t t1, const qlayout::QActs& xa) {
  const int64_t cols = xa.cols;
  for (int64_t t = t0; t < t1; ++t) {
    const float* xt = x + t * cols;
    for (int64_t b = 0; b < xa.blocks; ++b) {
      const int64_t c0 = b * 32;
      const int64_t cnt = std::min<int64_t>(32, cols - c0);
      const __mmask16 m0 = cnt >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << cnt) - 1);
      const __mmask16 m1 = cnt >= 32 ? __mmask16(0xFFFF) : cnt <= 16 ? __mmask16(0) : static_cast<__mmask16>((1u << (cnt - 16)) - 1);
      const __m512 v0 = _mm512_maskz_loadu_ps(m0, xt + c0);
      const __m512 v1 = _mm512_maskz_loadu_ps(m1, xt + c0 + 16);
      const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
      const float d = amax / 127.0f;
      const float id = d != 0.0f ? 1.0f / d : 0.0f;
      const __m512 vid = _mm512_set1_ps(id);
      const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, vid));
      const __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, vid));
      int8_t* dst = xa.q + t * xa.padded + c0;
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), _mm512_cvtsepi32_epi8(q0));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 16), _mm512_cvtsepi32_epi8(q1));
      xa.d[t * xa.blocks + b] = d;
      xa.sum[t * xa.blocks + b] = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Quantized linear: G row groups (16 rows each) x N tokens per register tile.
template <WType T, int G, int N>
void quant_tile(const uint8_t* w0, size_t gbytes, const qlayout::QActs& xa, int64_t t0, float* y, int64_t ys,
                int64_t row0, int64_t rows, const float* bias) {
  constexpr int kOff = 128;  // both formats feed vpdpbusd unsigned codes = signed level + 128
  constexpr size_t kBB = T == WType::Q8 ? qlayout::kQ8BlockBytes : qlayout::kQ4BlockBytes;
  const int64_t nb = xa.blocks;
  __m512 accf[G][N];
  for (int g = 0; g < G; ++g)
    for (int t = 0; t < N; ++t) accf[g][t] = _mm512_setzero_ps();
  const int8_t* xq[N];
  for (int t = 0; t < N; ++t) xq[t] = xa.q + (t0 + t) * xa.padded;
  const __m512i nib = _mm512_set1_epi8(0x0F);
  // Q4 index -> grid level + 128, looked up with vpshufb (the table repeated in each 128-bit lane).
  const __m512i lut = _mm512_broadcast_i32x4(_mm_setr_epi8(
      static_cast<char>(qlayout::kQ4Grid[0] + 128), static_cast<char>(qlayout::kQ4Grid[1] + 128),
      static_cast<char>(qlayout::kQ4Grid[2] + 128), static_cast<char>(qlayout::kQ4Grid[3] + 128),
      static_cast<char>(qlayout::kQ4Grid[4] + 128), static_cast<char>(qlayout::kQ4Grid[5] + 128),
      static_cast<char>(qlayout::kQ4Grid[6] + 128), static_cast<char>(qlayout::kQ4Grid[7] + 128),
      static_cast<char>(qlayout::kQ4Grid[8] + 128), static_cast<char>(qlayout::kQ4Grid[9] + 128),
      static_cast<char>(qlayout::kQ4Grid[10] + 128), static_cast<char>(qlayout::kQ4Grid[11] + 128),
      static_cast<char>(qlayout::kQ4Grid[12] + 128), static_cast<char>(qlayout::kQ4Grid[13] + 128),
      static_cast<char>(qlayout::kQ4Grid[14] + 128), static_cast<char>(qlayout::kQ4Grid[15] + 128)));
  // Decode-sized Q4 tiles keep the high-nibble products in a second accumulator: two vpdpbusd
  // dependency chains per group instead of one 8-long chain per block.
  constexpr bool kSplit = T == WType::Q4 && N <= 2;
  for (int64_t b = 0; b < nb; ++b) {
    __m512i acc[G][N], acc2[G][N];
    for (int t = 0; t < N; ++t) {
      const __m512i init = _mm512_set1_epi32(-kOff * xa.sum[(t0 + t) * nb + b]);
      for (int g = 0; g < G; ++g) acc[g][t] = init, acc2[g][t] = _mm512_setzero_si512();
    }
    const uint8_t* blk[G];
    for (int g = 0; g < G; ++g) blk[g] = w0 + g * gbytes + b * kBB;
    if constexpr (T == WType::Q8) {
      for (int j = 0; j < 8; ++j) {
        __m512i wv[G];
        for (int g = 0; g < G; ++g) wv[g] = _mm512_loadu_si512(blk[g] + 32 + 64 * j);
        for (int t = 0; t < N; ++t) {
          int32_t xb4;
          std::memcpy(&xb4, xq[t] + b * 32 + 4 * j, 4);
          const __m512i xb = _mm512_set1_epi32(xb4);
          for (int g = 0; g < G; ++g) acc[g][t] = _mm512_dpbusd_epi32(acc[g][t], wv[g], xb);
        }
      }
    } else {
      for (int v = 0; v < 4; ++v) {
        __m512i lo[G], hi[G];
        for (int g = 0; g < G; ++g) {
          const __m512i raw = _mm512_loadu_si512(blk[g] + 32 + 64 * v);
          lo[g] = _mm512_shuffle_epi8(lut, _mm512_and_si512(raw, nib));
          hi[g] = _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi16(raw, 4), nib));
        }
        for (int t = 0; t < N; ++t) {
          int32_t xl, xh;
          std::memcpy(&xl, xq[t] + b * 32 + 4 * v, 4);
          std::memcpy(&xh, xq[t] + b * 32 + 16 + 4 * v, 4);
          const __m512i bl = _mm512_set1_epi32(xl), bh = _mm512_set1_epi32(xh);
          for (int g = 0; g < G; ++g) {
            acc[g][t] = _mm512_dpbusd_epi32(acc[g][t], lo[g], bl);
            if constexpr (kSplit) acc2[g][t] = _mm512_dpbusd_epi32(acc2[g][t], hi[g], bh);
            else acc[g][t] = _mm512_dpbusd_epi32(acc[g][t], hi[g], bh);
          }
        }
      }
    }
    if constexpr (kSplit)
      for (int g = 0; g < G; ++g)
        for (int t = 0; t < N; ++t) acc[g][t] = _mm512_add_epi32(acc[g][t], acc2[g][t]);
    for (int g = 0; g < G; ++g) {
      const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk[g])));
      for (int t = 0; t < N; ++t) {
        const __m512 dx = _mm512_set1_ps(xa.d[(t0 + t) * nb + b]);
        accf[g][t] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(acc[g][t]), dw), dx, accf[g][t]);
      }
    }
  }
  for (int g = 0; g < G; ++g) {
    const int64_t base = row0 + 16 * g;
    const int64_t valid = std::min<int64_t>(16, rows - base);
    if (valid <= 0) continue;
    const __mmask16 m = valid >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << valid) - 1);
    const __m512 bv = bias ? _mm512_maskz_loadu_ps(m, bias + base) : _mm512_setzero_ps();
    for (int t = 0; t < N; ++t) {
      const __m512 v = bias ? _mm512_add_ps(accf[g][t], bv) : accf[g][t];
      _mm512_mask_storeu_ps(y + (t0 + t) * ys + base, m, v);
    }
  }
}

using QuantTileFn = void (*)(const uint8_t*, size_t, const qlayout::QActs&, int64_t, float*, int64_t, int64_t,
                             int64_t, const float*);
constexpr int kQGroups = 2, kQToks = 6;

template <WType T, size_t... I>
constexpr std::array<QuantTileFn, sizeof...(I)> quant_tiles(std::index_sequence<I...>) {
  return {&quant_tile<T, static_cast<int>(I / kQToks) + 1, static_cast<int>(I % kQToks) + 1>...};
}

template <WType T>
void linear_quant_t(const Weight& w, const float* bias, const qlayout::QActs& xa, float* y, int64_t g0, int64_t g1) {
  static constexpr auto tiles = quant_tiles<T>(std::make_index_sequence<kQGroups * kQToks>{});
  const size_t gbytes = qlayout::group_bytes(T, w.cols);
  const auto* wb = static_cast<const uint8_t*>(w.data);
  const int64_t n = xa.n;
  if (n == 1) {  // decode: stream 4 groups (64 rows) at a time
    int64_t g = g0;
    for (; g + 4 <= g1; g += 4) quant_tile<T, 4, 1>(wb + g * gbytes, gbytes, xa, 0, y, w.rows, g * 16, w.rows, bias);
    for (; g < g1; ++g) quant_tile<T, 1, 1>(wb + g * gbytes, gbytes, xa, 0, y, w.rows, g * 16, w.rows, bias);
    return;
  }
  constexpr int64_t kTokChunk = 96;  // quantized activations of the chunk stay in L2
  for (int64_t t0 = 0; t0 < n; t0 += kTokChunk) {
    const int64_t t1 = std::min(n, t0 + kTokChunk);
    for (int64_t g = g0; g < g1; g += kQGroups) {
      const int gn = static_cast<int>(std::min<int64_t>(kQGroups, g1 - g));
      for (int64_t t = t0; t < t1; t += kQToks) {
        const int nt = static_cast<int>(std::min<int64_t>(kQToks, t1 - t));
        tiles[(gn - 1) * kQToks + (nt - 1)](wb + g * gbytes, gbytes, xa, t, y, w.rows, g * 16, w.rows, bias);
      }
    }
  }
}

void linear_quant(const Weight& w, const float* bias, const qlayout::QActs& xa, float* y, int64_t g0, int64_t g1) {
  if (w.type == WType::Q8) linear_quant_t<WType::Q8>(w, bias, xa, y, g0, g1);
  else linear_quant_t<WType::Q4>(w, bias, xa, y, g0, g1);
}

// ---------------------------------------------------------------------------------------------
// exp for softmax and SiLU: Cephes-style range reduction + degree-6 polynomial (about 1 ulp),
// 2^n applied with vscalefps.
inline __m512 exp512(__m512 x) {
  x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.3762626647949f)), _mm512_set1_ps(-103.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500E-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507E-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073E-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894E-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459E-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201E-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, n);
}

void silu_mul(float* gate, const float* up, int64_t n) {
  int64_t i = 0;
  for (; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
    const __m512 u = _mm512_maskz_loadu_ps(m, up + i);
    const __m512 s = _mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.0f), exp512(_mm512_sub_ps(_mm512_setzero_ps(), g))));
    _mm512_mask_storeu_ps(gate + i, m, _mm512_mul_ps(s, u));
  }
}

// ---------------------------------------------------------------------------------------------
// LayerNorm: two passes in fp32 (mean, then centred variance), 16 lanes of partial sums.
void layer_norm(const float* x, int64_t n, int64_t dim, const float* weight, const float* bias, float eps, float* out) {
  const int64_t full = dim / 16 * 16;
  const __mmask16 tail = static_cast<__mmask16>((1u << (dim - full)) - 1);
  for (int64_t t = 0; t < n; ++t) {
    const float* xt = x + t * dim;
    float* ot = out + t * dim;
    __m512 s = _mm512_setzero_ps();
    for (int64_t i = 0; i < full; i += 16) s = _mm512_add_ps(s, _mm512_loadu_ps(xt + i));
    if (tail) s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(tail, xt + full));
    const float mean = _mm512_reduce_add_ps(s) / static_cast<float>(dim);
    const __m512 vm = _mm512_set1_ps(mean);
    __m512 v = _mm512_setzero_ps();
    for (int64_t i = 0; i < full; i += 16) {
      const __m512 d = _mm512_sub_ps(_mm512_loadu_ps(xt + i), vm);
      v = _mm512_fmadd_ps(d, d, v);
    }
    if (tail) {
      const __m512 d = _mm512_maskz_sub_ps(tail, _mm512_maskz_loadu_ps(tail, xt + full), vm);
      v = _mm512_fmadd_ps(d, d, v);
    }
    const float var = _mm512_reduce_add_ps(v) / static_cast<float>(dim);
    const __m512 inv = _mm512_set1_ps(1.0f / std::sqrt(var + eps));
    for (int64_t i = 0; i < dim; i += 16) {
      const __mmask16 m = i < full ? __mmask16(0xFFFF) : tail;
      const __m512 d = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, xt + i), vm), inv);
      __m512 r = _mm512_mul_ps(d, _mm512_maskz_loadu_ps(m, weight + i));
      if (bias) r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(m, bias + i));
      _mm512_mask_storeu_ps(ot + i, m, r);
    }
  }
}

// KV rows to F16 (vcvtps2ph, round to nearest even) or BF16 (round to nearest even in integer
// arithmetic, quiet NaNs as the scalar f32_to_bf16: vcvtneps2bf16 would flush denormals).
void store_kv(const float* src, int64_t n, int64_t width, WType t, void* dst) {
  const int64_t count = n * width;
  if (t == WType::F32) {
    std::memcpy(dst, src, static_cast<size_t>(count) * 4);
    return;
  }
  auto* out = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < count; i += 16) {
    const __mmask16 m = count - i >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << (count - i)) - 1);
    const __m512 v = _mm512_maskz_loadu_ps(m, src + i);
    __m256i h;
    if (t == WType::F16) {
      h = _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    } else {
      const __m512i bits = _mm512_castps_si512(v);
      const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
      const __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
      const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
      const __m512i qnan = _mm512_or_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(0x40));
      h = _mm512_cvtepi32_epi16(_mm512_mask_mov_epi32(rounded, nan, qnan));
    }
    _mm256_mask_storeu_epi16(out + i, m, h);
  }
}

// ---------------------------------------------------------------------------------------------
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

}  // namespace

const Ops* avx512_ops() {
  static const Ops ops{"avx512", &linear_float, &quantize_acts, &linear_quant, &attention, &silu_mul, &layer_norm, &store_kv};
  return &ops;
}

}  // namespace stablelm::kernels::simd
