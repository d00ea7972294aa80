#include "tokenizer/unicode.h"

#include <utf8proc.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>

namespace stablelm::tok {
namespace {

constexpr uint32_t kMaxCp = 0x110000;

void mark_nfc_facts(uint8_t* t, uint32_t cp) {
  // Only code points with a decomposition can change under NFC; the non-first parts of a
  // canonical decomposition are exactly the characters that can compose with what precedes them.
  utf8proc_int32_t buf[32];
  utf8proc_int32_t bc = 0;
  utf8proc_ssize_t n = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(cp), buf, 32,
                                               UTF8PROC_DECOMPOSE, &bc);
  if (n <= 0 || n > 32 || (n == 1 && static_cast<uint32_t>(buf[0]) == cp)) return;
  for (utf8proc_ssize_t k = 1; k < n; ++k)
    if (buf[k] >= 0 && static_cast<uint32_t>(buf[k]) < kMaxCp) t[buf[k]] |= kNfcUnsafe;
  std::string s;
  append_utf8(s, cp);
  utf8proc_uint8_t* dst = nullptr;
  utf8proc_ssize_t m = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                    static_cast<utf8proc_ssize_t>(s.size()), &dst,
                                    static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (m < 0 || static_cast<size_t>(m) != s.size() || std::memcmp(dst, s.data(), s.size()) != 0)
    t[cp] |= kNfcUnsafe;
  std::free(dst);
}

// Planes 4-13 have no assigned characters and planes 15-16 are private use (class bits 0 in
// every Unicode version so far), so the scan covers planes 0-3 and 14 only.
bool in_scanned_planes(uint32_t cp) { return cp < 0x40000 || (cp >= 0xE0000 && cp < 0xF0000); }

std::unique_ptr<uint8_t[]> build_table() {
  auto t = std::make_unique<uint8_t[]>(kMaxCp);
  for (uint32_t cp = 0; cp < kMaxCp; ++cp) {
    if (!in_scanned_planes(cp)) {
      cp = cp < 0xE0000 ? 0xDFFFF : kMaxCp;
      continue;
    }
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    const utf8proc_property_t* p = utf8proc_get_property(static_cast<utf8proc_int32_t>(cp));
    uint8_t c = 0;
    switch (p->category) {
      case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
      case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
        c |= kLetter; break;
      case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        c |= kNumber; break;
      case UTF8PROC_CATEGORY_ZS: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP:
        c |= kSpace; break;
      default: break;
    }
    // White_Space = Zs + Zl + Zp + the controls TAB..CR and NEL (Unicode PropList).
    if ((cp >= 0x09 && cp <= 0x0D) || cp == 0x85) c |= kSpace;
    if (p->combining_class != 0) c |= kNfcUnsafe;
    t[cp] |= c;
    if (p->decomp_seqindex != UINT16_MAX) mark_nfc_facts(t.get(), cp);
  }
  // Hangul syllables are NFC-inert; the jamo vowels and trailing consonants compose
  // algorithmically with what precedes them.
  for (uint32_t cp = 0x1160; cp <= 0x11FF; ++cp) t[cp] |= kNfcUnsafe;
  return t;
}

}  // namespace

const uint8_t* char_class_table() {
  static std::once_flag once;
  static std::unique_ptr<uint8_t[]> table;
  std::call_once(once, [] { table = build_table(); });
  return table.get();
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

size_t utf8_sequence_length(const unsigned char* s, size_t n, bool* incomplete) {
  if (incomplete) *incomplete = false;
  unsigned char c = s[0];
  if (c < 0x80) return 1;
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) len = 2;
  else if (c == 0xE0) { len = 3; lo = 0xA0; }
  else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) len = 3;
  else if (c == 0xED) { len = 3; hi = 0x9F; }
  else if (c == 0xF0) { len = 4; lo = 0x90; }
  else if (c >= 0xF1 && c <= 0xF3) len = 4;
  else if (c == 0xF4) { len = 4; hi = 0x8F; }
  else return 0;
  for (size_t k = 1; k < len; ++k) {
    if (k >= n) {
      if (incomplete) *incomplete = true;
      return 0;
    }
    unsigned char b = s[k];
    if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return 0;
  }
  return len;
}

size_t find_invalid_utf8(std::string_view sv) {
  auto* s = reinterpret_cast<const unsigned char*>(sv.data());
  size_t n = sv.size(), i = 0;
  while (i < n) {
    // ASCII fast path, 8 bytes at a time.
    while (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, s + i, 8);
      if (w & 0x8080808080808080ULL) break;
      i += 8;
    }
    if (i >= n) break;
    if (s[i] < 0x80) { ++i; continue; }
    size_t len = utf8_sequence_length(s + i, n - i, nullptr);
    if (len == 0) return i;
    i += len;
  }
  return std::string_view::npos;
}

// Decodes as much as is final: stops before a trailing valid-but-truncated sequence (returns
// the bytes consumed) unless `flush`, in which case that tail becomes one U+FFFD.
size_t append_utf8_lossy_partial(std::string& out, std::string_view bytes, bool flush) {
  auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  size_t n = bytes.size(), i = 0;
  while (i < n) {
    unsigned char c = s[i];
    if (c < 0x80) { out += static_cast<char>(c); ++i; continue; }
    bool incomplete = false;
    size_t len = utf8_sequence_length(s + i, n - i, &incomplete);
    if (len) {
      out.append(bytes.data() + i, len);
      i += len;
      continue;
    }
    if (incomplete && !flush) return i;
    // The maximal subpart: the lead plus the continuation bytes that were still acceptable.
    size_t k = 1;
    if (!incomplete) {
      while (k < 4 && i + k < n) {
        bool inc2 = false;
        // Grow the prefix while it remains a valid (truncated) sequence.
        if (utf8_sequence_length(s + i, k + 1, &inc2) == 0 && !inc2) break;
        ++k;
      }
    } else {
      k = n - i;
    }
    out += "\xEF\xBF\xBD";
    i += k;
  }
  return i;
}

void append_utf8_lossy(std::string& out, std::string_view bytes) {
  append_utf8_lossy_partial(out, bytes, true);
}

bool nfc_if_changed(std::string_view sv, std::string& out) {
  auto* s = reinterpret_cast<const unsigned char*>(sv.data());
  size_t n = sv.size(), i = 0;
  const uint8_t* table = nullptr;
  size_t last_safe = 0;      // start of the last NFC-inert code point seen
  size_t copied = 0;         // sv[0, copied) is already in out
  bool changed = false;
  while (i < n) {
    if (s[i] < 0x80) { last_safe = i++; continue; }
    if (!table) table = char_class_table();
    size_t at = i;
    uint32_t cp = decode_utf8(s, i);
    if (!(table[cp] & kNfcUnsafe)) { last_safe = at; continue; }
    // An unsafe run: from the last inert starter before it to the next inert code point.
    size_t start = (at == 0) ? 0 : last_safe;
    if (start < copied) start = copied;
    size_t end = i;
    while (end < n) {
      size_t j = end;
      uint32_t c2 = s[j] < 0x80 ? s[j++] : decode_utf8(s, j);
      if (!(table[c2] & kNfcUnsafe)) break;
      end = j;
    }
    if (!changed) { out.clear(); changed = true; }
    out.append(sv.data() + copied, start - copied);
    utf8proc_uint8_t* dst = nullptr;
    utf8proc_ssize_t m = utf8proc_map(s + start, static_cast<utf8proc_ssize_t>(end - start), &dst,
                                      static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
    if (m < 0) {
      std::free(dst);
      out.append(sv.data() + start, end - start);  // unreachable for valid UTF-8
    } else {
      out.append(reinterpret_cast<const char*>(dst), static_cast<size_t>(m));
      std::free(dst);
    }
    copied = end;
    i = end;
    last_safe = end;
  }
  if (!changed) return false;
  out.append(sv.data() + copied, n - copied);
  return true;
}

std::string nfc(std::string_view s) {
  std::string out;
  if (nfc_if_changed(s, out)) return out;
  return std::string(s);
}

}  // namespace stablelm::tok
