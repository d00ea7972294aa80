// The decode loop (stablelm::generate) over a real Session on the fixture models.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "stablelm/error.h"
#include "stablelm/generate.h"
#include "stablelm/model.h"
#include "stablelm/tokenizer.h"
#include "testutil.h"

using namespace stablelm;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {
struct Golden {
  std::vector<int32_t> prompt, want;
};
Golden golden(const fs::path& dir, size_t i = 0) {
  const json g = json::parse(test::read_file(dir / "golden" / "generate.json"));
  return {g["prompts"][i]["input_ids"].get<std::vector<int32_t>>(),
          g["prompts"][i]["new_tokens_with_cache"].get<std::vector<int32_t>>()};
}
fs::path micro() { return test::fixtures_dir() / "models" / "micro-v2-f32"; }
fs::path tiny() { return test::fixtures_dir() / "models" / "tiny-stablelm-2"; }
}  // namespace

TEST(GenerateLoop, GreedyMatchesGoldenAndCountsSteps) {
  auto model = Model::load(micro());
  const Golden g = golden(micro());
  Session s(*model);
  GenerationConfig cfg = GenerationConfig::for_model(micro(), model->config());
  cfg.max_new_tokens = static_cast<int64_t>(g.want.size());
  cfg.eos_token_ids.clear();
  std::vector<int32_t> streamed;
  GenerateOptions opts;
  opts.on_token = [&](int32_t id) {
    streamed.push_back(id);
    return true;
  };
  const auto r = generate(s, g.prompt, cfg, opts);
  EXPECT_EQ(r.ids, g.want);
  EXPECT_EQ(streamed, g.want);
  EXPECT_EQ(r.stop, StopReason::MaxNewTokens);
  EXPECT_EQ(r.prompt_tokens, static_cast<int64_t>(g.prompt.size()));
  EXPECT_EQ(r.decode_steps, static_cast<int64_t>(g.want.size()) - 1);
  EXPECT_GE(r.prefill_seconds, 0.0);
  EXPECT_GE(r.decode_seconds, 0.0);
  // The session can be reused: a second run starts again from position 0.
  const auto again = generate(s, g.prompt, cfg);
  EXPECT_EQ(again.ids, g.want);
}

TEST(GenerateLoop, CallbackAndEosStop) {
  auto model = Model::load(micro());
  const Golden g = golden(micro());
  Session s(*model);
  GenerationConfig cfg;
  cfg.max_new_tokens = 32;
  GenerateOptions opts;
  opts.on_token = [](int32_t) { return false; };
  auto r = generate(s, g.prompt, cfg, opts);
  EXPECT_EQ(r.ids.size(), 1u);
  EXPECT_EQ(r.stop, StopReason::Callback);
  cfg.eos_token_ids = {g.want[2]};
  r = generate(s, g.prompt, cfg);
  EXPECT_EQ(r.ids, std::vector<int32_t>(g.want.begin(), g.want.begin() + 3));
  EXPECT_EQ(r.stop, StopReason::Eos);
}

TEST(GenerateLoop, SamplingIsReproducibleForASeed) {
  auto model = Model::load(micro());
  const Golden g = golden(micro());
  Session s(*model);
  GenerationConfig cfg;
  cfg.do_sample = true;
  cfg.temperature = 1.3f;
  cfg.top_k = 0;
  cfg.max_new_tokens = 24;
  GenerateOptions o1, o2;
  o1.seed = o2.seed = 11;
  const auto a = generate(s, g.prompt, cfg, o1);
  const auto b = generate(s, g.prompt, cfg, o2);
  EXPECT_EQ(a.ids, b.ids);
  o2.seed = 12;
  EXPECT_NE(generate(s, g.prompt, cfg, o2).ids, a.ids);
}

TEST(GenerateLoop, StopStringOnTokenBytes) {
  auto model = Model::load(tiny());
  auto tok = Tokenizer::from_dir(tiny());
  const Golden g = golden(tiny());
  Session s(*model);
  GenerationConfig cfg;
  cfg.max_new_tokens = 32;
  cfg.eos_token_ids.clear();
  // The bytes of golden tokens 5 and 6 together: completed at token 6.
  cfg.stop_strings = {tok->token_bytes(g.want[5]) + tok->token_bytes(g.want[6])};
  GenerateOptions opts;
  opts.tokenizer = tok.get();
  const auto r = generate(s, g.prompt, cfg, opts);
  EXPECT_EQ(r.stop, StopReason::StopString);
  EXPECT_EQ(r.stop_string_index, 0);
  EXPECT_LE(r.ids.size(), 7u);
  EXPECT_EQ(r.ids, std::vector<int32_t>(g.want.begin(), g.want.begin() + static_cast<std::ptrdiff_t>(r.ids.size())));
}

TEST(GenerateLoop, BadInputIsAnError) {
  auto model = Model::load(micro());
  Session s(*model, 16);
  GenerationConfig cfg;
  cfg.max_new_tokens = 10;
  std::vector<int32_t> empty, ten(10, 1);
  EXPECT_THROW(generate(s, empty, cfg), Error);
  EXPECT_THROW(generate(s, ten, cfg), Error);  // 10 + 10 > 16
  std::vector<int32_t> two = {1, 2};
  cfg.stop_strings = {"x"};
  EXPECT_THROW(generate(s, two, cfg), Error);  // stop strings without a tokenizer
  cfg.stop_strings.clear();
  cfg.top_p = 2.0;
  EXPECT_THROW(generate(s, two, cfg), Error);
}

// The request rules shared by the CLI and the server (stablelm/generate.h).
TEST(RequestRules, SamplingOptionsImplySamplingGreedyForcesArgmax) {
  GenerationConfig base;
  SamplingRequest r;
  EXPECT_FALSE(apply_sampling(base, r).do_sample);
  r.top_p = 0.9;
  EXPECT_TRUE(apply_sampling(base, r).do_sample);
  r = {};
  r.temperature = 0.0f;
  EXPECT_FALSE(apply_sampling(base, r).do_sample);
  r.do_sample = true;
  EXPECT_THROW(apply_sampling(base, r), Error);
  r = {};
  r.greedy = true;
  r.top_k = 5;
  EXPECT_THROW(apply_sampling(base, r), Error);
  r = {};
  r.temperature = -1.0f;
  EXPECT_THROW(apply_sampling(base, r), Error);
}

TEST(RequestRules, EmptyPromptStartsFromBosAndPromptsAreFitted) {
  GenerationConfig cfg;
  std::vector<int32_t> p;
  EXPECT_THROW(start_prompt(p, cfg, 100), Error);  // no bos_token_id
  cfg.bos_token_id = 7;
  start_prompt(p, cfg, 100);
  EXPECT_EQ(p, std::vector<int32_t>{7});
  std::vector<int32_t> bad{1, 100};
  EXPECT_THROW(start_prompt(bad, cfg, 100), Error);
  cfg.max_new_tokens = 4;
  std::vector<int32_t> longp(10, 1);
  EXPECT_THROW(fit_prompt(longp, cfg, 12, false), Error);
  const PromptFit fit = fit_prompt(longp, cfg, 12, true);
  EXPECT_EQ(fit.dropped, 2);
  EXPECT_EQ(fit.budget, 4);
  EXPECT_EQ(longp.size(), 8u);
  cfg.max_new_tokens = 12;
  EXPECT_THROW(fit_prompt(longp, cfg, 12, true), Error);  // the budget alone fills the context
}
