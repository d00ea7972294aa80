#pragma once
// The typed requests of the generation endpoints, parsed and validated from their JSON bodies.
// Unknown fields are ignored (as OpenAI's clients send extras); a known field of the wrong type
// or out of range is an ApiError 400 naming it.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "stablelm/generation_config.h"

namespace stablelm {
class Tokenizer;
}

namespace stablelm::server {

struct Limits {
  int max_n = 16;
  int max_logprobs = 20;
};

// The sampling fields both endpoints share (OpenAI's, plus vLLM's top_k / min_p / repetition_penalty).
struct SamplingFields {
  float temperature = 1.0f;
  double top_p = 1.0;
  int top_k = 0;  // 0 or -1 = off
  double min_p = 0.0;
  float repetition_penalty = 1.0f;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  std::optional<int64_t> max_tokens;
  int n = 1;
};

struct CompletionRequest {
  // One entry per prompt: token ids (as given, or the encoded text) and, for text prompts, the text.
  std::vector<std::vector<int32_t>> prompts;
  std::vector<std::optional<std::string>> prompt_texts;
  SamplingFields sampling;
  int best_of = 1;
  bool echo = false;
  std::optional<int> logprobs;  // top alternatives per token
  bool stream = false;
  bool include_usage = false;
};

struct ChatRequest {
  nlohmann::json messages;  // validated: a non-empty array of objects with a string role
  nlohmann::json tools;     // null when absent
  SamplingFields sampling;
  bool logprobs = false;
  int top_logprobs = 0;
  bool stream = false;
  bool include_usage = false;
};

// Throws ApiError(400) naming the field. Text prompts are encoded with the tokenizer (special
// tokens allowed, the tokenizer's BOS added when it adds one); token-id prompts are used as given.
CompletionRequest parse_completion_request(const nlohmann::json& body, const Tokenizer& tok, const Limits& limits);
ChatRequest parse_chat_request(const nlohmann::json& body, const Limits& limits);

// Parses a body as a JSON object (ApiError 400 on malformed JSON or another type).
nlohmann::json parse_json_object(const std::string& body);

// The generation settings of a request: OpenAI's defaults (temperature 1, top_p 1, no top_k),
// the model's eos ids, max_new_tokens = max_tokens. Throws ApiError(400) on an invalid combination.
GenerationConfig make_generation_config(const SamplingFields& s, const GenerationConfig& model_defaults,
                                        int64_t max_new_tokens);

}  // namespace stablelm::server
