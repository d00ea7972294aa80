#include "server/responses.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <random>

#include "server/text_output.h"
#include "stablelm/tokenizer.h"

namespace stablelm::server {

const char* finish_reason(StopReason r) { return r == StopReason::MaxNewTokens ? "length" : "stop"; }

ojson empty_legacy_logprobs() {
  return ojson{{"tokens", ojson::array()}, {"token_logprobs", ojson::array()}, {"top_logprobs", ojson::array()},
               {"text_offset", ojson::array()}};
}

void append_legacy_logprobs(ojson& lp, const Tokenizer& tok, std::span<const int32_t> ids,
                            std::span<const TokenLogprob> entries, bool first_null, int64_t& offset) {
  size_t e = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    const int32_t id = ids[i];
    lp["tokens"].push_back(token_display(tok, id));
    lp["text_offset"].push_back(offset);
    if (tok.is_valid_id(id) && !tok.is_special(id)) offset += utf8_chars(tok.token_bytes(id));
    if (i == 0 && first_null) {
      lp["token_logprobs"].push_back(nullptr);
      lp["top_logprobs"].push_back(nullptr);
      continue;
    }
    const TokenLogprob& t = entries[e++];
    lp["token_logprobs"].push_back(t.logprob);
    // The top alternatives, then the chosen token when it is not among them (as vLLM does).
    ojson top = ojson::object();
    bool has = false;
    for (const auto& [tid, v] : t.top) {
      top[token_display(tok, tid)] = v;
      has = has || tid == id;
    }
    if (!has) top[token_display(tok, id)] = t.logprob;
    lp["top_logprobs"].push_back(std::move(top));
  }
}

ojson chat_logprobs_content(const Tokenizer& tok, std::span<const TokenLogprob> entries) {
  auto bytes_of = [&](int32_t id) {
    ojson b = ojson::array();
    if (tok.is_valid_id(id))
      for (unsigned char c : tok.token_bytes(id)) b.push_back(static_cast<int>(c));
    return b;
  };
  ojson out = ojson::array();
  for (const TokenLogprob& t : entries) {
    ojson top = ojson::array();
    for (const auto& [tid, v] : t.top)
      top.push_back(ojson{{"token", token_display(tok, tid)}, {"logprob", v}, {"bytes", bytes_of(tid)}});
    out.push_back(ojson{{"token", token_display(tok, t.id)},
                        {"logprob", t.logprob},
                        {"bytes", bytes_of(t.id)},
                        {"top_logprobs", std::move(top)}});
  }
  return out;
}

std::vector<size_t> returned_choices(const JobProgress& p, int n, bool rank) {
  std::vector<size_t> idx(p.choices.size());
  std::iota(idx.begin(), idx.end(), size_t{0});
  if (rank)
    std::stable_sort(idx.begin(), idx.end(),
                     [&](size_t a, size_t b) { return p.choices[a].cum_logprob > p.choices[b].cum_logprob; });
  idx.resize(std::min(idx.size(), static_cast<size_t>(n)));
  return idx;
}

std::string make_id(const char* prefix) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llx%08llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng() & 0xffffffffu));
  return std::string(prefix) + buf;
}

ojson tool_calls_json(const std::vector<chat::ToolCall>& calls, bool stream_index) {
  ojson out = ojson::array();
  for (size_t i = 0; i < calls.size(); ++i) {
    ojson c;
    if (stream_index) c["index"] = i;
    c["id"] = make_id("call_");
    c["type"] = "function";
    c["function"] = ojson{{"name", calls[i].name}, {"arguments", calls[i].arguments}};
    out.push_back(std::move(c));
  }
  return out;
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string dump(const ojson& j) { return j.dump(-1, ' ', false, ojson::error_handler_t::replace); }
std::string dump(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

}  // namespace stablelm::server
