#pragma once
// Helpers shared by the AVX-512 kernel files (*_avx512.cpp only: they need the ISA flags).
// GCC 12's AVX-512 headers use _mm512_undefined_*() inside reductions and conversions, which
// -Wuninitialized flags at -O3 (GCC bug 105593): silence it for these files only.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "kernels/cpu/simd.h"

namespace stablelm::kernels::simd::avx512 {

// Mask of the first n (<= 16) lanes.
inline __mmask16 lanes(int64_t n) { return n >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << n) - 1); }

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

// The kernels, one file per concept; avx512_ops() (elementwise_avx512.cpp) gathers them.
void linear_float(const Weight& w, const float* bias, const float* x, const float* xp, int64_t n, float* y,
                  int64_t r0, int64_t r1);
void pack_acts_f32(const float* x, int64_t n, int64_t K, int64_t tile0, int64_t tile1, float* xp);
void quantize_acts(const float* x, int64_t t0, int64_t t1, const qlayout::QActs& xa);
void linear_quant(const Weight& w, const float* bias, const qlayout::QActs& xa, float* y, int64_t g0, int64_t g1);
void attention(const AttnArgs& a, int64_t n_keys, int64_t h0, int64_t h1, float* scratch, float* out);
void pack_acts_bf16(const float* x, int64_t n, int64_t K, int64_t tile0, int64_t tile1, uint16_t* xp);
void linear_bf16(const Weight& w, const float* bias, const uint16_t* xp, int64_t n, float* y, int64_t r0, int64_t r1);

}  // namespace stablelm::kernels::simd::avx512
