// From a conversation to the token ids a chat model is prompted with, and the ids that end its turn.
#include <algorithm>

#include "stablelm/chat.h"
#include "stablelm/tokenizer.h"

namespace stablelm::chat {

std::vector<int32_t> tokenize_chat(const Tokenizer& tok, std::string_view text) {
  std::vector<int32_t> ids = tok.encode(text, /*allow_special=*/true);
  // encode() prepends BOS / appends EOS when tokenizer_config.json asks; apply_chat_template
  // tokenizes with add_special_tokens=False, so those automatic ones go (text ones stay).
  if (tok.add_bos_token() && tok.bos_id() && !ids.empty() && ids.front() == *tok.bos_id()) ids.erase(ids.begin());
  if (tok.add_eos_token() && tok.eos_id() && !ids.empty() && ids.back() == *tok.eos_id()) ids.pop_back();
  return ids;
}

std::vector<int32_t> chat_prompt_ids(const ChatTemplateConfig& config, const Tokenizer& tok, const ChatRequest& request,
                                     const RenderOptions& opts) {
  return tokenize_chat(tok, apply_chat_template(config, request, opts));
}

std::vector<int32_t> end_of_turn_ids(const ChatTemplateConfig& config, const Tokenizer& tok,
                                     std::vector<int32_t> eos_ids) {
  const std::string probe = "stablelm end of turn probe";
  const nlohmann::ordered_json conversations[] = {
      nlohmann::ordered_json::parse(R"([{"role": "user", "content": "hello"}, {"role": "assistant", "content": ""}])"),
      nlohmann::ordered_json::parse(
          R"([{"role": "system", "content": "s"}, {"role": "user", "content": "hello"}, {"role": "assistant", "content": ""}])"),
  };
  for (auto messages : conversations) {
    messages.back()["content"] = probe;
    ChatRequest r;
    r.messages = messages;
    std::string text;
    try {
      text = apply_chat_template(config, r);
    } catch (const Error&) {
      continue;  // e.g. a template that insists on a system message: try the next shape
    }
    size_t at = text.rfind(probe);
    if (at == std::string::npos) continue;
    std::string after = text.substr(at + probe.size());
    for (int32_t id : tokenize_chat(tok, after)) {
      if (!tok.is_special(id)) continue;
      if (std::find(eos_ids.begin(), eos_ids.end(), id) == eos_ids.end()) eos_ids.push_back(id);
      break;
    }
    break;
  }
  return eos_ids;
}

}  // namespace stablelm::chat
