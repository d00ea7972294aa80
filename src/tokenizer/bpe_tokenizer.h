#pragma once
// The one Tokenizer implementation: added tokens → normalizer → pre-tokenizer → byte-level BPE.
// The loaders (load_hf.cpp, load_tiktoken.cpp) describe a file as a BpeTokenizer::Spec.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "stablelm/tokenizer.h"
#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/pretokenize.h"

namespace stablelm::tok {

// GPT-2's byte ↔ printable-character table that byte-level BPE vocabularies are written in.
const std::string& byte_level_char(unsigned char b);  // UTF-8 of the char standing for byte b
// Byte-level string → bytes; false when a character is outside the 256-character alphabet.
bool byte_level_to_bytes(std::string_view s, std::string& out);

struct TokenizerConfig {  // tokenizer_config.json
  std::optional<std::string> bos, eos, pad, unk;
  bool add_bos = false, add_eos = false, clean_up_spaces = false;
  int64_t model_max_length = 0;
  std::string chat_template;
};
// Parses tokenizer_config.json; throws Error naming the file.
TokenizerConfig load_tokenizer_config(const std::filesystem::path& file);

class BpeTokenizer final : public Tokenizer {
 public:
  struct Spec {
    std::string source;             // the file it came from, for messages
    bool nfc_whole_text = false;    // tiktoken: NFC before cutting specials
    bool nfc_segments = false;      // tokenizer.json normalizer NFC: per segment, after added tokens
    std::unique_ptr<Bpe> bpe;
    PreTokenizer pre;
    std::vector<AddedToken> added;
    std::vector<std::string> token_bytes;  // by id; ids without a token hold no entry in `valid`
    std::vector<uint8_t> valid;
    TokenizerConfig config;
    std::string description;
  };
  explicit BpeTokenizer(Spec spec);

  std::vector<int32_t> encode(std::string_view text, bool allow_special) const override;
  std::string decode(std::span<const int32_t> ids, bool skip_special) const override;
  std::string token_bytes(int32_t id) const override;
  std::optional<int32_t> token_to_id(std::string_view token) const override;
  bool is_special(int32_t id) const override;
  bool is_valid_id(int32_t id) const override;
  int32_t vocab_size() const override { return static_cast<int32_t>(spec_.token_bytes.size()); }
  std::optional<int32_t> bos_id() const override { return bos_; }
  std::optional<int32_t> eos_id() const override { return eos_; }
  std::optional<int32_t> pad_id() const override { return pad_; }
  std::optional<int32_t> unk_id() const override { return unk_; }
  bool add_bos_token() const override { return spec_.config.add_bos; }
  bool add_eos_token() const override { return spec_.config.add_eos; }
  bool clean_up_tokenization_spaces() const override { return spec_.config.clean_up_spaces; }
  const std::string& chat_template() const override { return spec_.config.chat_template; }
  int64_t model_max_length() const override { return spec_.config.model_max_length; }
  std::string describe() const override { return spec_.description; }

 private:
  void encode_ordinary(std::string_view text, std::vector<int32_t>& out) const;
  void encode_normalized(std::string_view segment, bool allow_special, std::vector<int32_t>& out) const;
  std::optional<int32_t> resolve(const std::optional<std::string>& token, const char* what) const;

  Spec spec_;
  AddedTokenMatcher raw_added_, normalized_added_;
  std::vector<uint8_t> special_;
  std::optional<int32_t> bos_, eos_, pad_, unk_;
};

}  // namespace stablelm::tok
