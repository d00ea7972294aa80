#pragma once
// The two file formats a Tokenizer is loaded from.
#include <filesystem>
#include <memory>

#include "stablelm/tokenizer.h"

namespace stablelm::tok {

// config: tokenizer_config.json to read as well (empty path: none).
std::unique_ptr<Tokenizer> load_tokenizer_json(const std::filesystem::path& file, const std::filesystem::path& config);
std::unique_ptr<Tokenizer> load_tiktoken(const std::filesystem::path& file, const std::filesystem::path& config);

}  // namespace stablelm::tok
