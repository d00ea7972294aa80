#pragma once
// Turns a --model argument into a local model directory: an existing directory is used as is;
// anything of the form org/name[@revision] is resolved through the Hugging Face hub cache
// (downloading what is missing). Every subcommand that takes --model goes through here.
#include <CLI/CLI.hpp>
#include <filesystem>
#include <string>

namespace stablelm::cli {

std::filesystem::path resolve_model_dir(const std::string& model_arg, const std::string& revision = "");

// Adds the required --model and the optional --revision options, the same for every subcommand.
void add_model_options(CLI::App& app, std::string& model, std::string& revision);

}  // namespace stablelm::cli
