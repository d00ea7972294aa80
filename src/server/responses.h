#pragma once
// OpenAI's response bodies and stream chunks for the generation endpoints, built from a request's
// progress (server/scheduler.h). Key order follows OpenAI's (ordered_json).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/scheduler.h"
#include "stablelm/tool_calls.h"

namespace stablelm {
class Tokenizer;
}

namespace stablelm::server {

using ojson = nlohmann::ordered_json;

// "stop" for eos and stop strings, "length" for the token budget.
const char* finish_reason(StopReason r);

// Legacy completions logprobs ({tokens, token_logprobs, top_logprobs, text_offset}) for tokens
// whose text starts at character `offset`; `first_null` gives the first token null entries
// (the first prompt token with echo). Advances offset.
void append_legacy_logprobs(ojson& lp, const Tokenizer& tok, std::span<const int32_t> ids,
                            std::span<const TokenLogprob> entries, bool first_null, int64_t& offset);
ojson empty_legacy_logprobs();

// Chat logprobs content entries ({token, logprob, bytes, top_logprobs}).
ojson chat_logprobs_content(const Tokenizer& tok, std::span<const TokenLogprob> entries);

// The choices to return for a job: all of them, or the n with the highest cumulative logprob.
std::vector<size_t> returned_choices(const JobProgress& p, int n, bool rank);

// "cmpl-…" / "chatcmpl-…" with 24 random hex digits.
std::string make_id(const char* prefix);

// OpenAI's `tool_calls` list for parsed calls: [{"id": "call_...", "type": "function",
// "function": {"name", "arguments"}}]; with `stream_index` each entry also has its "index" (the
// shape of a streamed delta).
ojson tool_calls_json(const std::vector<chat::ToolCall>& calls, bool stream_index = false);
int64_t unix_now();

// JSON text for the wire: invalid UTF-8 (a token split inside a character) becomes U+FFFD.
std::string dump(const ojson& j);
std::string dump(const nlohmann::json& j);

}  // namespace stablelm::server
