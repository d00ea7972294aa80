// generation_config.json -> GenerationConfig, with transformers' defaults and checks.
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "io/json.h"
#include "io/regular_file.h"
#include "stablelm/error.h"
#include "stablelm/generation_config.h"

namespace stablelm {
namespace {
using nlohmann::json;

std::string num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

[[noreturn]] void bad_type(const std::filesystem::path& file, const char* key, const char* want, const json& got) {
  throw Error(file.string() + ": \"" + key + "\" must be " + want + ", got " + io::json_excerpt(got));
}

// Reads key when present and not null. JSON null means "unset", as transformers writes None.
template <typename F>
void with(const json& j, const char* key, F&& f) {
  auto it = j.find(key);
  if (it != j.end() && !it->is_null()) f(*it);
}

bool get_bool(const std::filesystem::path& file, const char* key, const json& v) {
  if (!v.is_boolean()) bad_type(file, key, "true or false", v);
  return v.get<bool>();
}
double get_number(const std::filesystem::path& file, const char* key, const json& v) {
  if (!v.is_number()) bad_type(file, key, "a number", v);
  return v.get<double>();
}
float get_float(const std::filesystem::path& file, const char* key, const json& v) {
  const double d = get_number(file, key, v);
  if (!(std::abs(d) <= static_cast<double>(std::numeric_limits<float>::max()))) bad_type(file, key, "a finite number", v);
  return static_cast<float>(d);
}
int64_t get_int(const std::filesystem::path& file, const char* key, const json& v) {
  if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT32_MAX)) ||
      v.get<int64_t>() > INT32_MAX || v.get<int64_t>() < INT32_MIN)
    bad_type(file, key, "an integer (32-bit)", v);
  return v.get<int64_t>();
}
int32_t get_id(const std::filesystem::path& file, const char* key, const json& v) {
  if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > INT32_MAX)
    bad_type(file, key, "a token id (non-negative integer)", v);
  return static_cast<int32_t>(v.get<int64_t>());
}
}  // namespace

GenerationConfig GenerationConfig::load(const std::filesystem::path& file) {
  const json j = io::parse_json(io::read_regular_file(file), file.string());
  if (!j.is_object()) throw Error(file.string() + ": expected a JSON object");

  GenerationConfig c;
  with(j, "do_sample", [&](const json& v) { c.do_sample = get_bool(file, "do_sample", v); });
  with(j, "temperature", [&](const json& v) { c.temperature = get_float(file, "temperature", v); });
  with(j, "top_k", [&](const json& v) { c.top_k = static_cast<int>(get_int(file, "top_k", v)); });
  with(j, "top_p", [&](const json& v) { c.top_p = get_number(file, "top_p", v); });
  with(j, "min_p", [&](const json& v) { c.min_p = get_number(file, "min_p", v); });
  with(j, "typical_p", [&](const json& v) { c.typical_p = get_number(file, "typical_p", v); });
  with(j, "repetition_penalty",
       [&](const json& v) { c.repetition_penalty = get_float(file, "repetition_penalty", v); });
  with(j, "no_repeat_ngram_size",
       [&](const json& v) { c.no_repeat_ngram_size = static_cast<int>(get_int(file, "no_repeat_ngram_size", v)); });
  with(j, "max_new_tokens", [&](const json& v) { c.max_new_tokens = get_int(file, "max_new_tokens", v); });
  with(j, "max_length", [&](const json& v) { c.max_length = get_int(file, "max_length", v); });
  with(j, "min_new_tokens", [&](const json& v) { c.min_new_tokens = get_int(file, "min_new_tokens", v); });
  with(j, "min_length", [&](const json& v) { c.min_length = get_int(file, "min_length", v); });
  with(j, "bos_token_id", [&](const json& v) { c.bos_token_id = get_id(file, "bos_token_id", v); });
  with(j, "pad_token_id", [&](const json& v) { c.pad_token_id = get_id(file, "pad_token_id", v); });
  with(j, "eos_token_id", [&](const json& v) {
    if (v.is_array()) {
      for (const auto& e : v) c.eos_token_ids.push_back(get_id(file, "eos_token_id", e));
    } else {
      c.eos_token_ids.push_back(get_id(file, "eos_token_id", v));
    }
  });
  with(j, "stop_strings", [&](const json& v) {
    if (v.is_string()) {
      c.stop_strings.push_back(v.get<std::string>());
    } else if (v.is_array()) {
      for (const auto& e : v) {
        if (!e.is_string()) bad_type(file, "stop_strings", "a string or a list of strings", v);
        c.stop_strings.push_back(e.get<std::string>());
      }
    } else {
      bad_type(file, "stop_strings", "a string or a list of strings", v);
    }
  });
  return c;
}

GenerationConfig GenerationConfig::for_model(const std::filesystem::path& model_dir, const ModelConfig& model) {
  const auto file = model_dir / "generation_config.json";
  if (std::filesystem::exists(file)) {
    GenerationConfig c = load(file);
    try {
      c.validate();
    } catch (const Error& e) {
      throw Error(file.string() + ": " + e.what());  // name the file the bad value came from
    }
    // config.json's ids are checked against the vocabulary; these must be too.
    auto check = [&](const char* key, int32_t id) {
      if (id >= model.vocab_size)
        throw Error(file.string() + ": " + key + " " + std::to_string(id) + " is outside the vocabulary (vocab_size " +
                    std::to_string(model.vocab_size) + ")");
    };
    for (int32_t e : c.eos_token_ids) check("eos_token_id", e);
    if (c.bos_token_id) check("bos_token_id", *c.bos_token_id);
    if (c.pad_token_id) check("pad_token_id", *c.pad_token_id);
    return c;
  }
  // GenerationConfig.from_model_config: the model config's special ids, everything else default.
  GenerationConfig c;
  if (model.bos_token_id >= 0) c.bos_token_id = static_cast<int32_t>(model.bos_token_id);
  for (int64_t e : model.eos_token_ids)
    if (e >= 0) c.eos_token_ids.push_back(static_cast<int32_t>(e));
  return c;
}

void GenerationConfig::validate() const {
  auto fail = [](const std::string& what) { throw Error("invalid generation option " + what); };
  if (!(temperature >= 0.0f) || !std::isfinite(temperature))
    fail("temperature=" + num(temperature) + ": must be >= 0 (0 = greedy)");
  if (top_k < 0) fail("top_k=" + std::to_string(top_k) + ": must be >= 0 (0 = off)");
  if (!(top_p > 0.0 && top_p <= 1.0)) fail("top_p=" + num(top_p) + ": must be in (0, 1] (1 = off)");
  if (min_p && !(*min_p >= 0.0 && *min_p <= 1.0)) fail("min_p=" + num(*min_p) + ": must be in [0, 1]");
  if (!(typical_p > 0.0 && typical_p <= 1.0)) fail("typical_p=" + num(typical_p) + ": must be in (0, 1] (1 = off)");
  if (!(repetition_penalty > 0.0f) || !std::isfinite(repetition_penalty))
    fail("repetition_penalty=" + num(repetition_penalty) + ": must be > 0 (1 = off)");
  for (auto [name, v] : {std::pair<const char*, float>{"presence_penalty", presence_penalty},
                         std::pair<const char*, float>{"frequency_penalty", frequency_penalty}})
    if (!(v >= -2.0f && v <= 2.0f)) fail(std::string(name) + "=" + num(v) + ": must be in [-2, 2] (0 = off)");
  for (const auto& [id, bias] : logit_bias) {
    if (id < 0) fail("logit_bias: token id " + std::to_string(id) + " is negative");
    if (!(bias >= -100.0f && bias <= 100.0f))
      fail("logit_bias: the bias of token " + std::to_string(id) + " is " + num(bias) + ": must be in [-100, 100]");
  }
  if (no_repeat_ngram_size < 0)
    fail("no_repeat_ngram_size=" + std::to_string(no_repeat_ngram_size) + ": must be >= 0 (0 = off)");
  if (max_new_tokens && *max_new_tokens < 1)
    fail("max_new_tokens=" + std::to_string(*max_new_tokens) + ": must be at least 1");
  if (max_length < 1) fail("max_length=" + std::to_string(max_length) + ": must be at least 1");
  if (min_new_tokens && *min_new_tokens < 0)
    fail("min_new_tokens=" + std::to_string(*min_new_tokens) + ": must be >= 0");
  if (min_length < 0) fail("min_length=" + std::to_string(min_length) + ": must be >= 0");
  // Beyond any context; larger values would overflow prompt + budget arithmetic.
  constexpr int64_t kMax = int64_t{1} << 30;
  const std::pair<const char*, int64_t> sizes[] = {{"max_new_tokens", max_new_tokens.value_or(0)},
                                                   {"max_length", max_length},
                                                   {"min_new_tokens", min_new_tokens.value_or(0)},
                                                   {"min_length", min_length}};
  for (auto [name, v] : sizes)
    if (v > kMax) fail(std::string(name) + "=" + std::to_string(v) + ": must be at most " + std::to_string(kMax));
  for (const auto& s : stop_strings)
    if (s.empty()) fail("stop_strings: a stop string must not be empty");
  if (format == Format::JsonSchema && !json_schema) fail("format: JSON schema output without a compiled schema");
  if (format == Format::Regex && !regex) fail("format: regex output without a compiled regex");
}

std::vector<std::string> GenerationConfig::warnings() const {
  // GenerationConfig.validate() in transformers warns about these when do_sample is false.
  std::vector<std::string> w;
  if (do_sample) return w;
  auto flag = [&](const std::string& name, const std::string& value) {
    w.push_back("do_sample is false, but " + name + " is set to " + value +
                ": it only applies to sampling and is ignored (set do_sample or unset " + name + ")");
  };
  if (temperature != 1.0f && temperature != 0.0f) flag("temperature", num(temperature));
  if (top_p != 1.0) flag("top_p", num(top_p));
  if (min_p) flag("min_p", num(*min_p));
  if (typical_p != 1.0) flag("typical_p", num(typical_p));
  if (top_k != 50) flag("top_k", std::to_string(top_k));
  return w;
}

int64_t GenerationConfig::new_token_budget(int64_t prompt_len) const {
  if (max_new_tokens) return *max_new_tokens;
  return std::max<int64_t>(1, max_length - prompt_len);
}

}  // namespace stablelm
