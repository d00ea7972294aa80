#include "stablelm/chat_session.h"

#include <algorithm>
#include <chrono>

#include "stablelm/error.h"
#include "stablelm/sampling.h"
#include "stablelm/tokenizer.h"

namespace stablelm::chat {

namespace {

const std::string& template_text(const ChatTemplateConfig& c) {
  if (!c.has_template())
    throw Error("the model has no chat template (no \"chat_template\" in tokenizer_config.json and no "
                "chat_template.jinja); pass one with --template FILE.jinja");
  return c.select(false);
}

}  // namespace

ChatSession::ChatSession(const Model& model, const Tokenizer& tok, ChatTemplateConfig templates, ChatSessionOptions opts)
    : model_(model),
      tok_(tok),
      templates_(std::move(templates)),
      template_(template_text(templates_)),
      opts_(std::move(opts)) {
  eos_ = chat::end_of_turn_ids(templates_, tok_, opts_.generation.eos_token_ids);
  opts_.generation.eos_token_ids = eos_;
  opts_.generation.validate();
  const int64_t ctx = opts_.max_context > 0 ? opts_.max_context : model_.config().max_position_embeddings;
  session_ = std::make_unique<Session>(model_, ctx, opts_.kv);
  set_system(opts_.system);
}

ChatSession::~ChatSession() = default;

void ChatSession::reset() {
  nlohmann::ordered_json kept = nlohmann::ordered_json::array();
  if (!messages_.empty() && messages_[0].value("role", "") == "system") kept.push_back(messages_[0]);
  messages_ = kept;
}

void ChatSession::set_system(const std::string& text) {
  if (!messages_.empty() && messages_[0].value("role", "") == "system") messages_.erase(messages_.begin());
  if (!text.empty()) messages_.insert(messages_.begin(), nlohmann::ordered_json{{"role", "system"}, {"content", text}});
}

void ChatSession::set_messages(const nlohmann::ordered_json& messages) {
  if (!messages.is_array()) throw Error("a conversation must be a JSON list of messages");
  for (const auto& m : messages)
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      throw Error("every message must be an object with a string \"role\" (and its \"content\")");
  messages_ = messages;
}

std::vector<int32_t> ChatSession::render_prompt() {
  ChatRequest r;
  r.messages = messages_;
  r.add_generation_prompt = true;
  return tokenize_chat(tok_, render_chat(template_, r, templates_.special_tokens, opts_.render));
}

TurnStats ChatSession::send(const std::string& user_text, const TextFn& on_text, const std::atomic<bool>* stop) {
  messages_.push_back(nlohmann::ordered_json{{"role", "user"}, {"content", user_text}});
  try {
    return answer(on_text, stop);
  } catch (...) {
    messages_.erase(messages_.end() - 1);  // a failed turn leaves the conversation as it was
    throw;
  }
}

TurnStats ChatSession::regenerate(const TextFn& on_text, const std::atomic<bool>* stop) {
  if (messages_.empty() || messages_.back().value("role", "") != "assistant")
    throw Error("/regen: there is no answer to regenerate yet");
  nlohmann::ordered_json last = messages_.back();
  messages_.erase(messages_.end() - 1);
  try {
    return answer(on_text, stop);
  } catch (...) {
    messages_.push_back(last);
    throw;
  }
}

TurnStats ChatSession::answer(const TextFn& on_text, const std::atomic<bool>* stop) {
  using Clock = std::chrono::steady_clock;
  TurnStats st;
  const GenerationConfig& cfg = opts_.generation;
  const int64_t ctx = session_->max_context();
  // Room the answer needs: max_new_tokens when set, else at least one token.
  const int64_t want = cfg.max_new_tokens ? *cfg.max_new_tokens : 1;
  std::vector<int32_t> prompt = render_prompt();
  while (static_cast<int64_t>(prompt.size()) + want > ctx) {
    if (opts_.overflow == ContextOverflow::Error)
      throw Error("the conversation (" + std::to_string(prompt.size()) + " tokens) + " + std::to_string(want) +
                  " new tokens exceeds the context of " + std::to_string(ctx) +
                  " tokens: /reset, or run with --context-overflow drop-oldest");
    // Drop the oldest non-system message (and the answers that follow it, up to the next user turn).
    size_t first = (!messages_.empty() && messages_[0].value("role", "") == "system") ? 1 : 0;
    if (messages_.size() <= first + 1)
      throw Error("the last message alone (" + std::to_string(prompt.size()) + " tokens) + " + std::to_string(want) +
                  " new tokens does not fit the context of " + std::to_string(ctx) + " tokens");
    size_t end = first + 1;
    while (end + 1 < messages_.size() && messages_[end].value("role", "") != "user") ++end;
    st.dropped_messages += static_cast<int64_t>(end - first);
    messages_.erase(messages_.begin() + static_cast<long>(first), messages_.begin() + static_cast<long>(end));
    prompt = render_prompt();
  }
  st.prompt_tokens = static_cast<int64_t>(prompt.size());
  if (prompt.empty()) throw Error("the chat template rendered an empty prompt");

  // KV reuse: keep the common prefix of what is cached and what the conversation now is; at least
  // one token is run so that there are logits to choose from.
  size_t common = 0;
  while (common < cached_.size() && common < prompt.size() && cached_[common] == prompt[common]) ++common;
  if (common == prompt.size()) --common;
  if (static_cast<int64_t>(common) < session_->n_past()) session_->truncate(static_cast<int64_t>(common));
  cached_.resize(common);
  st.reused_tokens = static_cast<int64_t>(common);
  st.prefilled_tokens = st.prompt_tokens - st.reused_tokens;

  const auto t0 = Clock::now();
  std::span<const float> logits =
      session_->forward(std::span<const int32_t>(prompt.data() + common, prompt.size() - common), false);
  cached_.insert(cached_.end(), prompt.begin() + static_cast<long>(common), prompt.end());
  auto t_first = Clock::now();

  sampling::LogitsPipeline pipe(cfg, static_cast<int64_t>(logits.size()), prompt, opts_.seed + turns_++);
  StopStringMatcher stops(cfg.stop_strings);
  IncrementalDecoder dec(tok_);
  std::string text;
  bool keep_streaming = true;
  const int64_t budget = cfg.max_new_tokens ? *cfg.max_new_tokens : ctx - st.prompt_tokens;
  for (;;) {
    const int32_t id = pipe.choose(logits);
    pipe.push(id);
    ++st.generated_tokens;
    if (st.generated_tokens == 1) t_first = Clock::now();
    if (std::find(eos_.begin(), eos_.end(), id) != eos_.end()) {
      st.stop = StopReason::Eos;
      break;
    }
    std::string piece = dec.push(id);
    text += piece;
    if (!piece.empty() && keep_streaming && on_text && !on_text(piece)) keep_streaming = false;
    if (!stops.empty() && stops.push(tok_.token_bytes(id)) >= 0) {
      st.stop = StopReason::StopString;
      break;
    }
    if (!keep_streaming || (stop && stop->load())) {
      st.stop = StopReason::Callback;
      break;
    }
    if (st.generated_tokens >= budget || session_->n_past() + 1 >= ctx) {
      st.stop = StopReason::MaxNewTokens;
      break;
    }
    logits = session_->forward(std::span<const int32_t>(&id, 1), false);
    cached_.push_back(id);
  }
  std::string rest = dec.finish();
  text += rest;
  if (!rest.empty() && keep_streaming && on_text) on_text(rest);
  const auto t_end = Clock::now();
  st.prefill_seconds = std::chrono::duration<double>(t_first - t0).count();
  st.decode_seconds = std::chrono::duration<double>(t_end - t_first).count();
  messages_.push_back(nlohmann::ordered_json{{"role", "assistant"}, {"content", text}});
  return st;
}

}  // namespace stablelm::chat
