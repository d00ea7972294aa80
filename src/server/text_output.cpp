#include "server/text_output.h"

#include <algorithm>
#include <cstdio>

#include "stablelm/tokenizer.h"

namespace stablelm::server {

size_t utf8_complete_prefix(std::string_view s) {
  // Walk back over at most 3 continuation bytes to the last lead byte and check its length.
  size_t i = s.size();
  size_t back = 0;
  while (i > 0 && back < 4 && (static_cast<unsigned char>(s[i - 1]) & 0xC0) == 0x80) --i, ++back;
  if (i == 0) return back == 0 ? s.size() : 0;
  const auto lead = static_cast<unsigned char>(s[i - 1]);
  size_t need = 1;
  if (lead >= 0xF0) need = 4;
  else if (lead >= 0xE0) need = 3;
  else if (lead >= 0xC0) need = 2;
  return back + 1 >= need ? s.size() : i - 1;
}

int64_t utf8_chars(std::string_view s) {
  int64_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

bool utf8_valid(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += len;
  }
  return true;
}

std::string token_display(const Tokenizer& tok, int32_t id) {
  if (!tok.is_valid_id(id)) return "bytes:";  // a padding row of the model's vocabulary: no text
  const std::string b = tok.token_bytes(id);
  if (utf8_valid(b)) return b;
  std::string out = "bytes:";
  char buf[8];
  for (unsigned char c : b) {
    std::snprintf(buf, sizeof buf, "\\x%02x", c);
    out += buf;
  }
  return out;
}

TextAssembler::TextAssembler(const Tokenizer& tok, std::vector<std::string> stops) : tok_(tok), stops_(std::move(stops)) {}

std::string TextAssembler::push(int32_t id) {
  if (tok_.is_valid_id(id) && !tok_.is_special(id)) bytes_ += tok_.token_bytes(id);
  // Hold back the longest tail that a stop string starts with.
  size_t hold = 0;
  for (const std::string& s : stops_)
    for (size_t k = std::min(s.size() - 1, bytes_.size()); k > hold; --k)
      if (bytes_.compare(bytes_.size() - k, k, s, 0, k) == 0) {
        hold = k;
        break;
      }
  size_t end = bytes_.size() - hold;
  // Never past a whole stop string (the token that completes one is the last one pushed).
  for (const std::string& s : stops_) end = std::min(end, bytes_.find(s));
  end = utf8_complete_prefix(std::string_view(bytes_).substr(0, end));
  if (end <= sent_) return {};
  std::string out = bytes_.substr(sent_, end - sent_);
  sent_ = end;
  return out;
}

std::string TextAssembler::finish(int stop_index) {
  size_t end = bytes_.size();
  if (stop_index >= 0 && static_cast<size_t>(stop_index) < stops_.size()) {
    const size_t at = bytes_.find(stops_[static_cast<size_t>(stop_index)]);
    end = at == std::string::npos ? sent_ : std::max(at, sent_);  // npos: the stop string began in the prompt
  }
  if (end <= sent_) return {};
  std::string out = bytes_.substr(sent_, end - sent_);
  sent_ = end;
  return out;
}

ToolCallGate::Release ToolCallGate::push(std::string text, nlohmann::ordered_json logprobs, bool done) {
  Release out;
  if (!holding_) {
    out.text = std::move(text);
    out.logprobs = std::move(logprobs);
    return out;
  }
  held_ += text;
  for (auto& e : logprobs) held_logprobs_.push_back(std::move(e));
  if (done) {
    out.calls = chat::parse_tool_calls(held_);
  } else if (chat::may_be_tool_call(held_)) {
    return out;  // not known yet
  }
  holding_ = false;  // known now: the calls, or plain text after all
  out.logprobs = std::move(held_logprobs_);
  if (!out.calls) out.text = std::move(held_);
  return out;
}

}  // namespace stablelm::server
