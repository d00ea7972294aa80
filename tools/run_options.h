#pragma once
// Options shared by the subcommands that run a model: --threads, --weights, --matmul-precision,
// --huge-pages, --kv.
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
  std::string huge_pages = "auto";

  LoadOptions load_options() const;  // throws stablelm::Error on a bad --weights value
  KVFormat kv_format() const;        // throws stablelm::Error on a bad --kv value
};

// Adds --threads, --weights, --matmul-precision, --huge-pages and (when with_kv) --kv to `app`, storing into `o`.
void add_run_options(CLI::App& app, RunOptions& o, bool with_kv = true);

// --huge-pages alone (bench adds its list-valued options itself).
void add_huge_pages_option(CLI::App& app, std::string& value);

}  // namespace stablelm::cli
