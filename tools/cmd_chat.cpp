// stablelm chat: an interactive conversation with a chat model (like `llama-cli -cnv` or `ollama run`).
//
//   stablelm chat --model stabilityai/stablelm-2-zephyr-1_6b [--system TEXT] [--temperature 0.7 ...]
//
// On a terminal: line editing and history (libedit), answers streamed, Ctrl-C stops the answer
// (not the program), Ctrl-D or /exit quits. Piped stdin: one user message per line, each answer on
// stdout followed by a newline. Commands: /reset, /system TEXT, /save FILE, /load FILE, /regen,
// /exit, /help. Each turn prefills only the tokens that are new since the last one (library:
// stablelm/chat_session.h); --verbose reports the counts on stderr.
#include <editline/readline.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>

#include "command.h"
#include "io/json.h"
#include "ids_arg.h"
#include "model_path.h"
#include "run_options.h"
#include "stablelm/chat_session.h"
#include "stablelm/error.h"
#include "stablelm/tokenizer.h"

namespace stablelm::cli {
namespace {

using nlohmann::ordered_json;

struct Options {
  std::string model, revision, template_file, system, overflow = "error";
  int64_t max_new_tokens = 0, ctx_size = 0;
  bool greedy = false, verbose = false;
  float temperature = 1.0f, repetition_penalty = 1.0f;
  int top_k = 0;
  double top_p = 1.0, min_p = 0.0;
  uint64_t seed = 0;
  RunOptions run;
  CLI::Option *o_temperature, *o_top_k, *o_top_p, *o_min_p, *o_rep, *o_seed;
};

bool given(const CLI::Option* o) { return o && o->count() > 0; }

std::atomic<bool> g_interrupt{false};
extern "C" void on_sigint(int) { g_interrupt.store(true); }

std::string read_text(const std::string& path, const char* what) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(std::string(what) + " " + path + ": cannot open");
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

const char* kHelp =
    "commands: /reset (forget the conversation), /system TEXT (set the system message), /save FILE, /load FILE "
    "(the conversation as OpenAI-style messages JSON), /regen (answer the last message again), /exit\n";

class Repl {
 public:
  Repl(chat::ChatSession& chat, bool terminal, bool verbose) : chat_(chat), terminal_(terminal), verbose_(verbose) {}

  int run() {
    if (terminal_) std::fprintf(stderr, "chat: type a message, /help for commands, Ctrl-D to quit\n");
    std::string line;
    while (next_line(line)) {
      if (line.empty()) continue;
      if (line[0] == '/') {
        if (!command(line)) break;
        continue;
      }
      turn([&](const auto& emit) { return chat_.send(line, emit, &g_interrupt); });
    }
    return 0;
  }

 private:
  chat::ChatSession& chat_;
  bool terminal_, verbose_;
  int turn_no_ = 0;

  bool next_line(std::string& line) {
    if (terminal_) {
      char* s = readline("> ");
      if (!s) {
        std::fputc('\n', stdout);
        return false;
      }
      line = s;
      std::free(s);
      if (!line.empty()) add_history(line.c_str());
      return true;
    }
    if (!std::getline(std::cin, line)) return false;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return true;
  }

  template <class Fn>
  void turn(Fn&& run_turn) {
    g_interrupt.store(false);
    auto emit = [](std::string_view piece) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
      return true;
    };
    try {
      chat::TurnStats st = run_turn(chat::ChatSession::TextFn(emit));
      std::fputc('\n', stdout);
      std::fflush(stdout);
      ++turn_no_;
      if (g_interrupt.load() && terminal_) std::fprintf(stderr, "[answer stopped]\n");
      if (verbose_)
        std::fprintf(stderr,
                     "[turn %d: prompt %lld tokens, reused %lld, prefilled %lld, generated %lld (%s)%s, "
                     "prefill %.3f s, decode %.3f s]\n",
                     turn_no_, static_cast<long long>(st.prompt_tokens), static_cast<long long>(st.reused_tokens),
                     static_cast<long long>(st.prefilled_tokens), static_cast<long long>(st.generated_tokens),
                     g_interrupt.load() ? "interrupted" : stop_reason_name(st.stop),
                     st.dropped_messages ? (", dropped " + std::to_string(st.dropped_messages) + " old messages").c_str() : "",
                     st.prefill_seconds, st.decode_seconds);
    } catch (const Error& e) {
      std::fflush(stdout);
      std::fprintf(stderr, "error: %s\n", e.what());
    }
  }

  // Returns false to quit.
  bool command(const std::string& line) {
    size_t sp = line.find(' ');
    const std::string cmd = line.substr(0, sp);
    const std::string arg = sp == std::string::npos ? "" : line.substr(line.find_first_not_of(' ', sp) == std::string::npos ? line.size() : line.find_first_not_of(' ', sp));
    try {
      if (cmd == "/exit" || cmd == "/quit") return false;
      if (cmd == "/help") {
        std::fputs(kHelp, stderr);
      } else if (cmd == "/reset") {
        chat_.reset();
        note("conversation reset");
      } else if (cmd == "/system") {
        chat_.set_system(arg);
        note(arg.empty() ? "system message removed" : "system message set");
      } else if (cmd == "/save") {
        if (arg.empty()) throw Error("/save FILE: give a file name");
        std::ofstream f(arg, std::ios::binary);
        if (!f) throw Error("/save " + arg + ": cannot write");
        f << chat_.messages().dump(2) << "\n";
        if (!f) throw Error("/save " + arg + ": write failed");
        note("saved " + std::to_string(chat_.messages().size()) + " messages to " + arg);
      } else if (cmd == "/load") {
        if (arg.empty()) throw Error("/load FILE: give a file name");
        ordered_json j;
        j = io::parse_ordered_json(read_text(arg, "/load"), "/load " + arg);
        chat_.set_messages(j);
        note("loaded " + std::to_string(chat_.messages().size()) + " messages from " + arg);
      } else if (cmd == "/regen") {
        turn([&](const auto& emit) { return chat_.regenerate(emit, &g_interrupt); });
      } else {
        throw Error("unknown command " + cmd + " (/help lists them)");
      }
    } catch (const Error& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
    }
    return true;
  }

  void note(const std::string& s) {
    if (terminal_ || verbose_) std::fprintf(stderr, "[%s]\n", s.c_str());
  }
};

int run(const Options& o) {
  chat::ContextOverflow overflow;
  if (o.overflow == "error") overflow = chat::ContextOverflow::Error;
  else if (o.overflow == "drop-oldest") overflow = chat::ContextOverflow::DropOldest;
  else throw Error("--context-overflow " + o.overflow + ": expected error or drop-oldest");

  const auto dir = resolve_model_dir(o.model, o.revision);
  auto templates = chat::ChatTemplateConfig::load(dir);
  if (!o.template_file.empty()) {
    templates.default_template = read_text(o.template_file, "--template");
    templates.tool_use_template.clear();
  }
  if (!templates.has_template())
    throw Error("chat: " + o.model + " has no chat template (tokenizer_config.json has no \"chat_template\" and there "
                "is no chat_template.jinja); pass one with --template FILE.jinja");
  auto model = Model::load(dir, o.run.load_options());
  auto tok = Tokenizer::from_dir(dir);

  chat::ChatSessionOptions co;
  GenerationConfig& g = co.generation;
  g = GenerationConfig::for_model(dir, model->config());
  g.max_new_tokens.reset();
  g.max_length = model->config().max_position_embeddings;
  if (o.max_new_tokens > 0) g.max_new_tokens = o.max_new_tokens;
  if (given(o.o_temperature)) g.temperature = o.temperature;
  if (given(o.o_top_k)) g.top_k = o.top_k;
  if (given(o.o_top_p)) g.top_p = o.top_p;
  if (given(o.o_min_p)) g.min_p = o.min_p;
  if (given(o.o_rep)) g.repetition_penalty = o.repetition_penalty;
  const bool implied = (given(o.o_temperature) && o.temperature > 0) || given(o.o_top_k) || given(o.o_top_p) || given(o.o_min_p);
  if (o.greedy) g.do_sample = false;
  else if (implied) g.do_sample = true;
  if (given(o.o_temperature) && o.temperature == 0.0f) g.do_sample = false;
  co.seed = given(o.o_seed) ? o.seed : (static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
  co.system = o.system;
  co.overflow = overflow;
  co.max_context = o.ctx_size;
  co.kv = o.run.kv_format();

  chat::ChatSession chat(*model, *tok, std::move(templates), std::move(co));
  if (o.verbose) {
    std::string ids;
    for (int32_t id : chat.end_of_turn_ids()) ids += (ids.empty() ? "" : ",") + std::to_string(id);
    std::fprintf(stderr, "[end-of-turn ids: %s]\n", ids.c_str());
  }

  // Ctrl-C sets a flag the decode loop checks; SA_RESTART so that it does nothing at the prompt.
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);

  const bool terminal = isatty(STDIN_FILENO) != 0;
  Repl repl(chat, terminal, o.verbose);
  return repl.run();
}

Registration reg("chat", "Chat with a model on the terminal (its chat template, KV cache kept across turns)", [](CLI::App& app) {
  auto o = std::make_shared<Options>();
  add_model_options(app, o->model, o->revision);
  app.add_option("--template", o->template_file, "A chat template file (.jinja) instead of the model's");
  app.add_option("--system", o->system, "System message at the start of the conversation");
  app.add_option("--context-overflow", o->overflow,
                 "When the conversation outgrows the context: error (default) or drop-oldest (remove the oldest "
                 "non-system turns)");
  app.add_option("--max-new-tokens", o->max_new_tokens, "Longest answer in tokens (default: until the end of turn)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--ctx-size", o->ctx_size, "Context length in tokens (default: the model's max_position_embeddings)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--greedy", o->greedy, "Argmax decoding");
  o->o_temperature = app.add_option("--temperature", o->temperature, "Sampling temperature (0 = greedy)");
  o->o_top_k = app.add_option("--top-k", o->top_k, "Keep the k most probable tokens");
  o->o_top_p = app.add_option("--top-p", o->top_p, "Nucleus sampling mass in (0, 1]");
  o->o_min_p = app.add_option("--min-p", o->min_p, "Drop tokens below min_p x the top probability");
  o->o_rep = app.add_option("--repetition-penalty", o->repetition_penalty, "Penalty for seen tokens (1 = off)");
  o->o_seed = app.add_option("--seed", o->seed, "PRNG seed (turn i uses seed + i)");
  app.add_flag("--verbose", o->verbose, "Per turn on stderr: prompt, reused, prefilled and generated token counts");
  add_run_options(app, o->run);
  return [o] { return run(*o); };
});

}  // namespace
}  // namespace stablelm::cli
