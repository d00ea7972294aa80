// stablelm generate: greedy continuation of token ids, with the KV cache (prefill the prompt as
// one batch, then one token per step). Prints {"ids": [new token ids]}; stops after an eos id.
#include <algorithm>
#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "command.h"
#include "ids_arg.h"
#include "model_path.h"
#include "run_options.h"
#include "stablelm/error.h"
#include "stablelm/model.h"

namespace stablelm::cli {
namespace {

struct Options {
  std::string model;
  std::string ids;
  int64_t max_new_tokens = 32;
  bool greedy = false;
  bool print_ids = false;
  RunOptions run;
};

int run(const Options& o) {
  if (!o.greedy) throw Error("generate: only greedy decoding is implemented: pass --greedy");
  const std::vector<int32_t> prompt = parse_ids(o.ids, "--ids");
  auto model = Model::load(resolve_model_dir(o.model), o.run.load_options());
  const ModelConfig& c = model->config();
  const int64_t total = static_cast<int64_t>(prompt.size()) + o.max_new_tokens;
  if (total > c.max_position_embeddings)
    throw Error("generate: prompt (" + std::to_string(prompt.size()) + " tokens) + --max-new-tokens " +
                std::to_string(o.max_new_tokens) + " exceeds max_position_embeddings " +
                std::to_string(c.max_position_embeddings));
  Session session(*model, std::max<int64_t>(total, 1), o.run.kv_format());
  std::vector<int32_t> out;
  out.reserve(static_cast<size_t>(o.max_new_tokens));
  std::span<const int32_t> next(prompt);
  int32_t tok = 0;
  for (int64_t step = 0; step < o.max_new_tokens; ++step) {
    auto logits = session.forward(next);
    tok = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    out.push_back(tok);
    if (std::find(c.eos_token_ids.begin(), c.eos_token_ids.end(), tok) != c.eos_token_ids.end()) break;
    next = std::span<const int32_t>(&tok, 1);
  }
  std::printf("%s\n", nlohmann::json{{"ids", out}}.dump().c_str());
  return 0;
}

Registration reg("generate", "Generate a continuation of token ids (greedy)", [](CLI::App& app) {
  auto o = std::make_shared<Options>();
  app.add_option("--model", o->model, "Model directory")->required();
  app.add_option("--ids", o->ids, "Prompt token ids, comma-separated (e.g. 1,2,3)")->required();
  app.add_option("--max-new-tokens", o->max_new_tokens, "Number of tokens to generate")->check(CLI::NonNegativeNumber);
  app.add_flag("--greedy", o->greedy, "Greedy decoding (argmax)");
  app.add_flag("--print-ids", o->print_ids, "Print the new token ids as JSON {\"ids\": [...]}");
  add_run_options(app, o->run);
  return [o] { return run(*o); };
});

}  // namespace
}  // namespace stablelm::cli
