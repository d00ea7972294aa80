#pragma once
// transformers.GenerationConfig for a decoder-only model: the settings of generation_config.json
// (with transformers' defaults), their validation, and the token budget they imply.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "stablelm/config.h"

namespace stablelm {

namespace sampling {
struct SchemaGraph;  // a compiled JSON Schema: stablelm::compile_json_schema (stablelm/sampling.h)
class RegexDfa;      // a compiled regular expression: stablelm::compile_regex (stablelm/sampling.h)
}

// transformers.GenerationConfig, the fields that apply to a decoder-only model and one sequence.
// Defaults are transformers' (4.44): greedy, temperature 1, top_k 50, top_p 1, max_length 20.
struct GenerationConfig {
  bool do_sample = false;
  float temperature = 1.0f;  // 0 means greedy (transformers refuses 0 with do_sample; we take it as argmax)
  int top_k = 50;            // 0 = off
  double top_p = 1.0;  // 1 = off
  std::optional<double> min_p;
  double typical_p = 1.0;  // 1 = off
  float repetition_penalty = 1.0f;
  // OpenAI's penalties (not transformers'; the server's `presence_penalty` / `frequency_penalty`):
  // each token already generated (the prompt does not count) has its logit lowered by
  // frequency_penalty x its count + presence_penalty. In [-2, 2]; 0 = off.
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  // OpenAI's `logit_bias`: added to these tokens' logits before any other processing. Bias in
  // [-100, 100]; ids must be in the vocabulary (checked against it by the pipeline).
  std::vector<std::pair<int32_t, float>> logit_bias;
  int no_repeat_ngram_size = 0;
  std::optional<int64_t> max_new_tokens;  // wins over max_length when set
  int64_t max_length = 20;                // prompt + new tokens
  std::optional<int64_t> min_new_tokens;
  int64_t min_length = 0;  // prompt + new tokens
  std::vector<int32_t> eos_token_ids;
  std::optional<int32_t> bos_token_id;
  std::optional<int32_t> pad_token_id;
  std::vector<std::string> stop_strings;
  // What the output must be: free text, or one JSON object (JSON mode: OpenAI's response_format
  // {"type": "json_object"}). In JSON mode only tokens that keep the output a prefix of a JSON
  // object can be chosen, and generation stops when the object closes (needs the tokenizer).
  // ToolCalls: a JSON list of calls [{"name": ..., "arguments": {...}}] naming only
  // tool_call_names, at most max_tool_calls of them (0: any) (tool_choice "required" or named).
  // JsonSchema: one JSON value that json_schema allows (response_format {"type": "json_schema"}),
  // in the form docs/GENERATE.md describes.
  // Regex: text that regex matches whole (vLLM's guided_regex and guided_choice): an end of
  // sequence token may come once it matches; generation stops where the match cannot go on.
  enum class Format { Text, JsonObject, ToolCalls, JsonSchema, Regex };
  Format format = Format::Text;
  std::shared_ptr<const sampling::SchemaGraph> json_schema;
  std::shared_ptr<const sampling::RegexDfa> regex;
  std::vector<std::string> tool_call_names;
  // Empty, or one per tool_call_names: the compiled `parameters` the call's arguments follow
  // (null: any JSON object).
  std::vector<std::shared_ptr<const sampling::SchemaGraph>> tool_call_schemas;
  int max_tool_calls = 0;

  // Reads a generation_config.json; keys it lacks keep transformers' defaults, unknown keys are
  // ignored. Throws stablelm::Error naming the file and the key on a wrong type or bad JSON.
  static GenerationConfig load(const std::filesystem::path& json_file);
  // The model directory's generation_config.json when present, else what transformers derives
  // from config.json (GenerationConfig.from_model_config: bos/eos ids).
  static GenerationConfig for_model(const std::filesystem::path& model_dir, const ModelConfig& model);

  // Throws stablelm::Error naming the option when a value is out of range (negative temperature,
  // top_p outside (0, 1], top_k < 0, min_p outside [0, 1], typical_p outside (0, 1],
  // repetition_penalty <= 0, negative sizes, max_new_tokens < 1, empty stop string).
  void validate() const;
  // transformers' warnings for sampling options that greedy decoding ignores (do_sample false).
  std::vector<std::string> warnings() const;
  // True when the next token is drawn at random (do_sample and temperature > 0).
  bool sampling() const { return do_sample && temperature > 0.0f; }
  // New tokens allowed after a prompt of prompt_len: max_new_tokens, else max_length - prompt_len
  // (at least 1, as transformers always generates one token).
  int64_t new_token_budget(int64_t prompt_len) const;
};

}  // namespace stablelm
