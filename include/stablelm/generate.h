#pragma once
// Text generation like transformers' GenerationMixin.generate() for one sequence: the settings of
// generation_config.json (with transformers' defaults), the logits processors and warpers of
// stablelm/sampling.h, and the decode loop over a Session (prefill once, then one token a step).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "stablelm/config.h"

namespace stablelm {

class Session;
class Tokenizer;

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
  int no_repeat_ngram_size = 0;
  std::optional<int64_t> max_new_tokens;  // wins over max_length when set
  int64_t max_length = 20;                // prompt + new tokens
  std::optional<int64_t> min_new_tokens;
  int64_t min_length = 0;  // prompt + new tokens
  std::vector<int32_t> eos_token_ids;
  std::optional<int32_t> bos_token_id;
  std::optional<int32_t> pad_token_id;
  std::vector<std::string> stop_strings;

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

// Stop strings checked like transformers' StopStringCriteria: after each new token, stop when a
// stop string ends inside that token's bytes (it may start in earlier tokens, prompt included, and
// the token may run past its end). Matching is on raw token bytes.
class StopStringMatcher {
 public:
  explicit StopStringMatcher(std::vector<std::string> stops);
  bool empty() const { return stops_.empty(); }
  // Seeds the window with the bytes before the first generated token (the prompt's tail).
  void reset(std::string_view preceding_bytes);
  // Appends a token's bytes; returns the index of a stop string that now ends in them, or -1.
  int push(std::string_view token_bytes);

 private:
  std::vector<std::string> stops_;
  size_t keep_ = 0;     // longest stop - 1: the bytes of history a match can start in
  std::string window_;  // the last keep_ bytes, then the new token
};

enum class StopReason { Eos, MaxNewTokens, StopString, Callback };
const char* stop_reason_name(StopReason r);

struct GenerateOptions {
  uint64_t seed = 0;
  // Needed for stop strings (token bytes); may be null otherwise.
  const Tokenizer* tokenizer = nullptr;
  // Called with each new id as soon as it is chosen (the id that triggers a stop included);
  // return false to stop after it.
  std::function<bool(int32_t id)> on_token;
};

struct GenerationResult {
  std::vector<int32_t> ids;  // new tokens, the eos / stop-completing token included (as transformers returns)
  StopReason stop = StopReason::MaxNewTokens;
  int stop_string_index = -1;
  int64_t prompt_tokens = 0;
  double prefill_seconds = 0;  // the prompt's forward pass and the first token's choice
  double decode_seconds = 0;   // the remaining steps
  int64_t decode_steps = 0;    // forward passes of one token (ids.size() - 1 unless it stopped early)
};

// Runs generation on an empty session (a used one is reset to position 0). The prompt must be
// non-empty and prompt + budget must fit the session's context; otherwise stablelm::Error says so.
GenerationResult generate(Session& session, std::span<const int32_t> prompt, const GenerationConfig& cfg,
                          const GenerateOptions& opts = {});

}  // namespace stablelm
