#pragma once
// Arcade100k (tiktoken ranks) and any byte-level BPE tokenizer.json, with the same ids as the
// original tokenizers. Owned by the tokenizer work; these signatures are what the rest of the
// engine codes against (extend freely, keep them).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace stablelm {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Loads from a model or tokenizer directory: tokenizer.json (+ tokenizer_config.json) when
  // present, else arcade100k.tiktoken. Throws stablelm::Error naming the file on bad input.
  static std::unique_ptr<Tokenizer> from_dir(const std::filesystem::path& dir);

  // allow_special: recognise special/added token strings in the text (transformers' default).
  // Adds BOS/EOS only when tokenizer_config.json asks (add_bos_token / add_eos_token).
  virtual std::vector<int32_t> encode(std::string_view text, bool allow_special = true) const = 0;
  // Bytes of the tokens joined, decoded as UTF-8 with U+FFFD for each maximal ill-formed subpart.
  virtual std::string decode(std::span<const int32_t> ids, bool skip_special = false) const = 0;
  // The raw bytes a token stands for (its literal text for special tokens); empty for unknown ids.
  virtual std::string token_bytes(int32_t id) const = 0;
  virtual std::optional<int32_t> token_to_id(std::string_view token) const = 0;
  virtual bool is_special(int32_t id) const = 0;
  virtual int32_t vocab_size() const = 0;  // one past the largest id

  virtual std::optional<int32_t> bos_id() const = 0;
  virtual std::optional<int32_t> eos_id() const = 0;
  virtual std::optional<int32_t> pad_id() const = 0;
  virtual const std::string& chat_template() const = 0;  // empty when none
  virtual int64_t model_max_length() const = 0;          // 0 when unset
};

// Streaming decode: push ids one at a time, get the text that became complete. Never emits half
// a UTF-8 character; the concatenation of all pushes plus finish() equals decode(all ids).
class IncrementalDecoder {
 public:
  explicit IncrementalDecoder(const Tokenizer& tok, bool skip_special = false);
  std::string push(int32_t id);
  std::string finish();

 private:
  const Tokenizer& tok_;
  bool skip_special_;
  std::string pending_;  // bytes of an incomplete trailing character
};

}  // namespace stablelm
