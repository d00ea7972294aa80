// stablelm: one binary, one subcommand per task (see `stablelm --help`).
#include <cstdio>
#include <exception>
#include <map>
#include <memory>
#include <vector>

#include "command.h"
#include "stablelm/error.h"

namespace stablelm::cli {
namespace {
struct Entry {
  const char* name;
  const char* description;
  Setup setup;
};
std::vector<Entry>& registry() {
  static std::vector<Entry> r;
  return r;
}
}  // namespace

Registration::Registration(const char* name, const char* description, Setup setup) {
  registry().push_back({name, description, std::move(setup)});
}
}  // namespace stablelm::cli

int main(int argc, char** argv) {
  using namespace stablelm::cli;
  CLI::App app{"stablelm.cpp: run Stable LM 2 models from their Hugging Face files"};
  app.require_subcommand(1);
  std::map<CLI::App*, Runner> runners;
  for (auto& e : registry()) {
    CLI::App* sub = app.add_subcommand(e.name, e.description);
    runners[sub] = e.setup(*sub);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    for (auto& [sub, run] : runners)
      if (sub->parsed()) return run();
  } catch (const stablelm::Error& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 1;
}
