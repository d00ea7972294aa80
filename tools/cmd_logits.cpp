// stablelm logits: one forward pass over token ids; prints {"logits": [[vocab floats], ...]}, one
// row per requested position. Floats are printed in their shortest round-trip form.
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "command.h"
#include "ids_arg.h"
#include "model_path.h"
#include "run_options.h"
#include "stablelm/check_finite.h"
#include "stablelm/error.h"
#include "stablelm/model.h"
#include "text_input.h"

namespace stablelm::cli {
namespace {

struct Options {
  std::string model;
  std::string revision;
  std::string ids;
  std::string prompt;
  std::string positions = "all";
  RunOptions run;
  // Whether each input option was given at all (an empty value is then reported as empty).
  CLI::Option* ids_opt = nullptr;
  CLI::Option* prompt_opt = nullptr;
};

// Writes rows of floats as a JSON array of arrays; non-finite values (which JSON cannot hold)
// are written as null.
void print_rows(std::FILE* f, std::span<const float> data, int64_t rows, int64_t cols) {
  std::string buf;
  buf.reserve(static_cast<size_t>(cols) * 14 + 8);
  std::fputs("{\"logits\": [", f);
  for (int64_t r = 0; r < rows; ++r) {
    buf.clear();
    buf += r ? ",\n[" : "\n[";
    char num[32];
    for (int64_t c = 0; c < cols; ++c) {
      const float v = data[static_cast<size_t>(r * cols + c)];
      if (c) buf += ',';
      if (!std::isfinite(v)) {
        buf += "null";
        continue;
      }
      auto res = std::to_chars(num, num + sizeof num, v);
      buf.append(num, res.ptr);
    }
    buf += ']';
    std::fwrite(buf.data(), 1, buf.size(), f);
  }
  std::fputs("]}\n", f);
}

int run(const Options& o) {
  require_one(o.ids_opt->count() > 0, o.prompt_opt->count() > 0, "--ids", "--prompt");
  const std::filesystem::path dir = resolve_model_dir(o.model, o.revision);
  const std::vector<int32_t> ids = o.ids_opt->count() == 0 ? encode_text(dir, o.prompt, "--prompt") : parse_ids(o.ids, "--ids");
  auto model = Model::load(dir, o.run.load_options());
  const ModelConfig& c = model->config();
  if (static_cast<int64_t>(ids.size()) > c.max_position_embeddings)
    throw Error("the input: " + std::to_string(ids.size()) + " tokens exceed max_position_embeddings " +
                std::to_string(c.max_position_embeddings));
  Session session(*model, static_cast<int64_t>(ids.size()), o.run.kv_format());
  const bool all = o.positions == "all";
  auto logits = session.forward(ids, all);
  check_finite_logits(logits, c.vocab_size, "logits", all ? 0 : static_cast<int64_t>(ids.size()) - 1);
  print_rows(stdout, logits, all ? static_cast<int64_t>(ids.size()) : 1, c.vocab_size);
  return 0;
}

Registration reg("logits", "Print the logits of a forward pass over token ids or a text", [](CLI::App& app) {
  auto o = std::make_shared<Options>();
  add_model_options(app, o->model, o->revision);
  o->ids_opt = app.add_option("--ids", o->ids, "Token ids, comma-separated (e.g. 1,2,3)");
  o->prompt_opt = app.add_option("--prompt", o->prompt, "Text, tokenized with the model's tokenizer (instead of --ids)");
  app.add_option("--positions", o->positions, "Which positions to print: all|last")
      ->check(CLI::IsMember({"all", "last"}));
  add_run_options(app, o->run);
  return [o] { return run(*o); };
});

}  // namespace
}  // namespace stablelm::cli
