#include "tokenizer/added_tokens.h"

#include <algorithm>
#include <cstring>

#include "tokenizer/unicode.h"

namespace stablelm::tok {
namespace {

// Code point ending just before byte i (valid UTF-8), and its start.
uint32_t cp_before(std::string_view t, size_t i, size_t& start) {
  size_t k = i - 1;
  while (k > 0 && (static_cast<unsigned char>(t[k]) & 0xC0) == 0x80) --k;
  start = k;
  size_t j = k;
  return decode_utf8(reinterpret_cast<const unsigned char*>(t.data()), j);
}

bool is_word_char(uint32_t cp) {
  return cp == '_' || (char_class_table()[cp] & (kLetter | kNumber)) != 0;
}

}  // namespace

void AddedTokenMatcher::build(const std::vector<AddedToken>& tokens) {
  tokens_.clear();
  for (const auto& t : tokens)
    if (!t.content.empty()) tokens_.push_back(t);
  by_first_byte_.assign(256, {});
  std::fill(std::begin(first_byte_), std::end(first_byte_), false);
  for (uint32_t i = 0; i < tokens_.size(); ++i) {
    auto fb = static_cast<unsigned char>(tokens_[i].content[0]);
    by_first_byte_[fb].push_back(i);
    first_byte_[fb] = true;
  }
  int distinct = 0;
  for (int b = 0; b < 256; ++b) {
    auto& v = by_first_byte_[b];
    std::stable_sort(v.begin(), v.end(),
                     [&](uint32_t x, uint32_t y) { return tokens_[x].content.size() > tokens_[y].content.size(); });
    if (!v.empty()) {
      ++distinct;
      single_first_byte_ = b;
    }
  }
  if (distinct != 1) single_first_byte_ = -1;
}

bool AddedTokenMatcher::find(std::string_view text, size_t pos, size_t floor, bool allow_special, size_t& b,
                             size_t& e, int32_t& id) const {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  size_t n = text.size();
  const uint8_t* table = nullptr;
  while (pos < n) {
    if (single_first_byte_ >= 0) {
      const void* hit = std::memchr(s + pos, single_first_byte_, n - pos);
      if (!hit) return false;
      pos = static_cast<size_t>(static_cast<const unsigned char*>(hit) - s);
    } else {
      while (pos < n && !first_byte_[s[pos]]) ++pos;
      if (pos >= n) return false;
    }
    for (uint32_t idx : by_first_byte_[s[pos]]) {
      const AddedToken& t = tokens_[idx];
      if (t.special && !allow_special) continue;
      if (t.content.size() > n - pos || std::memcmp(s + pos, t.content.data(), t.content.size()) != 0) continue;
      size_t mb = pos, me = pos + t.content.size();
      if (t.single_word) {
        size_t st;
        if (mb > 0 && is_word_char(cp_before(text, mb, st))) continue;
        if (me < n) {
          size_t j = me;
          if (is_word_char(decode_utf8(s, j))) continue;
        }
      }
      if (!table) table = char_class_table();
      if (t.lstrip) {
        while (mb > floor) {
          size_t st;
          uint32_t cp = cp_before(text, mb, st);
          if (!(table[cp] & kSpace)) break;
          mb = st;
        }
      }
      if (t.rstrip) {
        while (me < n) {
          size_t j = me;
          uint32_t cp = decode_utf8(s, j);
          if (!(table[cp] & kSpace)) break;
          me = j;
        }
      }
      b = mb;
      e = me;
      id = t.id;
      return true;
    }
    ++pos;
  }
  return false;
}

}  // namespace stablelm::tok
