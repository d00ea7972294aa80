// Property tests: the hand-written pre-tokenizer matchers agree with PCRE2 on random text;
// the fast NFC agrees with utf8proc's; decode(encode(s)) gives back the normalized s on random
// UTF-8 from every plane; streaming decode equals one-shot decode; random bytes and corrupted
// tokenizer files never crash (this executable also runs under ASan/UBSan).
#include <gtest/gtest.h>
#include <utf8proc.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <random>

#include "stablelm/error.h"
#include "stablelm/tokenizer.h"
#include "testutil.h"
#include "tokenizer/pretokenize.h"
#include "tokenizer/unicode.h"

namespace {
namespace fs = std::filesystem;
using stablelm::Tokenizer;
using namespace stablelm::tok;

bool sanitized() { return std::getenv("STABLELM_SANITIZED") != nullptr; }
int iterations(int normal) { return sanitized() ? normal / 8 : normal; }

// Does PCRE2 (UCP) put cp in the same \p{L} / \p{N} / White_Space classes as our tables?
// Random code points are only used where the two Unicode versions agree.
class ClassCheck {
 public:
  ClassCheck() {
    for (const char* p : {"\\A\\p{L}\\z", "\\A\\p{N}\\z"}) {
      int err;
      PCRE2_SIZE off;
      re_.push_back(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(p), PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err, &off, nullptr));
    }
    md_ = pcre2_match_data_create(4, nullptr);
  }
  ~ClassCheck() {
    for (auto* r : re_) pcre2_code_free(r);
    pcre2_match_data_free(md_);
  }
  bool agrees(uint32_t cp) {
    std::string s;
    append_utf8(s, cp);
    uint8_t cls = char_class_table()[cp];
    bool l = pcre2_match(re_[0], reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), 0, 0, md_, nullptr) >= 0;
    bool n = pcre2_match(re_[1], reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), 0, 0, md_, nullptr) >= 0;
    return l == ((cls & kLetter) != 0) && n == ((cls & kNumber) != 0);
  }

 private:
  std::vector<pcre2_code*> re_;
  pcre2_match_data* md_;
};

uint32_t random_cp(std::mt19937& rng) {
  // Every plane, surrogates excluded.
  while (true) {
    uint32_t cp = rng() % 0x110000;
    if (cp < 0xD800 || cp > 0xDFFF) return cp;
  }
}

// Characters that exercise the regexes: contraction letters in both cases, U+017F (folds to
// s), every kind of white space (and U+180E / U+200B, which are not), letters and numbers from
// several scripts, combining marks, emoji with ZWJ / variation selectors.
const std::vector<uint32_t> kInteresting = {
    'a', 'b', 'Z', 's', 'S', 't', 'T', 'r', 'R', 'e', 'E', 'v', 'V', 'm', 'M', 'l', 'L', 'd', 'D', '\'', '\'', '\'',
    '0', '7', ' ', ' ', ' ', ' ', '\t', '\n', '\n', '\r', '\v', '\f', '.', ',', '!', '(', '-', '_', '/', '"',
    0x85, 0xA0, 0x1680, 0x180E, 0x2000, 0x2009, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0x200B, 0x200D, 0xFEFF,
    0x17F, 0x212A, 0xE9, 0x301, 0x436, 0x4E2D, 0xD55C, 0x663, 0x216B, 0xBD, 0xB2, 0x1F600, 0x1F469, 0xFE0F,
    0x10FFFF, 0xE0001, 0x1D7D8, 0x2019};

std::string random_text(std::mt19937& rng, ClassCheck& cc, size_t max_len) {
  std::string s;
  size_t n = rng() % max_len;
  for (size_t i = 0; i < n; ++i) {
    uint32_t cp;
    if (rng() % 8) {
      cp = kInteresting[rng() % kInteresting.size()];
    } else {
      do cp = random_cp(rng);
      while (!cc.agrees(cp));
    }
    append_utf8(s, cp);
  }
  return s;
}

std::string show(std::string_view text, const std::vector<Span>& v) {
  std::string s;
  for (auto& sp : v) s += nlohmann::json(std::string(text.substr(sp.begin, sp.end - sp.begin))).dump() + " ";
  return s;
}

void compare_with_pcre2(const char* pattern, const char* engine) {
  auto mine = make_regex_splitter(pattern);
  ASSERT_STREQ(mine->engine(), engine);
  auto ref = make_pcre2_splitter(pattern);
  std::mt19937 rng(1234);
  ClassCheck cc;
  int failures = 0;
  for (int it = 0; it < iterations(4000); ++it) {
    std::string text = random_text(rng, cc, 40);
    std::vector<Span> a, b;
    mine->matches(text, a);
    ref->matches(text, b);
    bool same = a.size() == b.size();
    for (size_t i = 0; same && i < a.size(); ++i) same = a[i].begin == b[i].begin && a[i].end == b[i].end;
    if (!same && ++failures <= 5)
      ADD_FAILURE() << engine << " text " << nlohmann::json(text).dump() << "\n mine  " << show(text, a) << "\n pcre2 "
                    << show(text, b);
  }
  EXPECT_EQ(failures, 0);
}

TEST(TokenizerProps, Arcade100kMatcherEqualsPcre2) { compare_with_pcre2(kArcade100kPattern, "arcade100k"); }
TEST(TokenizerProps, Gpt2MatcherEqualsPcre2) { compare_with_pcre2(kGpt2Pattern, "gpt2"); }

TEST(TokenizerProps, WhitespaceRewriteMatchesUnicodeWhiteSpace) {
  // PCRE2's own \s also matches U+180E; the rewritten pattern must not.
  auto re = make_pcre2_splitter("\\s+");
  std::vector<Span> out;
  re->matches("a\xE1\xA0\x8E" "b\xC2\x85" "c", out);  // U+180E, then NEL
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].begin, 5u);
  EXPECT_EQ(rewrite_whitespace_classes("[^\\s\\p{L}]\\S"),
            std::string("[^") + "\\x{9}-\\x{D}\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}" +
                "\\p{L}][^\\x{9}-\\x{D}\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}]");
}

std::string utf8proc_nfc(const std::string& s) {
  utf8proc_uint8_t* out = nullptr;
  utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()), static_cast<utf8proc_ssize_t>(s.size()),
                                    &out, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  std::string r = n >= 0 ? std::string(reinterpret_cast<char*>(out), static_cast<size_t>(n)) : std::string("<error>");
  std::free(out);
  return r;
}

TEST(TokenizerProps, FastNfcEqualsUtf8proc) {
  const std::vector<uint32_t> marks = {'a', 'e', 'o', 'A', 0xE4, 0xE9, 0x300, 0x301, 0x308, 0x323, 0x338, 0x345,
                                       0x1100, 0x1161, 0x11A8, 0xAC00, 0xAC01, 0x212B, 0xF73, 0x344, 0x1E0A, 0x3B1,
                                       0x915, 0x93C, 0x11099, 0x110BA, 0x1D15E, 0x2ADC, '<', '>', ' '};
  std::mt19937 rng(99);
  for (int it = 0; it < iterations(20000); ++it) {
    std::string s;
    size_t n = rng() % 12;
    for (size_t i = 0; i < n; ++i) append_utf8(s, rng() % 6 ? marks[rng() % marks.size()] : random_cp(rng));
    ASSERT_EQ(nfc(s), utf8proc_nfc(s)) << nlohmann::json(s).dump();
  }
}

struct Toks {
  std::unique_ptr<Tokenizer> tiktoken, hf_nfc, hf_raw;
};
const Toks& toks() {
  static Toks t = [] {
    auto f = stablelm::test::fixtures_dir();
    return Toks{Tokenizer::from_file(f / "arcade100k" / "arcade100k.tiktoken"), Tokenizer::from_dir(f / "arcade100k"),
                Tokenizer::from_dir(f / "arcade100k-no-nfc")};
  }();
  return t;
}

TEST(TokenizerProps, DecodeOfEncodeIsNormalizedInput) {
  std::mt19937 rng(7);
  ClassCheck cc;
  const std::vector<uint32_t> extra = {0x301, 0x308, 0x1F468, 0x200D, 0x1F469, 0x1F467, 0x1F3FD, 0xFE0F, 0x1F1FA, 0x1F1F8, 0x1100, 0x1161};
  for (int it = 0; it < iterations(1500); ++it) {
    std::string s = random_text(rng, cc, 30);
    for (int k = rng() % 4; k > 0; --k) append_utf8(s, extra[rng() % extra.size()]);
    for (int k = rng() % 3; k > 0; --k) append_utf8(s, random_cp(rng));  // any plane, tables or not
    std::string n = nfc(s);
    ASSERT_EQ(toks().tiktoken->decode(toks().tiktoken->encode(s)), n) << nlohmann::json(s).dump();
    ASSERT_EQ(toks().hf_nfc->decode(toks().hf_nfc->encode(s)), n) << nlohmann::json(s).dump();
    ASSERT_EQ(toks().hf_raw->decode(toks().hf_raw->encode(s)), s) << nlohmann::json(s).dump();
    // The two BPE definitions (ranks vs merges) agree on the same normalized text.
    ASSERT_EQ(toks().tiktoken->encode(s, false), toks().hf_raw->encode(n, false)) << nlohmann::json(s).dump();
  }
}

TEST(TokenizerProps, LongRunsUseTheHeapMergeCorrectly) {
  // Pieces longer than 256 bytes take the O(n log n) merge path: it must round-trip, compress,
  // and agree between the ranks (tiktoken) and merges (tokenizer.json) definitions.
  for (const std::string unit : {"-", "ab", "\xE4\xB8\xAD", " ", "==", "\xF0\x9F\x98\x80"}) {
    std::string s;
    while (s.size() < 5000) s += unit;
    for (const Tokenizer* t : {toks().tiktoken.get(), toks().hf_raw.get()}) {
      auto ids = t->encode(s);
      EXPECT_EQ(t->decode(ids), s);
      EXPECT_LT(ids.size(), s.size());
    }
    EXPECT_EQ(toks().tiktoken->encode(s), toks().hf_raw->encode(s)) << unit;
  }
}

TEST(TokenizerProps, RandomBytesNeverCrash) {
  std::mt19937 rng(5);
  for (int it = 0; it < iterations(3000); ++it) {
    std::string s(rng() % 24, '\0');
    for (auto& c : s) c = static_cast<char>(rng() % 3 ? rng() % 256 : 0x80 + rng() % 64);
    for (const Tokenizer* t : {toks().tiktoken.get(), toks().hf_nfc.get()}) {
      try {
        auto ids = t->encode(s);
        EXPECT_EQ(find_invalid_utf8(s), std::string_view::npos);
        EXPECT_EQ(t->decode(ids), nfc(s));
      } catch (const stablelm::Error&) {
        EXPECT_NE(find_invalid_utf8(s), std::string_view::npos);
      }
    }
  }
}

TEST(TokenizerProps, StreamingDecodeEqualsOneShotOnRandomIds) {
  std::mt19937 rng(11);
  const Tokenizer& t = *toks().tiktoken;
  for (int it = 0; it < iterations(3000); ++it) {
    std::vector<int32_t> ids(rng() % 10);
    for (auto& id : ids) id = static_cast<int32_t>(rng() % 3 ? rng() % 256 : rng() % 100352);  // bytes, anything, padding
    bool skip = rng() % 2;
    stablelm::IncrementalDecoder inc(t, skip);
    std::string s;
    for (int32_t id : ids) {
      std::string part = inc.push(id);
      ASSERT_EQ(find_invalid_utf8(part), std::string_view::npos);
      s += part;
    }
    s += inc.finish();
    ASSERT_EQ(s, t.decode(ids, skip));
    ASSERT_EQ(find_invalid_utf8(s), std::string_view::npos);
  }
}

TEST(TokenizerProps, CorruptedFilesNeverCrash) {
  // A small valid tokenizer.json, then truncated and with random bytes changed.
  nlohmann::json vocab = nlohmann::json::object();
  std::string bl_chars;
  for (int b = 0; b < 256; ++b) {
    bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    static int shifted = 0;
    uint32_t cp = printable ? b : 256 + shifted++;
    std::string c;
    append_utf8(c, cp);
    vocab[c] = b;
  }
  vocab["he"] = 256;
  nlohmann::json j = {{"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"h e"}}}},
                      {"added_tokens", {{{"id", 257}, {"content", "<|x|>"}, {"special", true}}}},
                      {"normalizer", {{"type", "NFC"}}},
                      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}}},
                      {"decoder", {{"type", "ByteLevel"}}}};
  std::string good = j.dump();
  fs::path dir = stablelm::test::temp_dir("corrupt");
  stablelm::test::write_file(dir / "tokenizer.json", good);
  ASSERT_EQ(Tokenizer::from_dir(dir)->encode("hehe<|x|>"), (std::vector<int32_t>{256, 256, 257}));
  std::mt19937 rng(3);
  int loaded = 0, errors = 0;
  for (int it = 0; it < iterations(300); ++it) {
    std::string bad = good;
    if (it % 2) {
      bad.resize(rng() % bad.size());
    } else {
      for (int k = 1 + rng() % 4; k > 0; --k) bad[rng() % bad.size()] = static_cast<char>(rng() % 256);
    }
    stablelm::test::write_file(dir / "tokenizer.json", bad);
    stablelm::test::write_file(dir / "tokenizer_config.json", it % 3 ? "{}" : bad.substr(0, rng() % 40));
    try {
      auto t = Tokenizer::from_dir(dir);
      t->decode(t->encode("hello <|x|> world"));
      ++loaded;
    } catch (const stablelm::Error&) {
      ++errors;
    }
  }
  EXPECT_GT(errors, 0);
  // The real tiktoken file cut short: loads (fewer ranks) or says what is wrong, never crashes.
  std::string tk = stablelm::test::read_file(stablelm::test::fixtures_dir() / "arcade100k" / "arcade100k.tiktoken");
  for (size_t cut : {size_t{3}, size_t{1000}, tk.size() / 2 + 3}) {
    fs::path d2 = stablelm::test::temp_dir("tkcut");
    stablelm::test::write_file(d2 / "arcade100k.tiktoken", tk.substr(0, cut));
    try {
      Tokenizer::from_dir(d2)->encode("hello");
    } catch (const stablelm::Error& e) {
      EXPECT_NE(std::string(e.what()).find("arcade100k.tiktoken"), std::string::npos);
    }
  }
}

}  // namespace
