// The Q8 KV cache (--kv q8) on every fixture model: next-token argmax at every position of the
// golden logits prompts (library, one prefill), and greedy continuations through the CLI, both
// against the f32 goldens. Q8 KV is lossy, so this asserts documented agreement bounds rather
// than exactness (measured values are recorded as test properties; README/FORMATS.md quote them).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "golden_util.h"
#include "stablelm/model.h"

namespace stablelm::test {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

std::string join(const std::vector<int32_t>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s;
}

class KvQ8Model : public ::testing::TestWithParam<fs::path> {};

// Every position's argmax agrees with the f32 golden except where the golden's top two logits
// are nearly tied; logits stay within a loose bound of the goldens.
TEST_P(KvQ8Model, ArgmaxAgreesWithF32Goldens) {
  auto m = Model::load(GetParam());
  const json g = load_json(GetParam() / "golden" / "logits.json");
  const int64_t V = m->config().vocab_size;
  int64_t agree = 0, total = 0;
  double max_diff = 0;
  for (const json& p : g["prompts"]) {
    const auto ids = p["input_ids"].get<std::vector<int32_t>>();
    if (sanitized() && ids.size() > 64) continue;
    Session s(*m, 0, KVFormat::Q8);
    const auto logits = s.forward(ids, true);
    const auto argmax = p["argmax"].get<std::vector<int64_t>>();
    for (size_t t = 0; t < ids.size(); ++t) {
      const float* row = logits.data() + static_cast<int64_t>(t) * V;
      agree += std::max_element(row, row + V) - row == argmax[t];
      ++total;
    }
    const auto pos = p["full_logits_positions"].get<std::vector<int64_t>>();
    for (size_t i = 0; i < pos.size(); ++i) {
      const auto want = p["full_logits"][i].get<std::vector<float>>();
      for (int64_t v = 0; v < V; ++v)
        max_diff = std::max(max_diff, std::fabs(static_cast<double>(logits[pos[i] * V + v]) - want[v]));
    }
  }
  const double rate = static_cast<double>(agree) / static_cast<double>(total);
  RecordProperty("argmax_agreement", std::to_string(agree) + "/" + std::to_string(total));
  RecordProperty("max_abs_logit_diff", std::to_string(max_diff));
  std::printf("%s: q8 KV argmax agreement %lld/%lld, max |logit diff| %.4f\n", GetParam().filename().c_str(),
              static_cast<long long>(agree), static_cast<long long>(total), max_diff);
  EXPECT_GE(rate, 0.95);
  EXPECT_LT(max_diff, 0.5);  // the goldens' own bound for reduced-precision compute (meta.json)
}

// Greedy generation through the CLI with --kv q8 (prefill then decode on the Q8 cache).
TEST_P(KvQ8Model, GreedyCliOutputCloseToF32Goldens) {
  const json g = load_json(GetParam() / "golden" / "generate.json");
  int64_t same = 0, total = 0, prefix_total = 0;
  for (const json& p : g["prompts"]) {
    const auto ids = p["input_ids"].get<std::vector<int32_t>>();
    if (sanitized() && ids.size() > 64) continue;
    const auto want = p["new_tokens_with_cache"].get<std::vector<int32_t>>();
    auto r = run_cli({"generate", "--model", GetParam().string(), "--ids", join(ids), "--max-new-tokens",
                      std::to_string(want.size()), "--greedy", "--print-ids", "--kv", "q8"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto got = json::parse(r.out)["ids"].get<std::vector<int32_t>>();
    size_t prefix = 0;
    while (prefix < std::min(got.size(), want.size()) && got[prefix] == want[prefix]) ++prefix;
    for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) same += got[i] == want[i];
    total += static_cast<int64_t>(want.size());
    prefix_total += static_cast<int64_t>(prefix);
    // The first new token comes from the prefill logits alone: it must match.
    ASSERT_FALSE(got.empty());
    EXPECT_EQ(got[0], want[0]) << p["name"];
  }
  RecordProperty("greedy_tokens_equal", std::to_string(same) + "/" + std::to_string(total));
  RecordProperty("greedy_common_prefix", std::to_string(prefix_total) + "/" + std::to_string(total));
  std::printf("%s: q8 KV greedy tokens equal %lld/%lld, common prefix %lld/%lld\n", GetParam().filename().c_str(),
              static_cast<long long>(same), static_cast<long long>(total), static_cast<long long>(prefix_total),
              static_cast<long long>(total));
  EXPECT_GE(static_cast<double>(prefix_total), 0.5 * static_cast<double>(total));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, KvQ8Model, ::testing::ValuesIn(fixture_models()),
                         [](const ::testing::TestParamInfo<fs::path>& i) { return test_name(i.param); });

TEST(KvQ8Cli, BadKvValueIsAUsageError) {
  const auto dir = fixture_models().front().string();
  for (const std::string cmd : {"generate", "logits"}) {
    auto r = run_cli({cmd, "--model", dir, "--ids", "1,2", "--kv", "q7"});
    EXPECT_NE(r.exit_code, 0) << cmd;
    EXPECT_NE(r.err.find("--kv"), std::string::npos) << cmd << ": " << r.err;
  }
  auto r = run_cli({"bench", "--model", dir, "-p", "4", "-n", "2", "--reps", "1", "--kv", "int8"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--kv"), std::string::npos) << r.err;
}

TEST(KvQ8Cli, BenchRunsWithQ8Cache) {
  const auto dir = fixture_models().front().string();
  auto r = run_cli({"bench", "--model", dir, "-p", "8", "-n", "4", "--reps", "1", "--depth", "0,16", "--kv", "q8",
                    "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"kv\":\"q8\""), std::string::npos) << r.out;
}

}  // namespace
}  // namespace stablelm::test
