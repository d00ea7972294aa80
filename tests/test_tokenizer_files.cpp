// tokenizer.json features beyond Arcade100k, checked on small tokenizers built here with ids
// derived by hand (GPT-NeoX style: ByteLevel(use_regex=true), merges, added tokens), and every
// malformed/unsupported file error.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "stablelm/error.h"
#include "stablelm/tokenizer.h"
#include "testutil.h"

namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using stablelm::Tokenizer;
using Ids = std::vector<int32_t>;

// GPT-2's byte → character mapping, written out the way the Python reference defines it.
std::string byte_char(int b) {
  std::vector<int> bs;
  for (int c = '!'; c <= '~'; ++c) bs.push_back(c);
  for (int c = 0xA1; c <= 0xAC; ++c) bs.push_back(c);
  for (int c = 0xAE; c <= 0xFF; ++c) bs.push_back(c);
  int cp = -1, extra = 0;
  for (int x = 0; x < 256; ++x) {
    bool printable = std::find(bs.begin(), bs.end(), x) != bs.end();
    int mapped = printable ? x : 256 + extra++;
    if (x == b) cp = mapped;
  }
  std::string s;
  if (cp < 0x80) s += static_cast<char>(cp);
  else {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

// A NeoX-style tokenizer: ids 0..255 are the bytes, then merges.
json neox_like() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_char(b)] = b;
  const char* merged[][2] = {{"Ġ", "t"}, {"h", "e"}, {"Ġt", "he"}, {"i", "n"}, {"'", "s"}};
  json merges = json::array();
  int id = 256;
  for (auto& m : merged) {
    merges.push_back(std::string(m[0]) + " " + m[1]);
    vocab[std::string(m[0]) + m[1]] = id++;  // Ġt 256, he 257, Ġthe 258, in 259, 's 260
  }
  vocab["ab"] = 261;  // in the vocabulary but no merge makes it
  json added = json::array({
      {{"id", 300}, {"content", "<|endoftext|>"}, {"special", true}, {"normalized", false},
       {"lstrip", false}, {"rstrip", false}, {"single_word", false}},
      {{"id", 301}, {"content", "  "}, {"special", false}, {"normalized", true},
       {"lstrip", false}, {"rstrip", false}, {"single_word", false}},
  });
  vocab["<|endoftext|>"] = 300;
  return json{{"version", "1.0"},
              {"added_tokens", added},
              {"normalizer", nullptr},
              {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
              {"post_processor", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}}},
              {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}}},
              {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", nullptr},
                         {"end_of_word_suffix", nullptr}, {"fuse_unk", false}, {"vocab", vocab}, {"merges", merges}}}};
}

fs::path write_tok(const json& j, const std::string& tag, const std::string& config = "") {
  fs::path dir = stablelm::test::temp_dir(tag);
  stablelm::test::write_file(dir / "tokenizer.json", j.dump());
  if (!config.empty()) stablelm::test::write_file(dir / "tokenizer_config.json", config);
  return dir;
}

TEST(TokenizerJson, NeoxStyleHandDerivedIds) {
  auto tok = Tokenizer::from_dir(write_tok(neox_like(), "neox"));
  // "the" → t + he; " then" → Ġt, he → Ġthe, then n; " in" → Ġ + in.
  EXPECT_EQ(tok->encode("the then in"), (Ids{116, 257, 258, 110, 32, 259}));
  // GPT-2 contractions are case-sensitive: "'S" is punctuation then a letter.
  EXPECT_EQ(tok->encode("it's"), (Ids{105, 116, 260}));
  EXPECT_EQ(tok->encode("it'S"), (Ids{105, 116, 39, 83}));
  // A token no merge produces is not used, even for a piece spelled exactly like it.
  EXPECT_EQ(tok->encode("ab"), (Ids{97, 98}));
  // Added tokens: special on raw text; the non-special "  " one still matches with specials off.
  EXPECT_EQ(tok->encode("a<|endoftext|>b"), (Ids{97, 300, 98}));
  EXPECT_EQ(tok->encode("x  y"), (Ids{120, 301, 121}));
  Ids plain = tok->encode("a<|endoftext|>b", false);
  EXPECT_GT(plain.size(), 3u);
  EXPECT_EQ(tok->decode(plain), "a<|endoftext|>b");
  EXPECT_EQ(tok->decode(Ids{258, 110}), " then");
  EXPECT_EQ(tok->decode(Ids{97, 300, 98}, true), "ab");
  EXPECT_EQ(tok->decode(Ids{301}), "  ");  // not byte-level text: HF keeps it as is
  EXPECT_EQ(tok->vocab_size(), 302);
  EXPECT_TRUE(tok->is_special(300));
  EXPECT_FALSE(tok->is_special(301));
  EXPECT_EQ(tok->token_to_id("Ġthe"), 258);
  // Whitespace runs: "\s+(?!\S)" leaves the last space to the next word.
  EXPECT_EQ(tok->encode("a \t the"), (Ids{97, 32, 9, 258}));
}

TEST(TokenizerJson, PairFormMergesIgnoreMergesAndPrefixSpace) {
  json j = neox_like();
  json pairs = json::array();
  for (auto& m : j["model"]["merges"]) {
    std::string s = m;
    pairs.push_back({s.substr(0, s.find(' ')), s.substr(s.find(' ') + 1)});
  }
  j["model"]["merges"] = pairs;
  auto tok = Tokenizer::from_dir(write_tok(j, "pairs"));
  EXPECT_EQ(tok->encode("the then in"), (Ids{116, 257, 258, 110, 32, 259}));

  j["model"]["ignore_merges"] = true;
  auto tok2 = Tokenizer::from_dir(write_tok(j, "ignore"));
  EXPECT_EQ(tok2->encode("ab"), (Ids{261}));

  j["model"]["ignore_merges"] = false;
  j["pre_tokenizer"]["add_prefix_space"] = true;
  auto tok3 = Tokenizer::from_dir(write_tok(j, "prefix"));
  EXPECT_EQ(tok3->encode("the"), (Ids{258}));
}

TEST(TokenizerJson, NormalizerSequenceOfNfc) {
  json j = neox_like();
  j["normalizer"] = {{"type", "Sequence"}, {"normalizers", json::array({{{"type", "NFC"}}})}};
  auto tok = Tokenizer::from_dir(write_tok(j, "nfcseq"));
  // e + U+0301 composes to é (C3 A9) before BPE.
  EXPECT_EQ(tok->encode("e\xCC\x81"), (Ids{0xC3, 0xA9}));
  j["normalizer"] = nullptr;
  auto raw = Tokenizer::from_dir(write_tok(j, "nonorm"));
  EXPECT_EQ(raw->encode("e\xCC\x81"), (Ids{101, 0xCC, 0x81}));
}

TEST(TokenizerJson, SplitBehaviorsOnThePcre2Path) {
  json j = neox_like();
  j["model"]["merges"].push_back("Ġ a");
  j["model"]["vocab"]["Ġa"] = 262;
  auto with_split = [&](const std::string& behavior, bool invert) {
    json k = j;
    k["pre_tokenizer"] = {{"type", "Sequence"},
                          {"pretokenizers",
                           json::array({{{"type", "Split"}, {"pattern", {{"String", " "}}}, {"behavior", behavior}, {"invert", invert}},
                                        {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}})}};
    return Tokenizer::from_dir(write_tok(k, "split"))->encode("x a");
  };
  EXPECT_EQ(with_split("Isolated", false), (Ids{120, 32, 97}));
  EXPECT_EQ(with_split("MergedWithNext", false), (Ids{120, 262}));
  EXPECT_EQ(with_split("MergedWithPrevious", false), (Ids{120, 32, 97}));
  EXPECT_EQ(with_split("Removed", false), (Ids{120, 97}));
  EXPECT_EQ(with_split("Contiguous", false), (Ids{120, 32, 97}));
  // A regex the hand-written matchers do not know runs on PCRE2.
  json k = j;
  k["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers",
                         json::array({{{"type", "Split"}, {"pattern", {{"Regex", " ?\\p{L}+|\\s+"}}}, {"behavior", "Isolated"}, {"invert", false}},
                                      {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}})}};
  auto tok = Tokenizer::from_dir(write_tok(k, "pcre"));
  EXPECT_EQ(tok->encode("x a"), (Ids{120, 262}));
  EXPECT_NE(tok->describe().find("pcre2"), std::string::npos);
}

TEST(TokenizerJson, ConfigTokensAndBosEos) {
  auto dir = write_tok(neox_like(), "cfg",
                       R"({"bos_token": {"content": "<|endoftext|>", "lstrip": false}, "eos_token": "<|endoftext|>",
                           "add_bos_token": true, "add_eos_token": true, "clean_up_tokenization_spaces": true,
                           "model_max_length": 2048, "chat_template": "{{ messages }}"})");
  auto tok = Tokenizer::from_dir(dir);
  EXPECT_EQ(tok->encode("the"), (Ids{300, 116, 257, 300}));
  EXPECT_TRUE(tok->clean_up_tokenization_spaces());
  EXPECT_EQ(tok->model_max_length(), 2048);
  EXPECT_EQ(tok->chat_template(), "{{ messages }}");
  EXPECT_EQ(tok->bos_id(), 300);
}

// Every malformed or unsupported file: an Error whose message names the file and the problem.
void expect_error(const fs::path& dir, const std::string& needle, const std::string& file = "tokenizer") {
  try {
    Tokenizer::from_dir(dir);
    ADD_FAILURE() << "no error; expected one mentioning " << needle;
  } catch (const stablelm::Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find(needle), std::string::npos) << m;
    EXPECT_NE(m.find(file), std::string::npos) << m;
  }
}

TEST(TokenizerJson, MalformedAndUnsupportedFiles) {
  auto edit = [](auto f) {
    json j = neox_like();
    f(j);
    return j;
  };
  {
    auto d = stablelm::test::temp_dir("notjson");
    stablelm::test::write_file(d / "tokenizer.json", "{\"model\": ");
    expect_error(d, "not valid JSON", "tokenizer.json");
  }
  expect_error(write_tok(json::array(), "arr"), "expected a JSON object");
  expect_error(write_tok(edit([](json& j) { j.erase("model"); }), "nomodel"), "no \"model\"");
  expect_error(write_tok(edit([](json& j) { j["model"]["type"] = "WordPiece"; }), "wp"), "unsupported model type \"WordPiece\"");
  // Found by fuzz_tokenizer_json: a non-string model.type escaped as a JSON library exception.
  expect_error(write_tok(edit([](json& j) { j["model"]["type"] = 3; }), "wpn"), "model.type must be a string");
  expect_error(write_tok(edit([](json& j) { j["normalizer"] = {{"type", "NFD"}}; }), "nfd"), "unsupported normalizer \"NFD\"");
  expect_error(write_tok(edit([](json& j) { j["pre_tokenizer"] = {{"type", "Whitespace"}}; }), "ws"),
               "unsupported pre_tokenizer \"Whitespace\"");
  expect_error(write_tok(edit([](json& j) {
                 j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "\\s+"}}}, {"behavior", "Isolated"}};
               }), "nobl"), "no ByteLevel");
  expect_error(write_tok(edit([](json& j) {
                 j["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", json::array({
                     {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}},
                     {{"type", "ByteLevel"}}})}};
               }), "badre"), "cannot compile regex");
  expect_error(write_tok(edit([](json& j) {
                 j["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", json::array({
                     {{"type", "Split"}, {"pattern", {{"Regex", "a"}}}, {"behavior", "Sideways"}},
                     {{"type", "ByteLevel"}}})}};
               }), "badbeh"), "not a Split behavior");
  expect_error(write_tok(edit([](json& j) { j["decoder"] = nullptr; }), "nodec"), "decoder is null");
  expect_error(write_tok(edit([](json& j) { j["decoder"] = {{"type", "WordPiece"}}; }), "wpdec"), "unsupported decoder");
  expect_error(write_tok(edit([](json& j) { j["post_processor"] = {{"type", "BertProcessing"}}; }), "pp"),
               "unsupported post_processor");
  expect_error(write_tok(edit([](json& j) { j["model"]["dropout"] = 0.1; }), "drop"), "dropout");
  expect_error(write_tok(edit([](json& j) { j["model"]["continuing_subword_prefix"] = "##"; }), "csp"),
               "continuing_subword_prefix");
  expect_error(write_tok(edit([](json& j) { j["model"]["merges"].push_back("Ġ zzzz"); }), "unk"), "\"zzzz\" is not in model.vocab");
  expect_error(write_tok(edit([](json& j) { j["model"]["merges"].push_back("a b c"); }), "three"),
               "not two tokens separated by one space");
  expect_error(write_tok(edit([](json& j) { j["model"]["merges"].push_back(7); }), "mnum"), "model.merges[5]");
  expect_error(write_tok(edit([](json& j) { j["model"]["vocab"]["x"] = -1; }), "neg"), "out of range");
  expect_error(write_tok(edit([](json& j) { j["model"]["vocab"]["zz"] = 5; }), "dup"), "id 5 is used twice");
  expect_error(write_tok(edit([](json& j) { j["model"]["vocab"]["zz"] = "five"; }), "strid"), "model.vocab");
  expect_error(write_tok(edit([](json& j) { j["model"]["vocab"].erase("Ġ"); }), "nobyte"), "no token for byte 32");
  expect_error(write_tok(edit([](json& j) { j["added_tokens"].push_back({{"content", "x"}}); }), "addnoid"),
               "added_tokens[2] needs an integer \"id\"");
  expect_error(write_tok(neox_like(), "cfgjson", "{bad"), "not valid JSON", "tokenizer_config.json");
  expect_error(write_tok(neox_like(), "cfgnum", R"({"bos_token": 5})"), "\"bos_token\" must be", "tokenizer_config.json");
  expect_error(write_tok(neox_like(), "cfgunk", R"({"eos_token": "</s>"})"), "eos_token \"</s>\" is not a token");
  expect_error(write_tok(neox_like(), "cfgadd", R"({"add_bos_token": true})"), "no bos_token");
  expect_error(stablelm::test::temp_dir("empty"), "no tokenizer.json or arcade100k.tiktoken", "empty");
}

TEST(TokenizerJson, MergedTokenMissing) {
  json j = neox_like();
  j["model"]["merges"].push_back("x y");
  expect_error(write_tok(j, "nomerge"), "merged token \"xy\" is not in model.vocab");
}

fs::path write_tiktoken(const std::string& body, const std::string& tag) {
  fs::path dir = stablelm::test::temp_dir(tag);
  stablelm::test::write_file(dir / "arcade100k.tiktoken", body);
  return dir;
}

std::string all_bytes_tiktoken() {
  static const char* b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string s;
  for (int b = 0; b < 256; ++b) {
    // One byte → "xx==".
    s += b64[b >> 2];
    s += b64[(b & 3) << 4];
    s += "== " + std::to_string(b) + "\n";
  }
  return s;
}

TEST(Tiktoken, SmallFileAndMalformedFiles) {
  std::string good = all_bytes_tiktoken() + "aGk= 256\n";  // "hi"
  auto tok = Tokenizer::from_dir(write_tiktoken(good, "tt"));
  EXPECT_EQ(tok->encode("hi h"), (Ids{256, 32, 104}));
  EXPECT_EQ(tok->encode("<|endoftext|>"), (Ids{100257}));
  EXPECT_EQ(tok->decode(Ids{256, 100257}), "hi<|endoftext|>");
  expect_error(write_tiktoken(good + "@@@@ 300\n", "b64"), "line 258: token is not valid base64", "arcade100k.tiktoken");
  expect_error(write_tiktoken(good + "aGk=\n", "norank"), "line 258: expected", "arcade100k.tiktoken");
  const std::string f = "arcade100k.tiktoken";
  expect_error(write_tiktoken(good + "aGl= x1\n", "badrank"), "is not a non-negative integer", f);
  expect_error(write_tiktoken(good + "aGl= 256\n", "duprank"), "rank 256 appears twice", f);
  expect_error(write_tiktoken(good + "aGk= 257\n", "dupbytes"), "token bytes appear twice", f);
  expect_error(write_tiktoken(good + "aGl= 100260\n", "collide"), "collides with the Arcade100k special", f);
  expect_error(write_tiktoken("aGk= 0\n", "nobytes"), "no token for the single byte 0", f);
  expect_error(write_tiktoken("", "emptyfile"), "no tokens", f);
}

}  // namespace
