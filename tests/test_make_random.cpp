// make-random: output loads and runs, is deterministic for a seed (whatever the thread count),
// follows the init scales, and the presets carry the real models' shapes.
#include <gtest/gtest.h>

#include <cmath>

#include "golden_util.h"
#include "io/safetensors.h"
#include "kernels/kernels.h"
#include "model/make_random.h"
#include "stablelm/error.h"
#include "stablelm/model.h"

namespace stablelm::test {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kSmallConfig = fixtures_dir() / "models" / "micro-v2-f32" / "config.json";

#define EXPECT_HAS(msg, part) EXPECT_NE((msg).find(part), std::string::npos) << "output: " << (msg)

TEST(MakeRandom, PresetsHaveRealShapes) {
  const ModelConfig a = preset_config("stablelm-2-1_6b");
  EXPECT_EQ(a.vocab_size, 100352);
  EXPECT_EQ(a.hidden_size, 2048);
  EXPECT_EQ(a.intermediate_size, 5632);
  EXPECT_EQ(a.num_hidden_layers, 24);
  EXPECT_EQ(a.num_key_value_heads, 32);
  EXPECT_TRUE(a.use_qkv_bias);
  EXPECT_EQ(a.head_dim(), 64);
  EXPECT_EQ(a.rotary_dims(), 16);
  EXPECT_EQ(a.bos_token_id, 100257);
  const ModelConfig b = preset_config("stablelm-2-12b");
  EXPECT_EQ(b.hidden_size, 5120);
  EXPECT_EQ(b.num_hidden_layers, 40);
  EXPECT_EQ(b.num_key_value_heads, 8);
  EXPECT_EQ(b.head_dim(), 160);
  EXPECT_TRUE(b.qk_layernorm && b.use_parallel_residual && !b.use_qkv_bias);
  const ModelConfig c = preset_config("stablelm-3b-4e1t");
  EXPECT_EQ(c.vocab_size, 50304);
  EXPECT_EQ(c.hidden_size, 2560);
  EXPECT_EQ(c.head_dim(), 80);
  EXPECT_EQ(c.eos_token_ids, std::vector<int64_t>{0});
  EXPECT_THROW(preset_config("gpt2"), Error);
}

TEST(MakeRandom, WritesAModelThatLoadsAndRuns) {
  for (const char* dtype : {"bf16", "f16", "f32"}) {
    const fs::path out = temp_dir("rand") / "m";
    auto r = run_cli({"make-random", "--config", kSmallConfig.string(), "--layers", "2", "--dtype", dtype, "--seed", "7",
                      out.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    for (const char* f : {"config.json", "generation_config.json", "model.safetensors"}) EXPECT_TRUE(fs::exists(out / f)) << f;
    const ModelConfig c = ModelConfig::load(out / "config.json");
    EXPECT_EQ(c.num_hidden_layers, 2);
    EXPECT_EQ(c.torch_dtype, std::string(dtype) == "bf16" ? "bfloat16" : std::string(dtype) == "f16" ? "float16" : "float32");
    const json gen = json::parse(read_file(out / "generation_config.json"));
    EXPECT_EQ(gen["eos_token_id"], 0);

    auto m = Model::load(out);
    Session s(*m);
    auto l = s.forward(std::vector<int32_t>{1, 2, 3}, true);
    for (float v : l) ASSERT_TRUE(std::isfinite(v));
    r = run_cli({"generate", "--model", out.string(), "--ids", "1,2,3", "--max-new-tokens", "4", "--greedy", "--print-ids"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
}

TEST(MakeRandom, DeterministicWhateverTheThreads) {
  const fs::path a = temp_dir("a") / "m", b = temp_dir("b") / "m", c = temp_dir("c") / "m";
  ASSERT_EQ(run_cli({"make-random", "--config", kSmallConfig.string(), "--seed", "3", "--threads", "1", a.string()}).exit_code, 0);
  ASSERT_EQ(run_cli({"make-random", "--config", kSmallConfig.string(), "--seed", "3", "--threads", "2", b.string()}).exit_code, 0);
  ASSERT_EQ(run_cli({"make-random", "--config", kSmallConfig.string(), "--seed", "4", c.string()}).exit_code, 0);
  EXPECT_EQ(read_file(a / "model.safetensors"), read_file(b / "model.safetensors"));
  EXPECT_NE(read_file(a / "model.safetensors"), read_file(c / "model.safetensors"));
}

TEST(MakeRandom, InitScalesFollowTheFixtures) {
  const fs::path out = temp_dir("stats") / "m";
  ModelConfig cfg = ModelConfig::load(kSmallConfig);
  write_random_model(cfg, out, io::DType::F32, 11, 2);
  io::TensorStore st(out);
  auto stats = [&](const std::string& name) {
    const io::TensorInfo* t = st.find(name);
    EXPECT_NE(t, nullptr) << name;
    const float* p = reinterpret_cast<const float*>(t->data);
    double s = 0, s2 = 0;
    const int64_t n = t->numel();
    for (int64_t i = 0; i < n; ++i) s += p[i], s2 += double(p[i]) * p[i];
    const double mean = s / n;
    return std::pair{mean, std::sqrt(s2 / n - mean * mean)};
  };
  auto [em, es] = stats("model.embed_tokens.weight");
  EXPECT_NEAR(em, 0.0, 0.01);
  EXPECT_NEAR(es, 1.0, 0.01);
  auto [lm, ls] = stats("lm_head.weight");
  EXPECT_NEAR(ls, 3.0 / std::sqrt(256.0), 0.01);
  auto [dm, ds] = stats("model.layers.0.mlp.down_proj.weight");
  EXPECT_NEAR(ds, 1.0 / std::sqrt(688.0), 0.002);
  auto [nm, ns] = stats("model.layers.1.input_layernorm.weight");
  EXPECT_NEAR(nm, 1.0, 0.03);
  EXPECT_NEAR(ns, 0.1, 0.03);
}

TEST(MakeRandom, CopiesTokenizer) {
  const fs::path out = temp_dir("tok") / "m";
  const fs::path tok = fixtures_dir() / "models" / "tiny-stablelm-2";
  auto r = run_cli({"make-random", "--config", kSmallConfig.string(), "--layers", "1", "--tokenizer", tok.string(), out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(out / "tokenizer.json"), read_file(tok / "tokenizer.json"));
  EXPECT_TRUE(fs::exists(out / "tokenizer_config.json"));
}

TEST(MakeRandom, UsageErrors) {
  const std::string out = (temp_dir("err") / "m").string();
  struct Case {
    std::vector<std::string> args;
    const char* expect;
  };
  const std::vector<Case> cases = {
      {{"make-random", out}, "--like"},
      {{"make-random", "--like", "gpt2", out}, "--like"},
      {{"make-random", "--like", "stablelm-2-1_6b", "--dtype", "q8", out}, "--dtype"},
      {{"make-random", "--like", "stablelm-2-1_6b"}, "OUT_DIR"},
      {{"make-random", "--config", "/nonexistent.json", out}, "--config"},
      {{"make-random", "--config", kSmallConfig.string(), "--layers", "0", out}, "--layers"},
      {{"make-random", "--config", kSmallConfig.string(), "--tokenizer", "/nonexistent", out}, "/nonexistent"},
      {{"make-random", "--config", kSmallConfig.string(), "--tokenizer", temp_dir("empty").string(), out}, "no tokenizer files"},
      {{"make-random", "--config", kSmallConfig.string(), "/proc/forbidden/m"}, "/proc/forbidden"},
  };
  for (const auto& c : cases) {
    auto r = run_cli(c.args);
    EXPECT_NE(r.exit_code, 0) << c.args.back();
    EXPECT_LT(r.exit_code, 128);
    EXPECT_HAS(r.err, c.expect);
  }
}

}  // namespace
}  // namespace stablelm::test
