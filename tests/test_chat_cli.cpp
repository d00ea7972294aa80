// `stablelm chat` and `stablelm generate --chat` end to end on a fixture chat model (tiny-stablelm-2
// with a ChatML template put into its tokenizer_config.json): turns through a pipe, KV reuse
// (the second turn prefills only its new tokens, from the --verbose counts), /reset, /save + /load,
// /regen, /system, context overflow, and a pseudo-terminal session (line editing, history, /save).
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <chrono>
#include <nlohmann/json.hpp>
#include <cstdio>
#include <sstream>

#include "testutil.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;
using stablelm::test::run_cli;

fs::path fixture_model() { return stablelm::test::fixtures_dir() / "models" / "tiny-stablelm-2"; }

// The fixture model with a template: weights and tokenizer linked, tokenizer_config.json copied
// with "chat_template" set (the StableLM 2 Chat ChatML template from the chat-template fixtures).
fs::path chat_model(bool with_template = true) {
  static fs::path dirs[2];
  fs::path& dir = dirs[with_template];
  if (!dir.empty()) return dir;
  dir = stablelm::test::temp_dir(with_template ? "chat-model" : "chat-model-nt");
  for (const auto& e : fs::directory_iterator(fixture_model()))
    if (e.is_regular_file() && e.path().filename() != "tokenizer_config.json")
      fs::create_symlink(e.path(), dir / e.path().filename());
  ordered_json cfg = ordered_json::parse(stablelm::test::read_file(fixture_model() / "tokenizer_config.json"));
  if (with_template)
    cfg["chat_template"] = stablelm::test::read_file(stablelm::test::fixtures_dir() / "chat-templates" /
                                                     "stabilityai-stablelm-2-chat" / "template.jinja");
  else
    cfg.erase("chat_template");
  stablelm::test::write_file(dir / "tokenizer_config.json", cfg.dump());
  return dir;
}

struct Turn {
  long prompt, reused, prefilled, generated;
};

std::vector<Turn> turns_of(const std::string& err) {
  // Lines "[turn N: prompt P tokens, reused R, prefilled F, generated G" (sscanf: std::regex trips
  // GCC 12's -Wmaybe-uninitialized under the sanitizer build's -Werror).
  std::vector<Turn> out;
  for (size_t at = err.find("[turn "); at != std::string::npos; at = err.find("[turn ", at + 1)) {
    long n = 0;
    Turn t{};
    if (std::sscanf(err.c_str() + at, "[turn %ld: prompt %ld tokens, reused %ld, prefilled %ld, generated %ld", &n,
                    &t.prompt, &t.reused, &t.prefilled, &t.generated) == 5)
      out.push_back(t);
  }
  return out;
}

std::vector<std::string> chat_args(std::vector<std::string> extra = {}) {
  std::vector<std::string> a = {"chat", "--model", chat_model().string(), "--greedy", "--max-new-tokens", "6",
                                "--verbose", "--threads", "1"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

// Token count of the model's rendering of `messages` (through the chat-template and tokenize
// subcommands: an independent path to the same numbers).
long rendered_tokens(const ordered_json& messages, bool add_generation_prompt) {
  auto dir = stablelm::test::temp_dir("chat-count");
  stablelm::test::write_file(dir / "m.json", messages.dump());
  std::vector<std::string> args = {"chat-template", "--model", chat_model().string(), "--messages", (dir / "m.json").string()};
  if (add_generation_prompt) args.push_back("--add-generation-prompt");
  auto r = run_cli(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto t = run_cli({"tokenize", "--model", chat_model().string(), "--text", r.out});
  EXPECT_EQ(t.exit_code, 0) << t.err;
  return static_cast<long>(ordered_json::parse(t.out)["ids"].size());
}

TEST(ChatCli, PipeTurnsReuseTheCache) {
  auto dir = stablelm::test::temp_dir("chat-pipe");
  const std::string save = (dir / "conv.json").string();
  auto r = run_cli(chat_args(), "Hello there\nHow are you?\n/save " + save + "\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto turns = turns_of(r.err);
  ASSERT_EQ(turns.size(), 2u) << r.err;
  // Turn 1 prefills the whole prompt: the rendering of [user] + generation prompt.
  EXPECT_EQ(turns[0].reused, 0);
  EXPECT_EQ(turns[0].prefilled, turns[0].prompt);
  EXPECT_EQ(turns[0].prompt, rendered_tokens(ordered_json::parse(R"([{"role": "user", "content": "Hello there"}])"), true));
  // Turn 2 reuses all of turn 1's prompt (and the answer's tokens it kept) and prefills the rest.
  ordered_json conv = ordered_json::parse(stablelm::test::read_file(save));
  ASSERT_EQ(conv.size(), 4u) << conv.dump();
  EXPECT_EQ(conv[0]["content"], "Hello there");
  EXPECT_EQ(conv[1]["role"], "assistant");
  EXPECT_EQ(conv[2]["content"], "How are you?");
  ordered_json first3 = ordered_json::array({conv[0], conv[1], conv[2]});
  EXPECT_EQ(turns[1].prompt, rendered_tokens(first3, true));
  EXPECT_GE(turns[1].reused, turns[0].prompt);
  EXPECT_EQ(turns[1].prefilled, turns[1].prompt - turns[1].reused);
  EXPECT_LT(turns[1].prefilled, turns[1].prompt - turns[0].prompt + 1);
  // The answers are on stdout, each ended by a newline; the assistant messages hold their text.
  EXPECT_EQ(r.out, conv[1]["content"].get<std::string>() + "\n" + conv[3]["content"].get<std::string>() + "\n");
}

TEST(ChatCli, ResetSaveLoadRegenSystem) {
  auto dir = stablelm::test::temp_dir("chat-cmds");
  const std::string f1 = (dir / "a.json").string(), f2 = (dir / "b.json").string(), f3 = (dir / "c.json").string();
  auto r = run_cli(chat_args({"--system", "Be brief."}),
                   "Hello\n/save " + f1 + "\n/reset\n/save " + f3 + "\n/load " + f1 + "\n/save " + f2 +
                       "\nMore\n/regen\n/system Other\n/nosuch\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ordered_json a = ordered_json::parse(stablelm::test::read_file(f1));
  ASSERT_EQ(a.size(), 3u) << a.dump();
  EXPECT_EQ(a[0], ordered_json({{"role", "system"}, {"content", "Be brief."}}));
  EXPECT_EQ(a[1]["content"], "Hello");
  EXPECT_EQ(a[2]["role"], "assistant");
  // /reset keeps only the system message; /load restores exactly what /save wrote.
  EXPECT_EQ(ordered_json::parse(stablelm::test::read_file(f3)), ordered_json::array({a[0]}));
  EXPECT_EQ(stablelm::test::read_file(f1), stablelm::test::read_file(f2));
  auto turns = turns_of(r.err);
  ASSERT_EQ(turns.size(), 3u) << r.err;
  // After /load of the same conversation the cache still holds it: "More" prefills only its part.
  EXPECT_GE(turns[1].reused, turns[0].prompt);
  // /regen answers the same messages again: everything but the last prompt token is reused.
  EXPECT_EQ(turns[2].prompt, turns[1].prompt);
  EXPECT_EQ(turns[2].reused, turns[2].prompt - 1);
  EXPECT_EQ(turns[2].prefilled, 1);
  EXPECT_NE(r.err.find("unknown command /nosuch"), std::string::npos) << r.err;
}

TEST(ChatCli, ContextOverflow) {
  std::string long_line(300, 'x');
  for (size_t i = 0; i < long_line.size(); i += 4) long_line[i] = ' ';
  std::string in;
  for (int i = 0; i < 3; ++i) in += long_line + "\n";
  auto r = run_cli(chat_args({"--ctx-size", "220"}), in);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("exceeds the context of 220 tokens"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--context-overflow drop-oldest"), std::string::npos) << r.err;
  r = run_cli(chat_args({"--ctx-size", "220", "--context-overflow", "drop-oldest"}), in);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(turns_of(r.err).size(), 3u) << r.err;
  EXPECT_NE(r.err.find("dropped 2 old messages"), std::string::npos) << r.err;
}

TEST(ChatCli, ModelWithoutTemplate) {
  auto r = run_cli({"chat", "--model", chat_model(false).string()}, "hi\n");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("no chat template"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--template FILE"), std::string::npos) << r.err;
  // --template supplies one.
  auto t = stablelm::test::fixtures_dir() / "chat-templates" / "stabilityai-stablelm-2-zephyr-1_6b" / "template.jinja";
  r = run_cli({"chat", "--model", chat_model(false).string(), "--template", t.string(), "--greedy", "--max-new-tokens",
               "3", "--verbose"},
              "hi\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(turns_of(r.err).size(), 1u) << r.err;
}

TEST(ChatCli, EndOfTurnIds) {
  // generation_config's eos (100257) plus the template's <|im_end|> (100278).
  auto r = run_cli(chat_args(), "");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("[end-of-turn ids: 100257,100278]"), std::string::npos) << r.err;
}

TEST(GenerateChat, MessagesRenderedWithTheTemplate) {
  auto dir = stablelm::test::temp_dir("gen-chat");
  ordered_json messages = ordered_json::parse(R"([{"role": "system", "content": "S"}, {"role": "user", "content": "Hi"}])");
  stablelm::test::write_file(dir / "m.json", messages.dump());
  auto r = run_cli({"generate", "--model", chat_model().string(), "--chat", "--messages", (dir / "m.json").string(),
                    "--greedy", "--max-new-tokens", "5", "--print-ids"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The prompt is the tokenized rendering with the generation prompt.
  EXPECT_NE(r.err.find("prompt tokens: " + std::to_string(rendered_tokens(messages, true)) + ","), std::string::npos)
      << r.err;
  // Same ids as generating from that rendering's ids directly.
  auto text = run_cli({"chat-template", "--model", chat_model().string(), "--messages", (dir / "m.json").string(),
                       "--add-generation-prompt"});
  auto ids = ordered_json::parse(run_cli({"tokenize", "--model", chat_model().string(), "--text", text.out}).out)["ids"];
  std::string csv;
  for (auto& id : ids) csv += (csv.empty() ? "" : ",") + std::to_string(id.get<int>());
  auto direct = run_cli({"generate", "--model", chat_model().string(), "--ids", csv, "--greedy", "--max-new-tokens", "5",
                         "--print-ids", "--eos-id", "100257,100278"});
  ASSERT_EQ(direct.exit_code, 0) << direct.err;
  EXPECT_EQ(r.out, direct.out);
  EXPECT_NE(run_cli({"generate", "--model", chat_model().string(), "--chat"}).exit_code, 0);
}

// ---- a pseudo-terminal session ---------------------------------------------------------------

class Pty {
 public:
  explicit Pty(const std::vector<std::string>& args) {
    struct winsize ws {};
    ws.ws_row = 40;
    ws.ws_col = 120;
    pid_ = forkpty(&fd_, nullptr, nullptr, &ws);
    if (pid_ == 0) {
      setenv("TERM", "xterm", 1);
      std::vector<char*> argv;
      std::string bin = STABLELM_CLI;
      argv.push_back(bin.data());
      std::vector<std::string> copy = args;
      for (auto& a : copy) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(bin.c_str(), argv.data());
      _exit(127);
    }
  }
  ~Pty() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) close(fd_);
  }
  void send(const std::string& s) { ASSERT_EQ(write(fd_, s.data(), s.size()), static_cast<ssize_t>(s.size())); }
  // Reads until `needle` appears after position `from` of everything read (a guard of 60 s
  // against hangs, not a timing assertion). Returns the position after the needle, or npos.
  size_t wait_for(const std::string& needle, size_t from) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (;;) {
      size_t at = out_.find(needle, from);
      if (at != std::string::npos) return at + needle.size();
      if (std::chrono::steady_clock::now() > deadline || !read_some()) return std::string::npos;
    }
  }
  bool wait_output_beyond(size_t pos) {
    while (out_.size() <= pos)
      if (!read_some()) return false;
    return true;
  }
  int wait_exit() {
    while (read_some()) {
    }
    int status = 0;
    waitpid(pid_, &status, 0);
    reaped_ = true;
    return status;
  }
  const std::string& output() const { return out_; }

 private:
  bool read_some() {
    struct pollfd p {fd_, POLLIN, 0};
    if (poll(&p, 1, 60000) <= 0) return false;
    char buf[4096];
    ssize_t n = read(fd_, buf, sizeof buf);
    if (n <= 0) return false;
    out_.append(buf, static_cast<size_t>(n));
    return true;
  }
  int fd_ = -1;
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::string out_;
};

TEST(ChatCli, PseudoTerminal) {
  auto dir = stablelm::test::temp_dir("chat-pty");
  const std::string save = (dir / "s.json").string();
  std::vector<std::string> args = chat_args();
  args[5] = "60";  // longer answers, so that Ctrl-C is likely to land in one (stopping is tested in test_chat_session)
  Pty p(args);
  // Each step waits for the turn's --verbose line and the next prompt: typed-ahead input would be
  // flushed by the terminal when Ctrl-C arrives.
  auto step = [&](const std::string& keys, const std::string& done, size_t& pos) {
    p.send(keys);
    pos = p.wait_for(done, pos);
    ASSERT_NE(pos, std::string::npos) << "waiting for " << done << " in:\n" << p.output();
    pos = p.wait_for("> ", pos);
    ASSERT_NE(pos, std::string::npos) << p.output();
  };
  size_t pos = p.wait_for("> ", 0);
  ASSERT_NE(pos, std::string::npos) << p.output();
  step("abc\x7f\x7f" "d\r", "[turn 1:", pos);  // line editing: two backspaces then "d" -> "ad"
  step("\x1b[A\r", "[turn 2:", pos);             // history: the up arrow recalls "ad"
  // (Ctrl-C is not sent here: whether it lands in libedit's line reading or in the answer is a
  // race on a pty; that it stops an answer is tested in test_chat_session with the same flag.)
  step("/save " + save + "\r", "[saved ", pos);
  p.send("/exit\r");
  int status = p.wait_exit();
  ASSERT_TRUE(WIFEXITED(status)) << p.output();
  EXPECT_EQ(WEXITSTATUS(status), 0) << p.output();
  ordered_json conv = ordered_json::parse(stablelm::test::read_file(save));
  ASSERT_EQ(conv.size(), 4u) << conv.dump();
  EXPECT_EQ(conv[0]["content"], "ad");
  EXPECT_EQ(conv[2]["content"], "ad");
  EXPECT_EQ(conv[3]["role"], "assistant");
}

}  // namespace
