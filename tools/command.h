#pragma once
// Subcommand registry of the `stablelm` CLI. Each tools/cmd_*.cpp registers itself:
//
//   static stablelm::cli::Registration reg("logits", "Print logits for token ids", [](CLI::App& app) {
//     auto o = std::make_shared<Options>();
//     app.add_option("--model", o->model, "...")->required();
//     return [o] { return run(*o); };   // the runner returns the process exit code
//   });
//
// main.cpp parses, runs the chosen runner, and turns stablelm::Error into "error: ..." + exit 1.
#include <CLI/CLI.hpp>
#include <functional>
#include <string>

namespace stablelm::cli {

using Runner = std::function<int()>;
using Setup = std::function<Runner(CLI::App&)>;

struct Registration {
  Registration(const char* name, const char* description, Setup setup);
};

}  // namespace stablelm::cli
