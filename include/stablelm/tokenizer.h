#pragma once
// Arcade100k (tiktoken ranks) and any byte-level BPE tokenizer.json, with the same ids as the
// original tokenizers. Owned by the tokenizer work; these signatures are what the rest of the
// engine codes against (extend freely, keep them).
//
// Input text must be valid UTF-8: encode() throws stablelm::Error naming the first bad byte
// (tiktoken and HF tokenizers take Python/Rust strings, which cannot hold invalid UTF-8, so
// there is no "original" behaviour to copy; replacing silently would change the ids).
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
  // Loads one specific file: a tokenizer.json, or a *.tiktoken file (Arcade100k regex and
  // specials). `config` (optional) is a tokenizer_config.json to read beside it.
  static std::unique_ptr<Tokenizer> from_file(const std::filesystem::path& file,
                                              const std::filesystem::path& config = {});

  // allow_special: recognise special/added token strings in the text (transformers' default).
  // Adds BOS/EOS only when tokenizer_config.json asks (add_bos_token / add_eos_token).
  virtual std::vector<int32_t> encode(std::string_view text, bool allow_special = true) const = 0;
  // Bytes of the tokens joined, decoded as UTF-8 with U+FFFD for each maximal ill-formed subpart.
  // Ids that are no token (e.g. embedding padding rows) are skipped, as HF tokenizers does.
  virtual std::string decode(std::span<const int32_t> ids, bool skip_special = false) const = 0;
  // The raw bytes a token stands for (its literal text for special tokens); empty for unknown ids.
  virtual std::string token_bytes(int32_t id) const = 0;
  // Looks up a token as tokenizer.json spells it (byte-level form, e.g. "Ġthe") or an added
  // token's content (e.g. "<|endoftext|>").
  virtual std::optional<int32_t> token_to_id(std::string_view token) const = 0;
  virtual bool is_special(int32_t id) const = 0;
  virtual bool is_valid_id(int32_t id) const = 0;  // a token exists with this id
  virtual int32_t vocab_size() const = 0;  // one past the largest id

  virtual std::optional<int32_t> bos_id() const = 0;
  virtual std::optional<int32_t> eos_id() const = 0;
  virtual std::optional<int32_t> pad_id() const = 0;
  virtual std::optional<int32_t> unk_id() const = 0;
  virtual bool add_bos_token() const = 0;
  virtual bool add_eos_token() const = 0;
  // transformers' decode() applies clean_up_tokenization() when this is set; decode() here
  // never does (streaming could not match it), callers that want it apply it themselves.
  virtual bool clean_up_tokenization_spaces() const = 0;
  virtual const std::string& chat_template() const = 0;  // empty when none
  virtual int64_t model_max_length() const = 0;          // 0 when unset
  // One line saying what was loaded (file, normalizer, pre-tokenizer engine), for logs.
  virtual std::string describe() const = 0;

  // Encodes many texts, spread over `threads` threads (0: one per hardware thread); results in
  // input order, the same as calling encode() on each.
  std::vector<std::vector<int32_t>> encode_batch(std::span<const std::string_view> texts,
                                                 bool allow_special = true, int threads = 0) const;

  // A number no other Tokenizer object of this process has had (unlike its address, never
  // reused): the key for what is derived from a tokenizer and cached (JSON mode's token index).
  uint64_t instance_id() const { return instance_id_; }

 protected:
  Tokenizer();
  Tokenizer(const Tokenizer&);
  Tokenizer& operator=(const Tokenizer&) { return *this; }  // keeps its own id

 private:
  uint64_t instance_id_;
};

// transformers' clean_up_tokenization: " ." → "." and friends.
std::string clean_up_tokenization(std::string_view text);

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
