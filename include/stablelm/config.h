#pragma once
// StableLmConfig (config.json), with transformers' defaults for missing keys and the older
// remote-code keys (rope_pct, norm_eps, num_heads, StableLMEpochForCausalLM) mapped in.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace stablelm {

struct ModelConfig {
  int64_t vocab_size = 50304;
  int64_t hidden_size = 2560;
  int64_t intermediate_size = 6912;
  int64_t num_hidden_layers = 32;
  int64_t num_attention_heads = 32;
  int64_t num_key_value_heads = 32;
  double partial_rotary_factor = 0.25;
  double rope_theta = 10000.0;
  double layer_norm_eps = 1e-5;
  bool use_qkv_bias = false;
  bool qk_layernorm = false;
  bool use_parallel_residual = false;
  bool tie_word_embeddings = false;
  int64_t max_position_embeddings = 4096;
  int64_t bos_token_id = 0;
  std::vector<int64_t> eos_token_ids = {0};
  std::string torch_dtype = "float32";
  std::string hidden_act = "silu";

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  int64_t rotary_dims() const { return static_cast<int64_t>(partial_rotary_factor * static_cast<double>(head_dim())); }

  // Parses and validates config.json; throws stablelm::Error naming the file and the key.
  static ModelConfig load(const std::filesystem::path& config_json);
  // Same, from the JSON text; `where` names the source in error messages.
  static ModelConfig parse(const std::string& json_text, const std::string& where);
  // Sanity checks (positive sizes, divisibility, even rotary dims); throws naming `where`.
  void validate(const std::string& where) const;
  // config.json as transformers' save_pretrained writes it (model_type "stablelm").
  std::string to_json() const;
};

}  // namespace stablelm
