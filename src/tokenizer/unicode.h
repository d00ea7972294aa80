#pragma once
// Unicode facts the tokenizer needs in its hot path, generated once per process from utf8proc
// (no hand-typed tables): the regex classes \p{L}, \p{N}, \s, and whether a code point is
// "NFC-inert" (NFC leaves it unchanged and it never composes with what precedes it), which lets
// NFC skip the text that needs no work. UTF-8 helpers live here too.
#include <cstdint>
#include <string>
#include <string_view>

namespace stablelm::tok {

enum CharClass : uint8_t {
  kLetter = 1,      // \p{L}
  kNumber = 2,      // \p{N}
  kSpace = 4,       // \s: Unicode White_Space (what Rust regex and Oniguruma use)
  kNfcUnsafe = 8,   // may change under NFC or combine with the preceding character
};

// Class bits of every code point (0..0x10FFFF), built on first use.
const uint8_t* char_class_table();

inline uint8_t char_class(const uint8_t* table, uint32_t cp) { return table[cp]; }

// Decodes one code point of *valid* UTF-8 at s[i]; advances i.
inline uint32_t decode_utf8(const unsigned char* s, size_t& i) {
  unsigned char c = s[i];
  if (c < 0x80) { ++i; return c; }
  if (c < 0xE0) { uint32_t cp = ((c & 0x1Fu) << 6) | (s[i + 1] & 0x3Fu); i += 2; return cp; }
  if (c < 0xF0) {
    uint32_t cp = ((c & 0x0Fu) << 12) | ((s[i + 1] & 0x3Fu) << 6) | (s[i + 2] & 0x3Fu);
    i += 3;
    return cp;
  }
  uint32_t cp = ((c & 0x07u) << 18) | ((s[i + 1] & 0x3Fu) << 12) | ((s[i + 2] & 0x3Fu) << 6) |
                (s[i + 3] & 0x3Fu);
  i += 4;
  return cp;
}

void append_utf8(std::string& out, uint32_t cp);

// Length of a well-formed UTF-8 sequence starting at s (n bytes available), or 0 if the bytes
// there are ill-formed. When the bytes are a valid but truncated prefix, *incomplete is set.
size_t utf8_sequence_length(const unsigned char* s, size_t n, bool* incomplete);

// Offset of the first byte that is not part of well-formed UTF-8, or npos when all is valid.
size_t find_invalid_utf8(std::string_view s);

// Bytes → UTF-8, each maximal ill-formed subpart replaced by U+FFFD (Unicode / WHATWG rule).
void append_utf8_lossy(std::string& out, std::string_view bytes);
// The same, but stops before a trailing sequence that is valid so far and only truncated (more
// bytes may complete it); returns the number of bytes consumed. Used for streaming decode.
size_t append_utf8_lossy_partial(std::string& out, std::string_view bytes, bool flush);

// NFC of valid UTF-8. Returns false (and leaves out untouched) when s is already NFC, so the
// common case copies nothing.
bool nfc_if_changed(std::string_view s, std::string& out);
std::string nfc(std::string_view s);

}  // namespace stablelm::tok
