// AVX-512 quantized linear (Q8/Q4, layout in quant_layout.h): activations quantized per 32-block to
// int8; each vpdpbusd multiplies 4 columns of a 16-row group (u8 codes) by 4 broadcast
// activation bytes (s8). Q4 indices become their grid level + 128 through one vpshufb. The int32
// accumulator starts at -128 * Σx so the +128 offset cancels exactly; per block it is scaled by
// d_w (16 lanes) and d_x.
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


namespace {

// ---------------------------------------------------------------------------------------------
// Quantized linear: G row groups (16 rows each) x N tokens per register tile.
template <WType T, int G, int N>
void quant_tile(const uint8_t* w0, size_t gbytes, const qlayout::QActs& xa, int64_t t0, float* y, int64_t ys,
                int64_t row0, int64_t rows, const float* bias, int64_t gstep = 1) {
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
  // Q4 decode reads G interleaved group streams with more work per byte than Q8; the hardware
  // prefetchers alone then leave the memory bus idle part of the time (about 60 % of the read
  // bandwidth end to end). Prefetching each stream ~2 KiB ahead keeps enough lines in flight.
  // (Q8 decode already runs near the bandwidth limit without it, and measured no better with it.)
  constexpr bool kPrefetch = T == WType::Q4 && N == 1;
  constexpr size_t kAhead = 2048;
  for (int64_t b = 0; b < nb; ++b) {
    __m512i acc[G][N], acc2[G][N];
    for (int t = 0; t < N; ++t) {
      const __m512i init = _mm512_set1_epi32(-kOff * xa.sum[(t0 + t) * nb + b]);
      for (int g = 0; g < G; ++g) acc[g][t] = init, acc2[g][t] = _mm512_setzero_si512();
    }
    const uint8_t* blk[G];
    for (int g = 0; g < G; ++g) blk[g] = w0 + g * gstep * gbytes + b * kBB;
    if constexpr (kPrefetch)
      for (int g = 0; g < G; ++g)
        for (size_t o = 0; o < kBB; o += 64) _mm_prefetch(reinterpret_cast<const char*>(blk[g] + kAhead + o), _MM_HINT_T0);
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
    const int64_t base = row0 + 16 * g * gstep;
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
                             int64_t, const float*, int64_t);
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
  if (n == 1) {  // decode: 4 groups from the 4 quarters of the range, 4 streams in flight
    const int64_t part = (g1 - g0) / 4;
    for (int64_t g = g0; g < g0 + part; ++g)
      quant_tile<T, 4, 1>(wb + g * gbytes, gbytes, xa, 0, y, w.rows, g * 16, w.rows, bias, part);
    for (int64_t g = g0 + 4 * part; g < g1; ++g)
      quant_tile<T, 1, 1>(wb + g * gbytes, gbytes, xa, 0, y, w.rows, g * 16, w.rows, bias);
    return;
  }
  constexpr int64_t kTokChunk = 96;  // quantized activations of the chunk stay in L2
  for (int64_t t0 = 0; t0 < n; t0 += kTokChunk) {
    const int64_t t1 = std::min(n, t0 + kTokChunk);
    for (int64_t g = g0; g < g1; g += kQGroups) {
      const int gn = static_cast<int>(std::min<int64_t>(kQGroups, g1 - g));
      for (int64_t t = t0; t < t1; t += kQToks) {
        const int nt = static_cast<int>(std::min<int64_t>(kQToks, t1 - t));
        tiles[(gn - 1) * kQToks + (nt - 1)](wb + g * gbytes, gbytes, xa, t, y, w.rows, g * 16, w.rows, bias, 1);
      }
    }
  }
}
}  // namespace

void linear_quant(const Weight& w, const float* bias, const qlayout::QActs& xa, float* y, int64_t g0, int64_t g1) {
  if (w.type == WType::Q8) linear_quant_t<WType::Q8>(w, bias, xa, y, g0, g1);
  else linear_quant_t<WType::Q4>(w, bias, xa, y, g0, g1);
}
}  // namespace stablelm::kernels::simd::avx512
