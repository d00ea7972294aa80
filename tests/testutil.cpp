#include "testutil.h"

#include "stablelm/tokenizer.h"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace stablelm::test {
namespace fs = std::filesystem;

fs::path fixtures_dir() { return fs::path(STABLELM_FIXTURES_DIR); }

std::vector<fs::path> fixture_models() {
  std::vector<fs::path> out;
  for (auto& e : fs::directory_iterator(fixtures_dir() / "models"))
    if (e.is_directory() && fs::exists(e.path() / "config.json")) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

namespace {
struct TempRoot {
  fs::path root;
  TempRoot() {
    std::string tmpl = (fs::temp_directory_path() / "stablelm-test-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    root = tmpl;
  }
  ~TempRoot() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
};
TempRoot& temp_root() {
  static TempRoot r;
  return r;
}
}  // namespace

fs::path temp_dir(const std::string& tag) {
  static std::atomic<int> counter{0};
  fs::path p = temp_root().root / (tag + "-" + std::to_string(counter++));
  fs::create_directories(p);
  return p;
}

static std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

CommandResult run_shell(const std::string& command_line, const std::string& stdin_text) {
  fs::path dir = temp_dir("cmd");
  write_file(dir / "stdin", stdin_text);
  std::string cmd = command_line + " <" + shell_quote((dir / "stdin").string()) + " >" +
                    shell_quote((dir / "stdout").string()) + " 2>" + shell_quote((dir / "stderr").string());
  int status = std::system(cmd.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_file(dir / "stdout");
  r.err = read_file(dir / "stderr");
  return r;
}

CommandResult run_cli(const std::vector<std::string>& args, const std::string& stdin_text) {
  std::string cmd = shell_quote(STABLELM_CLI);
  for (auto& a : args) cmd += " " + shell_quote(a);
  return run_shell(cmd, stdin_text);
}

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_file(const fs::path& p, const std::string& data) {
  std::ofstream f(p, std::ios::binary);
  f << data;
}

std::array<int32_t, 256> single_byte_tokens(const Tokenizer& tok) {
  std::array<int32_t, 256> byte_token{};
  byte_token.fill(-1);
  for (int32_t id = 0; id < tok.vocab_size(); ++id)
    if (tok.is_valid_id(id) && !tok.is_special(id) && tok.token_bytes(id).size() == 1)
      byte_token[static_cast<uint8_t>(tok.token_bytes(id)[0])] = id;
  return byte_token;
}

}  // namespace stablelm::test
