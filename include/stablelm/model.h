#pragma once
// A loaded StableLM model (weights memory-mapped, or converted at load) and a Session that owns
// a KV cache and runs the forward pass. One forward pass for the whole family, driven by the
// config flags (src/model/stablelm.cpp).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "stablelm/config.h"

namespace stablelm {

// Weight storage used for compute: Stored = the dtype in the safetensors files (no copy).
enum class WeightFormat { Stored, F32, F16, BF16, Q8, Q4 };
// Element type of the KV cache. F32 reproduces the goldens exactly. Q8: int8 with an fp32 scale
// per 32 values of a head (docs/FORMATS.md), half the memory and read traffic of F16.
enum class KVFormat { F32, F16, BF16, Q8 };

// Precision of the matrix products, named after torch.set_float32_matmul_precision: Highest keeps
// fp32 activations everywhere (reproduces the goldens); Medium lets every matmul over BF16 weights
// (prefill and decode alike, so that a token's logits do not depend on how many tokens a pass
// carries) round activations to bf16 and use the CPU's bf16 dot product (AVX512-BF16), as
// llama.cpp's BF16 matmul and PyTorch's bf16 compute do: prefill about twice as fast,
// documented logit error.
enum class MatmulPrecision { Highest, Medium };

// Page size of the weight matrices, which the decode streams end to end: with 4 KiB pages its
// weight streams miss the TLB every few hundred nanoseconds (what 2 MiB pages measured to be
// worth: docs/PERFORMANCE.md, "Page size of the weights"). Auto: matrices are used in place from
// the file mapping, advised MADV_HUGEPAGE, so the kernel maps them with 2 MiB pages wherever the
// page cache holds the file in large folios (as Linux 6.x does for files read from disk, and for
// files written in large chunks). Off: no advice, the kernel's default. Matrices converted at
// load (WeightFormat other than Stored) always get huge pages. The embedding is read row by row
// with pread (model/embedding_rows.h). (Copying the matrices into huge pages at load was tried:
// 2.4-3.3 s of page zeroing for a 1.5 GB model on our VM and +0.4 GB of peak RSS, so it is not
// offered.)
enum class HugePages { Auto, Off };

// The formats' names as the command line, bench JSON and server spell them: weights "stored",
// "f32", "f16", "bf16", "q8", "q4"; KV "f32", "f16", "bf16", "q8" (src/model/formats.cpp). The
// parsers throw stablelm::Error naming `what` (an option) and the accepted names.
const char* format_name(WeightFormat f);
const char* format_name(KVFormat f);
WeightFormat parse_weight_format(std::string_view name, std::string_view what = "--weights");
KVFormat parse_kv_format(std::string_view name, std::string_view what = "--kv");
std::vector<std::string> weight_format_names();
std::vector<std::string> kv_format_names();

struct LoadOptions {
  WeightFormat weights = WeightFormat::Stored;
  MatmulPrecision matmul = MatmulPrecision::Highest;
  HugePages huge_pages = HugePages::Auto;
  int threads = 0;  // kernel threads; 0 = all hardware threads
};

class ModelImpl;
class SessionImpl;

class Model {
 public:
  // dir: a local model directory (config.json + model.safetensors or index + shards).
  static std::unique_ptr<Model> load(const std::filesystem::path& dir, const LoadOptions& opts = {});
  ~Model();
  const ModelConfig& config() const;
  const std::filesystem::path& dir() const;
  size_t weight_bytes() const;  // bytes of weights read per decoded token

 private:
  friend const ModelImpl& model_impl(const Model& m);  // src/model/model_impl.h
  explicit Model(std::unique_ptr<ModelImpl> impl);
  std::unique_ptr<ModelImpl> impl_;
};

// Called with intermediate activations while tracing ("embeddings", "layer0.input_layernorm",
// "layer0.q_proj", ..., "layer{i}.output", "final_norm"; names as in golden/hidden_states.json).
using TraceFn = std::function<void(std::string_view name, const float* data, int64_t rows, int64_t cols)>;

class Session {
 public:
  // max_context 0 = config.max_position_embeddings.
  explicit Session(const Model& model, int64_t max_context = 0, KVFormat kv = KVFormat::F32);
  ~Session();

  // Appends tokens at positions n_past() .. n_past()+size-1 (prefill when size > 1) and returns
  // logits [rows, vocab_size]: every new position when all_logits, else only the last one.
  // Throws stablelm::Error when the context would overflow or an id is out of range.
  std::span<const float> forward(std::span<const int32_t> tokens, bool all_logits = false);

  int64_t n_past() const;
  int64_t max_context() const;
  void truncate(int64_t n);  // forget cached positions >= n (n <= n_past())
  void set_trace(TraceFn fn);

 private:
  std::unique_ptr<SessionImpl> impl_;
};

}  // namespace stablelm
