#pragma once
// Reading tokenizer files with errors that name the file.
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace stablelm::tok {

std::string read_whole_file(const std::filesystem::path& p);
nlohmann::json parse_json_file(const std::filesystem::path& p);

}  // namespace stablelm::tok
