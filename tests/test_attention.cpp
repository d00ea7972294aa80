// Attention and KV-cache stores at every ISA level against the scalar oracle, on the shapes that
// exercise the tiled prefill kernel's remainders: 1..40 queries (register tiles of 6, query blocks
// of 48), pos0 > 0 (keys beyond a 64-key panel), GQA, 2..34 heads, head_dim 7/16/20/64/80/96/160/256 (tails of
// the 16-lane vectors and of the 32-value Q8 blocks), and every KV cache format. Also the Q8 KV
// format: bit-identical stores, and a bound on its error against an fp32 cache.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/thread_pool.h"
#include "isa_test.h"
#include "kernels/kernels.h"

namespace k = stablelm::kernels;
using stablelm::ThreadPool;

namespace {

using stablelm::test::IsaTest;
using stablelm::test::isa_name;
using stablelm::test::randn;
using stablelm::test::sanitized;

// rows × (kv_heads · head_dim) fp32 values stored as cache format t by the oracle.
std::vector<uint8_t> encode(const std::vector<float>& v, int64_t rows, int64_t kv_heads, int64_t head_dim, k::WType t) {
  std::vector<uint8_t> out(static_cast<size_t>(rows * k::kv_row_bytes(t, kv_heads, head_dim)));
  k::reference::store_kv(v.data(), rows, kv_heads * head_dim, t, out.data(), head_dim);
  return out;
}

struct Shape {
  int64_t heads, kv_heads, head_dim;
};

TEST_P(IsaTest, AttentionMatchesReferenceOnOddShapes) {
  ThreadPool pool(2);
  uint32_t seed = 100;
  // 32 and 34 heads: decode handles heads in groups of 16 per thread (full and partial groups).
  const std::vector<Shape> shapes = {{4, 4, 16}, {8, 2, 64}, {3, 3, 80}, {4, 1, 96}, {6, 3, 20},
                                     {2, 2, 7},  {2, 1, 160}, {2, 2, 256}, {32, 8, 64}, {34, 34, 80}};
  const std::vector<int64_t> ns = sanitized() ? std::vector<int64_t>{1, 7, 40} : std::vector<int64_t>{1, 2, 5, 6, 7, 13, 40};
  const std::vector<int64_t> pos0s = sanitized() ? std::vector<int64_t>{0, 70} : std::vector<int64_t>{0, 3, 70};
  for (k::WType t : {k::WType::F32, k::WType::F16, k::WType::BF16, k::WType::Q8}) {
    for (const Shape& s : shapes) {
      for (int64_t pos0 : pos0s) {
        for (int64_t n : ns) {
          const int64_t ctx = pos0 + n, kvw = s.kv_heads * s.head_dim;
          auto q = randn(static_cast<size_t>(n * s.heads * s.head_dim), seed++, 1.5f);
          auto kf = randn(static_cast<size_t>(ctx * kvw), seed++, 1.5f);
          auto vf = randn(static_cast<size_t>(ctx * kvw), seed++);
          auto kb = encode(kf, ctx, s.kv_heads, s.head_dim, t), vb = encode(vf, ctx, s.kv_heads, s.head_dim, t);
          std::vector<float> want(q.size()), got(q.size()), got_mt(q.size());
          k::reference::attention(q.data(), n, pos0, s.heads, s.kv_heads, s.head_dim, kb.data(), vb.data(), t,
                                  want.data());
          k::attention(q.data(), n, pos0, s.heads, s.kv_heads, s.head_dim, kb.data(), vb.data(), t, got.data(),
                       nullptr);
          k::attention(q.data(), n, pos0, s.heads, s.kv_heads, s.head_dim, kb.data(), vb.data(), t, got_mt.data(),
                       &pool);
          for (size_t i = 0; i < want.size(); ++i) {
            ASSERT_NEAR(got[i], want[i], 3e-5f * (1 + std::fabs(want[i])))
                << k::wtype_name(t) << " heads=" << s.heads << "/" << s.kv_heads << " hd=" << s.head_dim
                << " pos0=" << pos0 << " n=" << n << " i=" << i;
            ASSERT_EQ(got_mt[i], got[i]) << "threads change the result";
          }
        }
      }
    }
  }
}

// A long prefill after a deep cache (several query blocks and K panels, the scratch of a
// 4000-token context would be the same code path at larger sizes).
TEST_P(IsaTest, AttentionLongPrefillAfterDepth) {
  ThreadPool pool(2);
  const Shape s{4, 2, 64};
  const int64_t pos0 = sanitized() ? 130 : 300, n = sanitized() ? 60 : 130;
  const int64_t ctx = pos0 + n, kvw = s.kv_heads * s.head_dim;
  for (k::WType t : {k::WType::F16, k::WType::Q8}) {
    auto q = randn(static_cast<size_t>(n * s.heads * s.head_dim), 1, 1.5f);
    auto kf = randn(static_cast<size_t>(ctx * kvw), 2, 1.5f), vf = randn(static_cast<size_t>(ctx * kvw), 3);
    auto kb = encode(kf, ctx, s.kv_heads, s.head_dim, t), vb = encode(vf, ctx, s.kv_heads, s.head_dim, t);
    std::vector<float> want(q.size()), got(q.size());
    k::reference::attention(q.data(), n, pos0, s.heads, s.kv_heads, s.head_dim, kb.data(), vb.data(), t, want.data());
    k::attention(q.data(), n, pos0, s.heads, s.kv_heads, s.head_dim, kb.data(), vb.data(), t, got.data(), &pool);
    for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 3e-5f * (1 + std::fabs(want[i]))) << i;
  }
}

// Decode deep in the cache, where AVX-512 splits the keys into ranges and combines their
// softmax-weighted partial sums (dispatch.cpp): against the oracle, and the same bits with 1, 2
// and 3 threads. pos0 510 (511 keys): the head split; 511 (512 keys): the first key split, 2
// ranges; 600: 2 ranges of unequal length; 4100: 16 ranges of unequal length.
TEST_P(IsaTest, AttentionDecodeAtDepthMatchesReferenceWithAnyThreads) {
  ThreadPool pool2(2), pool3(3);
  const std::vector<int64_t> depths = sanitized() ? std::vector<int64_t>{600} : std::vector<int64_t>{510, 511, 600, 4100};
  for (const Shape& s : std::vector<Shape>{{32, 8, 64}, {3, 3, 80}}) {
    for (int64_t pos0 : depths) {
      const int64_t ctx = pos0 + 1, kvw = s.kv_heads * s.head_dim;
      auto q = randn(static_cast<size_t>(s.heads * s.head_dim), 7, 1.5f);
      auto kf = randn(static_cast<size_t>(ctx * kvw), 8, 1.5f), vf = randn(static_cast<size_t>(ctx * kvw), 9);
      for (k::WType t : {k::WType::F32, k::WType::F16, k::WType::BF16, k::WType::Q8}) {
        auto kb = encode(kf, ctx, s.kv_heads, s.head_dim, t), vb = encode(vf, ctx, s.kv_heads, s.head_dim, t);
        std::vector<float> want(q.size()), got1(q.size()), got2(q.size()), got3(q.size());
        k::reference::attention(q.data(), 1, pos0, s.heads, s.kv_heads, s.head_dim, kb.data(), vb.data(), t, want.data());
        k::attention(q.data(), 1, pos0, s.heads, s.kv_heads, s.head_dim, kb.data(), vb.data(), t, got1.data(), nullptr);
        k::attention(q.data(), 1, pos0, s.heads, s.kv_heads, s.head_dim, kb.data(), vb.data(), t, got2.data(), &pool2);
        k::attention(q.data(), 1, pos0, s.heads, s.kv_heads, s.head_dim, kb.data(), vb.data(), t, got3.data(), &pool3);
        for (size_t i = 0; i < want.size(); ++i) {
          ASSERT_NEAR(got1[i], want[i], 3e-5f * (1 + std::fabs(want[i])))
              << k::wtype_name(t) << " heads=" << s.heads << " hd=" << s.head_dim << " pos0=" << pos0 << " i=" << i;
          ASSERT_EQ(got2[i], got1[i]) << "2 threads change the result, pos0=" << pos0;
          ASSERT_EQ(got3[i], got1[i]) << "3 threads change the result, pos0=" << pos0;
        }
      }
    }
  }
}

TEST_P(IsaTest, StoreKvQ8MatchesReferenceBitForBit) {
  for (const Shape& s : std::vector<Shape>{{1, 1, 7}, {1, 3, 20}, {1, 2, 32}, {1, 2, 33}, {1, 4, 64}, {1, 2, 80},
                                           {1, 1, 96}, {1, 2, 160}}) {
    const int64_t rows = 5, kvw = s.kv_heads * s.head_dim;
    auto v = randn(static_cast<size_t>(rows * kvw), static_cast<uint32_t>(kvw), 3.0f);
    std::fill(v.begin(), v.begin() + std::min<int64_t>(kvw, 32), 0.0f);  // an all-zero block: scale 0
    v[static_cast<size_t>(kvw)] = 1e-30f;                                 // a tiny one
    v[static_cast<size_t>(2 * kvw + 1)] = 6e4f;                           // an outlier
    const size_t bytes = static_cast<size_t>(rows * k::kv_row_bytes(k::WType::Q8, s.kv_heads, s.head_dim));
    std::vector<uint8_t> want(bytes), got(bytes, 0xAB);
    k::reference::store_kv(v.data(), rows, kvw, k::WType::Q8, want.data(), s.head_dim);
    k::store_kv(v.data(), rows, kvw, k::WType::Q8, got.data(), s.head_dim);
    ASSERT_EQ(got, want) << "kv_heads=" << s.kv_heads << " hd=" << s.head_dim;
  }
}

}  // namespace

INSTANTIATE_TEST_SUITE_P(Levels, IsaTest, ::testing::ValuesIn(k::supported_isas()), isa_name);

namespace {

// The Q8 layout and its rounding, checked by hand on one block.
TEST(KvQ8, LayoutAndRounding) {
  EXPECT_EQ(k::kv_row_bytes(k::WType::Q8, 2, 80), 160 + 4 * 2 * 3);
  EXPECT_EQ(k::kv_row_bytes(k::WType::F16, 2, 80), 320);
  EXPECT_EQ(k::kv_row_bytes(k::WType::F32, 2, 80), 640);
  std::vector<float> x(40, 0.0f);  // one head of 40: blocks of 32 and 8
  x[0] = 127.0f;
  x[1] = -63.5f;  // a tie: rounds to even (-64)
  x[2] = 0.4f;
  x[32] = -2.0f;
  x[33] = 1.0f;
  std::vector<uint8_t> row(static_cast<size_t>(k::kv_row_bytes(k::WType::Q8, 1, 40)));
  k::reference::store_kv(x.data(), 1, 40, k::WType::Q8, row.data(), 40);
  float d0, d1;
  std::memcpy(&d0, row.data() + 40, 4);
  std::memcpy(&d1, row.data() + 44, 4);
  EXPECT_EQ(d0, 1.0f);
  EXPECT_EQ(d1, 2.0f / 127.0f);
  EXPECT_EQ(static_cast<int8_t>(row[0]), 127);
  EXPECT_EQ(static_cast<int8_t>(row[1]), -64);
  EXPECT_EQ(static_cast<int8_t>(row[2]), 0);
  EXPECT_EQ(static_cast<int8_t>(row[32]), -127);
  EXPECT_EQ(static_cast<int8_t>(row[33]), 64);  // 1 / (2/127) = 63.5 -> 64 (even)
}

// Q8 KV against an fp32 cache on random data, at the best ISA level: the error of the output is
// bounded by the quantization step (absmax / 254 per value) propagated through the softmax.
TEST(KvQ8, ErrorAgainstF32CacheIsBounded) {
  ThreadPool pool(2);
  const Shape s{8, 2, 64};
  const int64_t pos0 = 100, n = 20, ctx = pos0 + n, kvw = s.kv_heads * s.head_dim;
  auto q = randn(static_cast<size_t>(n * s.heads * s.head_dim), 5, 1.0f);
  auto kf = randn(static_cast<size_t>(ctx * kvw), 6, 1.0f), vf = randn(static_cast<size_t>(ctx * kvw), 7);
  auto k32 = encode(kf, ctx, s.kv_heads, s.head_dim, k::WType::F32), v32 = encode(vf, ctx, s.kv_heads, s.head_dim, k::WType::F32);
  auto k8 = encode(kf, ctx, s.kv_heads, s.head_dim, k::WType::Q8), v8 = encode(vf, ctx, s.kv_heads, s.head_dim, k::WType::Q8);
  std::vector<float> want(q.size()), got(q.size());
  k::attention(q.data(), n, pos0, s.heads, s.kv_heads, s.head_dim, k32.data(), v32.data(), k::WType::F32, want.data(), &pool);
  k::attention(q.data(), n, pos0, s.heads, s.kv_heads, s.head_dim, k8.data(), v8.data(), k::WType::Q8, got.data(), &pool);
  double max_err = 0, sum_err = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double e = std::fabs(static_cast<double>(got[i]) - want[i]);
    max_err = std::max(max_err, e);
    sum_err += e;
  }
  const double mean_err = sum_err / static_cast<double>(want.size());
  // Values ~N(0,1): absmax of 32 ≈ 2.5, step ≈ 0.02; outputs are averages over ~100 keys.
  EXPECT_LT(max_err, 0.02) << "mean " << mean_err;
  EXPECT_LT(mean_err, 0.003) << "max " << max_err;
  RecordProperty("q8_kv_max_abs_err", std::to_string(max_err));
  RecordProperty("q8_kv_mean_abs_err", std::to_string(mean_err));
}

}  // namespace

namespace {

// The cache in blocks of 2^shift rows placed at shuffled physical blocks (as the engine's pool
// hands them out): every ISA level against the oracle on the contiguous cache, and each query
// bit-identical alone, in a batch with other queries of other sequences, and with 1-3 threads.
TEST_P(IsaTest, BlockTableAttentionMatchesReferenceAndIsBatchInvariant) {
  ThreadPool pool2(2), pool3(3);
  uint32_t seed = 900;
  const std::vector<Shape> shapes = {{4, 4, 16}, {8, 2, 64}, {34, 34, 80}, {2, 1, 20}};
  const std::vector<int64_t> ctxs = sanitized() ? std::vector<int64_t>{1, 37, 530} : std::vector<int64_t>{1, 37, 257, 530};
  for (k::WType t : {k::WType::F32, k::WType::F16, k::WType::BF16, k::WType::Q8}) {
    for (const Shape& s : shapes) {
      for (int shift : {0, 2, 4}) {
        for (int64_t ctx : ctxs) {
          const int64_t kvw = s.kv_heads * s.head_dim, B = int64_t{1} << shift, rb = k::kv_row_bytes(t, s.kv_heads, s.head_dim);
          const int64_t nblocks = (ctx + B - 1) / B, phys_blocks = nblocks + 3;
          auto kf = randn(static_cast<size_t>(ctx * kvw), seed++, 1.5f), vf = randn(static_cast<size_t>(ctx * kvw), seed++);
          auto kc = encode(kf, ctx, s.kv_heads, s.head_dim, t), vc = encode(vf, ctx, s.kv_heads, s.head_dim, t);
          // Blocks at shuffled places of a larger pool.
          std::vector<int32_t> table(static_cast<size_t>(phys_blocks));
          for (int32_t i = 0; i < phys_blocks; ++i) table[static_cast<size_t>(i)] = i;
          std::shuffle(table.begin(), table.end(), std::mt19937(seed++));
          table.resize(static_cast<size_t>(nblocks));
          std::vector<uint8_t> kp(static_cast<size_t>(phys_blocks * B * rb), 0xCD), vp(kp.size(), 0xCD);
          for (int64_t j = 0; j < ctx; ++j) {
            const int64_t phys = table[static_cast<size_t>(j / B)] * B + j % B;
            std::memcpy(kp.data() + phys * rb, kc.data() + j * rb, static_cast<size_t>(rb));
            std::memcpy(vp.data() + phys * rb, vc.data() + j * rb, static_cast<size_t>(rb));
          }
          const k::KVLayerView view{kp.data(), vp.data(), table.data(), shift};
          // Queries at the last and at a middle position.
          const int64_t qw = s.heads * s.head_dim;
          for (int64_t pos : {ctx - 1, ctx / 2}) {
            auto q = randn(static_cast<size_t>(qw), seed++, 1.5f);
            std::vector<float> want(static_cast<size_t>(qw)), alone(want.size()), alone3(want.size());
            k::reference::attention(q.data(), 1, pos, s.heads, s.kv_heads, s.head_dim, kc.data(), vc.data(), t, want.data());
            const k::AttnQuery one{q.data(), alone.data(), pos, &view};
            k::attention(&one, 1, s.heads, s.kv_heads, s.head_dim, t, &pool2);
            const k::AttnQuery one3{q.data(), alone3.data(), pos, &view};
            k::attention(&one3, 1, s.heads, s.kv_heads, s.head_dim, t, &pool3);
            // In a batch: other queries of the same sequence before and after it.
            std::vector<float> others(static_cast<size_t>(5 * qw)), outs(static_cast<size_t>(5 * qw));
            auto qo = randn(others.size(), seed++, 1.5f);
            std::vector<k::AttnQuery> batch;
            for (int64_t i = 0; i < 5; ++i) {
              const bool mine = i == 2;
              batch.push_back({mine ? q.data() : qo.data() + i * qw, outs.data() + i * qw, mine ? pos : (pos * i) / 5, &view});
            }
            k::attention(batch.data(), 5, s.heads, s.kv_heads, s.head_dim, t, nullptr);
            for (int64_t i = 0; i < qw; ++i) {
              const size_t u = static_cast<size_t>(i);
              ASSERT_NEAR(alone[u], want[u], 3e-5f * (1 + std::fabs(want[u])))
                  << k::wtype_name(t) << " heads=" << s.heads << "/" << s.kv_heads << " hd=" << s.head_dim
                  << " block=" << B << " ctx=" << ctx << " pos=" << pos << " i=" << i;
              ASSERT_EQ(alone3[u], alone[u]) << "threads change the result";
              ASSERT_EQ(outs[static_cast<size_t>(2 * qw + i)], alone[u]) << "the batch changes the result";
            }
          }
        }
      }
    }
  }
}

}  // namespace
