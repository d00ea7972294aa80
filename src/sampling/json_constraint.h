#pragma once
// JSON mode (OpenAI's response_format {"type": "json_object"}, Ollama's format "json"): the
// next token may only be one whose bytes keep the output a prefix of one JSON object, so the
// output is always valid JSON once the object closes (the generator then stops). Applied as a
// mask after the other processors, where transformers applies prefix_allowed_tokens_fn
// (PrefixConstrainedLogitsProcessor), so the sampling of the allowed tokens is unchanged.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "sampling/json_prefix.h"
#include "stablelm/sampling.h"

namespace stablelm {
class Tokenizer;
}

namespace stablelm::sampling {

// The tokens that can be generated as text: every valid, non-special token with bytes. Special
// tokens are left out: they are not the text they spell once a client skips them.
class TokenBytesIndex {
 public:
  // Entries sorted by bytes, so that tokens sharing a prefix are neighbours: a walk in this order
  // is a depth-first walk of the byte trie.
  struct Sorted {
    std::string bytes;
    std::vector<size_t> begin;    // entry i is bytes[begin[i], begin[i + 1])
    std::vector<int32_t> ids;
    std::vector<uint32_t> shared;  // bytes entry i shares with entry i - 1
    std::vector<uint32_t> group_end;  // the first entry after i with another first byte
    size_t size() const { return ids.size(); }
    std::string_view at(size_t i) const { return {bytes.data() + begin[i], begin[i + 1] - begin[i]}; }
  };

  explicit TokenBytesIndex(const Tokenizer& tok);
  const Sorted& all() const { return all_; }
  // Tokens that, inside a JSON string, are string text whatever came before (no '"', no control
  // byte, escapes and UTF-8 sequences complete): most of the vocabulary, allowed in one go there.
  const std::vector<int32_t>& string_text() const { return string_text_; }
  const Sorted& not_string_text() const { return rest_; }
  // The bytes of token id; nullopt when it cannot be generated as text.
  std::optional<std::string_view> bytes_of(int32_t id) const;

 private:
  Sorted all_, rest_;
  std::vector<int32_t> string_text_;
  std::vector<int64_t> entry_of_id_;  // index into all_, -1 for none
};

// The index for a tokenizer: built once per Tokenizer object (~30 ms for 100k tokens) and
// shared by every sequence that uses it.
std::shared_ptr<const TokenBytesIndex> token_bytes_index(const Tokenizer& tok);

class JsonObjectConstraint final : public TokenConstraint {
 public:
  explicit JsonObjectConstraint(std::shared_ptr<const TokenBytesIndex> index);
  // Sets every token that cannot continue the output to -inf (ids past the index too).
  void mask(std::span<float> scores) const override;
  // Advances over a chosen token; throws stablelm::Error when the token was not allowed.
  void accept(int32_t id) override;
  bool complete() const override { return state_.complete(); }

 private:
  std::shared_ptr<const TokenBytesIndex> index_;
  JsonPrefix state_;
  mutable std::vector<JsonPrefix> path_;  // the walk's states by byte depth
  mutable std::vector<uint8_t> allowed_;
};

}  // namespace stablelm::sampling
