#pragma once
// Constrained decoding: the next token may only be one whose bytes keep the output a prefix of
// what a recognizer describes: one JSON object (JSON mode, OpenAI's response_format
// {"type": "json_object"}) or a list of tool calls (tool_choice "required" or a named function).
// So the output is valid once the recognizer completes (the generator then stops). Applied as a
// mask after the other processors, where transformers applies prefix_allowed_tokens_fn
// (PrefixConstrainedLogitsProcessor), so the sampling of the allowed tokens is unchanged.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <span>
#include <string>
#include <vector>

#include "sampling/json_prefix.h"
#include "sampling/json_schema.h"
#include "sampling/regex_prefix.h"
#include "sampling/schema_prefix.h"
#include "sampling/tool_calls_prefix.h"
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
  // The same tokens sorted by bytes, for walks inside pattern-held strings.
  const Sorted& string_text_sorted() const { return text_; }
  const Sorted& not_string_text() const { return rest_; }
  // The most bytes (so the most characters) of a string_text() token.
  size_t longest_string_text() const { return longest_string_text_; }
  // The bytes of token id; nullopt when it cannot be generated as text.
  std::optional<std::string_view> bytes_of(int32_t id) const;

 private:
  Sorted all_, rest_, text_;
  std::vector<int32_t> string_text_;
  size_t longest_string_text_ = 0;
  std::vector<int64_t> entry_of_id_;  // index into all_, -1 for none
};

// The index for a tokenizer: built once per Tokenizer object (~30 ms for 100k tokens) and
// shared by every sequence that uses it.
std::shared_ptr<const TokenBytesIndex> token_bytes_index(const Tokenizer& tok);

// A constraint from a byte-level prefix recognizer (JsonPrefix, ToolCallsPrefix: push(byte),
// complete(), plain_string_room(), pattern_string()): a token is allowed when the recognizer
// accepts all its bytes.
template <class Prefix>
class PrefixConstraint final : public TokenConstraint {
 public:
  // keep_alive: what the start state points to (ToolCallsPrefix's names), kept with it.
  PrefixConstraint(std::shared_ptr<const TokenBytesIndex> index, Prefix start = Prefix(),
                   std::shared_ptr<const void> keep_alive = nullptr);
  // Sets every token that cannot continue the output to -inf (ids past the index too).
  void mask(std::span<float> scores) const override;
  // Advances over a chosen token; throws stablelm::Error when the token was not allowed.
  void accept(int32_t id) override;
  bool complete() const override { return state_.complete(); }

 private:
  std::shared_ptr<const TokenBytesIndex> index_;
  std::shared_ptr<const void> keep_alive_;
  Prefix state_;
  mutable std::vector<Prefix> path_;  // the walk's states by byte depth
  mutable std::vector<uint8_t> allowed_;
  // Inside pattern-held strings: the string-text tokens each automaton state accepts (bits over
  // token ids), filled as states are met; the automatons outlive this object.
  mutable std::map<std::pair<const RegexDfa*, uint32_t>, std::vector<uint64_t>> pattern_text_;
  mutable std::vector<PatternString> pattern_path_;
};

// JSON mode: the output is one JSON object.
using JsonObjectConstraint = PrefixConstraint<JsonPrefix>;
// tool_choice "required" / a named function: the output is a list of calls.
using ToolCallsConstraint = PrefixConstraint<ToolCallsPrefix>;
// response_format {"type": "json_schema"}: the output is a value the schema allows.
using JsonSchemaConstraint = PrefixConstraint<SchemaPrefix>;
// guided_regex / guided_choice: the output is text the regex matches whole. Unlike the JSON
// constraints, the text may end (an end of sequence token) wherever it matches: an end token is
// allowed there, and accept() takes it. The allowed tokens are worked out once per automaton
// state (a bitmap of the vocabulary, 12.5 KB for 100k tokens, for up to kStatesKept states).
class RegexConstraint final : public TokenConstraint {
 public:
  static constexpr size_t kStatesKept = 256;
  // regex: compiled with Match::Full. end_ids: the tokens that end the sequence (eos).
  RegexConstraint(std::shared_ptr<const TokenBytesIndex> index, std::shared_ptr<const RegexDfa> regex,
                  std::vector<int32_t> end_ids);
  void mask(std::span<float> scores) const override;
  void accept(int32_t id) override;
  bool complete() const override { return state_.complete(); }

 private:
  std::shared_ptr<const TokenBytesIndex> index_;
  std::shared_ptr<const RegexDfa> regex_;
  std::vector<int32_t> end_ids_;
  RegexPrefix state_;
  mutable std::map<uint32_t, std::vector<uint64_t>> by_state_;  // allowed token ids, as bits
  mutable std::vector<RegexPrefix> path_;
  mutable std::vector<uint8_t> allowed_;
  mutable std::vector<float> kept_;  // the end tokens' scores, while the mask is made
};

std::unique_ptr<JsonSchemaConstraint> make_json_schema_constraint(std::shared_ptr<const TokenBytesIndex> index,
                                                                  std::shared_ptr<const SchemaGraph> schema,
                                                                  JsonPrefix::Whitespace ws = JsonPrefix::Whitespace::Any);
// The constraint for names (any order, duplicates allowed; checked: none empty or holding '"',
// '\' or a control character, else stablelm::Error) and at most max_calls calls (0: any).
// schemas: empty, or one per name: the compiled parameters its arguments follow (null: any
// object); each must allow an object at its root (else stablelm::Error). A name given twice keeps
// its first schema.
std::unique_ptr<ToolCallsConstraint> make_tool_calls_constraint(
    std::shared_ptr<const TokenBytesIndex> index, std::vector<std::string> names, int max_calls,
    JsonPrefix::Whitespace ws = JsonPrefix::Whitespace::Any,
    const std::vector<std::shared_ptr<const SchemaGraph>>& schemas = {});

}  // namespace stablelm::sampling
