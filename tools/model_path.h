#pragma once
// Turns a --model argument into a local model directory: an existing directory is used as is;
// anything of the form org/name[@revision] is resolved through the Hugging Face hub cache
// (downloading what is missing). Every subcommand that takes --model goes through here.
#include <filesystem>
#include <string>

namespace stablelm::cli {

std::filesystem::path resolve_model_dir(const std::string& model_arg, const std::string& revision = "");

}  // namespace stablelm::cli
