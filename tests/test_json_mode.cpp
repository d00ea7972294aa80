// JSON mode: the byte-level JSON-object prefix recognizer against a strict parser (nlohmann) on
// generated and mutated documents, its promise that every accepted prefix can be completed, the
// token mask against a brute-force check of every token, and generation with it.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <random>
#include <nlohmann/json.hpp>

#include "sampling/prefix_constraint.h"
#include "sampling/json_prefix.h"
#include "stablelm/error.h"
#include "stablelm/generate.h"
#include "stablelm/model.h"
#include "stablelm/tokenizer.h"
#include "testutil.h"

using namespace stablelm;
using sampling::JsonPrefix;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

fs::path tiny() { return test::fixtures_dir() / "models" / "tiny-stablelm-2"; }

// Feeds every byte; returns how many were accepted.
template <class P>
size_t feed(P& p, std::string_view s) {
  size_t n = 0;
  while (n < s.size() && p.push(static_cast<uint8_t>(s[n]))) ++n;
  return n;
}
bool ours_complete(std::string_view s) {
  JsonPrefix p;
  return feed(p, s) == s.size() && p.complete();
}
// The reference: a strict parser that checks UTF-8 and surrogate pairs. nullopt: it refused for
// a reason that is not syntax (a float beyond double range, which JSON's grammar allows).
std::optional<bool> strict_is_object(const std::string& s) {
  try {
    return json::parse(s).is_object();
  } catch (const json::out_of_range&) {
    return std::nullopt;
  } catch (const json::parse_error& e) {
    if (std::string(e.what()).find("number overflow") != std::string::npos) return std::nullopt;
    return false;
  }
}

std::string random_string(std::mt19937& rng) {
  static const char* const kPieces[] = {"a", "Z", " ", "\"", "\\", "/", "\n", "\t", "\x01", "\x1f", "é", "€", "😀",
                                        "𐍈", "\xef\xbf\xbf", "key", "0", "}", "]", ":", ","};
  std::string s;
  for (int n = static_cast<int>(rng() % 6); n-- > 0;) s += kPieces[rng() % std::size(kPieces)];
  return s;
}
json random_value(std::mt19937& rng, int depth) {
  switch (rng() % (depth < 4 ? 8 : 6)) {
    case 0: return random_string(rng);
    case 1: return static_cast<int64_t>(rng() % 2000) - 1000;
    case 2: return std::ldexp(static_cast<double>(rng() % 100000) - 50000.0, static_cast<int>(rng() % 80) - 40);
    case 3: return (rng() & 1) != 0;
    case 4: return nullptr;
    case 5: return static_cast<uint64_t>(rng()) << 20;
    case 6: {
      json a = json::array();
      for (int n = static_cast<int>(rng() % 4); n-- > 0;) a.push_back(random_value(rng, depth + 1));
      return a;
    }
    default: {
      json o = json::object();
      for (int n = static_cast<int>(rng() % 4); n-- > 0;) o[random_string(rng)] = random_value(rng, depth + 1);
      return o;
    }
  }
}
json random_object(std::mt19937& rng) {
  json o = json::object();
  for (int n = static_cast<int>(rng() % 5); n-- > 0;) o[random_string(rng)] = random_value(rng, 1);
  return o;
}
// The same object written several ways: compact, indented, ASCII-only (\u escapes with
// surrogate pairs for astral characters).
std::vector<std::string> spellings(const json& o) {
  return {o.dump(), o.dump(2), o.dump(-1, ' ', true), o.dump(1, '\t', true)};
}

std::string mutate(std::string s, std::mt19937& rng) {
  static const std::string kBytes = std::string("{}[]:,\"\\ \n0123456789-+.eEuUdDcCfFtrnlsa") +
                                    "\x80\x9f\xa0\xbf\xc0\xc2\xe0\xed\xef\xf0\xf4\xf5\xff\x00\x1f";
  for (int k = 1 + static_cast<int>(rng() % 3); k-- > 0;) {
    const size_t at = s.empty() ? 0 : rng() % (s.size() + 1);
    const char b = kBytes[rng() % kBytes.size()];
    switch (rng() % 3) {
      case 0: s.insert(s.begin() + static_cast<std::ptrdiff_t>(at), b); break;
      case 1: if (at < s.size()) s.erase(at, 1); break;
      default: if (at < s.size()) s[at] = b; break;
    }
  }
  return s;
}

// Closes whatever is open by trying bytes in a fixed order (structural bytes first, then every
// byte for the literal keys' letters); every accepted prefix must allow it. JsonPrefix and
// ToolCallsPrefix alike.
template <class P>
std::string close_greedily(P p) {
  static const std::string kOrder = [] {
    std::string o = std::string("\"}]:,0ruealsDC\\u") + "\x80\x90\xa0{[";
    for (int b = 1; b < 256; ++b) o += static_cast<char>(b);
    return o;
  }();
  std::string out;
  for (int step = 0; step < 10000 && !p.complete(); ++step) {
    bool moved = false;
    for (char c : kOrder)
      if (p.push(static_cast<uint8_t>(c))) {
        out += c;
        moved = true;
        break;
      }
    if (!moved) return out + "<stuck>";
  }
  return out;
}

// The oracle of the token masks, one token at a time: a text token (valid, not special, with
// bytes) whose every byte the recognizer accepts from `state`.
template <class P>
bool allows_token(const Tokenizer& tok, P state, size_t id) {
  const auto i32 = static_cast<int32_t>(id);
  if (i32 >= tok.vocab_size() || !tok.is_valid_id(i32) || tok.is_special(i32)) return false;
  const std::string b = tok.token_bytes(i32);
  return !b.empty() && feed(state, b) == b.size();
}

// The single-byte tokens by byte reach any state byte by byte (inside a UTF-8 sequence too,
// which encode() refuses).
using test::single_byte_tokens;

}  // namespace

TEST(JsonPrefix, AcceptsEveryObjectAStrictWriterWritesAndEachPrefix) {
  std::mt19937 rng(1);
  for (int i = 0; i < 400; ++i) {
    for (const std::string& s : spellings(random_object(rng))) {
      JsonPrefix p;
      for (size_t k = 0; k < s.size(); ++k) {
        ASSERT_FALSE(p.complete()) << s << " complete before byte " << k;
        ASSERT_TRUE(p.push(static_cast<uint8_t>(s[k]))) << "refused byte " << k << " of " << s;
      }
      EXPECT_TRUE(p.complete()) << s;
      EXPECT_TRUE(p.push('\n')) << "trailing whitespace";
      EXPECT_FALSE(p.push('{')) << "a second value";
    }
  }
}

TEST(JsonPrefix, AgreesWithAStrictParserOnMutatedDocuments) {
  std::mt19937 rng(2);
  int objects = 0, refused = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::vector<std::string> docs = spellings(random_object(rng));
    const std::string m = mutate(docs[rng() % docs.size()], rng);
    const std::optional<bool> want = strict_is_object(m);
    if (!want) continue;
    EXPECT_EQ(ours_complete(m), *want) << json(m).dump();
    (*want ? objects : refused)++;
  }
  // Both outcomes must be well represented for the comparison to mean something.
  EXPECT_GT(objects, 1000);
  EXPECT_GT(refused, 5000);
}

TEST(JsonPrefix, EveryAcceptedPrefixCanBeCompleted) {
  std::mt19937 rng(3);
  for (int i = 0; i < 5000; ++i) {
    const std::vector<std::string> docs = spellings(random_object(rng));
    const std::string m = mutate(docs[rng() % docs.size()], rng);
    JsonPrefix p;
    const size_t n = feed(p, m);
    // Every accepted prefix of the mutated document, not only the longest.
    for (size_t cut : {n, n / 2, n / 3}) {
      JsonPrefix q;
      ASSERT_EQ(feed(q, std::string_view(m).substr(0, cut)), cut);
      const std::string done = m.substr(0, cut) + close_greedily(q);
      // nullopt: a number beyond double range (valid JSON that this parser declines).
      EXPECT_NE(strict_is_object(done), std::optional<bool>(false)) << json(done).dump();
    }
  }
}

TEST(JsonPrefix, TheEdgesOfTheGrammar) {
  // Inputs only: whether each is a complete object is decided by the strict parser.
  for (const std::string s :
       {"{}", " \t\n\r{ } ", "{\"a\":-0}", "{\"a\":-01}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":1e}", "{\"a\":1E+5}",
        "{\"a\":-0.0e-0}", "{\"a\":tru}", "{\"a\":nul}", "{\"a\":null}", "{\"a\":[1,]}", "{\"a\":[,1]}", "{\"a\" 1}",
        "{,}", "{\"a\":1,}", "[1]", "\"x\"", "{\"\\ud83d\\ude00\":0}", "{\"\\ud83d\":0}", "{\"\\ude00\":0}",
        "{\"\\ud83d\\u0041\":0}", "{\"\\u00e9\\/\\b\\f\\n\\r\\t\":0}", "{\"\\x\":0}", "{\"\xc0\xaf\":0}",
        "{\"\xed\xa0\x80\":0}", "{\"\xf4\x90\x80\x80\":0}", "{\"\xe0\x9f\xbf\":0}", "{\"\xf0\x90\x8d\x88\":0}",
        "{\"a\":\"\t\"}", "{\"a\":[{}]}", "{\"a\":[}", "{\"a\":{]}", "{}}", "{\"a\":0}{"}) {
    const std::optional<bool> want = strict_is_object(s);
    ASSERT_TRUE(want.has_value()) << s;
    EXPECT_EQ(ours_complete(s), *want) << json(s).dump();
  }
}

TEST(JsonPrefix, NestingStopsAtTheParsersDepthLimit) {
  JsonPrefix p;
  ASSERT_TRUE(p.push('{'));
  for (const char c : std::string("\"a\":")) ASSERT_TRUE(p.push(static_cast<uint8_t>(c)));
  for (int d = 2; d <= JsonPrefix::kMaxDepth; ++d) ASSERT_TRUE(p.push('[')) << d;
  EXPECT_FALSE(p.push('[')) << "one level past the limit";
  EXPECT_FALSE(p.push('{'));
  std::string closing(static_cast<size_t>(JsonPrefix::kMaxDepth - 1), ']');
  EXPECT_EQ(feed(p, closing + "}"), closing.size() + 1);
  EXPECT_TRUE(p.complete());
}

TEST(JsonPrefix, BoundedWhitespaceIsASubsetWithShortRuns) {
  const auto bounded = [](std::string_view s) {
    JsonPrefix p(JsonPrefix::Whitespace::Bounded);
    return feed(p, s) == s.size() && p.complete();
  };
  // Compact and indented writers' output stays accepted (indentation up to kMaxIndent).
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {
    json o = random_object(rng);
    EXPECT_TRUE(bounded(o.dump())) << o.dump();
    EXPECT_TRUE(bounded(o.dump(1, '\t'))) << o.dump(1, '\t');
  }
  EXPECT_TRUE(bounded("{ \"a\": [1, 2],\n  \"b\": {}\n}"));
  EXPECT_TRUE(bounded("{\n" + std::string(JsonPrefix::kMaxIndent, ' ') + "\"a\": 1}"));
  for (const std::string& s : std::vector<std::string>{"{  }", "{\n\n}", "{\t}", "{\r\n}", "{ \n}",
                                                      "{\"a\":1 ,\"b\":2  }",
                                                      "{\n" + std::string(JsonPrefix::kMaxIndent + 1, ' ') + "}"}) {
    EXPECT_TRUE(ours_complete(s)) << json(s).dump();
    EXPECT_FALSE(bounded(s)) << json(s).dump();
  }
  // Bounded never accepts what the RFC refuses, and never a long run.
  for (int i = 0; i < 5000; ++i) {
    const std::vector<std::string> docs = spellings(random_object(rng));
    const std::string m = mutate(docs[rng() % docs.size()], rng);
    if (bounded(m)) {
      EXPECT_TRUE(ours_complete(m)) << json(m).dump();
    }
    JsonPrefix p(JsonPrefix::Whitespace::Bounded);
    const size_t n = feed(p, m);
    const std::string got = m.substr(0, n);
    size_t run = 0, longest = 0;
    bool in_string = false, escaped = false;
    for (char c : got) {
      if (in_string) {
        if (escaped) escaped = false;
        else if (c == '\\') escaped = true;
        else if (c == '"') in_string = false;
        continue;
      }
      if (c == '"') in_string = true;
      run = std::strchr(" \t\n\r", c) != nullptr && c != '\0' ? run + 1 : 0;
      longest = std::max(longest, run);
    }
    EXPECT_LE(longest, static_cast<size_t>(JsonPrefix::kMaxIndent + 1)) << json(got).dump();
    const std::string done = got + close_greedily(p);
    EXPECT_NE(strict_is_object(done), std::optional<bool>(false)) << json(done).dump();
  }
}

// ---- the token mask ---------------------------------------------------------------------------

TEST(JsonMask, EqualsCheckingEveryTokenOnItsOwn) {
  auto tok = Tokenizer::from_dir(test::fixtures_dir() / "arcade100k");
  auto index = sampling::token_bytes_index(*tok);
  // Prefixes cut from documents at many points: inside strings, escapes, UTF-8 sequences,
  // numbers, literals and between tokens.
  std::mt19937 rng(4);
  std::vector<std::string> prefixes = {"", " ", "{", "{\"", "{\"a\":", "{\"a\": -", "{\"a\": 0", "{\"a\": 1.5e",
                                       "{\"a\": t", "{\"\\", "{\"\\u", "{\"\\ud83d", "{\"\xf0\x9f", "{\"a\": [1, 2"};
  for (int i = 0; i < 30; ++i) {
    const std::vector<std::string> docs = spellings(random_object(rng));
    const std::string& d = docs[rng() % docs.size()];
    prefixes.push_back(d.substr(0, rng() % d.size()));
  }
  const size_t vocab = static_cast<size_t>(tok->vocab_size()) + 64;  // the model's rows may run past the tokenizer's
  const std::array<int32_t, 256> byte_token = single_byte_tokens(*tok);
  for (const std::string& pre : prefixes) {
    sampling::JsonObjectConstraint c(index);
    JsonPrefix state;
    ASSERT_EQ(feed(state, pre), pre.size()) << pre;
    for (char ch : pre) c.accept(byte_token[static_cast<uint8_t>(ch)]);
    std::vector<float> scores(vocab, 0.0f);
    c.mask(scores);
    size_t allowed = 0;
    for (size_t id = 0; id < vocab; ++id) {
      const bool want = allows_token(*tok, state, id);
      ASSERT_EQ(scores[id] == 0.0f, want) << json(pre).dump() << " token " << id;
      allowed += want;
    }
    EXPECT_GT(allowed, 0u) << pre;
  }
}

TEST(JsonMask, AcceptRefusesATokenTheMaskFiltered) {
  auto tok = Tokenizer::from_dir(test::fixtures_dir() / "arcade100k");
  sampling::JsonObjectConstraint c(sampling::token_bytes_index(*tok));
  const std::vector<int32_t> ids = tok->encode("hello", false);
  EXPECT_THROW(c.accept(ids[0]), Error);
  EXPECT_THROW(c.accept(*tok->eos_id()), Error);  // special tokens are never text
  EXPECT_THROW(c.accept(-1), Error);
  c.accept(tok->encode("{", false)[0]);
  EXPECT_FALSE(c.complete());
}

// ---- generation ----------------------------------------------------------------------------

TEST(JsonModeGeneration, EachTokenIsTheBestAllowedOneAndTheObjectParses) {
  auto model = Model::load(tiny());
  auto tok = Tokenizer::from_dir(tiny());
  Session session(*model);
  const std::vector<int32_t> prompt = tok->encode("A JSON object: ", false);
  int finished = 0;
  for (uint64_t seed = 0; seed < 12; ++seed) {
    GenerationConfig cfg;
    cfg.format = GenerationConfig::Format::JsonObject;
    cfg.max_new_tokens = 48;
    cfg.do_sample = seed != 0;  // seed 0: greedy
    cfg.top_k = 0;
    // A hot temperature on random weights makes closing brackets likely enough to finish.
    cfg.temperature = seed % 2 != 0 ? 1.0f : 0.3f;
    session.truncate(0);
    std::span<const float> logits = session.forward(prompt, false);
    SequenceGenerator gen(cfg, static_cast<int64_t>(logits.size()), prompt, seed, tok.get());
    JsonPrefix state(JsonPrefix::Whitespace::Bounded);  // what generation uses
    std::string text;
    for (;;) {
      // The brute-force allowed set for this step.
      std::vector<uint8_t> allowed(logits.size(), 0);
      for (size_t id = 0; id < logits.size(); ++id) allowed[id] = allows_token(*tok, state, id);
      const std::vector<float> raw(logits.begin(), logits.end());
      const SequenceGenerator::Step st = gen.step(logits);
      ASSERT_TRUE(allowed[static_cast<size_t>(st.id)]) << "seed " << seed << ": token " << st.id;
      if (!cfg.sampling()) {
        size_t best = SIZE_MAX;
        for (size_t id = 0; id < raw.size(); ++id)
          if (allowed[id] && (best == SIZE_MAX || raw[id] > raw[best])) best = id;
        EXPECT_EQ(static_cast<size_t>(st.id), best);
      }
      const std::string b = tok->token_bytes(st.id);
      ASSERT_EQ(feed(state, b), b.size());
      text += b;
      if (st.done) {
        EXPECT_EQ(st.reason, state.complete() ? StopReason::JsonComplete : StopReason::MaxNewTokens);
        break;
      }
      logits = session.forward(std::span<const int32_t>(&st.id, 1), false);
    }
    if (state.complete()) {
      ++finished;
      EXPECT_TRUE(json::parse(text).is_object()) << text;
    }
  }
  EXPECT_GT(finished, 0) << "no seed closed its object: the test checks nothing about the ending";
}

TEST(JsonModeGeneration, NeedsATokenizer) {
  GenerationConfig cfg;
  cfg.format = GenerationConfig::Format::JsonObject;
  const std::vector<int32_t> prompt = {1, 2};
  EXPECT_THROW(SequenceGenerator(cfg, 100, prompt, 0, nullptr), Error);
}

TEST(JsonModeCli, GenerateWritesOneObjectAndSaysWhyItStopped) {
  // A random-weight model seldom closes its strings: each output is checked as what it is, a
  // complete object (stop: json_complete) or a prefix of one (stop: max_new_tokens).
  const std::string m = tiny().string();
  for (const char* seed : {"1", "2", "3", "4", "5", "6"}) {
    test::CommandResult r = test::run_cli({"generate", "--model", m, "--prompt", "JSON:", "--response-format",
                                           "json_object", "--max-new-tokens", "24", "--temperature", "1",
                                           "--seed", seed});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    JsonPrefix p(JsonPrefix::Whitespace::Bounded);
    EXPECT_EQ(feed(p, r.out), r.out.size()) << r.out;
    if (r.err.find("stop: json_complete") != std::string::npos) {
      EXPECT_TRUE(p.complete());
      EXPECT_TRUE(json::parse(r.out).is_object()) << r.out;
    } else {
      EXPECT_NE(r.err.find("stop: max_new_tokens"), std::string::npos) << r.err;
    }
  }
  test::CommandResult bad = test::run_cli({"generate", "--model", m, "--prompt", "x", "--response-format", "json"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--response-format"), std::string::npos) << bad.err;
}

// ---- tool calls (tool_choice "required" or a named function) ------------------------------------

namespace {
using sampling::ToolCallsPrefix;
using ojson = nlohmann::ordered_json;

const std::vector<std::string> kNames = {"get", "get_weather", "get_time", "search"};  // sorted

bool calls_complete(std::string_view s, int max_calls) {
  ToolCallsPrefix p(&kNames, max_calls);
  return feed(p, s) == s.size() && p.complete();
}
// The reference: a strict parse, then the shape: a non-empty list of {"name", "arguments"} objects
// with exactly those keys in that order, a known name and object arguments.
std::optional<bool> strict_is_calls(const std::string& s, int max_calls) {
  ojson j;
  try {
    j = ojson::parse(s);
  } catch (const ojson::out_of_range&) {
    return std::nullopt;
  } catch (const ojson::parse_error& e) {
    if (std::string(e.what()).find("number overflow") != std::string::npos) return std::nullopt;
    return false;
  }
  if (!j.is_array() || j.empty() || (max_calls > 0 && j.size() > static_cast<size_t>(max_calls))) return false;
  for (const ojson& c : j) {
    if (!c.is_object() || c.size() != 2 || c.begin().key() != "name" || std::next(c.begin()).key() != "arguments")
      return false;
    if (!c["name"].is_string() || std::find(kNames.begin(), kNames.end(), c["name"].get<std::string>()) == kNames.end())
      return false;
    if (!c["arguments"].is_object()) return false;
  }
  return true;
}
std::vector<std::string> random_calls(std::mt19937& rng) {
  static const char* const kTry[] = {"get", "get_weather", "get_time", "search", "ge", "get_", "searchx", "Get"};
  ojson list = ojson::array();
  for (int n = 1 + static_cast<int>(rng() % 3); n-- > 0;) {
    ojson args = ojson::parse(random_object(rng).dump());
    list.push_back(ojson{{"name", kTry[rng() % (rng() % 4 == 0 ? 8 : 4)]}, {"arguments", args}});
  }
  return {list.dump(), list.dump(2), list.dump(-1, ' ', true), list.dump(1, '\t')};
}
}  // namespace

TEST(ToolCallsPrefix, AgreesWithAStrictParserAndTheCallShape) {
  std::mt19937 rng(5);
  int good = 0, bad = 0;
  for (int i = 0; i < 12000; ++i) {
    const std::vector<std::string> docs = random_calls(rng);
    const std::string& d = docs[rng() % docs.size()];
    const std::string m = i % 3 == 0 ? d : mutate(d, rng);
    const int max_calls = i % 4 == 0 ? 1 : 0;
    const std::optional<bool> want = strict_is_calls(m, max_calls);
    if (!want) continue;
    EXPECT_EQ(calls_complete(m, max_calls), *want) << json(m).dump() << " max " << max_calls;
    (*want ? good : bad)++;
  }
  EXPECT_GT(good, 2000);
  EXPECT_GT(bad, 3000);
  for (const std::string s : {"[]", "[{}]", "[{\"name\": \"get\"}]", "[{\"name\": \"get\", \"arguments\": []}]",
                              "[{\"name\": \"get\", \"arguments\": \"{}\"}]", "{\"name\": \"get\", \"arguments\": {}}",
                              "[{\"arguments\": {}, \"name\": \"get\"}]", " [ { \"name\" : \"get_time\" , \"arguments\" : { } } ] "})
    EXPECT_EQ(calls_complete(s, 0), strict_is_calls(s, 0).value()) << s;
}

TEST(ToolCallsPrefix, EveryAcceptedPrefixCanBeCompleted) {
  std::mt19937 rng(6);
  for (int i = 0; i < 3000; ++i) {
    const std::vector<std::string> docs = random_calls(rng);
    const std::string m = mutate(docs[rng() % docs.size()], rng);
    const int max_calls = i % 2 == 0 ? 1 : 0;
    ToolCallsPrefix p(&kNames, max_calls);
    const size_t n = feed(p, m);
    for (size_t cut : {n, n / 2}) {
      ToolCallsPrefix q(&kNames, max_calls);
      ASSERT_EQ(feed(q, std::string_view(m).substr(0, cut)), cut);
      const std::string done = m.substr(0, cut) + close_greedily(q);
      EXPECT_NE(strict_is_calls(done, max_calls), std::optional<bool>(false)) << json(done).dump().substr(0, 400);
    }
  }
}

TEST(ToolCallsMask, EqualsCheckingEveryTokenOnItsOwn) {
  auto tok = Tokenizer::from_dir(test::fixtures_dir() / "arcade100k");
  auto index = sampling::token_bytes_index(*tok);
  const std::array<int32_t, 256> byte_token = single_byte_tokens(*tok);
  const size_t vocab = static_cast<size_t>(tok->vocab_size());
  for (const std::string pre : {"", "[", "[{\"na", "[{\"name\": \"", "[{\"name\": \"get", "[{\"name\": \"get_",
                                "[{\"name\": \"get\", \"arguments\": ", "[{\"name\": \"get\", \"arguments\": {\"a\": \"x",
                                "[{\"name\": \"get\", \"arguments\": {}", "[{\"name\": \"get\", \"arguments\": {}}"}) {
    for (int max_calls : {0, 1}) {
      auto c = sampling::make_tool_calls_constraint(index, {"search", "get_time", "get", "get_weather", "get"}, max_calls);
      ToolCallsPrefix state(&kNames, max_calls);
      for (char ch : pre) {
        ASSERT_TRUE(state.push(static_cast<uint8_t>(ch))) << pre;
        c->accept(byte_token[static_cast<uint8_t>(ch)]);
      }
      std::vector<float> scores(vocab, 0.0f);
      c->mask(scores);
      for (size_t id = 0; id < vocab; ++id) {
        ASSERT_EQ(scores[id] == 0.0f, allows_token(*tok, state, id)) << json(pre).dump() << " token " << id;
      }
    }
  }
  EXPECT_THROW(sampling::make_tool_calls_constraint(index, {"a\"b"}, 0), Error);
  EXPECT_THROW(sampling::make_tool_calls_constraint(index, {}, 0), Error);
}
