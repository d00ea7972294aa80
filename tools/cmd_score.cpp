// stablelm score: log-likelihood of a continuation after a context, in one pass over the
// sequence (what multiple-choice evaluation needs). log_softmax is evaluated in double, by the
// function `stablelm perplexity` uses too (stablelm/eval.h).
#include <cstdio>
#include <filesystem>
#include <memory>
#include <tuple>

#include <nlohmann/json.hpp>

#include "command.h"
#include "ids_arg.h"
#include "model_path.h"
#include "run_options.h"
#include "stablelm/error.h"
#include "stablelm/eval.h"
#include "stablelm/model.h"
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
};

int run(const Options& o) {
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
  add_run_options(app, o->run);
  return [o] { return run(*o); };
});

}  // namespace
}  // namespace stablelm::cli
