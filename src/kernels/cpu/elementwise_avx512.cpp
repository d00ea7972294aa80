// AVX-512 elementwise kernels (SiLU * up, LayerNorm, KV stores) and the table of AVX-512 ops.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "kernels/cpu/avx512_common.h"

namespace stablelm::kernels::simd {
namespace {
using namespace avx512;

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

// Σ exp(x[i] - shift): fp32 exp (exp512, about 1 ulp) summed per lane in double, so a 100k-entry
// logits row costs tens of microseconds (a scalar double exp costs ~9 ns per entry).
double sum_exp(const float* x, int64_t n, float shift) {
  const __m512 sh = _mm512_set1_ps(shift);
  __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    // -inf entries (filtered tokens) add exactly 0, as std::exp does (exp512 clamps to ~1e-45).
    const __mmask16 live = _mm512_cmp_ps_mask(v, _mm512_set1_ps(-std::numeric_limits<float>::infinity()), _CMP_NEQ_OQ) & m;
    const __m512 e = _mm512_maskz_mov_ps(live, exp512(_mm512_sub_ps(v, sh)));
    lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
    hi = _mm512_add_pd(hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
  }
  return _mm512_reduce_add_pd(_mm512_add_pd(lo, hi));
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


}  // namespace

const Ops* avx512_ops() {
  static const Ops ops{"avx512",        &avx512::linear_float,   &avx512::pack_acts_f32, &avx512::quantize_acts,
                       &avx512::linear_quant, &avx512::attention,   &silu_mul,              &layer_norm,
                       &store_kv,             &avx512::pack_acts_bf16, &avx512::linear_bf16, &sum_exp};
  return &ops;
}

}  // namespace stablelm::kernels::simd
