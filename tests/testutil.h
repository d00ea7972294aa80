#pragma once
// Shared helpers for the test executables.
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace stablelm {
class Tokenizer;
}

namespace stablelm::test {

// ../shared/fixtures (read-only).
std::filesystem::path fixtures_dir();
// Every model directory under fixtures/models (discovered, not hard-coded).
std::vector<std::filesystem::path> fixture_models();
// A fresh empty temporary directory, removed at process exit.
std::filesystem::path temp_dir(const std::string& tag);

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};
// Runs the built `stablelm` binary with the given arguments (shell-quoted for you), optional stdin.
CommandResult run_cli(const std::vector<std::string>& args, const std::string& stdin_text = "");
// Runs an arbitrary shell command line.
CommandResult run_shell(const std::string& command_line, const std::string& stdin_text = "");

std::string read_file(const std::filesystem::path& p);
void write_file(const std::filesystem::path& p, const std::string& data);

// For each byte, a token that is that byte alone (-1 where none), so that constrained decoding
// can be driven byte by byte.
std::array<int32_t, 256> single_byte_tokens(const Tokenizer& tok);

}  // namespace stablelm::test
