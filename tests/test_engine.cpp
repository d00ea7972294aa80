// The batched engine (stablelm/engine.h): goldens through mixed batches, results that do not
// depend on the batch (bitwise: alone vs with other sequences, whole vs chunked prefill, prefix
// cache hit vs miss, fork vs fresh, thread counts, every KV format), the block pool (fork,
// copy-on-write, keys, LRU eviction, exhaustion, reuse after free) and bad batches.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <numeric>
#include <vector>

#include "golden_util.h"
#include "model/kv_pool.h"
#include "stablelm/engine.h"
#include "stablelm/model.h"

namespace stablelm::test {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kModels = fs::path(STABLELM_FIXTURES_DIR) / "models";

std::vector<fs::path> model_dirs() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(kModels))
    if (fs::exists(e.path() / "golden" / "logits.json")) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

const Model& model(const fs::path& dir, int threads = 2) {
  static std::map<std::pair<fs::path, int>, std::unique_ptr<Model>> cache;
  auto& m = cache[{dir, threads}];
  if (!m) {
    LoadOptions o;
    o.threads = threads;
    m = Model::load(dir, o);
  }
  return *m;
}

std::vector<std::vector<int32_t>> golden_prompts(const fs::path& dir) {
  std::vector<std::vector<int32_t>> out;
  const json g = load_json(dir / "golden" / "logits.json");
  for (const json& p : g["prompts"]) out.push_back(p["input_ids"].get<std::vector<int32_t>>());
  return out;
}

// Logits of every position of `ids` from one whole-prompt forward of a fresh Session.
std::vector<float> whole(const Model& m, std::span<const int32_t> ids, KVFormat kv = KVFormat::F32) {
  Session s(m, static_cast<int64_t>(ids.size()), kv);
  const auto l = s.forward(ids, true);
  return {l.begin(), l.end()};
}

void expect_rows_equal(std::span<const float> got, std::span<const float> want, int64_t V, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    if (got[i] != want[i]) FAIL() << what << ": row " << i / static_cast<size_t>(V) << " id " << i % static_cast<size_t>(V) << ": " << got[i] << " != " << want[i];
}

class EngineModels : public ::testing::TestWithParam<fs::path> {};

// Every golden prompt in one engine, prefilled in interleaved pieces of a few mixed batches;
// each position's logits match transformers' within the golden tolerance.
TEST_P(EngineModels, GoldensThroughMixedBatches) {
  const Model& m = model(GetParam());
  const int64_t V = m.config().vocab_size;
  const json g = load_json(GetParam() / "golden" / "logits.json");
  const double atol = load_json(GetParam() / "golden" / "meta.json")["tolerances"]["logits_atol"].get<double>();
  const auto probe_ids = g["probe_ids"].get<std::vector<int64_t>>();
  std::vector<std::vector<int32_t>> prompts;
  for (const json& p : g["prompts"]) prompts.push_back(p["input_ids"].get<std::vector<int32_t>>());
  EngineOptions o;
  o.kv_tokens = 2048;
  o.block_size = 8;
  Engine e(m, o);
  std::vector<SeqId> seqs;
  for (size_t i = 0; i < prompts.size(); ++i) seqs.push_back(e.create());
  std::vector<std::vector<float>> got(prompts.size());
  // Step k feeds each prompt its next (k + 1 + index) tokens, so pieces and positions differ.
  for (int step = 0;; ++step) {
    Batch b;
    std::vector<size_t> owner;
    for (size_t i = 0; i < prompts.size(); ++i) {
      const int64_t have = e.length(seqs[i]) + 0, n = std::min<int64_t>(step + 1 + static_cast<int64_t>(i),
                                                                       static_cast<int64_t>(prompts[i].size()) - have);
      for (int64_t t = 0; t < n; ++t) {
        b.add(prompts[i][static_cast<size_t>(have + t)], have + t, seqs[i], true);
        owner.push_back(i);
      }
    }
    if (b.empty()) break;
    const auto l = e.forward(b);
    for (size_t r = 0; r < owner.size(); ++r) got[owner[r]].insert(got[owner[r]].end(), l.begin() + static_cast<int64_t>(r) * V, l.begin() + static_cast<int64_t>(r + 1) * V);
  }
  for (size_t i = 0; i < prompts.size(); ++i) {
    const json& p = g["prompts"][i];
    for (size_t t = 0; t < prompts[i].size(); ++t) {
      const float* row = got[i].data() + t * static_cast<size_t>(V);
      for (size_t j = 0; j < probe_ids.size(); ++j)
        ASSERT_NEAR(row[probe_ids[j]], p["probe_logits"][t][j].get<double>(), atol) << "prompt " << i << " pos " << t;
      const json& kids = p["top_k_ids"][t];
      for (size_t j = 0; j < kids.size(); ++j)
        ASSERT_NEAR(row[kids[j].get<int64_t>()], p["top_k_logits"][t][j].get<double>(), atol) << "prompt " << i << " pos " << t;
    }
  }
}

// A sequence's logits are bitwise the same prefilled whole, in chunks, one token at a time, in
// a batch with other sequences at other depths, with another thread count, and for every KV format.
TEST_P(EngineModels, LogitsDoNotDependOnTheBatch) {
  const auto prompts = golden_prompts(GetParam());
  const Model& m = model(GetParam());
  const int64_t V = m.config().vocab_size;
  const std::vector<int32_t>& ids = prompts.back();  // the longest prompt
  const std::vector<int32_t>& other = prompts.front();
  const int64_t T = static_cast<int64_t>(ids.size());
  for (KVFormat kv : {KVFormat::F32, KVFormat::F16, KVFormat::BF16, KVFormat::Q8}) {
    const auto want = whole(m, ids, kv);
    SCOPED_TRACE("kv " + std::to_string(static_cast<int>(kv)));
    // Every chunking with the f32 cache; one for the others (their store and attention differ only
    // in the element type).
    std::vector<int64_t> chunks{7};
    if (kv == KVFormat::F32) chunks = sanitized() ? std::vector<int64_t>{3, 17} : std::vector<int64_t>{1, 3, 17};
    for (int64_t chunk : chunks) {
      EngineOptions o;
      o.kv = kv;
      o.kv_tokens = 4 * T + 64;
      o.block_size = chunk == 3 ? 4 : 16;
      Engine e(m, o);
      const SeqId s = e.create(), s2 = e.create(), s3 = e.create();
      std::vector<float> got;
      for (int64_t t0 = 0; t0 < T; t0 += chunk) {
        Batch b;
        // Other sequences before and after ours, at their own depths (one of them wants logits too).
        int64_t first = 0;
        if (e.length(s2) < static_cast<int64_t>(other.size())) {
          b.add(other[static_cast<size_t>(e.length(s2))], e.length(s2), s2, true);
          first = 1;
        }
        const int64_t n = std::min(T, t0 + chunk) - t0;
        for (int64_t t = t0; t < t0 + n; ++t) b.add(ids[static_cast<size_t>(t)], t, s, true);
        for (int64_t t = 0; t < 2 && e.length(s3) + t < T; ++t) b.add(ids[static_cast<size_t>(e.length(s3) + t)], e.length(s3) + t, s3, false);
        const auto l = e.forward(b);
        got.insert(got.end(), l.begin() + first * V, l.begin() + (first + n) * V);
      }
      expect_rows_equal(got, want, V, "chunks of " + std::to_string(chunk));
    }
  }
  // Another thread count.
  const auto want = whole(m, ids);
  expect_rows_equal(whole(model(GetParam(), 1), ids), want, V, "1 thread");
  expect_rows_equal(whole(model(GetParam(), 3), ids), want, V, "3 threads");
}

// A prompt whose first blocks come from the prefix cache gives the same bits as computing them.
TEST_P(EngineModels, PrefixCacheHitEqualsMiss) {
  const Model& m = model(GetParam());
  const int64_t V = m.config().vocab_size;
  const std::vector<int32_t> ids = golden_prompts(GetParam()).back();
  const int64_t T = static_cast<int64_t>(ids.size());
  const auto want = whole(m, ids);
  EngineOptions o;
  o.kv_tokens = 2 * T + 64;
  o.block_size = 8;
  Engine e(m, o);
  SeqId a = e.create();
  Batch b;
  for (int64_t t = 0; t < T; ++t) b.add(ids[static_cast<size_t>(t)], t, a, false);
  e.forward(b);
  e.release(a);  // its full blocks stay cached
  const SeqId s = e.create();
  const int64_t have = e.attach_prefix(s, ids);
  EXPECT_EQ(have, (T - 1) / 8 * 8);
  EXPECT_EQ(e.stats().prefix_hits, have);
  b.clear();
  for (int64_t t = have; t < T; ++t) b.add(ids[static_cast<size_t>(t)], t, s, true);
  const auto l = e.forward(b);
  expect_rows_equal(l, std::span<const float>(want).subspan(static_cast<size_t>(have * V)), V, "after a prefix-cache hit");
}

// fork() shares the blocks; the partial last block is copied before either sequence writes it,
// so both continue exactly as fresh sequences would.
TEST_P(EngineModels, ForkedSequencesEqualFreshOnes) {
  const Model& m = model(GetParam());
  const int64_t V = m.config().vocab_size;
  const std::vector<int32_t> ids = golden_prompts(GetParam()).back();
  const int64_t T = static_cast<int64_t>(ids.size()), cut = std::min<int64_t>(T - 2, 13);
  EngineOptions o;
  o.kv_tokens = 4 * T;
  o.block_size = 4;
  o.prefix_cache = false;
  Engine e(m, o);
  const SeqId a = e.create();
  Batch b;
  for (int64_t t = 0; t < cut; ++t) b.add(ids[static_cast<size_t>(t)], t, a, false);
  e.forward(b);
  const SeqId f = e.fork(a);
  EXPECT_EQ(e.length(f), cut);
  // a continues with the prompt, f with another token, in one batch.
  std::vector<int32_t> alt(ids.begin(), ids.begin() + cut);
  alt.push_back((ids[static_cast<size_t>(cut)] + 1) % static_cast<int32_t>(V));
  b.clear();
  b.add(ids[static_cast<size_t>(cut)], cut, a, true);
  b.add(alt.back(), cut, f, true);
  const auto l = e.forward(b);
  std::vector<int32_t> ida(ids.begin(), ids.begin() + cut + 1);
  const auto wa = whole(m, ida), wf = whole(m, alt);
  expect_rows_equal(l.subspan(0, static_cast<size_t>(V)), std::span<const float>(wa).subspan(static_cast<size_t>(cut * V)), V, "original");
  expect_rows_equal(l.subspan(static_cast<size_t>(V)), std::span<const float>(wf).subspan(static_cast<size_t>(cut * V)), V, "fork");
}

TEST_P(EngineModels, BadBatchesChangeNothing) {
  const Model& m = model(GetParam());
  EngineOptions o;
  o.kv_tokens = 32;
  o.block_size = 8;
  o.max_context = 24;
  Engine e(m, o);
  const SeqId s = e.create();
  Batch b;
  for (int t = 0; t < 5; ++t) b.add(1, t, s, false);
  e.forward(b);
  auto expect_error = [&](const Batch& bad, const char* needle) {
    try {
      e.forward(bad);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const Error& err) {
      EXPECT_NE(std::string(err.what()).find(needle), std::string::npos) << err.what();
    }
    EXPECT_EQ(e.length(s), 5);
  };
  Batch bad;
  bad.add(1, 7, s, true);
  expect_error(bad, "not its next position");
  bad.clear();
  bad.add(1, 5, 99, true);
  expect_error(bad, "unknown sequence");
  bad.clear();
  bad.add(static_cast<int32_t>(m.config().vocab_size), 5, s, true);
  expect_error(bad, "outside the vocabulary");
  bad.clear();
  for (int t = 5; t < 30; ++t) bad.add(1, t, s, false);
  expect_error(bad, "context overflow");
  bad.clear();
  expect_error(bad, "empty batch");
  // A full pool: 32 tokens = 4 blocks; s holds 1, a second sequence of 24 needs 3 more, a third cannot fit.
  const SeqId s2 = e.create();
  Batch fill;
  for (int t = 0; t < 24; ++t) fill.add(2, t, s2, false);
  e.forward(fill);
  const SeqId s3 = e.create();
  Batch more;
  for (int t = 0; t < 9; ++t) more.add(3, t, s3, true);
  EXPECT_THROW(e.forward(more), PoolExhausted);
  EXPECT_EQ(e.length(s3), 0);
  EXPECT_EQ(e.blocks_needed(more), 2);
  e.release(s2);  // frees (or caches, evictable) its blocks: now it fits
  EXPECT_NO_THROW(e.forward(more));
  EXPECT_EQ(e.length(s3), 9);
  EXPECT_EQ(e.length(s), 5);
}

INSTANTIATE_TEST_SUITE_P(Models, EngineModels, ::testing::ValuesIn(model_dirs()),
                         [](const auto& info) { return test_name(info.param); });

// ---- the block pool -------------------------------------------------------------------------

ModelConfig small_config() {
  ModelConfig c;
  c.hidden_size = 64;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 4;
  c.num_hidden_layers = 2;
  return c;
}

TEST(KVPool, AllocateFreeAndReuse) {
  KVPool p(small_config(), KVFormat::F16, 4, 8);
  EXPECT_EQ(p.available(), 4);
  std::vector<int32_t> got;
  for (int i = 0; i < 4; ++i) got.push_back(p.allocate());
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<int32_t>{0, 1, 2, 3}));
  EXPECT_EQ(p.available(), 0);
  EXPECT_THROW(p.allocate(), std::logic_error);
  p.incref(2);
  p.decref(2);
  EXPECT_EQ(p.available(), 0) << "still referenced once";
  p.decref(2);
  EXPECT_EQ(p.available(), 1);
  EXPECT_EQ(p.allocate(), 2) << "a freed block is reused";
}

TEST(KVPool, KeyedBlocksAreCachedThenEvictedLeastRecentlyUsedFirst) {
  KVPool p(small_config(), KVFormat::F32, 3, 4);
  const std::vector<int32_t> t1{1, 2, 3, 4}, t2{5, 6, 7, 8}, t3{9, 9, 9, 9};
  const uint64_t k1 = block_key(kNoParent, t1), k2 = block_key(k1, t2);
  const int32_t a = p.allocate(), b = p.allocate();
  p.key_block(a, k1, kNoParent, t1);
  p.key_block(b, k2, k1, t2);
  p.decref(a);
  p.decref(b);
  EXPECT_EQ(p.cached(), 2);
  EXPECT_EQ(p.available(), 3);
  // Found: revived with a reference (no longer evictable).
  EXPECT_EQ(p.find(k1, kNoParent, t1), a);
  EXPECT_EQ(p.cached(), 1);
  EXPECT_EQ(p.find(k2, kNoParent, t2), -1) << "the parent is part of the key's identity";
  EXPECT_EQ(p.find(block_key(k1, t3), k1, t3), -1);
  p.decref(a);  // a is now the most recently used
  const int32_t c = p.allocate();  // the free block first
  EXPECT_NE(c, a);
  EXPECT_NE(c, b);
  EXPECT_EQ(p.allocate(), b) << "then the least recently used cached block";
  EXPECT_EQ(p.find(k2, k1, t2), -1) << "an evicted block is no longer found";
  EXPECT_EQ(p.find(k1, kNoParent, t1), a);
}

TEST(KVPool, CopyRowsAndUnkey) {
  KVPool p(small_config(), KVFormat::F32, 2, 4);
  const int32_t a = p.allocate(), b = p.allocate();
  for (int64_t l = 0; l < 2; ++l)
    for (int64_t i = 0; i < p.row_bytes() * 4; ++i) {
      p.k_layer(l)[p.phys_row(a, 0) * p.row_bytes() + i] = static_cast<uint8_t>(i + l);
      p.v_layer(l)[p.phys_row(a, 0) * p.row_bytes() + i] = static_cast<uint8_t>(i * 3 + l);
    }
  p.copy_rows(a, b, 3);
  for (int64_t l = 0; l < 2; ++l)
    for (int64_t i = 0; i < p.row_bytes() * 3; ++i) {
      ASSERT_EQ(p.k_layer(l)[p.phys_row(b, 0) * p.row_bytes() + i], static_cast<uint8_t>(i + l));
      ASSERT_EQ(p.v_layer(l)[p.phys_row(b, 0) * p.row_bytes() + i], static_cast<uint8_t>(i * 3 + l));
    }
  const std::vector<int32_t> t{1, 2, 3, 4};
  p.key_block(a, block_key(kNoParent, t), kNoParent, t);
  EXPECT_TRUE(p.keyed(a));
  p.unkey(a);
  EXPECT_FALSE(p.keyed(a));
  p.decref(a);
  EXPECT_EQ(p.cached(), 0) << "an unkeyed block goes back to the free list";
  EXPECT_EQ(p.available(), 1);
}

TEST(KVPool, RejectsBadSizes) {
  EXPECT_THROW(KVPool(small_config(), KVFormat::F32, 4, 3), Error);
  EXPECT_THROW(KVPool(small_config(), KVFormat::F32, 0, 4), Error);
  EXPECT_THROW(KVPool(small_config(), KVFormat::F32, int64_t{1} << 30, 16), Error);
}

}  // namespace
}  // namespace stablelm::test
