// JSON Schema output: the compiler's refusals (named keyword and place), the recognizer's depth
// limit, the token mask against checking every token on its own, generation and the CLI. Whether
// what the recognizer allows validates is checked against Python's jsonschema by
// tests/sampling/schema_vs_jsonschema.py.
#include <gtest/gtest.h>

#include <array>
#include <random>
#include <nlohmann/json.hpp>

#include "sampling/json_schema.h"
#include "sampling/prefix_constraint.h"
#include "sampling/schema_prefix.h"
#include "stablelm/error.h"
#include "stablelm/generate.h"
#include "stablelm/model.h"
#include "stablelm/sampling.h"
#include "stablelm/tokenizer.h"
#include "testutil.h"

using namespace stablelm;
using sampling::JsonPrefix;
using sampling::SchemaPrefix;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

fs::path tiny() { return test::fixtures_dir() / "models" / "tiny-stablelm-2"; }

size_t feed(SchemaPrefix& p, std::string_view s) {
  size_t n = 0;
  while (n < s.size() && p.push(static_cast<uint8_t>(s[n]))) ++n;
  return n;
}
bool accepts(const std::shared_ptr<const sampling::SchemaGraph>& g, std::string_view s) {
  SchemaPrefix p(g.get());
  return feed(p, s) == s.size() && p.complete();
}

std::string compile_error(const std::string& schema) {
  try {
    compile_json_schema(schema);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

const char* const kPerson = R"({
  "type": "object",
  "properties": {
    "name": {"type": "string", "maxLength": 12},
    "age": {"type": "integer"},
    "mood": {"enum": ["happy", "sad", null]},
    "tags": {"type": "array", "items": {"type": "string", "maxLength": 1000}, "maxItems": 2},
    "extra": {"type": "object"}
  },
  "required": ["name", "age"]
})";

}  // namespace

TEST(JsonSchemaCompiler, RefusesWhatItCannotEnforceNamingTheKeywordAndThePlace) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {R"J({"type": "object", "properties": {"a": {"type": "string", "pattern": "^(?=x)"}}})J",
       {"'pattern' cannot be enforced: lookaround", "offset 1", "#/properties/a/pattern"}},
      {R"({"type": "object", "properties": {"a": {"type": "string", "pattern": "^a{5}$", "maxLength": 4}},
          "required": ["a"]})", {"no JSON value satisfies"}},
      {R"({"type": "object", "properties": {"a": {"type": "string", "pattern": "a.{30}"}}})",
       {"'pattern' cannot be enforced", "automaton would be too large"}},
      {R"({"type": "object", "properties": {"a": {"pattern": 5}}})", {"'pattern' must be a string"}},
      {R"({"type": "object", "properties": {"n": {"type": "number", "multipleOf": 0.5}}})",
       {"'multipleOf' is not supported", "#/properties/n/multipleOf"}},
      {R"({"type": "object", "properties": {"n": {"type": "integer", "minimum": 5, "exclusiveMaximum": 5}},
          "required": ["n"]})", {"no JSON value satisfies"}},
      {R"({"type": "object", "properties": {"n": {"type": "integer", "exclusiveMinimum": true}}})",
       {"'exclusiveMinimum' must be a number"}},
      {R"({"type": "array", "uniqueItems": true})", {"'uniqueItems'"}},
      {R"({"not": {"type": "string"}})", {"'not'"}},
      {R"({"$ref": "https://example.com/s.json"})", {"not local"}},
      {R"({"$ref": "#/$defs/missing"})", {"names nothing", "#/$ref"}},
      {R"({"anyOf": [{"type": "object"}, {"type": "object", "properties": {"a": {}}}]})",
       {"both allow an object", "#"}},
      {R"({"anyOf": [{"type": "integer"}, {"type": "number"}], "title": "x"})", {"both allow a number"}},
      {R"({"type": "object", "properties": {"a": {"anyOf": [{"type": "string"}]}}, "required": ["a"],
          "allOf": [{}, {}]})", {"'allOf' beside 'type'"}},
      {R"({"allOf": [{"type": "string"}, {"maxLength": 2}]})", {"'allOf' of more than one"}},
      {R"({"type": "integer"})", {"bare number"}},
      {R"({})", {"bare number"}},
      {R"({"enum": []})", {"no JSON value satisfies"}},
      {R"({"type": "array", "minItems": 3, "maxItems": 2})", {"no JSON value satisfies"}},
      {R"({"type": "object", "properties": {"a": false}, "required": ["a"]})", {"no JSON value satisfies"}},
      {R"({"$defs": {"n": {"type": "object", "properties": {"c": {"$ref": "#/$defs/n"}}, "required": ["c"]}},
          "$ref": "#/$defs/n"})", {"no JSON value satisfies"}},
      {R"({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"})",
       {"refers back to itself"}},
      {R"({"type": "object", "required": ["z"], "additionalProperties": false})", {"\"z\" is not in 'properties'"}},
      {R"({"type": "strings"})", {"not a JSON Schema type", "#/type"}},
      {R"({"type": "string", "maxLength": -1})", {"non-negative integer", "#/maxLength"}},
      {R"({"type": "object", "properties": []})", {"'properties' must be an object"}},
      {R"([1])", {"must be an object or a boolean"}},
      {R"({"type": "object")", {"not valid JSON"}},
      {R"({"$ref": "#", "type": "object"})", {"'$ref' beside 'type'"}},
      {R"({"enum": [[1], [1, 2]], "maxItems": 1})", {"'enum'/'const' beside 'maxItems'"}},
      {R"({"type": "object", "properties": {"s": {"enum": ["long"], "maxLength": 2}}, "required": ["s"]})",
       {"no JSON value satisfies"}},
  };
  for (const auto& [schema, parts] : cases) {
    const std::string e = compile_error(schema);
    ASSERT_FALSE(e.empty()) << schema;
    EXPECT_EQ(e.rfind("json schema", 0), 0u) << e;
    for (const std::string& part : parts) EXPECT_NE(e.find(part), std::string::npos) << schema << "\n" << e;
  }
}

TEST(JsonSchemaCompiler, TakesAnnotationsAndTheShapesClientsSend) {
  // pydantic (v2) for a model with an Optional, a Literal, a nested model and a list of models.
  const char* pydantic = R"({"$defs": {"Address": {"properties": {"city": {"title": "City", "type": "string"}},
      "required": ["city"], "title": "Address", "type": "object"}},
      "properties": {"name": {"title": "Name", "type": "string"},
        "nick": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null, "title": "Nick"},
        "kind": {"enum": ["a", "b"], "title": "Kind", "type": "string"},
        "home": {"$ref": "#/$defs/Address"},
        "past": {"items": {"$ref": "#/$defs/Address"}, "title": "Past", "type": "array"},
        "when": {"format": "date-time", "type": "string", "description": "ISO 8601"}},
      "required": ["name", "kind", "home"], "title": "Person", "type": "object"})";
  const auto g = compile_json_schema(pydantic);
  EXPECT_TRUE(accepts(g, R"({"name":"x","kind":"a","home":{"city":"Oslo"}})"));
  EXPECT_TRUE(accepts(g, R"({"name": "x", "nick": null, "kind": "b", "home": {"city": ""}, "past": []})"));
  EXPECT_FALSE(accepts(g, R"({"kind":"a","name":"x","home":{"city":"Oslo"}})"));  // not in the schema's order
  EXPECT_FALSE(accepts(g, R"({"name":"x","kind":"c","home":{"city":"Oslo"}})"));
  // OpenAI strict mode: every property required, additionalProperties false, nullable through a type list.
  const auto strict = compile_json_schema(R"({"type": "object", "additionalProperties": false,
      "properties": {"a": {"type": ["string", "null"]}, "b": {"type": "boolean"}}, "required": ["a", "b"]})");
  EXPECT_TRUE(accepts(strict, R"({"a":null,"b":true})"));
  EXPECT_FALSE(accepts(strict, R"({"a":null})"));
  EXPECT_FALSE(accepts(strict, R"({"a":null,"b":true,"c":1})"));
  // OpenAPI's nullable.
  EXPECT_TRUE(accepts(compile_json_schema(R"({"type": "object", "properties": {"a": {"type": "integer",
      "nullable": true}}, "required": ["a"]})"), R"({"a":null})"));
  // Booleans as schemas; a string root; a list root.
  EXPECT_TRUE(accepts(compile_json_schema(R"({"type": "object", "properties": {"a": true}, "required": ["a"]})"),
                      R"({"a":[{"b":1.5e3}]})"));
  EXPECT_TRUE(accepts(compile_json_schema(R"({"type": "string"})"), R"("hi")"));
  EXPECT_TRUE(accepts(compile_json_schema(R"({"type": "array", "items": {"type": "integer"}})"), "[1, -2, 30]"));
}

TEST(JsonSchemaCompiler, ObjectsToldApartByAConstantFirstPropertyAreATaggedUnion) {
  // pydantic's tagged union (Field(discriminator="pet_type")).
  const auto g = compile_json_schema(R"({"$defs": {
      "Cat": {"type": "object", "properties": {"pet_type": {"const": "cat"}, "meows": {"type": "integer"}},
              "required": ["pet_type", "meows"]},
      "Dog": {"type": "object", "properties": {"pet_type": {"type": "string", "enum": ["dog", "puppy"]},
              "barks": {"type": "number"}}, "required": ["pet_type"]}},
      "type": "object", "properties": {"pet": {"oneOf": [{"$ref": "#/$defs/Cat"}, {"$ref": "#/$defs/Dog"},
          {"type": "null"}], "discriminator": {"propertyName": "pet_type"}}}, "required": ["pet"]})");
  for (const char* ok : {R"({"pet":{"pet_type":"cat","meows":3}})", R"({"pet":{"pet_type":"puppy"}})",
                         R"({"pet": {"pet_type": "dog", "barks": 1.5}})", R"({"pet":null})"})
    EXPECT_TRUE(accepts(g, ok)) << ok;
  for (const char* bad : {R"({"pet":{"pet_type":"cat"}})", R"({"pet":{"pet_type":"dog","meows":1}})",
                          R"({"pet":{"meows":1,"pet_type":"cat"}})", R"({"pet":{"pet_type":"cow"}})",
                          R"({"pet":{}})"})
    EXPECT_FALSE(accepts(g, bad)) << bad;
  const std::vector<std::pair<std::string, std::string>> refused = {
      {R"({"anyOf": [{"type": "object", "properties": {"t": {"const": "a"}}, "required": ["t"]},
                     {"type": "object", "properties": {"t": {"enum": ["b", "a"]}}, "required": ["t"]}]})",
       "two have the constant \"a\""},
      {R"({"anyOf": [{"type": "object", "properties": {"t": {"const": "a"}}, "required": ["t"]},
                     {"type": "object", "properties": {"u": {"const": "b"}}, "required": ["u"]}]})",
       "first properties differ"},
      {R"({"anyOf": [{"type": "object", "properties": {"t": {"const": "a"}}, "required": ["t"]},
                     {"type": "object", "properties": {"t": {"type": "string"}}, "required": ["t"]}]})",
       "is not a constant"},
      {R"({"anyOf": [{"type": "object", "properties": {"t": {"const": "a"}}},
                     {"type": "object", "properties": {"t": {"const": "b"}}, "required": ["t"]}]})",
       "no required first property"}};
  for (const auto& [schema, part] : refused) {
    const std::string e = compile_error(schema);
    EXPECT_NE(e.find(part), std::string::npos) << schema << "\n" << e;
  }
}

TEST(SchemaPrefix, NestsToItsStackAndNoDeeperAndCanAlwaysFinish) {
  const auto g = compile_json_schema(R"({"type": "array"})");
  SchemaPrefix p(g.get());
  const std::string open(sampling::SchemaGraph::kMaxFrames, '[');
  ASSERT_EQ(feed(p, open), open.size());
  // Every frame is in use: no value can start, not even a string (it needs a frame of its own).
  EXPECT_FALSE(SchemaPrefix(p).push('['));
  EXPECT_FALSE(SchemaPrefix(p).push('{'));
  EXPECT_FALSE(SchemaPrefix(p).push('"'));
  EXPECT_EQ(feed(p, std::string(open.size(), ']')), open.size());
  EXPECT_TRUE(p.complete());
  // An object whose required property needs three more levels cannot start with too few left.
  const auto deep = compile_json_schema(R"({"$defs": {"d": {"type": "object", "properties": {"x": {"type": "array",
      "minItems": 1, "items": {"type": "array", "minItems": 1, "items": {"type": "object", "properties": {"s":
      {"type": "string"}}, "required": ["s"]}}}}, "required": ["x"]}}, "type": "array", "items": {"anyOf": [
      {"$ref": "#/$defs/d"}, {"type": "array", "items": {"$ref": "#"}}]}})");
  SchemaPrefix q(deep.get());
  const std::string lists(sampling::SchemaGraph::kMaxFrames - 5, '[');
  ASSERT_EQ(feed(q, lists), lists.size());
  EXPECT_TRUE(SchemaPrefix(q).push('{'));  // 5 frames left: object, list, list, object, string
  ASSERT_TRUE(q.push('['));
  EXPECT_FALSE(SchemaPrefix(q).push('{'));
  EXPECT_TRUE(SchemaPrefix(q).push(']'));
}

TEST(JsonSchemaCompiler, LenientIgnoresWhatItCannotEnforceAndKeepsTheRest) {
  const auto schema = nlohmann::ordered_json::parse(R"J({"type": "object", "properties": {
      "id": {"type": "string", "pattern": "^(?=[0-9])"}, "t": {"type": "number", "multipleOf": 2}},
      "required": ["id"], "not": {"required": ["x"]}})J");
  EXPECT_THROW(sampling::compile_json_schema(schema), Error);
  const auto g = sampling::compile_json_schema(schema, /*lenient=*/true);
  EXPECT_TRUE(accepts(g, R"({"id":"abc","t":7.5})"));
  EXPECT_FALSE(accepts(g, R"({"t":7.5})"));
  EXPECT_FALSE(accepts(g, R"({"id":1})"));
}

TEST(SchemaPrefix, IntegersStayWithinTheirBoundsDigitByDigit) {
  const auto g = compile_json_schema(R"({"type": "object", "properties": {
      "a": {"type": "integer", "minimum": -5, "maximum": 37},
      "b": {"type": "integer", "exclusiveMinimum": 99.5},
      "c": {"type": "integer", "maximum": -3, "minimum": -1200}}})");
  for (const char* ok : {R"({"a":-5})", R"({"a":37})", R"({"a":0})", R"({"a":-0})", R"({"b":100})",
                         R"({"b":9999999999999999})", R"({"c":-3})", R"({"c":-1200})", R"({"a":3,"b":123,"c":-99})"})
    EXPECT_TRUE(accepts(g, ok)) << ok;
  for (const char* bad : {R"({"a":-6})", R"({"a":38})", R"({"a":370})", R"({"b":99})", R"({"b":-100})",
                          R"({"c":-2})", R"({"c":0})", R"({"c":-1201})", R"({"a":1.0})"})
    EXPECT_FALSE(accepts(g, bad)) << bad;
  // Refused as soon as no integer in bounds starts so: "4" can only be 4 (40.. is above 37).
  SchemaPrefix p(g.get());
  ASSERT_EQ(feed(p, R"({"a":4)"), 6u);
  EXPECT_FALSE(SchemaPrefix(p).push('0'));
  EXPECT_TRUE(SchemaPrefix(p).push('}'));
  SchemaPrefix q(g.get());
  EXPECT_EQ(feed(q, R"({"c":-)"), 6u);
  EXPECT_FALSE(SchemaPrefix(q).push('0'));  // -0 is 0, above -3
  EXPECT_EQ(feed(q, "12000"), 4u);          // -1200 at most
}

TEST(SchemaPrefix, NumbersEndAtTheFirstByteTheyCannotTakeAndStayShort) {
  const auto g = compile_json_schema(R"({"type": "object", "properties": {"i": {"type": "integer"},
      "n": {"type": "number"}, "e": {"enum": [1, 12, 123]}}})");
  EXPECT_TRUE(accepts(g, R"({"i":-0,"n":-1.25E+300,"e":12})"));
  EXPECT_TRUE(accepts(g, R"({"e":1 })"));
  EXPECT_FALSE(accepts(g, R"({"i":1.5})"));
  EXPECT_FALSE(accepts(g, R"({"i":01})"));
  EXPECT_FALSE(accepts(g, R"({"e":1234})"));
  EXPECT_FALSE(accepts(g, R"({"n":1.})"));
  const std::string digits(SchemaPrefix::kMaxDigits, '9');
  EXPECT_TRUE(accepts(g, "{\"i\":" + digits + "}"));
  EXPECT_FALSE(accepts(g, "{\"i\":" + digits + "9}"));
  EXPECT_TRUE(accepts(g, "{\"n\":0." + digits + "e-123}"));
  EXPECT_FALSE(accepts(g, "{\"n\":0.5e1234}"));
}

// One constraint follows each document byte by byte (so pattern-held strings meet their
// automaton's states again, and the mask's per-state cache is used), its mask compared every third
// byte with pushing each token's bytes on their own.
void expect_mask_equals_token_by_token(const std::string& schema, const std::vector<std::string>& docs) {
  auto tok = Tokenizer::from_dir(test::fixtures_dir() / "arcade100k");
  auto index = sampling::token_bytes_index(*tok);
  const auto g = compile_json_schema(schema);
  const size_t vocab = static_cast<size_t>(tok->vocab_size()) + 64;
  const std::array<int32_t, 256> byte_token = test::single_byte_tokens(*tok);
  for (const std::string& d : docs) {
    ASSERT_TRUE(accepts(g, d)) << d;
    auto c = sampling::make_json_schema_constraint(index, g);
    SchemaPrefix state(g.get());
    for (size_t cut = 0; cut < d.size(); ++cut) {
      if (cut % 3 == 0) {
        std::vector<float> scores(vocab, 0.0f);
        c->mask(scores);
        size_t allowed = 0;
        for (size_t id = 0; id < vocab; ++id) {
          const auto i32 = static_cast<int32_t>(id);
          bool want = false;
          if (i32 < tok->vocab_size() && tok->is_valid_id(i32) && !tok->is_special(i32)) {
            const std::string b = tok->token_bytes(i32);
            SchemaPrefix s = state;
            want = !b.empty() && feed(s, b) == b.size();
          }
          ASSERT_EQ(scores[id] == 0.0f, want) << json(d.substr(0, cut)).dump() << " token " << id;
          allowed += want;
        }
        EXPECT_GT(allowed, 0u) << d.substr(0, cut);
      }
      ASSERT_TRUE(state.push(static_cast<uint8_t>(d[cut])));
      c->accept(byte_token[static_cast<uint8_t>(d[cut])]);
    }
  }
}

TEST(JsonSchemaMask, EqualsCheckingEveryTokenOnItsOwn) {
  expect_mask_equals_token_by_token(
      kPerson, {R"({"name": "Ann \"A\" \u00e9😀", "age": -12, "mood": null, "tags": ["x", ""], "extra": {"k": [1, {}]}})",
                "{\n  \"name\":\"\",\n  \"age\":0,\"mood\":\"sad\"}"});
}

TEST(JsonSchemaMask, EqualsCheckingEveryTokenOnItsOwnInPatternHeldStrings) {
  expect_mask_equals_token_by_token(R"({"type": "object", "properties": {
      "id": {"type": "string", "pattern": "^[a-z]+(-[a-z0-9]+)*$"},
      "quote": {"type": "string", "pattern": "\"|é"},
      "code": {"type": "string", "pattern": "^[A-Z]{2}\\d{1,3}$", "maxLength": 4},
      "word": {"type": "string", "pattern": "o", "minLength": 6}}, "required": ["id"]})",
                                    {R"({"id": "abc-de-f00", "quote": "say \"hi\" or été", "code": "AB12",)"
                                     R"( "word": "xxxooo"})",
                                     R"({"id":"zzzzzzzzzzzzzzzzzzzzzzzzzz","quote":"\u0022","code":"QQ1","word":"\u006fkkkkkkk"})"});
}

TEST(JsonSchemaGeneration, EveryFinishedOutputIsAValueTheSchemaAllows) {
  auto model = Model::load(tiny());
  auto tok = Tokenizer::from_dir(tiny());
  Session session(*model);
  const std::vector<int32_t> prompt = tok->encode("A person as JSON: ", false);
  const auto g = compile_json_schema(R"({"type": "object", "properties": {"ok": {"type": "boolean"},
      "n": {"type": "integer"}, "s": {"enum": ["yes", "no"]}}, "required": ["ok", "n", "s"]})");
  int finished = 0;
  for (uint64_t seed = 0; seed < 8; ++seed) {
    GenerationConfig cfg;
    cfg.format = GenerationConfig::Format::JsonSchema;
    cfg.json_schema = g;
    cfg.max_new_tokens = 60;
    cfg.do_sample = seed != 0;
    cfg.top_k = 0;
    cfg.temperature = 0.7f;
    session.truncate(0);
    std::span<const float> logits = session.forward(prompt, false);
    SequenceGenerator gen(cfg, static_cast<int64_t>(logits.size()), prompt, seed, tok.get());
    std::string text;
    for (;;) {
      const SequenceGenerator::Step st = gen.step(logits);
      text += tok->token_bytes(st.id);
      if (st.done) {
        SchemaPrefix p(g.get(), JsonPrefix::Whitespace::Bounded);
        ASSERT_EQ(feed(p, text), text.size()) << text;
        EXPECT_EQ(st.reason, p.complete() ? StopReason::JsonComplete : StopReason::MaxNewTokens);
        if (p.complete()) {
          ++finished;
          const json v = json::parse(text);
          EXPECT_TRUE(v.at("ok").is_boolean() && v.at("n").is_number_integer() && v.at("s").is_string()) << text;
        }
        break;
      }
      logits = session.forward(std::span<const int32_t>(&st.id, 1), false);
    }
  }
  EXPECT_GT(finished, 0) << "no seed finished its value: the test checks nothing about the ending";
}

TEST(JsonSchemaGeneration, NeedsACompiledSchema) {
  GenerationConfig cfg;
  cfg.format = GenerationConfig::Format::JsonSchema;
  EXPECT_THROW(cfg.validate(), Error);
}

TEST(JsonSchemaCli, GenerateFollowsTheSchemaFileAndNamesWhatItRefuses) {
  const fs::path dir = test::temp_dir("json_schema_cli");
  const fs::path schema = dir / "schema.json";
  test::write_file(schema, R"({"type": "object", "properties": {"yes": {"type": "boolean"}}, "required": ["yes"]})");
  const std::string m = tiny().string();
  int finished = 0;
  for (const char* seed : {"1", "2", "3", "4"}) {
    test::CommandResult r = test::run_cli({"generate", "--model", m, "--prompt", "JSON:", "--json-schema",
                                           schema.string(), "--max-new-tokens", "40", "--temperature", "0.5",
                                           "--seed", seed});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    if (r.err.find("stop: json_complete") != std::string::npos) {
      ++finished;
      EXPECT_TRUE(json::parse(r.out).at("yes").is_boolean()) << r.out;
    }
  }
  EXPECT_GT(finished, 0);
  test::write_file(schema, R"({"type": "object", "properties": {"a": {"type": "string", "pattern": "x\\1"}}})");
  test::CommandResult bad = test::run_cli({"generate", "--model", m, "--prompt", "x", "--json-schema", schema.string()});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("'pattern' cannot be enforced: backreferences"), std::string::npos) << bad.err;
  test::CommandResult both = test::run_cli({"generate", "--model", m, "--prompt", "x", "--json-schema",
                                            schema.string(), "--response-format", "json_object"});
  EXPECT_NE(both.exit_code, 0);
  EXPECT_NE(both.err.find("give one"), std::string::npos) << both.err;
  test::CommandResult missing = test::run_cli({"generate", "--model", m, "--prompt", "x", "--json-schema",
                                               (dir / "none.json").string()});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("none.json"), std::string::npos) << missing.err;
}

TEST(ToolCallsWithSchemas, ArgumentsFollowTheCalledFunctionsParameters) {
  using sampling::ToolCallsPrefix;
  const auto weather = compile_json_schema(R"({"type": "object", "properties": {"location": {"type": "string"},
      "unit": {"enum": ["c", "f"]}}, "required": ["location"]})");
  const std::vector<std::string> names = {"get_time", "get_weather"};  // sorted
  const std::vector<const sampling::SchemaGraph*> schemas = {nullptr, weather.get()};
  auto calls = [&](std::string_view s) {
    ToolCallsPrefix p(&names, 0, JsonPrefix::Whitespace::Any, &schemas);
    size_t n = 0;
    while (n < s.size() && p.push(static_cast<uint8_t>(s[n]))) ++n;
    return n == s.size() && p.complete();
  };
  EXPECT_TRUE(calls(R"([{"name": "get_weather", "arguments": {"location": "Oslo"}}])"));
  EXPECT_TRUE(calls(R"([{"name":"get_weather","arguments":{"location":"","unit":"f"}},)"
                    R"({"name":"get_time","arguments":{"tz":[1,{}]}}])"));
  EXPECT_FALSE(calls(R"([{"name": "get_weather", "arguments": {"town": "Oslo"}}])"));
  EXPECT_FALSE(calls(R"([{"name": "get_weather", "arguments": {}}])"));
  EXPECT_FALSE(calls(R"([{"name": "get_weather", "arguments": {"location": "Oslo", "unit": "k"}}])"));
  EXPECT_FALSE(calls(R"([{"name": "get_weather", "arguments": "Oslo"}])"));
  EXPECT_TRUE(calls(R"([{"name": "get_time", "arguments": {}}])"));
  // Through the constraint factory: names in any order keep their schemas; a root without an
  // object, or a schema list of another length, is refused.
  auto index = sampling::token_bytes_index(*Tokenizer::from_dir(test::fixtures_dir() / "arcade100k"));
  auto c = sampling::make_tool_calls_constraint(index, {"get_weather", "get_time"}, 0, JsonPrefix::Whitespace::Any,
                                                {weather, nullptr});
  auto tok = Tokenizer::from_dir(test::fixtures_dir() / "arcade100k");
  const std::string good = R"([{"name": "get_weather", "arguments": {"location": "x"}}])";
  for (int32_t id : tok->encode(good, false)) c->accept(id);
  EXPECT_TRUE(c->complete());
  auto c2 = sampling::make_tool_calls_constraint(index, {"get_weather", "get_time"}, 0, JsonPrefix::Whitespace::Any,
                                                 {weather, nullptr});
  const std::string bad = R"([{"name": "get_time", "arguments": {"location": "x"}}, {"name": "get_weather", "arguments": {"x)";
  EXPECT_THROW(for (int32_t id : tok->encode(bad, false)) c2->accept(id), Error);
  EXPECT_THROW(sampling::make_tool_calls_constraint(index, {"f"}, 0, JsonPrefix::Whitespace::Any,
                                                    {compile_json_schema(R"({"type": "string"})")}),
               Error);
  EXPECT_THROW(sampling::make_tool_calls_constraint(index, {"f", "g"}, 0, JsonPrefix::Whitespace::Any, {weather}),
               Error);
}

TEST(JsonSchemaFormats, KnownFormatsAreHeldLikePatternsAndStayAnnotationsWhereTheyCannotBe) {
  const auto g = compile_json_schema(R"({"type": "object", "properties": {
      "d": {"type": "string", "format": "date"}, "dt": {"type": "string", "format": "date-time"},
      "u": {"type": "string", "format": "uuid"}, "ip": {"type": "string", "format": "ipv4"},
      "e": {"type": "string", "format": "email"}, "w": {"type": "string", "format": "hostname"}}})");
  for (const char* ok : {R"({"d":"2024-02-29"})", R"({"d":"2000-02-29"})", R"({"d":"0001-12-31"})",
                         R"({"dt":"2023-06-30T23:59:59.5+05:30"})", R"({"dt":"1999-01-01T00:00:00Z"})",
                         R"({"u":"123e4567-E89B-12d3-a456-426614174000"})", R"({"ip":"192.168.0.255"})",
                         R"({"e":"first.last+tag@mail.example.org"})", R"({"w":"anything at all"})"})
    EXPECT_TRUE(accepts(g, ok)) << ok;
  for (const char* bad : {R"({"d":"2023-02-29"})", R"({"d":"1900-02-29"})", R"({"d":"2024-04-31"})",
                          R"({"d":"0000-01-01"})", R"({"dt":"2023-06-30T24:00:00Z"})",
                          R"({"dt":"2023-06-30T12:00:00"})", R"({"u":"123e4567e89b12d3a456426614174000"})",
                          R"({"ip":"192.168.00.1"})", R"({"ip":"256.1.1.1"})", R"({"e":"a..b@x.org"})",
                          R"({"e":"a@b"})"})
    EXPECT_FALSE(accepts(g, bad)) << bad;
  // A format no value of these lengths has, or one beside a pattern, stays an annotation.
  const auto short_date = compile_json_schema(R"({"type": "array", "items": {"type": "string", "format": "date",
      "maxLength": 3}})");
  EXPECT_TRUE(accepts(short_date, R"(["abc"])"));
  const auto with_pattern = compile_json_schema(R"({"type": "array", "items": {"type": "string", "format": "date",
      "pattern": "^x"}})");
  EXPECT_TRUE(accepts(with_pattern, R"(["xyz"])"));
  // An enum's values are taken as they are.
  EXPECT_TRUE(accepts(compile_json_schema(R"({"type": "array", "items": {"enum": ["soon"], "format": "date"}})"),
                      R"(["soon"])"));
}

TEST(SchemaPrefix, NumbersStayWithinDecimalBoundsDigitByDigit) {
  const auto g = compile_json_schema(R"({"type": "object", "properties": {
      "p": {"type": "number", "minimum": 0, "maximum": 1},
      "t": {"type": "number", "exclusiveMinimum": -0.5, "exclusiveMaximum": 2.25},
      "m": {"type": "number", "minimum": 0.1, "maximum": 0.1000001},
      "big": {"type": "number", "minimum": 1000}}})");
  for (const char* ok : {R"({"p":0})", R"({"p":1})", R"({"p":1.0000})", R"({"p":0.999999})", R"({"p":-0})",
                         R"({"t":-0.4999999999999999})", R"({"t":2.2499})", R"({"m":0.1})", R"({"m":0.1000001})",
                         R"({"m":0.10000005})", R"({"big":1000})", R"({"big":9999999999999999.5})"})
    EXPECT_TRUE(accepts(g, ok)) << ok;
  for (const char* bad : {R"({"p":1.0000000000000001})", R"({"p":-0.1})", R"({"p":2})", R"({"p":1e0})",
                          R"({"t":-0.5})", R"({"t":2.25})", R"({"m":0.0999999})", R"({"m":0.10000011})",
                          R"({"big":999.99})", R"({"big":1e4})"})
    EXPECT_FALSE(accepts(g, bad)) << bad;
  // Refused as soon as no number in bounds starts so: after "0.2" for m, nothing.
  SchemaPrefix p(g.get());
  ASSERT_EQ(feed(p, R"({"m":0.)"), 7u);
  EXPECT_FALSE(SchemaPrefix(p).push('2'));
  EXPECT_TRUE(SchemaPrefix(p).push('1'));
  SchemaPrefix q(g.get());
  ASSERT_EQ(feed(q, R"({"p":)"), 5u);
  EXPECT_FALSE(SchemaPrefix(q).push('2'));  // 2, 20, 2.5, ... all above 1
  // "-" may start -0, which is 0: refused only where every number <= 0 is out of bounds.
  EXPECT_TRUE(SchemaPrefix(q).push('-'));
  EXPECT_TRUE(accepts(g, R"({"p":-0.0})"));
  EXPECT_FALSE(SchemaPrefix(SchemaPrefix(g.get())).push('x'));
  SchemaPrefix b(g.get());
  ASSERT_EQ(feed(b, R"({"big":)"), 7u);
  EXPECT_FALSE(SchemaPrefix(b).push('-'));
  EXPECT_THROW(compile_json_schema(R"({"type": "object", "properties": {"n": {"type": "number", "minimum": 2,
      "maximum": 1}}, "required": ["n"]})"), Error);
}
