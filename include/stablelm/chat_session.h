#pragma once
// A multi-turn conversation with a chat model on one Session (one KV cache), as `stablelm chat`
// runs it: each turn renders the whole conversation with the model's template, compares its
// tokens with those already in the cache, drops back to the common prefix and prefills only what
// is new; then decodes the answer until the model's end of turn.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "stablelm/chat.h"
#include "stablelm/generate.h"
#include "stablelm/model.h"

namespace stablelm::chat {

// What happens when the conversation no longer fits the context.
enum class ContextOverflow {
  Error,       // the turn fails with an Error that says so (the conversation is kept)
  DropOldest,  // the oldest non-system messages are removed until it fits, then re-rendered
};

struct ChatSessionOptions {
  // Sampling and limits (max_new_tokens; unset = until the end of turn or of the context).
  // End-of-turn ids are added to generation.eos_token_ids (end_of_turn_ids()).
  GenerationConfig generation;
  uint64_t seed = 0;               // turn i samples with seed + i
  std::string system;              // a system message first, when not empty
  ContextOverflow overflow = ContextOverflow::Error;
  int64_t max_context = 0;         // 0 = the model's max_position_embeddings
  KVFormat kv = KVFormat::F32;
  RenderOptions render;            // strftime_now's clock, sandbox limits
};

struct TurnStats {
  int64_t prompt_tokens = 0;     // the rendered conversation
  int64_t reused_tokens = 0;     // found in the KV cache (common prefix with the previous turn)
  int64_t prefilled_tokens = 0;  // prompt_tokens - reused_tokens: run through the model this turn
  int64_t generated_tokens = 0;  // the end-of-turn token included when one ended the answer
  StopReason stop = StopReason::MaxNewTokens;
  int64_t dropped_messages = 0;  // by ContextOverflow::DropOldest
  double prefill_seconds = 0, decode_seconds = 0;
};

class ChatSession {
 public:
  // Streams the answer's text; return false to stop the answer there.
  using TextFn = std::function<bool(std::string_view piece)>;

  // Throws Error when the model has no chat template (naming --template as the way to give one).
  ChatSession(const Model& model, const Tokenizer& tok, ChatTemplateConfig templates, ChatSessionOptions opts);
  ~ChatSession();

  // Adds the user's message and answers it; the answer (even when stopped early) becomes the
  // assistant's message. `stop` (e.g. set by Ctrl-C) ends the answer at the next token.
  TurnStats send(const std::string& user_text, const TextFn& on_text, const std::atomic<bool>* stop = nullptr);
  // Removes the last answer and answers the same messages again (next seed).
  TurnStats regenerate(const TextFn& on_text, const std::atomic<bool>* stop = nullptr);

  void reset();                          // empty conversation; the system message stays
  void set_system(const std::string& text);  // replaces (or with "" removes) the system message
  // The conversation as OpenAI-style messages ([{"role", "content"}...]), system first when set.
  const nlohmann::ordered_json& messages() const { return messages_; }
  // Replaces the conversation (for /load); throws Error unless it is a list of {role, content} objects.
  void set_messages(const nlohmann::ordered_json& messages);
  const std::vector<int32_t>& end_of_turn_ids() const { return eos_; }
  int64_t cached_tokens() const { return static_cast<int64_t>(cached_.size()); }

 private:
  TurnStats answer(const TextFn& on_text, const std::atomic<bool>* stop);
  std::vector<int32_t> render_prompt();

  const Model& model_;
  const Tokenizer& tok_;
  ChatTemplateConfig templates_;
  Template template_;
  ChatSessionOptions opts_;
  std::vector<int32_t> eos_;
  std::unique_ptr<Session> session_;
  std::vector<int32_t> cached_;  // the tokens whose keys/values the session holds, in order
  nlohmann::ordered_json messages_ = nlohmann::ordered_json::array();
  uint64_t turns_ = 0;
};

}  // namespace stablelm::chat
