// stablelm: one binary, one subcommand per task (see `stablelm --help`).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>
#include <new>
#include <string>
#include <memory>
#include <vector>

#include "command.h"
#include "io/mapped_file.h"
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

namespace {
// A standard descriptor closed by the caller would be reused by the next open() (the binary
// then read model.safetensors as the prompt): park /dev/null there, opened the wrong way round,
// so that every read or write on it fails with EBADF and is reported.
void park_closed_standard_fds() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    const int n = ::open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY);
    if (n >= 0 && n != fd) {
      ::dup2(n, fd);
      ::close(n);
    }
  }
}

// Every write to stdout may have failed (disk full, closed descriptor): the last flush and the
// close tell. A reader that went away (`| head`) ends the process quietly, as SIGPIPE does.
int finish_stdout(int rc) {
  const bool failed_before = std::ferror(stdout) != 0;
  errno = 0;
  const bool flush_failed = std::fflush(stdout) != 0;
  const int flush_errno = errno;
  const bool close_failed = std::fclose(stdout) != 0;
  const int err = flush_failed ? flush_errno : errno;
  if (!failed_before && !flush_failed && !close_failed) return rc;
  if (err == EPIPE) {
    std::signal(SIGPIPE, SIG_DFL);
    std::raise(SIGPIPE);
  }
  std::fprintf(stderr, "error: cannot write the output to stdout: %s\n",
               err ? std::strerror(err) : "a write failed (disk full or stdout closed?)");
  return 1;
}
const char* current_subcommand(const std::map<CLI::App*, stablelm::cli::Runner>& runners) {
  for (auto& [sub, run] : runners)
    if (sub->parsed()) return sub->get_name().c_str();
  return "stablelm";
}
}  // namespace

int main(int argc, char** argv) {
  using namespace stablelm::cli;
  park_closed_standard_fds();
  stablelm::io::install_mapping_fault_handler();
  std::signal(SIGPIPE, SIG_DFL);  // `| head` ends us quietly even when the parent ignored SIGPIPE
  CLI::App app{"stablelm.cpp: run Stable LM 2 models from their Hugging Face files"};
  app.require_subcommand(1);
  std::map<CLI::App*, Runner> runners;
  for (auto& e : registry()) {
    CLI::App* sub = app.add_subcommand(e.name, e.description);
    runners[sub] = e.setup(*sub);
  }
  // An unknown first word is named (CLI11 would only say that a subcommand is required).
  bool known_word = argc < 2 || argv[1][0] == '-';
  std::string known;
  for (auto& e : registry()) {
    known += std::string(known.empty() ? "" : ", ") + e.name;
    known_word = known_word || std::string(argv[1]) == e.name;
  }
  if (!known_word) {
    std::fprintf(stderr, "error: unknown subcommand '%s' (subcommands: %s; see stablelm --help)\n", argv[1],
                 known.c_str());
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // Usage errors look like every other error: "error: ..." on stderr, exit 2.
    std::string where;
    for (const CLI::App* sub : app.get_subcommands()) where = std::string(sub->get_name()) + ": ";
    std::fprintf(stderr, "error: %s%s\nRun with --help for more information.\n", where.c_str(), e.what());
    return e.get_exit_code() != 0 ? 2 : 0;
  }
  try {
    for (auto& [sub, run] : runners)
      if (sub->parsed()) return finish_stdout(run());
  } catch (const stablelm::Error& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::bad_alloc&) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: out of memory (%s): the model, context or batch does not fit in the memory "
                 "available; try a smaller --max-new-tokens/context, fewer threads or a quantized --weights\n",
                 current_subcommand(runners));
    return 1;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 1;
}
