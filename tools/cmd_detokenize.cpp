// stablelm detokenize --model DIR --ids 1,2,3 [--skip-special]: prints the text of the ids
// exactly (no newline added): token bytes joined and decoded as UTF-8, each ill-formed
// sequence replaced by U+FFFD. An id that is no token of the tokenizer is an error.
#include <cstdio>
#include <memory>
#include <string>

#include "command.h"
#include "ids_arg.h"
#include "model_path.h"
#include "stablelm/error.h"
#include "stablelm/tokenizer.h"

namespace stablelm::cli {
namespace {

struct Options {
  std::string model;
  std::string ids;
  bool skip_special = false;
};

int run(const Options& o) {
  const std::vector<int32_t> ids = parse_ids(o.ids, "--ids");
  auto tok = Tokenizer::from_dir(resolve_model_dir(o.model));
  for (int32_t id : ids)
    if (!tok->is_valid_id(id))
      throw Error("--ids: " + std::to_string(id) + " is not a token of this tokenizer (ids 0.." +
                  std::to_string(tok->vocab_size() - 1) + ", with gaps)");
  std::string text = tok->decode(ids, o.skip_special);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
  return 0;
}

Registration reg("detokenize", "Token ids to text with the model's tokenizer", [](CLI::App& app) {
  auto o = std::make_shared<Options>();
  app.add_option("--model", o->model, "Model or tokenizer directory")->required();
  app.add_option("--ids", o->ids, "Token ids, comma-separated (e.g. 1,2,3)")->required();
  app.add_flag("--skip-special", o->skip_special, "Leave out special tokens");
  return [o] { return run(*o); };
});

}  // namespace
}  // namespace stablelm::cli
