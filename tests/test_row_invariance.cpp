// Row invariance (the batched engine's contract, kernels.h): at every ISA level, for every weight
// format and precision and any thread count, row t of a kernel run over n rows is bit for bit
// the kernel run over row t alone. Then the same end to end: a prompt's last logits are the same
// whether the Session is fed the prompt whole or in chunks.
#include <gtest/gtest.h>

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/thread_pool.h"
#include "isa_test.h"
#include "kernels/cpu/simd.h"
#include "kernels/kernels.h"
#include "kernels/quant.h"
#include "stablelm/error.h"
#include "stablelm/model.h"
#include "testutil.h"

namespace k = stablelm::kernels;
using stablelm::ThreadPool;

namespace {

using stablelm::test::IsaTest;
using stablelm::test::isa_name;
using stablelm::test::randn;
using stablelm::test::sanitized;

// A weight format under test: the storage type, and matmul precision "medium" for BF16.
struct Format {
  k::WType type;
  bool bf16_acts;
  std::string name() const { return std::string(k::wtype_name(type)) + (bf16_acts ? "+bf16_acts" : ""); }
};
const Format kFormats[] = {{k::WType::F32, false}, {k::WType::F16, false}, {k::WType::BF16, false},
                           {k::WType::BF16, true}, {k::WType::Q8, false},  {k::WType::Q4, false}};

// Bitwise equality (memcmp, so that -0 != +0 and NaN payloads count), with the first mismatch.
void expect_same_bits(const float* got, const float* want, int64_t count, const std::string& what) {
  if (std::memcmp(got, want, static_cast<size_t>(count) * sizeof(float)) == 0) return;
  for (int64_t i = 0; i < count; ++i)
    if (std::memcmp(got + i, want + i, sizeof(float)) != 0) {
      ADD_FAILURE() << what << ": element " << i << " is " << got[i] << ", alone " << want[i];
      return;
    }
}

// A rows x cols matrix of these values (row-major) stored in format f.
k::OwnedWeight weight_of(const Format& f, int64_t rows, int64_t cols, const std::vector<float>& wf) {
  const k::Weight src{k::WType::F32, rows, cols, wf.data(), wf.size() * 4};
  k::OwnedWeight ow = k::convert_weight(src, f.type, nullptr);
  ow.view.bf16_acts = f.bf16_acts;
  return ow;
}

// A rows x cols matrix of random values stored in format f.
k::OwnedWeight random_weight(const Format& f, int64_t rows, int64_t cols, uint32_t seed) {
  return weight_of(f, rows, cols, randn(static_cast<size_t>(rows * cols), seed));
}

// Row t of linear(x[n]) == linear(x[t], 1) for n in a list covering every register-tile
// remainder, at 1, 2 and 3 threads; shapes with odd K and row counts off every tile size.
TEST_P(IsaTest, LinearRowsEqualSingleRowCalls) {
  struct Shape {
    int64_t rows, cols;
  };
  std::vector<Shape> shapes = {{37, 67}, {21, 520}, {1, 33}};
  if (!sanitized()) shapes.push_back({26, 1031});
  const int64_t ns[] = {1, 2, 3, 5, 7, 12, 13, 16, 17, 31, 33, 64, 100};
  ThreadPool pool2(2), pool3(3);
  ThreadPool* pools[] = {nullptr, &pool2, &pool3};
  uint32_t seed = 1;
  for (const Format& f : kFormats) {
    for (const Shape& s : shapes) {
      const k::OwnedWeight ow = random_weight(f, s.rows, s.cols, seed++);
      const k::Weight& w = ow.view;
      const auto bias = randn(static_cast<size_t>(s.rows), seed++);
      const int64_t max_n = 100;
      const auto x = randn(static_cast<size_t>(max_n * s.cols), seed++, 3.0f);
      // Every token alone, one thread: the values every other call must reproduce.
      std::vector<float> alone(static_cast<size_t>(max_n * s.rows));
      for (int64_t t = 0; t < max_n; ++t)
        k::linear(w, bias.data(), x.data() + t * s.cols, 1, alone.data() + t * s.rows, nullptr);
      std::vector<float> y(alone.size());
      for (ThreadPool* pool : pools) {
        for (int64_t n : ns) {
          // Start at an offset so that the batch is not always aligned with token 0.
          const int64_t t0 = n < max_n ? (n * 7) % (max_n - n) : 0;
          k::linear(w, bias.data(), x.data() + t0 * s.cols, n, y.data(), pool);
          const std::string what = f.name() + " rows=" + std::to_string(s.rows) + " cols=" +
                                   std::to_string(s.cols) + " n=" + std::to_string(n) + " threads=" +
                                   std::to_string(pool ? pool->size() : 1);
          expect_same_bits(y.data(), alone.data() + t0 * s.rows, n * s.rows, what);
          if (HasFailure()) return;
        }
        // Without a bias too (a separate epilogue branch).
        k::linear(w, nullptr, x.data(), 13, y.data(), pool);
        for (int64_t t = 0; t < 13; ++t) {
          std::vector<float> one(static_cast<size_t>(s.rows));
          k::linear(w, nullptr, x.data() + t * s.cols, 1, one.data(), nullptr);
          expect_same_bits(y.data() + t * s.rows, one.data(), s.rows, f.name() + " no bias t=" + std::to_string(t));
        }
        if (HasFailure()) return;
      }
    }
  }
}

// The decode reader (1 or 4 weight-row streams per thread, chosen by CPU) and the dynamic split of
// the rows among threads change only the order in which rows are read, never a row's sum: n = 1
// results are bitwise the same for both readers, 1 to 3 threads, and equal to the rows of a
// batched call. Matrices of more rows than one decode piece (~1 MiB), so the threads share them.
TEST_P(IsaTest, LinearDecodeIsTheSameWithOneOrFourStreams) {
  struct Shape {
    int64_t rows, cols;
  };
  const Shape shapes[] = {{37, 67}, {603, 2048}, {301, 1031}};
  ThreadPool pool2(2), pool3(3);
  ThreadPool* pools[] = {nullptr, &pool2, &pool3};
  uint32_t seed = 11;
  const int saved = stablelm::kernels::simd::decode_stream_count();
  for (const Format& f : kFormats) {
    if (f.type == k::WType::Q8 || f.type == k::WType::Q4) continue;  // their own decode reader
    for (const Shape& s : shapes) {
      const k::OwnedWeight ow = random_weight(f, s.rows, s.cols, seed++);
      const k::Weight& w = ow.view;
      const auto bias = randn(static_cast<size_t>(s.rows), seed++);
      const int64_t n = 5;
      const auto x = randn(static_cast<size_t>(n * s.cols), seed++, 3.0f);
      std::vector<float> batched(static_cast<size_t>(n * s.rows)), y(static_cast<size_t>(s.rows));
      k::linear(w, bias.data(), x.data(), n, batched.data(), &pool2);
      for (int streams : {1, 4}) {
        k::set_decode_streams(streams);
        for (ThreadPool* pool : pools)
          for (int64_t t = 0; t < n; ++t) {
            k::linear(w, bias.data(), x.data() + t * s.cols, 1, y.data(), pool);
            expect_same_bits(y.data(), batched.data() + t * s.rows, s.rows,
                             f.name() + " rows=" + std::to_string(s.rows) + " cols=" + std::to_string(s.cols) +
                                 " streams=" + std::to_string(streams) +
                                 " threads=" + std::to_string(pool ? pool->size() : 1) + " t=" + std::to_string(t));
          }
        if (HasFailure()) break;
      }
      k::set_decode_streams(saved);
      if (HasFailure()) return;
    }
  }
  EXPECT_THROW(k::set_decode_streams(2), stablelm::Error);
}

// Long rows and many tokens: the AVX-512 tiles cut the tokens into chunks by the size of their
// packed activations; rows on either side of a chunk edge keep their bits.
TEST_P(IsaTest, LinearRowsEqualAcrossTokenChunks) {
  if (sanitized()) GTEST_SKIP() << "large shapes; covered by the release run";
  const int64_t rows = 6, cols = 12001, n = 64;
  ThreadPool pool(2);
  uint32_t seed = 900;
  for (const Format& f : {Format{k::WType::F32, false}, Format{k::WType::BF16, false}, Format{k::WType::BF16, true}}) {
    const auto wf = randn(static_cast<size_t>(rows * cols), seed++);
    k::OwnedWeight ow = k::convert_weight(k::Weight{k::WType::F32, rows, cols, wf.data(), wf.size() * 4}, f.type, nullptr);
    k::Weight w = ow.view;
    w.bf16_acts = f.bf16_acts;
    const auto x = randn(static_cast<size_t>(n * cols), seed++);
    std::vector<float> y(static_cast<size_t>(n * rows)), one(static_cast<size_t>(rows));
    k::linear(w, nullptr, x.data(), n, y.data(), &pool);
    for (int64_t t = 0; t < n; ++t) {
      k::linear(w, nullptr, x.data() + t * cols, 1, one.data(), nullptr);
      expect_same_bits(y.data() + t * rows, one.data(), rows, f.name() + " t=" + std::to_string(t));
    }
  }
}

// The other row-wise kernels: row t of an n-row call equals the call on row t alone. (embed_row
// takes one row by construction.)
TEST_P(IsaTest, RowWiseKernelsRowsEqualSingleRowCalls) {
  const int64_t n = 13, dim = 67, heads = 3, head_dim = 24, rot = 10;
  const auto x = randn(static_cast<size_t>(n * dim), 51, 2.0f);
  const auto up = randn(static_cast<size_t>(n * dim), 52);
  const auto gain = randn(static_cast<size_t>(dim), 53), shift = randn(static_cast<size_t>(dim), 54);
  for (int64_t t = 0; t < n; ++t) {
    const std::string at = " row " + std::to_string(t);
    const float* xt = x.data() + t * dim;
    {  // layer_norm
      std::vector<float> all(x.size()), one(static_cast<size_t>(dim));
      k::layer_norm(x.data(), n, dim, gain.data(), shift.data(), 1e-5f, all.data());
      k::layer_norm(xt, 1, dim, gain.data(), shift.data(), 1e-5f, one.data());
      expect_same_bits(all.data() + t * dim, one.data(), dim, "layer_norm" + at);
    }
    {  // silu_mul and add over n rows of dim values (a flat call: lanes fall differently per row)
      std::vector<float> all = x, one(xt, xt + dim);
      k::silu_mul(all.data(), up.data(), n * dim);
      k::silu_mul(one.data(), up.data() + t * dim, dim);
      expect_same_bits(all.data() + t * dim, one.data(), dim, "silu_mul" + at);
      all = x, one.assign(xt, xt + dim);
      k::add(all.data(), up.data(), n * dim);
      k::add(one.data(), up.data() + t * dim, dim);
      expect_same_bits(all.data() + t * dim, one.data(), dim, "add" + at);
    }
    {  // rope on [n, heads, head_dim]
      const auto q = randn(static_cast<size_t>(n * heads * head_dim), 55);
      std::vector<int32_t> pos(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) pos[static_cast<size_t>(i)] = static_cast<int32_t>(3 * i + 1);
      std::vector<float> inv(static_cast<size_t>(rot / 2));
      for (size_t j = 0; j < inv.size(); ++j) inv[j] = 1.0f / static_cast<float>(j + 1);
      std::vector<float> all = q, one(q.begin() + t * heads * head_dim, q.begin() + (t + 1) * heads * head_dim);
      k::rope(all.data(), n, heads, head_dim, rot, pos.data(), inv.data());
      k::rope(one.data(), 1, heads, head_dim, rot, pos.data() + t, inv.data());
      expect_same_bits(all.data() + t * heads * head_dim, one.data(), heads * head_dim, "rope" + at);
    }
    for (k::WType kv : {k::WType::F32, k::WType::F16, k::WType::BF16, k::WType::Q8}) {  // store_kv
      const int64_t width = heads * head_dim, row_bytes = k::kv_row_bytes(kv, heads, head_dim);
      const auto v = randn(static_cast<size_t>(n * width), 56);
      std::vector<uint8_t> all(static_cast<size_t>(n * row_bytes)), one(static_cast<size_t>(row_bytes));
      k::store_kv(v.data(), n, width, kv, all.data(), head_dim);
      k::store_kv(v.data() + t * width, 1, width, kv, one.data(), head_dim);
      EXPECT_EQ(std::memcmp(all.data() + t * row_bytes, one.data(), one.size()), 0)
          << "store_kv " << k::wtype_name(kv) << at;
    }
  }
}

std::vector<std::string> levels() { return k::supported_isas(); }
INSTANTIATE_TEST_SUITE_P(Levels, IsaTest, ::testing::ValuesIn(levels()), isa_name);

// End to end through the Session (f32 KV cache): the last position's logits of a prompt fed
// whole equal those of the prompt fed in chunks of 3 and 5 and one token at a time, for the
// stored weights, Q8, Q4 and matmul precision medium, at every ISA level (attention runs one
// kernel per query whatever the call, so one token at a time is covered too).
class SessionRowInvariance : public IsaTest {};
TEST_P(SessionRowInvariance, ChunkedPromptGivesTheSameLastLogits) {
  const auto dir = stablelm::test::fixtures_dir() / "models" / "tiny-stablelm-2";
  struct Load {
    stablelm::WeightFormat weights;
    stablelm::MatmulPrecision matmul;
    const char* name;
  };
  for (const Load& l : {Load{stablelm::WeightFormat::Stored, stablelm::MatmulPrecision::Highest, "stored"},
                        Load{stablelm::WeightFormat::BF16, stablelm::MatmulPrecision::Medium, "bf16 medium"},
                        Load{stablelm::WeightFormat::Q8, stablelm::MatmulPrecision::Highest, "q8"},
                        Load{stablelm::WeightFormat::Q4, stablelm::MatmulPrecision::Highest, "q4"}}) {
    stablelm::LoadOptions opts;
    opts.weights = l.weights;
    opts.matmul = l.matmul;
    opts.threads = 2;
    if (sanitized() && l.weights != stablelm::WeightFormat::Stored) continue;  // the kernels are covered above
    auto m = stablelm::Model::load(dir, opts);
    const int64_t V = m->config().vocab_size;
    std::vector<int32_t> ids(17);
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>((i * 7919 + 11) % static_cast<size_t>(V));
    std::vector<float> whole;
    {
      stablelm::Session s(*m);
      const auto out = s.forward(ids);
      whole.assign(out.begin(), out.end());
    }
    ASSERT_EQ(whole.size(), static_cast<size_t>(V));
    for (size_t chunk : {size_t{3}, size_t{5}, size_t{1}}) {
      stablelm::Session s(*m);
      std::vector<float> last;
      for (size_t p = 0; p < ids.size(); p += chunk) {
        const auto out = s.forward(std::span<const int32_t>(ids).subspan(p, std::min(chunk, ids.size() - p)));
        last.assign(out.begin(), out.end());
      }
      expect_same_bits(last.data(), whole.data(), V, std::string(l.name) + " chunks of " + std::to_string(chunk));
    }
  }
}
INSTANTIATE_TEST_SUITE_P(Levels, SessionRowInvariance, ::testing::ValuesIn(levels()), isa_name);

}  // namespace

// Matmul precision "medium" prefill has two kernels for one arithmetic: vdpbf16ps, and the same
// pairs written as two fp32 FMAs (odd element first) under DAZ + FTZ, which Intel CPUs run faster
// (simd::medium_dot_fma). Their results must be bitwise equal, with values over a wide exponent
// range including bf16 denormals (inputs read as zero, results flushed), at every register-tile
// remainder and K tail, alone and threaded; and decode (always vdpbf16ps) must equal the batched
// rows either way.
TEST(MediumDot, FmaFormIsBitwiseVdpbf16ps) {
  const auto isas = k::supported_isas();
  if (std::find(isas.begin(), isas.end(), "avx512") == isas.end())
    GTEST_SKIP() << "this CPU has no AVX-512 BF16 (vdpbf16ps): the medium kernels do not run here";
  const std::string saved_isa = k::active_isa();
  k::set_isa("avx512");
  const bool saved_fma = stablelm::kernels::simd::medium_dot_fma();
  std::mt19937 rng(77);
  std::uniform_int_distribution<int> expo(-140, 20);
  auto wide = [&](size_t count, float scale) {
    std::vector<float> v = randn(count, static_cast<uint32_t>(rng()), scale);
    for (auto& x : v) x = std::ldexp(x, rng() % 4 == 0 ? expo(rng) : 0);  // a quarter far from 1, some denormal
    return v;
  };
  ThreadPool pool(3);
  struct Shape {
    int64_t rows, cols;
  };
  for (const Shape s : {Shape{5, 31}, Shape{13, 64}, Shape{37, 200}, Shape{9, 1031}}) {
    auto wf = wide(static_cast<size_t>(s.rows * s.cols), 1.0f);
    for (int64_t c = 0; c < s.cols; ++c) {
      wf[static_cast<size_t>(c)] = std::ldexp(wf[static_cast<size_t>(c)], -133);  // row 0: denormal weights (DAZ)
      wf[static_cast<size_t>(s.cols + c)] = std::ldexp(wf[static_cast<size_t>(s.cols + c)], -100);  // row 1: tiny
    }
    const k::OwnedWeight ow = weight_of(Format{k::WType::BF16, true}, s.rows, s.cols, wf);
    const auto bias = randn(static_cast<size_t>(s.rows), 5);
    for (int64_t n : {2, 3, 5, 6, 7, 12, 13, 40}) {
      auto x = wide(static_cast<size_t>(n * s.cols), 3.0f);
      for (int64_t c = 0; c < s.cols; ++c)  // token 0 x row 1: denormal products and sums (FTZ)
        x[static_cast<size_t>(c)] = std::ldexp(x[static_cast<size_t>(c)], -30);
      std::vector<float> dp(static_cast<size_t>(n * s.rows)), fma(dp.size()), one(static_cast<size_t>(s.rows));
      for (const float* b : {bias.data(), static_cast<const float*>(nullptr)}) {  // a bias would hide denormals
        k::set_medium_dot("dpbf16");
        k::linear(ow.view, b, x.data(), n, dp.data(), nullptr);
        for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
          k::set_medium_dot("fma");
          k::linear(ow.view, b, x.data(), n, fma.data(), p);
          expect_same_bits(fma.data(), dp.data(), n * s.rows,
                           "rows=" + std::to_string(s.rows) + " cols=" + std::to_string(s.cols) +
                               " n=" + std::to_string(n) + (b ? "" : " no bias"));
          k::linear(ow.view, b, x.data() + (n - 1) * s.cols, 1, one.data(), p);  // decode
          expect_same_bits(one.data(), dp.data() + (n - 1) * s.rows, s.rows, "decode, n=" + std::to_string(n));
        }
      }
      if (HasFailure()) break;
    }
  }
  EXPECT_EQ(_mm_getcsr() & 0x8040u, 0u) << "the FMA form must restore DAZ/FTZ";
  k::set_medium_dot(saved_fma ? "fma" : "dpbf16");
  k::set_isa(saved_isa.c_str());
  EXPECT_THROW(k::set_medium_dot("amx"), stablelm::Error);
}
