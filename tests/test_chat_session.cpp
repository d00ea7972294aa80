// The chat library on a fixture model: ChatSession turns (KV reuse, stopping an answer, overflow),
// tokenize_chat's BOS handling and end_of_turn_ids.
#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>

#include "stablelm/chat_session.h"
#include "stablelm/tokenizer.h"
#include "testutil.h"

namespace {

namespace fs = std::filesystem;
namespace chat = stablelm::chat;
using nlohmann::ordered_json;

fs::path fixture_model() { return stablelm::test::fixtures_dir() / "models" / "tiny-stablelm-2"; }

std::string fixture_template(const char* id) {
  return stablelm::test::read_file(stablelm::test::fixtures_dir() / "chat-templates" / id / "template.jinja");
}

// tiny-stablelm-2 with its tokenizer_config.json edited by `edit`.
fs::path model_dir(const std::string& tag, const std::function<void(ordered_json&)>& edit) {
  fs::path dir = stablelm::test::temp_dir(tag);
  for (const auto& e : fs::directory_iterator(fixture_model()))
    if (e.is_regular_file() && e.path().filename() != "tokenizer_config.json")
      fs::create_symlink(e.path(), dir / e.path().filename());
  ordered_json cfg = ordered_json::parse(stablelm::test::read_file(fixture_model() / "tokenizer_config.json"));
  edit(cfg);
  stablelm::test::write_file(dir / "tokenizer_config.json", cfg.dump());
  return dir;
}

struct Fixture {
  fs::path dir;
  std::unique_ptr<stablelm::Model> model;
  std::unique_ptr<stablelm::Tokenizer> tok;
  explicit Fixture(const char* template_id) {
    dir = model_dir(std::string("sess-") + template_id, [&](ordered_json& c) { c["chat_template"] = fixture_template(template_id); });
    stablelm::LoadOptions lo;
    lo.threads = 1;
    model = stablelm::Model::load(dir, lo);
    tok = stablelm::Tokenizer::from_dir(dir);
  }
  chat::ChatSessionOptions options(int64_t max_new) const {
    chat::ChatSessionOptions o;
    o.generation = stablelm::GenerationConfig::for_model(dir, model->config());
    o.generation.max_new_tokens = max_new;
    return o;
  }
};

TEST(ChatSession, TurnsReuseTheCache) {
  Fixture f("stabilityai-stablelm-2-chat");
  chat::ChatSession s(*f.model, *f.tok, chat::ChatTemplateConfig::load(f.dir), f.options(5));
  auto t1 = s.send("Hello", {});
  EXPECT_EQ(t1.reused_tokens, 0);
  EXPECT_EQ(t1.prefilled_tokens, t1.prompt_tokens);
  auto t2 = s.send("And then?", {});
  EXPECT_GE(t2.reused_tokens, t1.prompt_tokens);
  EXPECT_EQ(t2.prefilled_tokens, t2.prompt_tokens - t2.reused_tokens);
  ASSERT_EQ(s.messages().size(), 4u);
  // The prompt is exactly the tokenized rendering of the conversation so far.
  chat::ChatRequest r;
  r.messages = ordered_json::array({s.messages()[0], s.messages()[1], s.messages()[2]});
  r.add_generation_prompt = true;
  auto ids = chat::chat_prompt_ids(chat::ChatTemplateConfig::load(f.dir), *f.tok, r);
  EXPECT_EQ(static_cast<int64_t>(ids.size()), t2.prompt_tokens);
  // After /reset the conversation shares only the template's opening with the cache.
  s.reset();
  auto t3 = s.send("Hello", {});
  EXPECT_EQ(t3.prompt_tokens, t1.prompt_tokens);
  EXPECT_LT(t3.reused_tokens, t3.prompt_tokens);
}

TEST(ChatSession, StoppingAnAnswer) {
  Fixture f("stabilityai-stablelm-2-chat");
  chat::ChatSession s(*f.model, *f.tok, chat::ChatTemplateConfig::load(f.dir), f.options(50));
  // The callback stops after the first piece of text.
  std::string seen;
  auto t = s.send("Hello", [&](std::string_view piece) {
    seen += piece;
    return false;
  });
  EXPECT_EQ(t.stop, stablelm::StopReason::Callback);
  EXPECT_LT(t.generated_tokens, 50);
  EXPECT_EQ(s.messages().back()["content"].get<std::string>().rfind(seen, 0), 0u);
  // The stop flag (what Ctrl-C sets) stops at the next token.
  std::atomic<bool> stop{true};
  t = s.send("Again", {}, &stop);
  EXPECT_EQ(t.stop, stablelm::StopReason::Callback);
  EXPECT_EQ(t.generated_tokens, 1);
  EXPECT_EQ(s.messages().size(), 4u);
}

TEST(ChatSession, ContextOverflowPolicies) {
  Fixture f("stabilityai-stablelm-2-chat");
  auto opts = f.options(4);
  opts.max_context = 64;
  const std::string msg = "one two three four five six seven eight nine ten eleven twelve";
  {
    chat::ChatSession s(*f.model, *f.tok, chat::ChatTemplateConfig::load(f.dir), opts);
    s.send(msg, {});
    s.send(msg, {});
    EXPECT_THROW(s.send(msg, {}), stablelm::Error);
    EXPECT_EQ(s.messages().size(), 4u);  // a failed turn leaves the conversation as it was
  }
  opts.overflow = chat::ContextOverflow::DropOldest;
  opts.system = "sys";
  chat::ChatSession s(*f.model, *f.tok, chat::ChatTemplateConfig::load(f.dir), opts);
  s.send(msg, {});
  s.send(msg, {});
  auto t = s.send(msg, {});
  EXPECT_GT(t.dropped_messages, 0);
  EXPECT_EQ(s.messages()[0]["role"], "system");
  EXPECT_LE(t.prompt_tokens + 4, 64);
}

TEST(ChatSession, NoTemplateIsAClearError) {
  auto dir = model_dir("sess-nt", [](ordered_json& c) { c.erase("chat_template"); });
  auto model = stablelm::Model::load(dir);
  auto tok = stablelm::Tokenizer::from_dir(dir);
  try {
    chat::ChatSession s(*model, *tok, chat::ChatTemplateConfig::load(dir), {});
    FAIL();
  } catch (const stablelm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("--template FILE.jinja"), std::string::npos) << e.what();
  }
}

TEST(ChatPrompt, TokenizeChatAddsNoBos) {
  auto dir = model_dir("sess-bos", [](ordered_json& c) { c["add_bos_token"] = true; });
  auto tok = stablelm::Tokenizer::from_dir(dir);
  ASSERT_TRUE(tok->add_bos_token());
  const int32_t bos = *tok->bos_id();
  const std::vector<int32_t> plain = tok->encode("Hello");
  ASSERT_GE(plain.size(), 2u);
  EXPECT_EQ(plain.front(), bos);
  auto ids = chat::tokenize_chat(*tok, "Hello");
  EXPECT_NE(ids.front(), bos);
  EXPECT_EQ(ids, std::vector<int32_t>(plain.begin() + 1, plain.end()));
  // A BOS the template writes stays (once).
  ids = chat::tokenize_chat(*tok, "<|endoftext|>Hello");
  EXPECT_EQ(ids.front(), bos);
  EXPECT_NE(ids[1], bos);
}

TEST(ChatPrompt, EndOfTurnIds) {
  auto tok = stablelm::Tokenizer::from_dir(fixture_model());
  auto cfg_of = [](const char* id) {
    chat::ChatTemplateConfig c = chat::ChatTemplateConfig::load(stablelm::test::fixtures_dir() / "chat-templates" / id);
    return c;
  };
  // ChatML ends a turn with <|im_end|> (100278), added to the eos ids.
  EXPECT_EQ(chat::end_of_turn_ids(cfg_of("stabilityai-stablelm-2-chat"), *tok, {100257}),
            (std::vector<int32_t>{100257, 100278}));
  // Zephyr ends it with eos_token (<|endoftext|>), already there.
  EXPECT_EQ(chat::end_of_turn_ids(cfg_of("stabilityai-stablelm-2-zephyr-1_6b"), *tok, {100257}),
            (std::vector<int32_t>{100257}));
}

}  // namespace
