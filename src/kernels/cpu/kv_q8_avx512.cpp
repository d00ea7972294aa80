// AVX-512 store into the Q8 KV cache (layout in kernels.h: per row, int8 values then one fp32
// scale per 32-value block of each head). Bit-identical to reference::store_kv: the same fp32
// operations (absmax, /127, 1/d, x·(1/d), round to nearest even, clamp to ±127).
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/cpu/avx512_common.h"

namespace stablelm::kernels::simd::avx512 {

void store_kv_q8(const float* src, int64_t n, int64_t width, int64_t head_dim, void* dst) {
  const int64_t heads = width / head_dim, blocks = (head_dim + 31) / 32;
  const int64_t row_bytes = kv_row_bytes(WType::Q8, heads, head_dim);
  const __m512 sign = _mm512_set1_ps(-0.0f);
  const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
  for (int64_t r = 0; r < n; ++r) {
    const float* x = src + r * width;
    auto* q = static_cast<int8_t*>(dst) + r * row_bytes;
    auto* scales = reinterpret_cast<uint8_t*>(q) + width;
    for (int64_t h = 0; h < heads; ++h) {
      for (int64_t b = 0; b < blocks; ++b) {
        const int64_t i0 = h * head_dim + 32 * b, cnt = std::min<int64_t>(32, head_dim - 32 * b);
        const __mmask16 m0 = lanes(cnt), m1 = cnt > 16 ? lanes(cnt - 16) : __mmask16(0);
        const __m512 x0 = _mm512_maskz_loadu_ps(m0, x + i0), x1 = _mm512_maskz_loadu_ps(m1, x + i0 + 16);
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_andnot_ps(sign, x0), _mm512_andnot_ps(sign, x1)));
        const float d = amax / 127.0f;
        const __m512 id = _mm512_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
        const __m512i q0 = _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(x0, id)), lo), hi);
        const __m512i q1 = _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(x1, id)), lo), hi);
        _mm_mask_storeu_epi8(q + i0, m0, _mm512_cvtepi32_epi8(q0));
        _mm_mask_storeu_epi8(q + i0 + 16, m1, _mm512_cvtepi32_epi8(q1));
        std::memcpy(scales + 4 * (h * blocks + b), &d, 4);
      }
    }
  }
}

}  // namespace stablelm::kernels::simd::avx512
