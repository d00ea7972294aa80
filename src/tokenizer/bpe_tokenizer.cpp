#include "tokenizer/bpe_tokenizer.h"

#include <cstdio>
#include <deque>

#include "stablelm/error.h"
#include "tokenizer/unicode.h"

namespace stablelm::tok {
namespace {

struct ByteLevelTables {
  std::string to_char[256];
  int16_t from_cp[512];
  ByteLevelTables() {
    // GPT-2's bytes_to_unicode(): printable Latin-1 bytes stand for themselves, the others are
    // shifted to U+0100.. in byte order.
    for (auto& v : from_cp) v = -1;
    int shifted = 0;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      uint32_t cp = printable ? static_cast<uint32_t>(b) : static_cast<uint32_t>(256 + shifted++);
      append_utf8(to_char[b], cp);
      from_cp[cp] = static_cast<int16_t>(b);
    }
  }
};
const ByteLevelTables& byte_level() {
  static const ByteLevelTables t;
  return t;
}

}  // namespace

const std::string& byte_level_char(unsigned char b) { return byte_level().to_char[b]; }

bool byte_level_to_bytes(std::string_view s, std::string& out) {
  out.clear();
  const auto& t = byte_level();
  auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t i = 0;
  while (i < s.size()) {
    if (p[i] < 0x80) {
      if (t.from_cp[p[i]] < 0) return false;
      out += static_cast<char>(p[i++]);
      continue;
    }
    bool inc = false;
    size_t len = utf8_sequence_length(p + i, s.size() - i, &inc);
    if (len == 0) return false;
    size_t j = i;
    uint32_t cp = decode_utf8(p, j);
    if (cp >= 512 || t.from_cp[cp] < 0) return false;
    out += static_cast<char>(t.from_cp[cp]);
    i = j;
  }
  return true;
}

BpeTokenizer::BpeTokenizer(Spec spec) : spec_(std::move(spec)) {
  char_class_table();  // build the process-wide Unicode tables now, not in the first encode
  std::vector<AddedToken> raw, normalized;
  special_.assign(spec_.token_bytes.size(), 0);
  for (const auto& a : spec_.added) {
    (a.normalized && spec_.nfc_segments ? normalized : raw).push_back(a);
    if (a.special && a.id >= 0 && static_cast<size_t>(a.id) < special_.size()) special_[a.id] = 1;
  }
  raw_added_.build(raw);
  normalized_added_.build(normalized);
  bos_ = resolve(spec_.config.bos, "bos_token");
  eos_ = resolve(spec_.config.eos, "eos_token");
  pad_ = resolve(spec_.config.pad, "pad_token");
  unk_ = resolve(spec_.config.unk, "unk_token");
  if (spec_.config.add_bos && !bos_)
    throw Error(spec_.source + ": add_bos_token is set but there is no bos_token");
  if (spec_.config.add_eos && !eos_)
    throw Error(spec_.source + ": add_eos_token is set but there is no eos_token");
}

std::optional<int32_t> BpeTokenizer::resolve(const std::optional<std::string>& token, const char* what) const {
  if (!token) return std::nullopt;
  auto id = token_to_id(*token);
  if (!id) throw Error(spec_.source + ": " + what + " \"" + *token + "\" is not a token of this tokenizer");
  return id;
}

void BpeTokenizer::encode_ordinary(std::string_view text, std::vector<int32_t>& out) const {
  thread_local std::vector<std::string_view> pieces;
  thread_local std::deque<std::string> arena;
  thread_local std::vector<Span> spans;
  const auto& stages = spec_.pre.stages;
  bool isolated = stages.size() == 1 && stages[0].behavior == SplitBehavior::Isolated;
  bool matches_only = stages.size() == 1 && stages[0].behavior == SplitBehavior::Removed && stages[0].invert;
  if ((isolated || matches_only) && stages[0].splitter && !stages[0].add_prefix_space) {
    // The common case (one regex whose matches are the pieces): straight from the matches.
    // Streamed in runs of matches so that long texts never hold all their spans at once.
    size_t pos = 0, next = 0;
    while (next < text.size()) {
      spans.clear();
      next = stages[0].splitter->matches_from(text, next, spans, 4096);
      // Hash and prefetch kAhead pieces in advance of encoding them.
      constexpr size_t kAhead = 8;
      const Bpe& bpe = *spec_.bpe;
      auto piece = [&](size_t k) { return text.substr(spans[k].begin, spans[k].end - spans[k].begin); };
      uint64_t hashes[kAhead];
      size_t m = spans.size();
      for (size_t k = 0; k < kAhead && k < m; ++k) hashes[k] = bpe.prefetch(piece(k));
      for (size_t k = 0; k < m; ++k) {
        uint64_t h = hashes[k % kAhead];
        if (k + kAhead < m) hashes[k % kAhead] = bpe.prefetch(piece(k + kAhead));
        if (spans[k].begin > pos && isolated) bpe.encode_piece(text.substr(pos, spans[k].begin - pos), out);  // a gap
        bpe.encode_piece_hashed(piece(k), h, out);
        pos = spans[k].end;
      }
    }
    if (pos < text.size() && isolated) spec_.bpe->encode_piece(text.substr(pos), out);
    return;
  }
  spec_.pre.split(text, pieces, arena, spans);
  for (auto piece : pieces) spec_.bpe->encode_piece(piece, out);
  arena.clear();
}

void BpeTokenizer::encode_normalized(std::string_view segment, bool allow_special, std::vector<int32_t>& out) const {
  std::string normalized;
  if (spec_.nfc_segments && nfc_if_changed(segment, normalized)) segment = normalized;
  if (normalized_added_.empty()) {
    encode_ordinary(segment, out);
    return;
  }
  normalized_added_.split(
      segment, allow_special, [&](std::string_view t) { encode_ordinary(t, out); },
      [&](int32_t id) { out.push_back(id); });
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text, bool allow_special) const {
  size_t bad = find_invalid_utf8(text);
  if (bad != std::string_view::npos) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(text[bad]));
    throw Error("input text is not valid UTF-8 (byte " + std::string(hex) + " at offset " + std::to_string(bad) + ")");
  }
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (spec_.config.add_bos) out.push_back(*bos_);
  auto on_token = [&](int32_t id) { out.push_back(id); };
  if (spec_.nfc_whole_text) {
    std::string normalized;
    std::string_view t = nfc_if_changed(text, normalized) ? std::string_view(normalized) : text;
    raw_added_.split(t, allow_special, [&](std::string_view s) { encode_ordinary(s, out); }, on_token);
  } else {
    raw_added_.split(
        text, allow_special, [&](std::string_view s) { encode_normalized(s, allow_special, out); }, on_token);
  }
  if (spec_.config.add_eos) out.push_back(*eos_);
  return out;
}

bool BpeTokenizer::is_valid_id(int32_t id) const {
  return id >= 0 && static_cast<size_t>(id) < spec_.valid.size() && spec_.valid[id];
}

bool BpeTokenizer::is_special(int32_t id) const { return is_valid_id(id) && special_[id]; }

std::string BpeTokenizer::token_bytes(int32_t id) const {
  return is_valid_id(id) ? spec_.token_bytes[id] : std::string();
}

std::string BpeTokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  std::string bytes;
  for (int32_t id : ids) {
    if (!is_valid_id(id) || (skip_special && special_[id])) continue;
    bytes += spec_.token_bytes[id];
  }
  if (find_invalid_utf8(bytes) == std::string_view::npos) return bytes;
  std::string out;
  append_utf8_lossy(out, bytes);
  return out;
}

std::optional<int32_t> BpeTokenizer::token_to_id(std::string_view token) const {
  for (const auto& a : spec_.added)
    if (a.content == token) return a.id;
  std::string bytes;
  if (byte_level_to_bytes(token, bytes)) {
    int32_t id = spec_.bpe->vocab().find(bytes);
    if (id >= 0) return id;
  }
  return std::nullopt;
}

}  // namespace stablelm::tok
