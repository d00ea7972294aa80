#pragma once
// Random-weight model directories shaped like the real checkpoints (for speed work without
// downloads): config.json, generation_config.json and model.safetensors, streamed to disk.
#include <cstdint>
#include <filesystem>
#include <string_view>

#include "io/safetensors.h"
#include "stablelm/config.h"

namespace stablelm {

// The configs of stablelm-2-1_6b, stablelm-2-12b and stablelm-3b-4e1t (real shapes and flags).
// Throws stablelm::Error for any other name.
ModelConfig preset_config(std::string_view like);

// Writes out_dir/{config.json, generation_config.json, model.safetensors}. Weights follow the
// fixtures' init (embeddings N(0,1), lm_head N(0, 3/√H), matrices N(0, max(0.02, 1/√in)),
// LayerNorm weights N(1, 0.1), biases N(0, 0.1)) with a fast approximate normal; the same seed
// gives the same bytes whatever the thread count.
// out_dir must be empty or absent unless overwrite; on a failed write everything written is removed.
void write_random_model(const ModelConfig& config, const std::filesystem::path& out_dir, io::DType dtype, uint64_t seed,
                        int threads = 0, bool overwrite = false);

}  // namespace stablelm
