// AVX2 + FMA + F16C kernels: the baseline for x86-64 CPUs without AVX-512. Same structure as
// kernels_avx512.cpp with 8-lane registers: float linear as R rows x N tokens register tiles
// with fp32 FMA; quantized linear with vpmaddubsw/vpmaddwd in place of VNNI.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <utility>

#include "kernels/cpu/simd.h"

namespace stablelm::kernels::simd {
namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline int32_t hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

template <WType T>
inline __m256 load8(const void* base, int64_t i) {
  if constexpr (T == WType::F32) {
    return _mm256_loadu_ps(static_cast<const float*>(base) + i);
  } else if constexpr (T == WType::F16) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(base) + i)));
  } else {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(base) + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
}

// Partial chunk of cnt < 8 elements, zero-filled.
template <WType T>
inline __m256 load8_part(const void* base, int64_t i, int64_t cnt) {
  alignas(32) float tmp[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t e = 0; e < cnt; ++e) {
    if constexpr (T == WType::F32) tmp[e] = static_cast<const float*>(base)[i + e];
    else if constexpr (T == WType::F16) tmp[e] = f16_to_f32(static_cast<const uint16_t*>(base)[i + e]);
    else tmp[e] = bf16_to_f32(static_cast<const uint16_t*>(base)[i + e]);
  }
  return _mm256_load_ps(tmp);
}

constexpr size_t elem_size(WType t) { return t == WType::F32 ? 4 : 2; }

template <WType T, int R, int N>
void float_tile(const void* w, int64_t K, int64_t k0, int64_t k1, const float* x, int64_t xs, float* y, int64_t ys,
                const float* bias, bool first) {
  __m256 acc[N][R];
  for (int t = 0; t < N; ++t)
    for (int r = 0; r < R; ++r) acc[t][r] = _mm256_setzero_ps();
  int64_t k = k0;
  for (; k + 8 <= k1; k += 8) {
    __m256 wv[R];
    for (int r = 0; r < R; ++r) wv[r] = load8<T>(w, r * K + k);
    for (int t = 0; t < N; ++t) {
      const __m256 xv = _mm256_loadu_ps(x + t * xs + k);
      for (int r = 0; r < R; ++r) acc[t][r] = _mm256_fmadd_ps(wv[r], xv, acc[t][r]);
    }
  }
  if (k < k1) {
    __m256 wv[R];
    for (int r = 0; r < R; ++r) wv[r] = load8_part<T>(w, r * K + k, k1 - k);
    for (int t = 0; t < N; ++t) {
      const __m256 xv = load8_part<WType::F32>(x, t * xs + k, k1 - k);
      for (int r = 0; r < R; ++r) acc[t][r] = _mm256_fmadd_ps(wv[r], xv, acc[t][r]);
    }
  }
  for (int t = 0; t < N; ++t)
    for (int r = 0; r < R; ++r) {
      const float s = hsum(acc[t][r]);
      float& out = y[t * ys + r];
      out = first ? (bias ? s + bias[r] : s) : out + s;
    }
}

using FloatTileFn = void (*)(const void*, int64_t, int64_t, int64_t, const float*, int64_t, float*, int64_t,
                             const float*, bool);
constexpr int kRows = 3, kToks = 4;

template <WType T, size_t... I>
constexpr std::array<FloatTileFn, sizeof...(I)> float_tiles(std::index_sequence<I...>) {
  return {&float_tile<T, static_cast<int>(I / kToks) + 1, static_cast<int>(I % kToks) + 1>...};
}

// Row-invariant: every output is one float_tile pass over the whole K (8 lanes, one accumulator,
// then hsum, then + bias), whatever n, so a token's row is the same alone or in any batch.
template <WType T>
void linear_float_t(const Weight& w, const float* bias, const float* x, int64_t n, float* y, int64_t r0, int64_t r1) {
  static constexpr auto tiles = float_tiles<T>(std::make_index_sequence<kRows * kToks>{});
  const int64_t K = w.cols, M = w.rows;
  const auto* wb = static_cast<const uint8_t*>(w.data);
  const size_t row_bytes = static_cast<size_t>(K) * elem_size(T);
  if (n == 1) {
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4)
      float_tile<T, 4, 1>(wb + r * row_bytes, K, 0, K, x, K, y + r, M, bias ? bias + r : nullptr, true);
    for (; r < r1; ++r) float_tile<T, 1, 1>(wb + r * row_bytes, K, 0, K, x, K, y + r, M, bias ? bias + r : nullptr, true);
    return;
  }
  constexpr int64_t kTokChunk = 48;
  for (int64_t t0 = 0; t0 < n; t0 += kTokChunk) {
    const int64_t t1 = std::min(n, t0 + kTokChunk);
    for (int64_t r = r0; r < r1; r += kRows) {
      const int rb = static_cast<int>(std::min<int64_t>(kRows, r1 - r));
      for (int64_t t = t0; t < t1; t += kToks) {
        const int nt = static_cast<int>(std::min<int64_t>(kToks, t1 - t));
        tiles[(rb - 1) * kToks + (nt - 1)](wb + r * row_bytes, K, 0, K, x + t * K, K, y + t * M + r, M,
                                           bias ? bias + r : nullptr, true);
      }
    }
  }
}

void linear_float(const Weight& w, const float* bias, const float* x, const float*, int64_t n, float* y, int64_t r0,
                  int64_t r1) {
  switch (w.type) {
    case WType::F32: return linear_float_t<WType::F32>(w, bias, x, n, y, r0, r1);
    case WType::F16: return linear_float_t<WType::F16>(w, bias, x, n, y, r0, r1);
    case WType::BF16: return linear_float_t<WType::BF16>(w, bias, x, n, y, r0, r1);
    default: break;
  }
}

// Bit-identical to qlayout::quantize_act_block.
void quantize_acts(const float* x, int64_t t0, int64_t t1, const qlayout::QActs& xa) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  for (int64_t t = t0; t < t1; ++t) {
    const float* xt = x + t * xa.cols;
    for (int64_t b = 0; b < xa.blocks; ++b) {
      const int64_t c0 = b * 32, cnt = std::min<int64_t>(32, xa.cols - c0);
      __m256 v[4];
      for (int i = 0; i < 4; ++i) {
        const int64_t rem = cnt - 8 * i;
        v[i] = rem >= 8 ? _mm256_loadu_ps(xt + c0 + 8 * i)
                        : rem > 0 ? load8_part<WType::F32>(xt, c0 + 8 * i, rem) : _mm256_setzero_ps();
      }
      __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v[0]), _mm256_andnot_ps(sign, v[1])),
                               _mm256_max_ps(_mm256_andnot_ps(sign, v[2]), _mm256_andnot_ps(sign, v[3])));
      __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
      h = _mm_max_ps(h, _mm_movehl_ps(h, h));
      h = _mm_max_ss(h, _mm_movehdup_ps(h));
      const float amax = _mm_cvtss_f32(h);
      const float d = amax / 127.0f;
      const float id = d != 0.0f ? 1.0f / d : 0.0f;
      const __m256 vid = _mm256_set1_ps(id);
      __m256i q[4];
      for (int i = 0; i < 4; ++i) q[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], vid));
      // Pack 32 int32 -> 32 int8 (saturating), then undo the lane interleave of the packs.
      const __m256i p01 = _mm256_packs_epi32(q[0], q[1]), p23 = _mm256_packs_epi32(q[2], q[3]);
      __m256i p = _mm256_packs_epi16(p01, p23);
      p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(xa.q + t * xa.padded + c0), p);
      xa.d[t * xa.blocks + b] = d;
      xa.sum[t * xa.blocks + b] =
          hsum_epi32(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
    }
  }
}

// One row group (16 rows = two 8-lane halves) x N tokens. Codes become signed levels q (Q8: xor
// 0x80; Q4: grid lookup) and vpmaddubsw (u8 x s8, saturating i16) gets |q| x (x * sign(q)), which
// cannot overflow (|q| <= 127).
template <WType T, int N>
void quant_tile(const uint8_t* w0, const qlayout::QActs& xa, int64_t t0, float* y, int64_t ys, int64_t row0,
                int64_t rows, const float* bias) {
  constexpr size_t kBB = T == WType::Q8 ? qlayout::kQ8BlockBytes : qlayout::kQ4BlockBytes;
  const int64_t nb = xa.blocks;
  __m256 accf[2][N];
  for (int hh = 0; hh < 2; ++hh)
    for (int t = 0; t < N; ++t) accf[hh][t] = _mm256_setzero_ps();
  const __m256i ones = _mm256_set1_epi16(1), nib = _mm256_set1_epi8(0x0F), off = _mm256_set1_epi8(static_cast<char>(0x80));
  // Q4 index -> signed grid level (vpshufb; the table repeated in both 128-bit lanes).
  const __m128i lut128 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qlayout::kQ4Grid));
  const __m256i lut = _mm256_broadcastsi128_si256(lut128);
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* blk = w0 + b * kBB;
    __m256i acc[2][N];
    for (int t = 0; t < N; ++t) {
      acc[0][t] = acc[1][t] = _mm256_setzero_si256();
    }
    // w_half: signed levels q (Q8 codes are turned back into q by the caller's xor).
    auto step = [&](const __m256i w_half[2], int64_t xoff) {
      for (int t = 0; t < N; ++t) {
        int32_t x4;
        std::memcpy(&x4, xa.q + (t0 + t) * xa.padded + b * 32 + xoff, 4);
        const __m256i xb = _mm256_set1_epi32(x4);
        for (int hh = 0; hh < 2; ++hh) {
          const __m256i sq = w_half[hh];
          const __m256i prod = _mm256_maddubs_epi16(_mm256_abs_epi8(sq), _mm256_sign_epi8(xb, sq));
          acc[hh][t] = _mm256_add_epi32(acc[hh][t], _mm256_madd_epi16(prod, ones));
        }
      }
    };
    if constexpr (T == WType::Q8) {
      for (int j = 0; j < 8; ++j) {
        const __m256i wv[2] = {
            _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 32 + 64 * j)), off),
            _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 32 + 64 * j + 32)), off)};
        step(wv, 4 * j);
      }
    } else {
      for (int v = 0; v < 4; ++v) {
        const __m256i r0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 32 + 64 * v));
        const __m256i r1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 32 + 64 * v + 32));
        const __m256i lo[2] = {_mm256_shuffle_epi8(lut, _mm256_and_si256(r0, nib)),
                               _mm256_shuffle_epi8(lut, _mm256_and_si256(r1, nib))};
        const __m256i hi[2] = {_mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(r0, 4), nib)),
                               _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(r1, 4), nib))};
        step(lo, 4 * v);
        step(hi, 16 + 4 * v);
      }
    }
    for (int hh = 0; hh < 2; ++hh) {
      const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 16 * hh)));
      for (int t = 0; t < N; ++t) {
        const __m256 dx = _mm256_set1_ps(xa.d[(t0 + t) * nb + b]);
        accf[hh][t] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc[hh][t]), dw), dx, accf[hh][t]);
      }
    }
  }
  for (int t = 0; t < N; ++t) {
    alignas(32) float out[16];
    _mm256_store_ps(out, accf[0][t]);
    _mm256_store_ps(out + 8, accf[1][t]);
    for (int64_t r = 0; r < 16 && row0 + r < rows; ++r)
      y[(t0 + t) * ys + row0 + r] = bias ? out[r] + bias[row0 + r] : out[r];
  }
}

using QuantTileFn = void (*)(const uint8_t*, const qlayout::QActs&, int64_t, float*, int64_t, int64_t, int64_t,
                             const float*);
constexpr int kQToks = 4;

template <WType T, size_t... I>
constexpr std::array<QuantTileFn, sizeof...(I)> quant_tiles(std::index_sequence<I...>) {
  return {&quant_tile<T, static_cast<int>(I) + 1>...};
}

template <WType T>
void linear_quant_t(const Weight& w, const float* bias, const qlayout::QActs& xa, float* y, int64_t g0, int64_t g1) {
  static constexpr auto tiles = quant_tiles<T>(std::make_index_sequence<kQToks>{});
  const size_t gbytes = qlayout::group_bytes(T, w.cols);
  const auto* wb = static_cast<const uint8_t*>(w.data);
  constexpr int64_t kTokChunk = 64;
  for (int64_t t0 = 0; t0 < xa.n; t0 += kTokChunk) {
    const int64_t t1 = std::min(xa.n, t0 + kTokChunk);
    for (int64_t g = g0; g < g1; ++g)
      for (int64_t t = t0; t < t1; t += kQToks) {
        const int nt = static_cast<int>(std::min<int64_t>(kQToks, t1 - t));
        tiles[nt - 1](wb + g * gbytes, xa, t, y, w.rows, g * 16, w.rows, bias);
      }
  }
}

void linear_quant(const Weight& w, const float* bias, const qlayout::QActs& xa, float* y, int64_t g0, int64_t g1) {
  if (w.type == WType::Q8) linear_quant_t<WType::Q8>(w, bias, xa, y, g0, g1);
  else linear_quant_t<WType::Q4>(w, bias, xa, y, g0, g1);
}

// One query's attention with 8-lane dot products; exp stays scalar (std::exp) on this level.
template <WType T>
void attention_t(const AttnArgs& a, int64_t n_keys, int64_t h0, int64_t h1, float* scores, float* out) {
  const int64_t hd = a.head_dim, group = a.n_heads / a.n_kv_heads;
  const int64_t full = hd / 8 * 8;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  for (int64_t h = h0; h < h1; ++h) {
    const int64_t kvoff = (h / group) * hd;
    const float* qh = a.q + h * hd;
    float mx = -INFINITY;
    for (int64_t j = 0; j < n_keys; ++j) {
      const uint8_t* krow = a.kv.k_row(j);
      __m256 s = _mm256_setzero_ps();
      for (int64_t c = 0; c < full; c += 8) s = _mm256_fmadd_ps(_mm256_loadu_ps(qh + c), load8<T>(krow, kvoff + c), s);
      if (full < hd) s = _mm256_fmadd_ps(load8_part<WType::F32>(qh, full, hd - full), load8_part<T>(krow, kvoff + full, hd - full), s);
      scores[j] = hsum(s) * scale;
      mx = std::max(mx, scores[j]);
    }
    float sum = 0.0f;
    for (int64_t j = 0; j < n_keys; ++j) sum += (scores[j] = std::exp(scores[j] - mx));
    float* oh = out + (h - h0) * hd;
    for (int64_t c = 0; c < hd; c += 8) {
      const int64_t cnt = std::min<int64_t>(8, hd - c);
      __m256 acc = _mm256_setzero_ps();
      for (int64_t j = 0; j < n_keys; ++j) {
        const uint8_t* vrow = a.kv.v_row(j);
        const __m256 vv = cnt == 8 ? load8<T>(vrow, kvoff + c) : load8_part<T>(vrow, kvoff + c, cnt);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(scores[j]), vv, acc);
      }
      alignas(32) float tmp[8];
      _mm256_store_ps(tmp, _mm256_mul_ps(acc, _mm256_set1_ps(1.0f / sum)));
      std::copy(tmp, tmp + cnt, oh + c);
    }
  }
}

void attention(const AttnArgs& a, int64_t n_keys, int64_t h0, int64_t h1, float* scratch, float* out) {
  switch (a.kv_type) {
    case WType::F32: return attention_t<WType::F32>(a, n_keys, h0, h1, scratch, out);
    case WType::F16: return attention_t<WType::F16>(a, n_keys, h0, h1, scratch, out);
    case WType::BF16: return attention_t<WType::BF16>(a, n_keys, h0, h1, scratch, out);
    default: return;
  }
}

void silu_mul(float* gate, const float* up, int64_t n) { reference::silu_mul(gate, up, n); }

}  // namespace

const Ops* avx2_ops() {
  static const Ops ops{"avx2",    &linear_float, nullptr,  &quantize_acts, &linear_quant, &attention,
                       &silu_mul, &reference::layer_norm, &reference::store_kv, nullptr, nullptr, nullptr};
  return &ops;
}

}  // namespace stablelm::kernels::simd
