// GenerationConfig loading/validation and the stop-string matcher.
#include <gtest/gtest.h>

#include "stablelm/error.h"
#include "stablelm/generate.h"
#include "testutil.h"

using namespace stablelm;
namespace fs = std::filesystem;

namespace {
GenerationConfig load_json(const std::string& text) {
  fs::path d = test::temp_dir("gencfg");
  test::write_file(d / "generation_config.json", text);
  return GenerationConfig::load(d / "generation_config.json");
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(GenerationConfig, TransformersDefaults) {
  GenerationConfig g;
  EXPECT_FALSE(g.do_sample);
  EXPECT_EQ(g.temperature, 1.0f);
  EXPECT_EQ(g.top_k, 50);
  EXPECT_EQ(g.top_p, 1.0);
  EXPECT_FALSE(g.min_p.has_value());
  EXPECT_EQ(g.typical_p, 1.0);
  EXPECT_EQ(g.repetition_penalty, 1.0f);
  EXPECT_EQ(g.no_repeat_ngram_size, 0);
  EXPECT_EQ(g.max_length, 20);
  EXPECT_FALSE(g.max_new_tokens.has_value());
  EXPECT_EQ(g.min_length, 0);
  EXPECT_NO_THROW(g.validate());
  EXPECT_TRUE(g.warnings().empty());
}

TEST(GenerationConfig, LoadsEveryFixtureModel) {
  for (const auto& dir : test::fixture_models()) {
    // The model's own config: the ids are checked against its vocabulary.
    const ModelConfig mc = ModelConfig::load(dir / "config.json");
    auto g = GenerationConfig::for_model(dir, mc);
    ASSERT_FALSE(g.eos_token_ids.empty()) << dir;
    EXPECT_TRUE(g.bos_token_id.has_value()) << dir;
    EXPECT_FALSE(g.do_sample);
    EXPECT_EQ(g.top_k, 50);
    EXPECT_NO_THROW(g.validate());
  }
  const auto tiny_dir = test::fixtures_dir() / "models" / "tiny-stablelm-2";
  auto tiny = GenerationConfig::for_model(tiny_dir, ModelConfig::load(tiny_dir / "config.json"));
  EXPECT_EQ(tiny.eos_token_ids, std::vector<int32_t>{100257});
  EXPECT_EQ(tiny.bos_token_id, 100257);
}

TEST(GenerationConfig, WithoutFileComesFromModelConfig) {
  ModelConfig mc;
  mc.bos_token_id = 7;
  mc.eos_token_ids = {8, 9};
  auto g = GenerationConfig::for_model(test::temp_dir("nogen"), mc);
  EXPECT_EQ(g.bos_token_id, 7);
  EXPECT_EQ(g.eos_token_ids, (std::vector<int32_t>{8, 9}));
  EXPECT_EQ(g.top_k, 50);
}

TEST(GenerationConfig, ReadsEveryField) {
  auto g = load_json(R"({"do_sample": true, "temperature": 0.7, "top_k": 10, "top_p": 0.95, "min_p": 0.05,
    "typical_p": 0.9, "repetition_penalty": 1.1, "no_repeat_ngram_size": 3, "max_new_tokens": 64,
    "max_length": 100, "min_new_tokens": 2, "min_length": 5, "eos_token_id": [100257, 100278],
    "bos_token_id": 1, "pad_token_id": 0, "stop_strings": ["\n\n", "User:"], "transformers_version": "4.44.0"})");
  EXPECT_TRUE(g.do_sample);
  EXPECT_FLOAT_EQ(g.temperature, 0.7f);
  EXPECT_EQ(g.top_k, 10);
  EXPECT_DOUBLE_EQ(g.top_p, 0.95);
  EXPECT_DOUBLE_EQ(*g.min_p, 0.05);
  EXPECT_DOUBLE_EQ(g.typical_p, 0.9);
  EXPECT_FLOAT_EQ(g.repetition_penalty, 1.1f);
  EXPECT_EQ(g.no_repeat_ngram_size, 3);
  EXPECT_EQ(*g.max_new_tokens, 64);
  EXPECT_EQ(g.max_length, 100);
  EXPECT_EQ(*g.min_new_tokens, 2);
  EXPECT_EQ(g.min_length, 5);
  EXPECT_EQ(g.eos_token_ids, (std::vector<int32_t>{100257, 100278}));
  EXPECT_EQ(g.bos_token_id, 1);
  EXPECT_EQ(g.pad_token_id, 0);
  EXPECT_EQ(g.stop_strings, (std::vector<std::string>{"\n\n", "User:"}));
  EXPECT_NO_THROW(g.validate());
}

TEST(GenerationConfig, NullMeansUnsetAndSingleStopStringIsAccepted) {
  auto g = load_json(R"({"max_new_tokens": null, "min_p": null, "eos_token_id": 3, "stop_strings": "END"})");
  EXPECT_FALSE(g.max_new_tokens.has_value());
  EXPECT_FALSE(g.min_p.has_value());
  EXPECT_EQ(g.eos_token_ids, std::vector<int32_t>{3});
  EXPECT_EQ(g.stop_strings, std::vector<std::string>{"END"});
}

TEST(GenerationConfig, BadFilesNameTheFileAndKey) {
  EXPECT_NE(error_of([] { load_json("{not json"); }).find("generation_config.json: not valid JSON"), std::string::npos);
  EXPECT_NE(error_of([] { load_json("[1,2]"); }).find("expected a JSON object"), std::string::npos);
  EXPECT_NE(error_of([] { load_json(R"({"temperature": "hot"})"); }).find("\"temperature\" must be a number"),
            std::string::npos);
  EXPECT_NE(error_of([] { load_json(R"({"top_k": 1.5})"); }).find("\"top_k\" must be an integer"), std::string::npos);
  EXPECT_NE(error_of([] { load_json(R"({"temperature": 1e300})"); }).find("\"temperature\" must be a finite number"),
            std::string::npos);
  EXPECT_NE(error_of([] { load_json(R"({"top_k": 10000000000})"); }).find("\"top_k\" must be an integer"),
            std::string::npos);
  EXPECT_NE(error_of([] { load_json(R"({"do_sample": 1})"); }).find("\"do_sample\" must be true or false"),
            std::string::npos);
  EXPECT_NE(error_of([] { load_json(R"({"eos_token_id": [1, -2]})"); }).find("\"eos_token_id\""), std::string::npos);
  EXPECT_NE(error_of([] { load_json(R"({"stop_strings": [1]})"); }).find("\"stop_strings\""), std::string::npos);
  EXPECT_NE(error_of([] { GenerationConfig::load("/nonexistent/generation_config.json"); }).find("cannot open"),
            std::string::npos);
}

TEST(GenerationConfig, ValidateNamesTheOption) {
  auto check = [](auto mutate, const std::string& name) {
    GenerationConfig g;
    mutate(g);
    const std::string msg = error_of([&] { g.validate(); });
    EXPECT_NE(msg.find(name), std::string::npos) << "message: " << msg;
  };
  check([](GenerationConfig& g) { g.temperature = -0.5f; }, "temperature");
  check([](GenerationConfig& g) { g.top_k = -1; }, "top_k");
  check([](GenerationConfig& g) { g.top_p = 0.0; }, "top_p");
  check([](GenerationConfig& g) { g.top_p = 1.5; }, "top_p");
  check([](GenerationConfig& g) { g.min_p = 1.5; }, "min_p");
  check([](GenerationConfig& g) { g.typical_p = 0.0; }, "typical_p");
  check([](GenerationConfig& g) { g.repetition_penalty = 0.0f; }, "repetition_penalty");
  check([](GenerationConfig& g) { g.no_repeat_ngram_size = -1; }, "no_repeat_ngram_size");
  check([](GenerationConfig& g) { g.max_new_tokens = 0; }, "max_new_tokens");
  check([](GenerationConfig& g) { g.min_new_tokens = -1; }, "min_new_tokens");
  check([](GenerationConfig& g) { g.stop_strings = {""}; }, "stop");
}

TEST(GenerationConfig, WarnsAboutSamplingOptionsInGreedyMode) {
  GenerationConfig g;
  g.temperature = 0.7f;
  g.top_p = 0.9;
  auto w = g.warnings();
  ASSERT_EQ(w.size(), 2u);
  EXPECT_NE(w[0].find("temperature"), std::string::npos);
  EXPECT_NE(w[1].find("top_p"), std::string::npos);
  g.do_sample = true;
  EXPECT_TRUE(g.warnings().empty());
}

TEST(GenerationConfig, TokenBudget) {
  GenerationConfig g;
  EXPECT_EQ(g.new_token_budget(5), 15);  // max_length 20 counts the prompt
  EXPECT_EQ(g.new_token_budget(30), 1);  // transformers still generates one token
  g.max_new_tokens = 64;
  EXPECT_EQ(g.new_token_budget(30), 64);
}

TEST(StopStrings, MatchAcrossTokensWithOverhang) {
  StopStringMatcher m({"world"});
  m.reset("");
  EXPECT_EQ(m.push("Hel"), -1);
  EXPECT_EQ(m.push("lo wo"), -1);
  EXPECT_EQ(m.push("rldwide"), 0);  // the token may run past the stop string
}

TEST(StopStrings, MayStartInThePromptButMustEndInNewText) {
  StopStringMatcher m({"world"});
  m.reset("hello wor");
  EXPECT_EQ(m.push("ld"), 0);
  StopStringMatcher n({"world"});
  n.reset("hello world");  // entirely in the prompt: no stop
  EXPECT_EQ(n.push("!"), -1);
}

TEST(StopStrings, SeveralStopsAndLongHistory) {
  StopStringMatcher m({"\n\n", "User:"});
  m.reset("");
  for (int i = 0; i < 100; ++i) EXPECT_EQ(m.push("abc "), -1);
  EXPECT_EQ(m.push("\n"), -1);
  EXPECT_EQ(m.push("Us"), -1);
  EXPECT_EQ(m.push("er"), -1);
  EXPECT_EQ(m.push(":"), 1);
  StopStringMatcher e({"x"});
  e.reset("x");
  EXPECT_EQ(e.push(""), -1);  // a token with no bytes cannot complete anything
}
