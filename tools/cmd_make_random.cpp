// stablelm make-random: a model directory with random weights shaped like a real checkpoint.
#include <cstdio>
#include <memory>

#include "command.h"
#include "number_args.h"
#include "model/make_random.h"
#include "stablelm/error.h"

namespace stablelm::cli {
namespace {
namespace fs = std::filesystem;

struct Options {
  std::string like;
  std::string config;
  int64_t layers = 0;
  std::string dtype = "bf16";
  uint64_t seed = 0;
  std::string tokenizer;
  std::string out;
  int threads = 0;
  bool force = false;
};

int run(const Options& o) {
  if (o.like.empty() && o.config.empty()) throw Error("make-random: give --like NAME or --config FILE");
  ModelConfig c = o.config.empty() ? preset_config(o.like) : ModelConfig::load(o.config);
  if (o.layers > 0) c.num_hidden_layers = o.layers;
  const io::DType dt = o.dtype == "f32" ? io::DType::F32 : o.dtype == "f16" ? io::DType::F16 : io::DType::BF16;
  if (!o.tokenizer.empty() && !fs::is_directory(o.tokenizer))
    throw Error("--tokenizer " + o.tokenizer + ": no such directory");
  write_random_model(c, o.out, dt, o.seed, o.threads, o.force);
  if (!o.tokenizer.empty()) {
    int copied = 0;
    for (const char* f : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "arcade100k.tiktoken",
                          "vocab.json", "merges.txt"}) {
      const fs::path src = fs::path(o.tokenizer) / f;
      if (!fs::exists(src)) continue;
      std::error_code ec;
      fs::copy_file(src, fs::path(o.out) / f, fs::copy_options::overwrite_existing, ec);
      if (ec) throw Error(src.string() + ": cannot copy: " + ec.message());
      ++copied;
    }
    if (!copied) throw Error("--tokenizer " + o.tokenizer + ": no tokenizer files (tokenizer.json, arcade100k.tiktoken, ...)");
  }
  std::fprintf(stderr, "wrote %s\n", o.out.c_str());
  return 0;
}

Registration reg("make-random", "Write a model directory with random weights shaped like a real model", [](CLI::App& app) {
  auto o = std::make_shared<Options>();
  auto like = app.add_option("--like", o->like, "Shape to copy: stablelm-2-1_6b|stablelm-2-12b|stablelm-3b-4e1t")
                  ->check(CLI::IsMember({"stablelm-2-1_6b", "stablelm-2-12b", "stablelm-3b-4e1t"}));
  app.add_option("--config", o->config, "Take the shape from this config.json instead")->check(CLI::ExistingFile)->excludes(like);
  app.add_option("--layers", o->layers, "Override the number of layers")->check(CLI::PositiveNumber);
  app.add_option("--dtype", o->dtype, "Stored dtype: bf16|f16|f32")->check(CLI::IsMember({"bf16", "f16", "f32"}));
  app.add_option("--seed", o->seed, "Random seed")->check(uint64_value());
  app.add_option("--tokenizer", o->tokenizer, "Copy the tokenizer files of this directory");
  app.add_option("--threads", o->threads, "Writer threads (0 = all cores)")->check(count_at_most(kMaxThreads));
  app.add_flag("--force", o->force, "Write into OUT_DIR even when it is not empty (overwrites its model files)");
  app.add_option("OUT_DIR", o->out, "Output directory (absent or empty unless --force)")->required();
  return [o] { return run(*o); };
});

}  // namespace
}  // namespace stablelm::cli
