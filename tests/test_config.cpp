// config.json parsing: transformers' StableLmConfig defaults, legacy remote-code keys, and a
// clear error for every unsupported or inconsistent setting.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "stablelm/config.h"
#include "stablelm/error.h"
#include "testutil.h"

namespace stablelm::test {
namespace {
using nlohmann::json;

std::string error_of(const std::string& text) {
  try {
    ModelConfig::parse(text, "cfg.json");
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "parsed without error: " << text;
  return "";
}

#define EXPECT_HAS(msg, part) EXPECT_NE((msg).find(part), std::string::npos) << "message: " << (msg)

TEST(Config, FixtureConfigsMatchMeta) {
  for (auto& dir : fixture_models()) {
    const ModelConfig c = ModelConfig::load(dir / "config.json");
    const json j = json::parse(read_file(dir / "config.json"));
    EXPECT_EQ(c.vocab_size, j["vocab_size"].get<int64_t>());
    EXPECT_EQ(c.hidden_size, j["hidden_size"].get<int64_t>());
    EXPECT_EQ(c.num_key_value_heads, j["num_key_value_heads"].get<int64_t>());
    EXPECT_EQ(c.qk_layernorm, j["qk_layernorm"].get<bool>());
    EXPECT_EQ(c.use_parallel_residual, j["use_parallel_residual"].get<bool>());
    EXPECT_EQ(c.use_qkv_bias, j["use_qkv_bias"].get<bool>());
    EXPECT_EQ(c.torch_dtype, j["torch_dtype"].get<std::string>());
    EXPECT_EQ(c.eos_token_ids, std::vector<int64_t>{j["eos_token_id"].get<int64_t>()});
  }
}

TEST(Config, DefaultsAreTransformers) {
  const ModelConfig c = ModelConfig::parse("{}", "cfg.json");
  EXPECT_EQ(c.vocab_size, 50304);
  EXPECT_EQ(c.hidden_size, 2560);
  EXPECT_EQ(c.intermediate_size, 6912);
  EXPECT_EQ(c.num_hidden_layers, 32);
  EXPECT_EQ(c.num_attention_heads, 32);
  EXPECT_EQ(c.num_key_value_heads, 32);
  EXPECT_DOUBLE_EQ(c.partial_rotary_factor, 0.25);
  EXPECT_DOUBLE_EQ(c.rope_theta, 10000.0);
  EXPECT_DOUBLE_EQ(c.layer_norm_eps, 1e-5);
  EXPECT_FALSE(c.use_qkv_bias);
  EXPECT_FALSE(c.qk_layernorm);
  EXPECT_FALSE(c.use_parallel_residual);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.max_position_embeddings, 4096);
  EXPECT_EQ(c.bos_token_id, 0);
  EXPECT_EQ(c.eos_token_ids, std::vector<int64_t>{0});
  EXPECT_EQ(c.head_dim(), 80);
  EXPECT_EQ(c.rotary_dims(), 20);
}

TEST(Config, LegacyRemoteCodeKeys) {
  // stablelm-3b-4e1t's original config (trust_remote_code, StableLMEpochForCausalLM).
  const ModelConfig c = ModelConfig::parse(R"({
    "architectures": ["StableLMEpochForCausalLM"], "model_type": "stablelm_epoch",
    "hidden_size": 2560, "num_heads": 32, "num_key_value_heads": 32, "rope_pct": 0.5,
    "norm_eps": 1e-6, "vocab_size": 50304, "torch_dtype": "bfloat16"})",
                                           "cfg.json");
  EXPECT_EQ(c.num_attention_heads, 32);
  EXPECT_DOUBLE_EQ(c.partial_rotary_factor, 0.5);
  EXPECT_DOUBLE_EQ(c.layer_norm_eps, 1e-6);
  EXPECT_EQ(c.torch_dtype, "bfloat16");
  // Only query heads given: kv heads follow (multi-head attention).
  EXPECT_EQ(ModelConfig::parse(R"({"hidden_size": 256, "num_heads": 8})", "c").num_key_value_heads, 8);
}

TEST(Config, EosIntListOrNull) {
  EXPECT_EQ(ModelConfig::parse(R"({"eos_token_id": [3, 5]})", "c").eos_token_ids, (std::vector<int64_t>{3, 5}));
  EXPECT_EQ(ModelConfig::parse(R"({"eos_token_id": 7})", "c").eos_token_ids, (std::vector<int64_t>{7}));
  EXPECT_TRUE(ModelConfig::parse(R"({"eos_token_id": null})", "c").eos_token_ids.empty());
  EXPECT_HAS(error_of(R"({"eos_token_id": "x"})"), "eos_token_id");
  EXPECT_HAS(error_of(R"({"eos_token_id": [1, "x"]})"), "eos_token_id");
  EXPECT_HAS(error_of(R"({"eos_token_id": 99999999})"), "outside the vocabulary");
}

TEST(Config, Unsupported) {
  std::string m = error_of(R"({"rope_scaling": {"type": "linear", "factor": 2.0}})");
  EXPECT_HAS(m, "cfg.json");
  EXPECT_HAS(m, "rope_scaling");
  EXPECT_HAS(m, "not supported");
  EXPECT_NO_THROW(ModelConfig::parse(R"({"rope_scaling": null})", "c"));
  EXPECT_HAS(error_of(R"({"hidden_act": "gelu"})"), "only silu is supported");
  EXPECT_HAS(error_of(R"({"architectures": ["LlamaForCausalLM"]})"), "architectures");
  EXPECT_HAS(error_of(R"({"model_type": "llama"})"), "model_type");
}

TEST(Config, SanityChecks) {
  EXPECT_HAS(error_of(R"({"hidden_size": 100, "num_attention_heads": 3})"), "not divisible by num_attention_heads");
  EXPECT_HAS(error_of(R"({"num_attention_heads": 32, "num_key_value_heads": 5})"), "not divisible by num_key_value_heads");
  EXPECT_HAS(error_of(R"({"hidden_size": 96, "num_attention_heads": 4, "partial_rotary_factor": 0.125})"), "must be even");
  EXPECT_HAS(error_of(R"({"vocab_size": 0})"), "\"vocab_size\" must be positive");
  EXPECT_HAS(error_of(R"({"num_hidden_layers": -2})"), "\"num_hidden_layers\" must be positive");
  EXPECT_HAS(error_of(R"({"intermediate_size": 99999999999})"), "implausibly large");
  EXPECT_HAS(error_of(R"({"partial_rotary_factor": 1.5})"), "partial_rotary_factor");
  EXPECT_HAS(error_of(R"({"rope_theta": 0})"), "rope_theta");
  EXPECT_HAS(error_of(R"({"layer_norm_eps": -1})"), "layer_norm_eps");
}

TEST(Config, WrongTypesAndBadJson) {
  EXPECT_HAS(error_of(R"({"hidden_size": "2048"})"), "\"hidden_size\" must be an integer");
  EXPECT_HAS(error_of(R"({"hidden_size": 2048.5})"), "\"hidden_size\" must be an integer");
  EXPECT_HAS(error_of(R"({"use_qkv_bias": 1})"), "\"use_qkv_bias\" must be true or false");
  EXPECT_HAS(error_of(R"({"rope_theta": "big"})"), "\"rope_theta\" must be a number");
  EXPECT_HAS(error_of(R"({"hidden_size": )"), "not valid JSON");
  EXPECT_HAS(error_of("[]"), "not a JSON object");
  EXPECT_EQ(ModelConfig::parse(R"({"hidden_size": 2048.0, "num_attention_heads": 32})", "c").hidden_size, 2048);
}

TEST(Config, MissingFile) {
  try {
    ModelConfig::load("/nonexistent/config.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_HAS(std::string(e.what()), "/nonexistent/config.json");
  }
}

TEST(Config, JsonRoundTrip) {
  for (auto& dir : fixture_models()) {
    const ModelConfig a = ModelConfig::load(dir / "config.json");
    const ModelConfig b = ModelConfig::parse(a.to_json(), "roundtrip");
    EXPECT_EQ(a.to_json(), b.to_json());
    // Same keys as the fixture (what save_pretrained writes), minus version bookkeeping.
    json fa = json::parse(read_file(dir / "config.json")), fb = json::parse(a.to_json());
    fa.erase("transformers_version");
    EXPECT_EQ(fa, fb) << dir;
  }
}

}  // namespace
}  // namespace stablelm::test
