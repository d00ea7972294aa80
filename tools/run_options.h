#pragma once
// Options shared by the subcommands that run a model: --threads, --weights, --matmul-precision, --kv.
#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "stablelm/model.h"

namespace stablelm::cli {

struct RunOptions {
  int threads = 0;
  std::string weights = "stored";
  std::string kv = "f32";
  std::string matmul = "highest";

  LoadOptions load_options() const;  // throws stablelm::Error on a bad --weights value
  KVFormat kv_format() const;        // throws stablelm::Error on a bad --kv value
};

// Adds --threads, --weights, --matmul-precision and (when with_kv) --kv to `app`, storing into `o`.
void add_run_options(CLI::App& app, RunOptions& o, bool with_kv = true);

}  // namespace stablelm::cli
