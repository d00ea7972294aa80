#pragma once
// Added (special and ordinary) tokens found verbatim in text before pre-tokenization, as HF
// tokenizers' AddedVocabulary does: leftmost match, longest at that position; lstrip/rstrip take
// in the whitespace beside a match; single_word only matches between non-word characters.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace stablelm::tok {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false;
  bool normalized = false;  // matched after the normalizer (true) or on the raw text (false)
  bool lstrip = false, rstrip = false, single_word = false;
};

class AddedTokenMatcher {
 public:
  void build(const std::vector<AddedToken>& tokens);
  bool empty() const { return tokens_.empty(); }
  // Calls on_text(view) for the text between matches and on_token(id) for each match, in order.
  template <class OnText, class OnToken>
  void split(std::string_view text, bool allow_special, OnText&& on_text, OnToken&& on_token) const {
    size_t pos = 0, emitted = 0;
    while (pos < text.size()) {
      size_t b, e;
      int32_t id;
      if (!find(text, pos, emitted, allow_special, b, e, id)) break;
      if (b > emitted) on_text(text.substr(emitted, b - emitted));
      on_token(id);
      emitted = pos = e;
    }
    if (emitted < text.size()) on_text(text.substr(emitted));
  }

 private:
  // Next match at or after pos; [b, e) includes stripped whitespace, never before `floor`.
  bool find(std::string_view text, size_t pos, size_t floor, bool allow_special, size_t& b, size_t& e,
            int32_t& id) const;
  std::vector<AddedToken> tokens_;
  std::vector<std::vector<uint32_t>> by_first_byte_;  // indices, longest first
  bool first_byte_[256] = {};
  int single_first_byte_ = -1;  // when every token starts with the same byte: memchr
};

}  // namespace stablelm::tok
