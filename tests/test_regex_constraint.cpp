// Regex-held output (guided_regex, guided_choice, generate --regex): the automaton's basics, the
// token mask against pushing each token's bytes on their own (end of sequence allowed exactly
// where the text matches), generation on the tiny model and the CLI. Whether the automaton
// matches what ECMAScript's regex would is checked against Python's re by
// tests/sampling/regex_vs_python.py; JSON Schema patterns by test_json_schema and
// schema_vs_jsonschema.py.
#include <gtest/gtest.h>

#include <array>

#include "sampling/prefix_constraint.h"
#include "sampling/regex.h"
#include "stablelm/error.h"
#include "stablelm/generate.h"
#include "stablelm/model.h"
#include "stablelm/sampling.h"
#include "stablelm/tokenizer.h"
#include "testutil.h"

using namespace stablelm;
using sampling::RegexDfa;

namespace {

std::string error_of(std::string_view pattern) {
  try {
    compile_regex(pattern);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Regex, RefusesWhatItCannotMatchNamingTheConstructAndTheOffset) {
  const std::pair<const char*, const char*> cases[] = {
      {"ab(?=c)", "lookaround assertions are not supported (at offset 2"},
      {"(a)\\1", "backreferences are not supported (at offset 3"},
      {"\\bx", "word boundaries"},
      {"\\p{L}", "Unicode property escapes"},
      {"a{1001}", "a count above 1000"},
      {"a{3,2}", "numbers out of order"},
      {"[z-a]", "range out of order"},
      {"(ab", "missing ')' (at offset 0"},
      {"ab)", "unmatched ')' (at offset 2"},
      {"[ab", "missing ']'"},
      {"*", "nothing to repeat"},
      {"a**", "nothing to repeat (at offset 2"},
      {"a^b", "'^' is supported only at the start"},
      {"(?i)a", "inline flags"},
      {"\\q", "unknown escape '\\q'"},
      {"\xff", "not valid UTF-8"},
      {"\\", "at the end of the pattern"},
  };
  for (const auto& [pattern, words] : cases) {
    const std::string e = error_of(pattern);
    EXPECT_TRUE(e.starts_with("regex: ")) << pattern << ": " << e;
    EXPECT_NE(e.find(words), std::string::npos) << pattern << ": " << e;
  }
  // Exponential automatons are cut off with an error, in bounded time.
  EXPECT_NE(error_of("(a|b)*a(a|b){20}").find("too large"), std::string::npos);
}

TEST(Regex, MatchesCodePointsAndTheAnchorsOfEachReading) {
  const auto full = compile_regex("[^a-c]é{2}.\\u{1F600}?");
  EXPECT_TRUE(full->matches("xééz"));
  EXPECT_TRUE(full->matches("\xe2\x82\xac\xc3\xa9\xc3\xa9\xc3\xa9\xf0\x9f\x98\x80"));  // €ééé😀
  EXPECT_FALSE(full->matches("aééz"));
  EXPECT_FALSE(full->matches("xéé\n"));  // '.' is no line terminator
  EXPECT_FALSE(full->matches("x\xc3\xa9\xc3"));  // a cut character
  const auto search = sampling::compile_regex("^ab|cd$", RegexDfa::Match::Search);
  EXPECT_TRUE(search->matches("abzz"));
  EXPECT_TRUE(search->matches("zzcd"));
  EXPECT_FALSE(search->matches("zabz"));
  EXPECT_FALSE(search->matches("cdz"));
  // The choice: the texts as they are, syntax characters and all.
  const auto choice = compile_choice({"a.b", "(x)", "", "é|"});
  for (const char* ok : {"a.b", "(x)", "", "é|"}) EXPECT_TRUE(choice->matches(ok)) << ok;
  for (const char* bad : {"axb", "x", "é", "(x"}) EXPECT_FALSE(choice->matches(bad)) << bad;
  EXPECT_THROW(compile_choice({}), Error);
}

TEST(Regex, LengthBoundsAreExactForTheBoundsItWasCompiledFor) {
  // "o" somewhere, 3 to 5 characters: from the start, some completion has 3, 4 or 5.
  const auto d = sampling::compile_regex("o", RegexDfa::Match::Search, 3, 5);
  EXPECT_TRUE(d->completes(d->start(), 3, 5));
  EXPECT_TRUE(d->completes(d->start(), 1, 1));  // "o" itself
  EXPECT_FALSE(d->completes(d->start(), 0, 0));
  // "^a{4}$": only 4; nothing with 3 or with 5.
  const auto four = sampling::compile_regex("^a{4}$", RegexDfa::Match::Search, 0, 5);
  EXPECT_TRUE(four->completes(four->start(), 4, 4));
  EXPECT_FALSE(four->completes(four->start(), 0, 3));
  EXPECT_FALSE(four->completes(four->start(), 5, 5));
  // With a lower bound and none above: "^(ab)+$" has only even lengths, and every one from 2 up.
  const auto even = sampling::compile_regex("^(ab)+$", RegexDfa::Match::Search, 7);
  EXPECT_TRUE(even->completes(even->start(), 7, RegexDfa::kUnlimited));
  EXPECT_FALSE(even->completes(even->start(), 3, 3));
  EXPECT_TRUE(even->completes(even->start(), 8, 8));
}

TEST(RegexConstraint, MaskEqualsCheckingEveryTokenAndEndsWhereTheTextMatches) {
  auto tok = Tokenizer::from_dir(test::fixtures_dir() / "arcade100k");
  auto index = sampling::token_bytes_index(*tok);
  const auto d = compile_regex("(ab|a)+[0-9]{1,3}( é)?");
  const int32_t eos = 100257;
  sampling::RegexConstraint c(index, d, {eos});
  sampling::RegexPrefix state(d.get());
  const std::string text = "abaab12 \xc3\xa9";
  const size_t vocab = static_cast<size_t>(tok->vocab_size());
  const std::array<int32_t, 256> byte_token = test::single_byte_tokens(*tok);
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    std::vector<float> scores(vocab, 0.0f);
    c.mask(scores);
    for (size_t id = 0; id < vocab; ++id) {
      const auto i32 = static_cast<int32_t>(id);
      bool want = false;
      if (i32 == eos) {
        want = state.matches();
      } else if (tok->is_valid_id(i32) && !tok->is_special(i32)) {
        const std::string b = tok->token_bytes(i32);
        sampling::RegexPrefix s = state;
        want = !b.empty();
        for (char ch : b) want = want && s.push(static_cast<uint8_t>(ch));
      }
      ASSERT_EQ(scores[id] == 0.0f, want) << "after " << cut << " bytes, token " << id;
    }
    if (cut == text.size()) break;
    // Byte by byte (Arcade100k has a token for each byte), so states repeat and the cache serves.
    ASSERT_GE(byte_token[static_cast<uint8_t>(text[cut])], 0);
    c.accept(byte_token[static_cast<uint8_t>(text[cut])]);
    ASSERT_TRUE(state.push(static_cast<uint8_t>(text[cut])));
  }
  EXPECT_TRUE(c.complete());  // " é" ends every match
  EXPECT_NO_THROW(c.accept(eos));
  sampling::RegexConstraint fresh(index, d, {eos});
  EXPECT_THROW(fresh.accept(eos), Error);  // nothing matches yet
}

TEST(RegexConstraint, GenerationMatchesWholeOrRunsOutOfTokens) {
  const auto dir = test::fixtures_dir() / "models" / "tiny-stablelm-2";
  auto model = Model::load(dir);
  auto tok = Tokenizer::from_dir(dir);
  Session session(*model);
  const std::vector<int32_t> prompt = tok->encode("Id: ", false);
  const auto d = compile_regex("[A-Z]{2}-\\d{2,4}|none");
  int matched = 0;
  for (uint64_t seed = 0; seed < 6; ++seed) {
    GenerationConfig cfg = GenerationConfig::for_model(dir, model->config());
    cfg.format = GenerationConfig::Format::Regex;
    cfg.regex = d;
    cfg.max_new_tokens = 12;
    cfg.do_sample = seed != 0;
    cfg.top_k = 0;
    session.truncate(0);
    std::span<const float> logits = session.forward(prompt, false);
    SequenceGenerator gen(cfg, static_cast<int64_t>(logits.size()), prompt, seed, tok.get());
    std::string text;
    for (;;) {
      const SequenceGenerator::Step st = gen.step(logits);
      if (!tok->is_special(st.id)) text += tok->token_bytes(st.id);
      if (st.done) {
        if (st.reason != StopReason::MaxNewTokens) {
          EXPECT_TRUE(st.reason == StopReason::JsonComplete || st.reason == StopReason::Eos) << text;
          EXPECT_TRUE(d->matches(text)) << text;
          ++matched;
        }
        break;
      }
      logits = session.forward(std::span<const int32_t>(&st.id, 1), false);
    }
  }
  EXPECT_GT(matched, 0);
  GenerationConfig bad;
  bad.format = GenerationConfig::Format::Regex;
  EXPECT_THROW(bad.validate(), Error);
}

TEST(RegexConstraint, GenerateRegexOption) {
  const std::string m = (test::fixtures_dir() / "models" / "tiny-stablelm-2").string();
  test::CommandResult r = test::run_cli({"generate", "--model", m, "--prompt", "Year:", "--regex", "(19|20)\\d\\d",
                                         "--max-new-tokens", "10", "--temperature", "1", "--seed", "4"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(compile_regex("(19|20)\\d\\d")->matches(r.out)) << r.out;
  EXPECT_NE(r.err.find("stop: json_complete"), std::string::npos) << r.err;
  test::CommandResult bad = test::run_cli({"generate", "--model", m, "--prompt", "x", "--regex", "(?<=a)"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("regex: lookaround"), std::string::npos) << bad.err;
  test::CommandResult both = test::run_cli(
      {"generate", "--model", m, "--prompt", "x", "--regex", "a", "--response-format", "json_object"});
  EXPECT_NE(both.exit_code, 0);
  EXPECT_NE(both.err.find("give one"), std::string::npos) << both.err;
}
