#pragma once
// --chat for `stablelm generate`: a messages file rendered with the model's chat template (library:
// stablelm/chat.h) into prompt ids, and the template's end-of-turn token added to the eos ids.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "stablelm/generate.h"
#include "stablelm/tokenizer.h"

namespace stablelm::cli {

// messages_file: a JSON list of OpenAI-style messages, or a request object {"messages", "tools", ...}.
// template_file: optional override of the model's template. Adds the end-of-turn id to
// cfg.eos_token_ids unless keep_eos (the user gave --eos-id).
std::vector<int32_t> chat_prompt_from_files(const std::filesystem::path& model_dir, const Tokenizer& tok,
                                            const std::string& messages_file, const std::string& template_file,
                                            GenerationConfig& cfg, bool keep_eos);

}  // namespace stablelm::cli
