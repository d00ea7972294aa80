// stablelm score: log-likelihood of a continuation after a context, in one pass over the
// sequence (what multiple-choice evaluation needs). log_softmax is evaluated in double, by the
// function `stablelm perplexity` uses too (stablelm/eval.h).
// --jsonl: many requests from stdin, scored in batches through the engine with prefix reuse
// (stablelm/score.h); the numbers are bitwise those of one call per line.
#include <cstdio>
#include <climits>
#include <filesystem>
#include <iostream>
#include <string>
#include <memory>
#include <tuple>

#include <nlohmann/json.hpp>

#include "command.h"
#include "io/json.h"
#include "ids_arg.h"
#include "model_path.h"
#include "run_options.h"
#include "stablelm/check_finite.h"
#include "stablelm/error.h"
#include "stablelm/engine.h"
#include "stablelm/eval.h"
#include "stablelm/model.h"
#include "stablelm/score.h"
#include "stablelm/tokenizer.h"
#include "text_input.h"

namespace stablelm::cli {
namespace {

struct Options {
  std::string model;
  std::string revision;
  std::string ids;
  std::string continuation;
  std::string prompt;
  std::string continuation_text;
  RunOptions run;
  // Whether each input option was given at all (an empty value is then reported as empty).
  CLI::Option* ids_opt = nullptr;
  CLI::Option* prompt_opt = nullptr;
  CLI::Option* cont_opt = nullptr;
  CLI::Option* cont_text_opt = nullptr;
  bool jsonl = false;
  int64_t batch = 512;
  int64_t kv_tokens = 0;
};

// One request per line: {"context": [ids], "continuation": [ids]} or {"context_text": "...",
// "continuation_text": "..."} (split as lm-eval does). Errors name the line.
std::vector<eval::ScoreRequest> read_requests(std::istream& in, const std::filesystem::path& dir) {
  std::vector<eval::ScoreRequest> reqs;
  std::unique_ptr<Tokenizer> tok;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = "line " + std::to_string(n) + ": ";
    try {
      const nlohmann::json j = io::parse_json(line, "the request");
      if (!j.is_object()) throw Error("expected a JSON object");
      eval::ScoreRequest r;
      const bool ids = j.contains("context") || j.contains("continuation");
      const bool text = j.contains("context_text") || j.contains("continuation_text");
      if (ids == text) throw Error("give \"context\" and \"continuation\" (ids) or \"context_text\" and \"continuation_text\"");
      if (ids) {
        for (const char* key : {"context", "continuation"}) {
          if (!j.contains(key) || !j[key].is_array()) throw Error(std::string("\"") + key + "\" must be an array of token ids");
          for (const auto& v : j[key])
            if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > INT32_MAX)
              throw Error(std::string("\"") + key + "\" holds a value that is not a token id: " + v.dump());
        }
        r.context = j["context"].get<std::vector<int32_t>>();
        r.continuation = j["continuation"].get<std::vector<int32_t>>();
      } else {
        for (const char* key : {"context_text", "continuation_text"})
          if (!j.contains(key) || !j[key].is_string()) throw Error(std::string("\"") + key + "\" must be a string");
        if (!tok) tok = Tokenizer::from_dir(dir);
        std::tie(r.context, r.continuation) =
            encode_context_continuation(*tok, j["context_text"].get<std::string>(), j["continuation_text"].get<std::string>());
      }
      if (r.context.empty() || r.continuation.empty()) throw Error("the context and the continuation need at least one token each");
      reqs.push_back(std::move(r));
    } catch (const nlohmann::json::exception& e) {
      throw Error(where + "not valid JSON (" + e.what() + ")");
    } catch (const Error& e) {
      throw Error(where + e.what());
    }
  }
  if (in.bad()) throw Error("reading stdin failed");
  return reqs;
}

int run_jsonl(const Options& o) {
  if (o.ids_opt->count() || o.prompt_opt->count() || o.cont_opt->count() || o.cont_text_opt->count())
    throw Error("--jsonl reads its requests from stdin: drop --ids/--prompt/--continuation/--continuation-text");
  if (o.batch < 1) throw Error("--batch must be at least 1");
  const std::filesystem::path dir = resolve_model_dir(o.model, o.revision);
  const std::vector<eval::ScoreRequest> reqs = read_requests(std::cin, dir);
  auto model = Model::load(dir, o.run.load_options());
  EngineOptions eo;
  eo.kv = o.run.kv_format();
  eo.kv_tokens = o.kv_tokens > 0 ? o.kv_tokens : model->config().max_position_embeddings + o.batch;
  Engine engine(*model, eo);
  std::vector<eval::ScoreResult> res;
  try {
    res = eval::score_requests(engine, reqs, o.batch);
  } catch (const Error& e) {
    // Requests are numbered from 0 in the library; name the input line instead.
    const std::string msg = e.what();
    if (msg.rfind("request ", 0) == 0) {
      const size_t i = std::stoul(msg.substr(8));
      throw Error("request on input line " + std::to_string(i + 1) + " (counting non-blank lines)" + msg.substr(msg.find(':')));
    }
    throw;
  }
  for (const eval::ScoreResult& r : res)
    std::printf("%s\n", nlohmann::json{{"logprob", r.logprob}, {"token_logprobs", r.token_logprobs}, {"greedy", r.greedy}}.dump().c_str());
  return 0;
}

int run(const Options& o) {
  if (o.jsonl) return run_jsonl(o);
  require_one(o.ids_opt->count() > 0, o.prompt_opt->count() > 0, "--ids", "--prompt");
  require_one(o.cont_opt->count() > 0, o.cont_text_opt->count() > 0, "--continuation", "--continuation-text");
  if (o.ids_opt->count() > 0 && o.cont_opt->count() == 0) throw Error("--ids needs --continuation (ids), not --continuation-text");
  if (o.prompt_opt->count() > 0 && o.cont_text_opt->count() == 0)
    throw Error("--prompt needs --continuation-text (text), not --continuation");
  const std::filesystem::path dir = resolve_model_dir(o.model, o.revision);
  std::vector<int32_t> context, cont;
  if (o.ids_opt->count() > 0) {
    context = parse_ids(o.ids, "--ids");
    cont = parse_ids(o.continuation, "--continuation");
  } else {
    std::tie(context, cont) = encode_context_continuation(dir, o.prompt, o.continuation_text);
  }
  if (context.empty() || cont.empty()) throw Error("score: the context and the continuation need at least one token each");
  auto model = Model::load(dir, o.run.load_options());
  const ModelConfig& c = model->config();
  const int64_t total = static_cast<int64_t>(context.size() + cont.size());
  if (total - 1 > c.max_position_embeddings)
    throw Error("score: context + continuation (" + std::to_string(total) + " tokens) exceed max_position_embeddings " +
                std::to_string(c.max_position_embeddings));
  for (int32_t id : cont)
    if (id >= c.vocab_size)
      throw Error("--continuation: token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                  std::to_string(c.vocab_size) + ")");
  Session session(*model, total, o.run.kv_format());
  // The logits that predict the continuation are those at positions T-1 .. T+C-2: run the
  // context's first T-1 tokens without logits, then the rest with all rows.
  if (context.size() > 1) session.forward(std::span<const int32_t>(context).first(context.size() - 1));
  std::vector<int32_t> tail = {context.back()};
  tail.insert(tail.end(), cont.begin(), cont.end() - 1);
  auto logits = session.forward(tail, /*all_logits=*/true);
  check_finite_logits(logits, c.vocab_size, "score", static_cast<int64_t>(context.size()) - 1);

  const int64_t V = c.vocab_size;
  std::vector<double> lps;
  double sum = 0.0;
  bool greedy = true;
  for (size_t j = 0; j < cont.size(); ++j) {
    const std::span<const float> row = logits.subspan(j * static_cast<size_t>(V), static_cast<size_t>(V));
    const double lp = eval::log_softmax_of(row)(row[static_cast<size_t>(cont[j])]);
    lps.push_back(lp);
    sum += lp;
    if (eval::argmax(row) != cont[j]) greedy = false;
  }
  nlohmann::json out{{"logprob", sum}, {"token_logprobs", lps}, {"greedy", greedy}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

Registration reg("score", "Log-likelihood of a continuation after a context (token ids or text)", [](CLI::App& app) {
  auto o = std::make_shared<Options>();
  add_model_options(app, o->model, o->revision);
  o->ids_opt = app.add_option("--ids", o->ids, "Context token ids, comma-separated");
  o->cont_opt = app.add_option("--continuation", o->continuation, "Continuation token ids, comma-separated");
  o->prompt_opt = app.add_option("--prompt", o->prompt, "Context text (instead of --ids)");
  o->cont_text_opt = app.add_option("--continuation-text", o->continuation_text,
                 "Continuation text (with --prompt): the tail of tokenize(prompt + text) after tokenize(prompt)");
  app.add_flag("--jsonl", o->jsonl,
               "Read requests from stdin, one JSON object per line ({\"context\": [ids], \"continuation\": [ids]} or "
               "{\"context_text\", \"continuation_text\"}); write one result per line, in input order");
  app.add_option("--batch", o->batch, "--jsonl: rows per forward pass (default 512)");
  app.add_option("--kv-tokens", o->kv_tokens, "--jsonl: KV pool size in tokens (default max_position_embeddings + --batch)");
  add_run_options(app, o->run);
  return [o] { return run(*o); };
});

}  // namespace
}  // namespace stablelm::cli
