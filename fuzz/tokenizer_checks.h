#pragma once
// What a loaded tokenizer must survive: encoding texts with and without special tokens, and
// decoding what it produced and arbitrary ids.
#include <string>
#include <vector>

#include "stablelm/error.h"
#include "stablelm/tokenizer.h"

namespace stablelm::fuzz {

inline void exercise(const Tokenizer& tok) {
  static const char* const kTexts[] = {"Hello world", " <|endoftext|> x", "naïve café 東京 🙂\n\n\t  ", "'s 123 4567", ""};
  for (const char* text : kTexts) {
    for (bool special : {true, false}) {
      try {
        const std::vector<int32_t> ids = tok.encode(text, special);
        (void)tok.decode(ids, false);
        (void)tok.decode(ids, true);
      } catch (const Error&) {
      }
    }
  }
  try {
    (void)tok.decode(std::vector<int32_t>{0, 1, 2, 255, 256, 1000, 16777214}, false);
  } catch (const Error&) {
  }
}

}  // namespace stablelm::fuzz
