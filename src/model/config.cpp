// config.json → ModelConfig, following transformers' StableLmConfig (defaults for missing keys)
// and accepting the older remote-code keys (StableLMEpochForCausalLM: rope_pct, norm_eps,
// num_heads) that fine-tunes of stablelm-3b-4e1t / stablelm-2 still carry.
#include <cmath>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "io/json.h"
#include "io/regular_file.h"
#include "stablelm/config.h"
#include "stablelm/error.h"

namespace stablelm {
using nlohmann::json;

namespace {

struct Reader {
  const json& j;
  const std::string& where;

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw Error(where + ": \"" + key + "\" " + what);
  }
  // First present key among the names (the new name first, then legacy aliases).
  const json* get(std::initializer_list<const char*> keys, std::string* used = nullptr) const {
    for (const char* k : keys) {
      auto it = j.find(k);
      if (it != j.end()) {
        if (used) *used = k;
        return &*it;
      }
    }
    return nullptr;
  }
  void integer(std::initializer_list<const char*> keys, int64_t& out) const {
    std::string k;
    const json* v = get(keys, &k);
    if (!v) return;
    if (v->is_number_integer()) out = v->get<int64_t>();
    else if (v->is_number_float() && std::floor(v->get<double>()) == v->get<double>() && std::abs(v->get<double>()) < 1e15)
      out = static_cast<int64_t>(v->get<double>());
    else fail(k, "must be an integer, got " + io::json_excerpt(*v));
  }
  void number(std::initializer_list<const char*> keys, double& out) const {
    std::string k;
    const json* v = get(keys, &k);
    if (!v) return;
    if (!v->is_number()) fail(k, "must be a number, got " + io::json_excerpt(*v));
    out = v->get<double>();
  }
  void boolean(std::initializer_list<const char*> keys, bool& out) const {
    std::string k;
    const json* v = get(keys, &k);
    if (!v) return;
    if (!v->is_boolean()) fail(k, "must be true or false, got " + io::json_excerpt(*v));
    out = v->get<bool>();
  }
  void string(std::initializer_list<const char*> keys, std::string& out) const {
    std::string k;
    const json* v = get(keys, &k);
    if (!v || v->is_null()) return;
    if (!v->is_string()) fail(k, "must be a string, got " + io::json_excerpt(*v));
    out = v->get<std::string>();
  }
};

}  // namespace

ModelConfig ModelConfig::parse(const std::string& text, const std::string& where) {
  const json j = io::parse_json(text, where);
  if (!j.is_object()) throw Error(where + ": not a JSON object");
  const Reader r{j, where};
  ModelConfig c;

  if (auto it = j.find("architectures"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) r.fail("architectures", "must be a list");
    bool ok = it->empty();
    for (auto& a : *it)
      if (a.is_string() && (a == "StableLmForCausalLM" || a == "StableLMEpochForCausalLM")) ok = true;
    if (!ok) r.fail("architectures", "is " + io::json_excerpt(*it) + "; supported: StableLmForCausalLM, StableLMEpochForCausalLM");
  }
  if (auto it = j.find("model_type"); it != j.end() && it->is_string()) {
    const auto mt = it->get<std::string>();
    if (mt != "stablelm" && mt != "stablelm_epoch") r.fail("model_type", "is \"" + mt + "\"; supported: stablelm, stablelm_epoch");
  }

  r.integer({"vocab_size"}, c.vocab_size);
  r.integer({"hidden_size"}, c.hidden_size);
  r.integer({"intermediate_size"}, c.intermediate_size);
  r.integer({"num_hidden_layers"}, c.num_hidden_layers);
  r.integer({"num_attention_heads", "num_heads"}, c.num_attention_heads);
  // transformers' default is 32, but a config that names only the query heads means MHA.
  c.num_key_value_heads = c.num_attention_heads;
  r.integer({"num_key_value_heads"}, c.num_key_value_heads);
  r.number({"partial_rotary_factor", "rope_pct"}, c.partial_rotary_factor);
  r.number({"rope_theta"}, c.rope_theta);
  r.number({"layer_norm_eps", "norm_eps"}, c.layer_norm_eps);
  r.boolean({"use_qkv_bias"}, c.use_qkv_bias);
  r.boolean({"qk_layernorm"}, c.qk_layernorm);
  r.boolean({"use_parallel_residual"}, c.use_parallel_residual);
  r.boolean({"tie_word_embeddings"}, c.tie_word_embeddings);
  r.integer({"max_position_embeddings"}, c.max_position_embeddings);
  r.string({"torch_dtype"}, c.torch_dtype);
  r.string({"hidden_act"}, c.hidden_act);

  if (const json* v = r.get({"bos_token_id"})) {
    if (v->is_null()) c.bos_token_id = -1;
    else r.integer({"bos_token_id"}, c.bos_token_id);
  }
  if (const json* v = r.get({"eos_token_id"})) {
    c.eos_token_ids.clear();
    if (v->is_number_integer()) c.eos_token_ids.push_back(v->get<int64_t>());
    else if (v->is_array()) {
      for (auto& e : *v) {
        if (!e.is_number_integer()) r.fail("eos_token_id", "must be an integer or a list of integers, got " + io::json_excerpt(*v));
        c.eos_token_ids.push_back(e.get<int64_t>());
      }
    } else if (!v->is_null()) r.fail("eos_token_id", "must be an integer or a list of integers, got " + io::json_excerpt(*v));
  }
  if (const json* v = r.get({"rope_scaling"}); v && !v->is_null())
    r.fail("rope_scaling", "is " + io::json_excerpt(*v) + ": rope scaling is not supported (only null)");

  c.validate(where);
  return c;
}

void ModelConfig::validate(const std::string& where) const {
  auto fail = [&](const std::string& msg) { throw Error(where + ": " + msg); };
  auto positive = [&](const char* key, int64_t v) {
    if (v <= 0) fail(std::string("\"") + key + "\" must be positive, got " + std::to_string(v));
  };
  positive("vocab_size", vocab_size);
  positive("hidden_size", hidden_size);
  positive("intermediate_size", intermediate_size);
  positive("num_hidden_layers", num_hidden_layers);
  positive("num_attention_heads", num_attention_heads);
  positive("num_key_value_heads", num_key_value_heads);
  positive("max_position_embeddings", max_position_embeddings);
  // Sizes beyond int32 indexing are not real models; refusing them keeps arithmetic safe.
  constexpr int64_t kMax = int64_t{1} << 30;
  for (auto [k, v] : {std::pair{"vocab_size", vocab_size}, {"hidden_size", hidden_size},
                      {"intermediate_size", intermediate_size}, {"num_hidden_layers", num_hidden_layers},
                      {"max_position_embeddings", max_position_embeddings}})
    if (v > kMax) fail(std::string("\"") + k + "\" is implausibly large: " + std::to_string(v));
  if (hidden_size % num_attention_heads != 0)
    fail("hidden_size " + std::to_string(hidden_size) + " is not divisible by num_attention_heads " +
         std::to_string(num_attention_heads));
  if (num_attention_heads % num_key_value_heads != 0)
    fail("num_attention_heads " + std::to_string(num_attention_heads) + " is not divisible by num_key_value_heads " +
         std::to_string(num_key_value_heads));
  if (!(partial_rotary_factor >= 0.0 && partial_rotary_factor <= 1.0))
    fail("\"partial_rotary_factor\" must be in [0, 1], got " + std::to_string(partial_rotary_factor));
  if (rotary_dims() % 2 != 0)
    fail("rotary dims partial_rotary_factor * head_dim = " + std::to_string(rotary_dims()) + " must be even");
  if (!(rope_theta > 0.0) || !std::isfinite(rope_theta)) fail("\"rope_theta\" must be positive");
  if (!(layer_norm_eps > 0.0) || !std::isfinite(layer_norm_eps)) fail("\"layer_norm_eps\" must be positive");
  if (hidden_act != "silu") fail("\"hidden_act\" is \"" + hidden_act + "\": only silu is supported");
  if (bos_token_id >= vocab_size) fail("bos_token_id " + std::to_string(bos_token_id) + " is outside the vocabulary");
  for (int64_t e : eos_token_ids)
    if (e < 0 || e >= vocab_size) fail("eos_token_id " + std::to_string(e) + " is outside the vocabulary");
}

ModelConfig ModelConfig::load(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw Error(path.string() + ": cannot open (is this a model directory?)");
  return parse(io::read_regular_file(path), path.string());
}

std::string ModelConfig::to_json() const {
  json j;
  j["architectures"] = {"StableLmForCausalLM"};
  j["attention_dropout"] = 0.0;
  j["bos_token_id"] = bos_token_id < 0 ? json(nullptr) : json(bos_token_id);
  j["eos_token_id"] = eos_token_ids.size() == 1 ? json(eos_token_ids[0]) : json(eos_token_ids);
  j["hidden_act"] = hidden_act;
  j["hidden_dropout"] = 0.0;
  j["hidden_size"] = hidden_size;
  j["initializer_range"] = 0.02;
  j["intermediate_size"] = intermediate_size;
  j["layer_norm_eps"] = layer_norm_eps;
  j["max_position_embeddings"] = max_position_embeddings;
  j["model_type"] = "stablelm";
  j["num_attention_heads"] = num_attention_heads;
  j["num_hidden_layers"] = num_hidden_layers;
  j["num_key_value_heads"] = num_key_value_heads;
  j["partial_rotary_factor"] = partial_rotary_factor;
  j["qk_layernorm"] = qk_layernorm;
  j["rope_scaling"] = nullptr;
  j["rope_theta"] = rope_theta;
  j["tie_word_embeddings"] = tie_word_embeddings;
  j["torch_dtype"] = torch_dtype;
  j["use_cache"] = true;
  j["use_parallel_residual"] = use_parallel_residual;
  j["use_qkv_bias"] = use_qkv_bias;
  j["vocab_size"] = vocab_size;
  return j.dump(2) + "\n";
}

}  // namespace stablelm
