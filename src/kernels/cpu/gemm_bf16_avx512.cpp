// AVX512-BF16 prefill GEMM for BF16 weights at matmul precision "medium": activations are
// rounded to bf16 (vcvtneps2bf16) and each vdpbf16ps multiplies 16 rows x 2 columns of weights
// by a broadcast pair of activations, accumulating in fp32. Products of two bf16 values are exact
// in fp32, so the only difference from the "highest" path is the activation rounding (the same
// numerics as llama.cpp's BF16 matmul and PyTorch's bf16 autocast), for twice the fp32 FMA rate.
//
// Layout: a weight "pair" is the 32-bit word holding columns 2p and 2p+1 of one row (bf16 rows
// are already stored that way). Activations are packed once per call, shared by all threads,
// as [token tile][pair][kBf16Mr] words; each thread packs 32-row weight panels [pair][32 rows]
// into L1 and runs a 32-row x kBf16Mr-token register tile (24 zmm accumulators) over every token.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "kernels/cpu/avx512_common.h"

namespace stablelm::kernels::simd::avx512 {
namespace {

constexpr int64_t kNr = 32;    // weight rows per panel (two zmm of 16 lanes)
constexpr int64_t kKp = 192;   // column pairs per chunk: the panel is 24 KiB, half of L1
constexpr int kMr = kBf16Mr;   // tokens per register tile
constexpr int64_t kMc = 128;   // rows per block (see gemm_bf16)

inline __m512bh as_bh(__m512i v) { return reinterpret_cast<__m512bh&>(v); }

template <int MR>
void ukernel(const uint32_t* panel, int64_t kp, const uint32_t* x, float* y, int64_t ys, __mmask16 m0, __mmask16 m1,
             const float* bias, bool first) {
  __m512 c0[MR], c1[MR];
  for (int t = 0; t < MR; ++t) c0[t] = c1[t] = _mm512_setzero_ps();
  for (int64_t p = 0; p < kp; ++p) {
    const __m512bh w0 = as_bh(_mm512_load_si512(panel + kNr * p));
    const __m512bh w1 = as_bh(_mm512_load_si512(panel + kNr * p + 16));
    for (int t = 0; t < MR; ++t) {
      const __m512bh xb = as_bh(_mm512_set1_epi32(static_cast<int>(x[p * kMr + t])));
      c0[t] = _mm512_dpbf16_ps(c0[t], w0, xb);
      c1[t] = _mm512_dpbf16_ps(c1[t], w1, xb);
    }
  }
  store_tile32<MR>(c0, c1, y, ys, m0, m1, bias, first);
}

using UkernelFn = void (*)(const uint32_t*, int64_t, const uint32_t*, float*, int64_t, __mmask16, __mmask16,
                           const float*, bool);
template <size_t... I>
constexpr std::array<UkernelFn, sizeof...(I)> ukernels(std::index_sequence<I...>) {
  return {&ukernel<static_cast<int>(I) + 1>...};
}

// Transposes a 16 x 16 block of 32-bit words held in r[0..15] (row i = r[i]) in place.
inline void transpose16(__m512i r[16]) {
  __m512i t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
    r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
    r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
    r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  // Now r[4g + c] holds, in 128-bit lane L, column 4L + c of rows 4g .. 4g+3: two rounds of
  // 128-bit lane shuffles gather the four row groups of each column into one register.
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0x88);
    t[i + 4] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0xDD);
    t[i + 8] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0x88);
    t[i + 12] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0xDD);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0xDD);
    r[i + 4] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0x88);
    r[i + 12] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0xDD);
  }
}

// Pair p of row `row` (columns 2p, 2p+1; a missing odd last column is zero).
inline uint32_t pair_at(const uint16_t* w, int64_t K, int64_t row, int64_t p) {
  const uint16_t* r = w + row * K;
  const uint32_t lo = r[2 * p], hi = 2 * p + 1 < K ? r[2 * p + 1] : 0;
  return lo | (hi << 16);
}

// panel[p][j] = pair p0 + p of row r0 + j, for j < nr (zero above nr).
void pack_panel(const uint16_t* w, int64_t K, int64_t r0, int64_t nr, int64_t p0, int64_t kp, uint32_t* panel) {
  int64_t p = 0;
  if (nr == kNr && K % 2 == 0 && kp >= 16) {  // whole panel, even K: 16 x 16 word blocks through registers
    // Rows are first copied one at a time into an aligned stage (each row a sequential stream:
    // split lines of a misaligned mmap are read once, rows 4 KiB apart don't fight over an L1
    // set), then transposed from there.
    alignas(64) static thread_local uint32_t stage[16 * kKp];
    const int64_t full = kp / 16 * 16;
    for (int64_t half = 0; half < 2; ++half) {
      for (int i = 0; i < 16; ++i) {
        const uint16_t* src = w + (r0 + 16 * half + i) * K + 2 * p0;
        for (int64_t q = 0; q < full; q += 16) _mm512_store_si512(stage + i * kKp + q, _mm512_loadu_si512(src + 2 * q));
      }
      for (int64_t q = 0; q < full; q += 16) {
        __m512i r[16];
        for (int i = 0; i < 16; ++i) r[i] = _mm512_load_si512(stage + i * kKp + q);
        transpose16(r);
        for (int i = 0; i < 16; ++i) _mm512_store_si512(panel + (q + i) * kNr + 16 * half, r[i]);
      }
    }
    p = full;
  }
  for (; p < kp; ++p)
    for (int64_t j = 0; j < kNr; ++j) panel[p * kNr + j] = j < nr ? pair_at(w, K, r0 + j, p0 + p) : 0u;
}

}  // namespace

void pack_acts_bf16(const float* x, int64_t n, int64_t K, int64_t tile0, int64_t tile1, uint32_t* xp) {
  const int64_t Kp = (K + 1) / 2;
  alignas(64) uint32_t pairs[8];
  for (int64_t tt = tile0; tt < tile1; ++tt) {
    uint32_t* dst = xp + tt * Kp * kMr;
    for (int64_t t = 0; t < kMr; ++t) {
      const int64_t tok = tt * kMr + t;
      if (tok >= n) {
        for (int64_t p = 0; p < Kp; ++p) dst[p * kMr + t] = 0u;
        continue;
      }
      const float* xt = x + tok * K;
      for (int64_t k = 0; k < K; k += 16) {  // 16 columns -> 8 pairs
        const __m512 v = _mm512_maskz_loadu_ps(lanes(K - k), xt + k);
        const __m256bh h = _mm512_cvtneps_pbh(v);
        std::memcpy(pairs, &h, sizeof h);
        const int64_t np = std::min<int64_t>(8, Kp - k / 2);
        for (int64_t i = 0; i < np; ++i) dst[(k / 2 + i) * kMr + t] = pairs[i];
      }
    }
  }
}

void gemm_bf16(const Weight& w, const float* bias, const uint32_t* xp, int64_t n, float* y, int64_t r0, int64_t r1) {
  static constexpr auto uk = ukernels(std::make_index_sequence<kMr>{});
  alignas(64) static thread_local uint32_t panel[kKp * kNr];
  const int64_t K = w.cols, M = w.rows, Kp = (K + 1) / 2, tiles = (n + kMr - 1) / kMr;
  const auto* wb = static_cast<const uint16_t*>(w.data);
  // Panels in the order (row block, chunk, panel): the row block's pages stay in the TLB across
  // its chunks (the weights are 4 KiB pages of the mmap) and its outputs stay in L2.
  struct Pos {
    int64_t rb, p0, r;
  };
  auto next = [&](Pos q) {
    const int64_t rb_end = std::min(q.rb + kMc, r1);
    if (q.r + kNr < rb_end) return Pos{q.rb, q.p0, q.r + kNr};
    if (q.p0 + kKp < Kp) return Pos{q.rb, q.p0 + kKp, q.rb};
    return Pos{q.rb + kMc, 0, q.rb + kMc};
  };
  for (Pos q{r0, 0, r0}; q.rb < r1; q = next(q)) {
    const int64_t kp = std::min(kKp, Kp - q.p0), nr = std::min(kNr, std::min(q.rb + kMc, r1) - q.r);
    pack_panel(wb, K, q.r, nr, q.p0, kp, panel);
    // The panel's 32 rows are 32 short interleaved streams that the hardware prefetchers follow
    // poorly: fetch the next panel into L2 while the micro-kernels run on this one, a few lines
    // per token tile (a burst of hundreds of prefetches would be dropped).
    const Pos nx = next(q);
    const int64_t lines_per_row = nx.rb < r1 ? (std::min(kKp, Kp - nx.p0) * 4 + 63) / 64 : 0;
    const int64_t n_lines = lines_per_row * std::max<int64_t>(0, std::min(nx.r + kNr, std::min(nx.rb + kMc, r1)) - nx.r);
    const int64_t per_tile = (n_lines + tiles - 1) / tiles;
    int64_t line = 0;
    const __mmask16 m0 = lanes(nr), m1 = nr <= 16 ? __mmask16(0) : lanes(nr - 16);
    for (int64_t t = 0; t < n; t += kMr) {
      for (const int64_t e = std::min(n_lines, line + per_tile); line < e; ++line)
        _mm_prefetch(reinterpret_cast<const char*>(wb + (nx.r + line / lines_per_row) * K + 2 * nx.p0) +
                         64 * (line % lines_per_row),
                     _MM_HINT_T1);
      const int mr = static_cast<int>(std::min<int64_t>(kMr, n - t));
      uk[mr - 1](panel, kp, xp + (t / kMr) * Kp * kMr + q.p0 * kMr, y + t * M + q.r, M, m0, m1,
                 bias ? bias + q.r : nullptr, q.p0 == 0);
    }
  }
}

}  // namespace stablelm::kernels::simd::avx512
