// Scalar reference for the Q8/Q4 formats: weight quantization, dequantization, activation
// quantization and the quantized linear. The oracle the SIMD quantized kernels are tested
// against (layout in quant_layout.h / docs/FORMATS.md).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "kernels/cpu/quant_layout.h"

namespace stablelm::kernels::qlayout {

namespace {
// Round half to even for |v| < 2^22, the same result as std::nearbyint (and the SIMD
// cvtps2dq) in the default rounding mode, without a libm call per element on baseline x86-64.
inline float round_even(float v) {
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23
  return (v + kMagic) - kMagic;  // not reassociated: no -ffast-math
}
}  // namespace

void quantize_act_block(const float* x, int64_t count, int8_t* q, float* d, int32_t* sum) {
  float amax = 0.0f;
  for (int64_t i = 0; i < count; ++i) amax = std::max(amax, std::fabs(x[i]));
  const float dd = amax / 127.0f;
  const float id = dd != 0.0f ? 1.0f / dd : 0.0f;
  int32_t s = 0;
  for (int64_t i = 0; i < kBlock; ++i) {
    const float v = i < count ? round_even(std::clamp(x[i] * id, -127.0f, 127.0f)) : 0.0f;
    const int32_t qi = static_cast<int32_t>(v);
    q[i] = static_cast<int8_t>(qi);
    s += qi;
  }
  *d = dd;
  *sum = s;
}

namespace {

// Q4: 4-bit indices into a fixed non-uniform grid of int8 levels (kQ4Grid, denser near zero,
// like llama.cpp's IQ4_NL, because trained and random weights are bell-shaped), w ≈ d·grid[u].
// Scale candidates: the value of largest magnitude m on the grid's extreme (-127), on its other
// extreme (+113), and the least-squares refit Σw·g / Σg² of each; the one (rounded to f16 as
// stored) with the smallest squared error wins.
constexpr std::array<float, 15> kQ4Mid = [] {
  std::array<float, 15> m{};
  for (int k = 0; k < 15; ++k) m[static_cast<size_t>(k)] = 0.5f * static_cast<float>(kQ4Grid[k] + kQ4Grid[k + 1]);
  return m;
}();

float q4_error(const float* w, float d, uint8_t* u) {
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  float err = 0.0f;
  for (int i = 0; i < kBlock; ++i) {
    const float x = w[i] * id;
    // Count the midpoints of the sorted grid below x: branch-free (random weights would make a
    // binary search mispredict on every step).
    int lo = 0;
    for (int k = 0; k < 15; ++k) lo += x > kQ4Mid[k];
    u[i] = static_cast<uint8_t>(lo);
    const float e = w[i] - d * static_cast<float>(kQ4Grid[lo]);
    err += e * e;
  }
  return err;
}

float round_f16(float v) { return f16_to_f32(f32_to_f16(v)); }

float choose_q4_scale(const float* w) {
  float m = 0.0f;
  for (int i = 0; i < kBlock; ++i)
    if (std::fabs(w[i]) > std::fabs(m)) m = w[i];
  if (m == 0.0f) return 0.0f;
  uint8_t u[kBlock];
  float best_d = 0.0f, best = INFINITY;
  for (float div : {static_cast<float>(kQ4Grid[0]), static_cast<float>(kQ4Grid[15])}) {
    float d = round_f16(m / div);
    float err = q4_error(w, d, u);
    if (err < best) best = err, best_d = d;
    float wg = 0.0f, gg = 0.0f;
    for (int i = 0; i < kBlock; ++i) {
      const float g = static_cast<float>(kQ4Grid[u[i]]);
      wg += w[i] * g, gg += g * g;
    }
    if (gg > 0.0f) {
      d = round_f16(wg / gg);
      err = q4_error(w, d, u);
      if (err < best) best = err, best_d = d;
    }
  }
  return best_d;
}

}  // namespace

void quantize_group(WType t, const float* rows16, int64_t valid_rows, int64_t cols, uint8_t* dst) {
  const int64_t nb = n_blocks(cols);
  const size_t bb = block_bytes(t);
  std::memset(dst, 0, bb * static_cast<size_t>(nb));
  float w[kBlock];
  for (int64_t b = 0; b < nb; ++b) {
    uint8_t* blk = dst + bb * static_cast<size_t>(b);
    uint16_t* scales = reinterpret_cast<uint16_t*>(blk);
    uint8_t* data = blk + kScaleBytes;
    for (int64_t r = 0; r < kGroupRows; ++r) {
      for (int64_t i = 0; i < kBlock; ++i) {
        const int64_t c = b * kBlock + i;
        w[i] = (r < valid_rows && c < cols) ? rows16[r * cols + c] : 0.0f;
      }
      if (t == WType::Q8) {
        float amax = 0.0f;
        for (float v : w) amax = std::max(amax, std::fabs(v));
        const uint16_t dh = f32_to_f16(amax / 127.0f);
        const float d = f16_to_f32(dh);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        std::memcpy(&scales[r], &dh, 2);
        for (int64_t i = 0; i < kBlock; ++i) {
          const int q = static_cast<int>(round_even(std::clamp(w[i] * id, -127.0f, 127.0f)));
          data[(i / 4) * 64 + r * 4 + (i % 4)] = static_cast<uint8_t>(q + 128);
        }
      } else {
        const float d = choose_q4_scale(w);
        const uint16_t dh = f32_to_f16(d);
        std::memcpy(&scales[r], &dh, 2);
        uint8_t q[kBlock];
        q4_error(w, d, q);
        for (int64_t i = 0; i < kBlock; ++i) {
          const uint8_t u = q[i];
          const int64_t v = (i % 16) / 4, lane = i % 4;
          uint8_t& byte = data[v * 64 + r * 4 + lane];
          byte = static_cast<uint8_t>(i < 16 ? (byte & 0xF0) | u : (byte & 0x0F) | (u << 4));
        }
      }
    }
  }
}

// Integer code of column c (within its block) of row r (within its group): q with w = d * q.
static inline int code_at(WType t, const uint8_t* data, int64_t r, int64_t i) {
  if (t == WType::Q8) return static_cast<int>(data[(i / 4) * 64 + r * 4 + (i % 4)]) - 128;
  const uint8_t byte = data[((i % 16) / 4) * 64 + r * 4 + (i % 4)];
  return kQ4Grid[i < 16 ? (byte & 0x0F) : (byte >> 4)];
}

void dequantize_row(const Weight& w, int64_t row, float* out) {
  if (w.type != WType::Q8 && w.type != WType::Q4)
    throw std::logic_error(std::string("dequantize_row: not a quantized format: ") + wtype_name(w.type));
  const int64_t g = row / kGroupRows, r = row % kGroupRows;
  const uint8_t* grp = static_cast<const uint8_t*>(w.data) + group_bytes(w.type, w.cols) * static_cast<size_t>(g);
  const size_t bb = block_bytes(w.type);
  for (int64_t b = 0; b < n_blocks(w.cols); ++b) {
    const uint8_t* blk = grp + bb * static_cast<size_t>(b);
    uint16_t dh;
    std::memcpy(&dh, blk + 2 * r, 2);
    const float d = f16_to_f32(dh);
    for (int64_t i = 0; i < kBlock && b * kBlock + i < w.cols; ++i)
      out[b * kBlock + i] = d * static_cast<float>(code_at(w.type, blk + kScaleBytes, r, i));
  }
}

void reference_linear(const Weight& w, const float* bias, const float* x, int64_t n, float* y) {
  const int64_t nb = n_blocks(w.cols), padded = nb * kBlock;
  std::vector<int8_t> xq(static_cast<size_t>(n * padded));
  std::vector<float> xd(static_cast<size_t>(n * nb));
  std::vector<int32_t> xs(static_cast<size_t>(n * nb));
  for (int64_t t = 0; t < n; ++t)
    for (int64_t b = 0; b < nb; ++b)
      quantize_act_block(x + t * w.cols + b * kBlock, std::min<int64_t>(kBlock, w.cols - b * kBlock),
                         &xq[t * padded + b * kBlock], &xd[t * nb + b], &xs[t * nb + b]);
  const size_t bb = block_bytes(w.type);
  for (int64_t row = 0; row < w.rows; ++row) {
    const int64_t g = row / kGroupRows, r = row % kGroupRows;
    const uint8_t* grp = static_cast<const uint8_t*>(w.data) + group_bytes(w.type, w.cols) * static_cast<size_t>(g);
    for (int64_t t = 0; t < n; ++t) {
      float acc = 0.0f;
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* blk = grp + bb * static_cast<size_t>(b);
        uint16_t dh;
        std::memcpy(&dh, blk + 2 * r, 2);
        int32_t isum = 0;
        for (int64_t i = 0; i < kBlock; ++i)
          isum += code_at(w.type, blk + kScaleBytes, r, i) * xq[t * padded + b * kBlock + i];
        const float prod = static_cast<float>(isum) * f16_to_f32(dh);
        acc = std::fma(prod, xd[t * nb + b], acc);
      }
      y[t * w.rows + row] = bias ? acc + bias[row] : acc;
    }
  }
}

}  // namespace stablelm::kernels::qlayout
