#pragma once
// Text prompts for the id-level subcommands (logits, score): tokenized with the model's own
// tokenizer, exactly as `stablelm tokenize` would.
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace stablelm {
class Tokenizer;
}

namespace stablelm::cli {

// The ids of `text` (special tokens recognised, BOS/EOS only if tokenizer_config.json asks).
// Throws stablelm::Error naming `option` when the text is empty or encodes to nothing.
std::vector<int32_t> encode_text(const std::filesystem::path& model_dir, const std::string& text,
                                 const std::string& option);

// Context and continuation ids the way lm-evaluation-harness splits them: the continuation is
// the tail of encode(context + continuation) after encode(context), so that a BPE merge across
// the boundary is tokenized as the whole string would be.
std::pair<std::vector<int32_t>, std::vector<int32_t>> encode_context_continuation(
    const std::filesystem::path& model_dir, const std::string& context, const std::string& continuation);

// The same split with a loaded tokenizer (for many pairs).
std::pair<std::vector<int32_t>, std::vector<int32_t>> encode_context_continuation(
    const Tokenizer& tok, const std::string& context, const std::string& continuation);

// Exactly one of an id list and a text must be given.
void require_one(bool has_ids, bool has_text, const std::string& ids_option, const std::string& text_option);

}  // namespace stablelm::cli
