// Scalar reference kernels: the oracle every SIMD kernel is tested against. Plain loops, fp32
// accumulation, no threads. Keep them obviously correct rather than fast.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "kernels/cpu/simd.h"
#include "kernels/kernels.h"
#include "kernels/quant.h"

namespace stablelm::kernels {

const char* wtype_name(WType t) {
  switch (t) {
    case WType::F32: return "f32";
    case WType::F16: return "f16";
    case WType::BF16: return "bf16";
    case WType::Q8: return "q8";
    case WType::Q4: return "q4";
  }
  return "?";
}

float bf16_to_f32(uint16_t v) {
  uint32_t bits = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t f32_to_bf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);  // quiet NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: value = mant * 2^-24
      float f = std::ldexp(static_cast<float>(mant), -24);
      std::memcpy(&bits, &f, 4);
      bits |= sign;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t f32_to_f16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return sign | 0x7e00u;            // NaN
  if (ax >= 0x477ff000u) return sign | 0x7c00u;           // overflow (incl. rounding up) -> inf
  if (ax < 0x38800000u) {                                 // subnormal or zero in f16
    float a;
    std::memcpy(&a, &ax, 4);
    const float scaled = a * 16777216.0f;                 // a / 2^-24, exact
    return sign | static_cast<uint16_t>(std::nearbyint(scaled));  // default rounding: nearest even
  }
  uint32_t r = ax + 0xfffu + ((ax >> 13) & 1u);           // round mantissa to 10 bits, ties to even
  return sign | static_cast<uint16_t>(((r >> 13) - (112u << 10)) & 0xffffu);
}

int64_t kv_row_bytes(WType t, int64_t n_kv_heads, int64_t head_dim) {
  const int64_t width = n_kv_heads * head_dim;
  switch (t) {
    case WType::F32: return 4 * width;
    case WType::Q8: return width + 4 * n_kv_heads * ((head_dim + 31) / 32);
    default: return 2 * width;
  }
}

namespace reference {

static float element(const Weight& w, int64_t i) {
  switch (w.type) {
    case WType::F32: return static_cast<const float*>(w.data)[i];
    case WType::F16: return f16_to_f32(static_cast<const uint16_t*>(w.data)[i]);
    case WType::BF16: return bf16_to_f32(static_cast<const uint16_t*>(w.data)[i]);
    default: break;
  }
  throw std::logic_error("element(): quantized weight");
}

void embed_row(const Weight& w, int64_t row, float* out) {
  if (w.type == WType::Q8 || w.type == WType::Q4) {
    dequantize_row(w, row, out);
    return;
  }
  for (int64_t c = 0; c < w.cols; ++c) out[c] = element(w, row * w.cols + c);
}

void linear(const Weight& w, const float* bias, const float* x, int64_t n, float* y) {
  std::vector<float> row(static_cast<size_t>(w.cols));
  for (int64_t r = 0; r < w.rows; ++r) {
    reference::embed_row(w, r, row.data());
    for (int64_t t = 0; t < n; ++t) {
      const float* xt = x + t * w.cols;
      float acc = 0.0f;
      for (int64_t c = 0; c < w.cols; ++c) acc += row[c] * xt[c];
      y[t * w.rows + r] = acc + (bias ? bias[r] : 0.0f);
    }
  }
}

void layer_norm(const float* x, int64_t n, int64_t dim, const float* weight, const float* bias, float eps,
                float* out) {
  for (int64_t t = 0; t < n; ++t) {
    const float* xt = x + t * dim;
    float* ot = out + t * dim;
    double mean = 0.0;
    for (int64_t i = 0; i < dim; ++i) mean += xt[i];
    mean /= static_cast<double>(dim);
    double var = 0.0;
    for (int64_t i = 0; i < dim; ++i) var += (xt[i] - mean) * (xt[i] - mean);
    var /= static_cast<double>(dim);
    const float inv = static_cast<float>(1.0 / std::sqrt(var + eps));
    const float m = static_cast<float>(mean);
    for (int64_t i = 0; i < dim; ++i) ot[i] = (xt[i] - m) * inv * weight[i] + (bias ? bias[i] : 0.0f);
  }
}

void rope(float* x, int64_t n, int64_t n_heads, int64_t head_dim, int64_t rot_dims, const int32_t* positions,
          const float* inv_freq) {
  const int64_t half = rot_dims / 2;
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t h = 0; h < n_heads; ++h) {
      float* v = x + (t * n_heads + h) * head_dim;
      for (int64_t j = 0; j < half; ++j) {
        // transformers computes the angle as float32 position * float32 inv_freq.
        const float a = static_cast<float>(positions[t]) * inv_freq[j];
        const float c = std::cos(a), s = std::sin(a);
        const float x0 = v[j], x1 = v[j + half];
        v[j] = x0 * c - x1 * s;
        v[j + half] = x1 * c + x0 * s;
      }
    }
  }
}

// Element d of kv head kvh in cache row j (row layout per format: kernels.h, kv_row_bytes).
static float kv_value(const void* base, WType t, int64_t j, int64_t n_kv_heads, int64_t head_dim, int64_t kvh,
                      int64_t d) {
  const int64_t i = j * n_kv_heads * head_dim + kvh * head_dim + d;
  switch (t) {
    case WType::F32: return static_cast<const float*>(base)[i];
    case WType::F16: return f16_to_f32(static_cast<const uint16_t*>(base)[i]);
    case WType::BF16: return bf16_to_f32(static_cast<const uint16_t*>(base)[i]);
    case WType::Q8: {
      const auto* row = static_cast<const uint8_t*>(base) + j * kv_row_bytes(t, n_kv_heads, head_dim);
      float scale;
      std::memcpy(&scale, row + n_kv_heads * head_dim + 4 * (kvh * ((head_dim + 31) / 32) + d / 32), 4);
      return static_cast<float>(static_cast<int8_t>(row[kvh * head_dim + d])) * scale;
    }
    default: break;
  }
  throw std::logic_error("attention: unsupported kv cache type");
}

void attention(const float* q, int64_t n, int64_t pos0, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim,
               const void* k, const void* v, WType kv_type, float* out) {
  const int64_t group = n_heads / n_kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  std::vector<float> scores(static_cast<size_t>(pos0 + n));
  for (int64_t t = 0; t < n; ++t) {
    const int64_t n_keys = pos0 + t + 1;  // causal: keys 0 .. own position
    for (int64_t h = 0; h < n_heads; ++h) {
      const float* qh = q + (t * n_heads + h) * head_dim;
      const int64_t kvh = h / group;
      float mx = -INFINITY;
      for (int64_t j = 0; j < n_keys; ++j) {
        float s = 0.0f;
        for (int64_t d = 0; d < head_dim; ++d) s += qh[d] * kv_value(k, kv_type, j, n_kv_heads, head_dim, kvh, d);
        scores[j] = s * scale;
        mx = std::max(mx, scores[j]);
      }
      float sum = 0.0f;
      for (int64_t j = 0; j < n_keys; ++j) {
        scores[j] = std::exp(scores[j] - mx);
        sum += scores[j];
      }
      float* oh = out + (t * n_heads + h) * head_dim;
      for (int64_t d = 0; d < head_dim; ++d) oh[d] = 0.0f;
      for (int64_t j = 0; j < n_keys; ++j) {
        const float p = scores[j] / sum;
        for (int64_t d = 0; d < head_dim; ++d) oh[d] += p * kv_value(v, kv_type, j, n_kv_heads, head_dim, kvh, d);
      }
    }
  }
}

}  // namespace reference

// The reference's arithmetic for one query over a block table (the scalar dispatch level).
void simd::scalar_attention(const simd::AttnArgs& a, int64_t n_keys, int64_t h0, int64_t h1, float* scores,
                            float* out) {
  const int64_t group = a.n_heads / a.n_kv_heads, hd = a.head_dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  for (int64_t h = h0; h < h1; ++h) {
    const float* qh = a.q + h * hd;
    const int64_t kvh = h / group;
    float mx = -INFINITY;
    for (int64_t j = 0; j < n_keys; ++j) {
      float s = 0.0f;
      for (int64_t d = 0; d < hd; ++d) s += qh[d] * reference::kv_value(a.kv.k_row(j), a.kv_type, 0, a.n_kv_heads, hd, kvh, d);
      scores[j] = s * scale;
      mx = std::max(mx, scores[j]);
    }
    float sum = 0.0f;
    for (int64_t j = 0; j < n_keys; ++j) {
      scores[j] = std::exp(scores[j] - mx);
      sum += scores[j];
    }
    float* oh = out + (h - h0) * hd;
    for (int64_t d = 0; d < hd; ++d) oh[d] = 0.0f;
    for (int64_t j = 0; j < n_keys; ++j) {
      const float p = scores[j] / sum;
      for (int64_t d = 0; d < hd; ++d) oh[d] += p * reference::kv_value(a.kv.v_row(j), a.kv_type, 0, a.n_kv_heads, hd, kvh, d);
    }
  }
}

namespace reference {

// Q8: per row and head, blocks of 32 values (the last one shorter when head_dim % 32 != 0):
// d = absmax / 127, q = round-to-nearest-even(x · (1/d)) clamped to ±127; d stored as fp32.
static void store_row_q8(const float* x, int64_t width, int64_t head_dim, uint8_t* row) {
  const int64_t heads = width / head_dim, blocks = (head_dim + 31) / 32;
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t i0 = h * head_dim + 32 * b, i1 = std::min(i0 + 32, (h + 1) * head_dim);
      float amax = 0.0f;
      for (int64_t i = i0; i < i1; ++i) amax = std::max(amax, std::fabs(x[i]));
      const float d = amax / 127.0f;
      const float id = d != 0.0f ? 1.0f / d : 0.0f;
      for (int64_t i = i0; i < i1; ++i) {
        const float r = std::nearbyint(x[i] * id);
        row[i] = static_cast<uint8_t>(static_cast<int8_t>(std::min(127.0f, std::max(-127.0f, r))));
      }
      std::memcpy(row + width + 4 * (h * blocks + b), &d, 4);
    }
  }
}

void store_kv(const float* src, int64_t n, int64_t width, WType t, void* dst, int64_t head_dim) {
  const int64_t count = n * width;
  switch (t) {
    case WType::F32: std::memcpy(dst, src, static_cast<size_t>(count) * 4); return;
    case WType::F16:
      for (int64_t i = 0; i < count; ++i) static_cast<uint16_t*>(dst)[i] = f32_to_f16(src[i]);
      return;
    case WType::BF16:
      for (int64_t i = 0; i < count; ++i) static_cast<uint16_t*>(dst)[i] = f32_to_bf16(src[i]);
      return;
    case WType::Q8: {
      const int64_t hd = head_dim > 0 ? head_dim : width;
      if (width % hd != 0) throw std::logic_error("store_kv: width is not a multiple of head_dim");
      const int64_t rb = kv_row_bytes(t, width / hd, hd);
      for (int64_t r = 0; r < n; ++r) store_row_q8(src + r * width, width, hd, static_cast<uint8_t*>(dst) + r * rb);
      return;
    }
    default: break;
  }
  throw std::logic_error("store_kv: unsupported kv cache type");
}

void store_kv(const float* src, int64_t n, int64_t width, WType t, void* dst) { reference::store_kv(src, n, width, t, dst, int64_t{0}); }

double sum_exp(const float* x, int64_t n, float shift) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(std::exp(x[i] - shift));
  return s;
}

void silu_mul(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    gate[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void add(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

}  // namespace reference
}  // namespace stablelm::kernels
