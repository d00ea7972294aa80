// Q8/Q4 formats: sizes, quantize -> dequantize error bounds, Q4 accuracy against the plain
// Q4_0 rule (uniform codes, scale = value of largest magnitude / -8), and conversions.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/quant_layout.h"
#include "kernels/kernels.h"
#include "kernels/quant.h"

namespace k = stablelm::kernels;

namespace {
std::vector<float> randn(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 0.02f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

std::vector<float> dequantize(const k::OwnedWeight& q) {
  std::vector<float> out(static_cast<size_t>(q.view.rows * q.view.cols));
  for (int64_t r = 0; r < q.view.rows; ++r) k::dequantize_row(q.view, r, out.data() + r * q.view.cols);
  return out;
}
}  // namespace

TEST(Quant, WeightBytes) {
  // 16-row groups x 32-column blocks, 32 bytes of f16 scales per block: 8.5 and 4.5 bits/weight.
  EXPECT_EQ(k::weight_bytes(k::WType::Q8, 2048, 2048), 2048u * 2048u * 17u / 16u);
  EXPECT_EQ(k::weight_bytes(k::WType::Q4, 2048, 2048), 2048u * 2048u * 9u / 16u);
  EXPECT_EQ(k::weight_bytes(k::WType::Q8, 17, 33), 2u * 2u * 544u);
  EXPECT_EQ(k::weight_bytes(k::WType::Q4, 1, 1), 288u);
  EXPECT_EQ(k::weight_bytes(k::WType::BF16, 3, 5), 30u);
}

TEST(Quant, RoundTripErrorBounds) {
  for (int64_t rows : {1, 16, 19})
    for (int64_t cols : {1, 32, 45, 256}) {
      auto w = randn(static_cast<size_t>(rows * cols), static_cast<uint32_t>(rows * 1000 + cols));
      k::Weight src{k::WType::F32, rows, cols, w.data(), w.size() * 4};
      for (k::WType t : {k::WType::Q8, k::WType::Q4}) {
        const auto q = k::convert_weight(src, t);
        const auto d = dequantize(q);
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t b = 0; b * 32 < cols; ++b) {
            float amax = 0;
            for (int64_t c = b * 32; c < std::min<int64_t>(cols, b * 32 + 32); ++c) amax = std::max(amax, std::fabs(w[r * cols + c]));
            // Q8: half a step of amax/127 (plus the f16 rounding of the scale). Q4: half the
            // widest gap of the 16-level grid (23 of 127 levels) of a scale near amax/127, with
            // room for the least-squares scale: at most amax/7.
            const float bound = t == k::WType::Q8 ? amax / 127.0f * 0.502f + 1e-7f : amax / 7.0f * 1.01f + 1e-7f;
            for (int64_t c = b * 32; c < std::min<int64_t>(cols, b * 32 + 32); ++c)
              ASSERT_LE(std::fabs(d[r * cols + c] - w[r * cols + c]), bound)
                  << k::wtype_name(t) << " rows=" << rows << " cols=" << cols << " r=" << r << " c=" << c;
          }
      }
    }
}

TEST(Quant, Q4AtLeastAsAccurateAsQ4_0Rule) {
  const int64_t rows = 64, cols = 512;
  auto w = randn(static_cast<size_t>(rows * cols), 42);
  k::Weight src{k::WType::F32, rows, cols, w.data(), w.size() * 4};
  const auto d = dequantize(k::convert_weight(src, k::WType::Q4));
  double ours = 0, q4_0 = 0;
  for (int64_t i = 0; i < rows * cols; i += 32) {
    float m = 0;
    for (int64_t j = i; j < i + 32; ++j)
      if (std::fabs(w[j]) > std::fabs(m)) m = w[j];
    const float s = k::f16_to_f32(k::f32_to_f16(m / -8.0f));
    for (int64_t j = i; j < i + 32; ++j) {
      const float qv = s != 0 ? std::clamp(std::nearbyint(w[j] / s), -8.0f, 7.0f) : 0.0f;
      q4_0 += std::pow(w[j] - s * qv, 2);
      ours += std::pow(w[j] - d[j], 2);
    }
  }
  EXPECT_LT(ours, q4_0 * 0.95) << "ours " << ours << " q4_0 " << q4_0;
}

TEST(Quant, ConvertsBetweenFormats) {
  const int64_t rows = 20, cols = 70;
  auto w = randn(static_cast<size_t>(rows * cols), 5);
  k::Weight src{k::WType::F32, rows, cols, w.data(), w.size() * 4};
  const auto q8 = k::convert_weight(src, k::WType::Q8);
  // Q8 -> F32 is dequantization; Q8 -> Q8 re-encodes the same codes.
  const auto back = k::convert_weight(q8.view, k::WType::F32);
  const auto d = dequantize(q8);
  EXPECT_EQ(0, std::memcmp(back.view.data, d.data(), d.size() * 4));
  const auto again = k::convert_weight(back.view, k::WType::Q8);
  EXPECT_EQ(0, std::memcmp(again.view.data, q8.view.data, q8.view.bytes));
  std::vector<float> row(static_cast<size_t>(cols));
  EXPECT_THROW(k::dequantize_row(src, 0, row.data()), std::logic_error);
  // Zero blocks quantize to zero scales and decode to exact zeros.
  std::vector<float> z(static_cast<size_t>(rows * cols), 0.0f);
  k::Weight zsrc{k::WType::F32, rows, cols, z.data(), z.size() * 4};
  for (k::WType t : {k::WType::Q8, k::WType::Q4})
    for (float v : dequantize(k::convert_weight(zsrc, t))) ASSERT_EQ(v, 0.0f);
}
