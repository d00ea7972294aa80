#include "model/make_random.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/thread_pool.h"
#include "kernels/kernels.h"
#include "stablelm/error.h"

namespace stablelm {
namespace fs = std::filesystem;

ModelConfig preset_config(std::string_view like) {
  ModelConfig c;  // transformers' defaults = stablelm-3b-4e1t's shape
  c.partial_rotary_factor = 0.25;
  c.rope_theta = 10000;
  c.layer_norm_eps = 1e-5;
  c.max_position_embeddings = 4096;
  c.tie_word_embeddings = false;
  if (like == "stablelm-2-1_6b") {
    c.vocab_size = 100352;
    c.hidden_size = 2048;
    c.intermediate_size = 5632;
    c.num_hidden_layers = 24;
    c.num_attention_heads = 32;
    c.num_key_value_heads = 32;
    c.use_qkv_bias = true;
    c.bos_token_id = 100257;
    c.eos_token_ids = {100257};
  } else if (like == "stablelm-2-12b") {
    c.vocab_size = 100352;
    c.hidden_size = 5120;
    c.intermediate_size = 13824;
    c.num_hidden_layers = 40;
    c.num_attention_heads = 32;
    c.num_key_value_heads = 8;
    c.qk_layernorm = true;
    c.use_parallel_residual = true;
    c.use_qkv_bias = false;
    c.bos_token_id = 100257;
    c.eos_token_ids = {100257};
  } else if (like == "stablelm-3b-4e1t") {
    c.vocab_size = 50304;
    c.hidden_size = 2560;
    c.intermediate_size = 6912;
    c.num_hidden_layers = 32;
    c.num_attention_heads = 32;
    c.num_key_value_heads = 32;
    c.use_qkv_bias = false;
    c.bos_token_id = 0;
    c.eos_token_ids = {0};
  } else {
    throw Error("--like " + std::string(like) + ": expected stablelm-2-1_6b, stablelm-2-12b or stablelm-3b-4e1t");
  }
  return c;
}

namespace {

struct Spec {
  std::vector<int64_t> shape;
  double mean, std;
};

// Every tensor of the architecture with its init distribution, keyed (and so laid out) by name.
std::map<std::string, Spec> tensor_specs(const ModelConfig& c) {
  const int64_t H = c.hidden_size, I = c.intermediate_size, V = c.vocab_size, d = c.head_dim();
  const int64_t nh = c.num_attention_heads, nkv = c.num_key_value_heads;
  auto mat = [](int64_t rows, int64_t cols) {
    return Spec{{rows, cols}, 0.0, std::max(0.02, 1.0 / std::sqrt(static_cast<double>(cols)))};
  };
  const Spec ln_w{{H}, 1.0, 0.1}, bias{{H}, 0.0, 0.1};
  std::map<std::string, Spec> s;
  s["model.embed_tokens.weight"] = {{V, H}, 0.0, 1.0};
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    s[p + "input_layernorm.weight"] = ln_w;
    s[p + "input_layernorm.bias"] = bias;
    s[p + "self_attn.q_proj.weight"] = mat(nh * d, H);
    s[p + "self_attn.k_proj.weight"] = mat(nkv * d, H);
    s[p + "self_attn.v_proj.weight"] = mat(nkv * d, H);
    s[p + "self_attn.o_proj.weight"] = mat(H, nh * d);
    if (c.use_qkv_bias) {
      s[p + "self_attn.q_proj.bias"] = {{nh * d}, 0.0, 0.1};
      s[p + "self_attn.k_proj.bias"] = {{nkv * d}, 0.0, 0.1};
      s[p + "self_attn.v_proj.bias"] = {{nkv * d}, 0.0, 0.1};
    }
    if (c.qk_layernorm) {
      for (int64_t h = 0; h < nh; ++h) s[p + "self_attn.q_layernorm.norms." + std::to_string(h) + ".weight"] = {{d}, 1.0, 0.1};
      for (int64_t h = 0; h < nkv; ++h) s[p + "self_attn.k_layernorm.norms." + std::to_string(h) + ".weight"] = {{d}, 1.0, 0.1};
    }
    if (!c.use_parallel_residual) {
      s[p + "post_attention_layernorm.weight"] = ln_w;
      s[p + "post_attention_layernorm.bias"] = bias;
    }
    s[p + "mlp.gate_proj.weight"] = mat(I, H);
    s[p + "mlp.up_proj.weight"] = mat(I, H);
    s[p + "mlp.down_proj.weight"] = mat(H, I);
  }
  s["model.norm.weight"] = ln_w;
  s["model.norm.bias"] = bias;
  if (!c.tie_word_embeddings) s["lm_head.weight"] = {{V, H}, 0.0, 3.0 / std::sqrt(static_cast<double>(H))};
  return s;
}

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

constexpr int64_t kChunk = 1 << 16;  // elements per independently seeded chunk

// Fills out[0, n) for chunk `chunk` of a tensor. The normal is approximated by the sum of four
// 16-bit uniforms (Irwin-Hall, variance 1/3): cheap, bounded, and plenty for random weights.
void fill_chunk(float* out, int64_t n, uint64_t seed, uint64_t tensor, uint64_t chunk, double mean, double std) {
  uint64_t state = seed * 0x2545f4914f6cdd1dull ^ (tensor << 32) ^ chunk;
  splitmix64(state);
  const float scale = static_cast<float>(std * std::sqrt(3.0) / 65536.0);
  const float offset = static_cast<float>(mean) - 2.0f * 65536.0f * scale;
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t r = splitmix64(state);
    const uint32_t sum = static_cast<uint32_t>(r & 0xffff) + static_cast<uint32_t>((r >> 16) & 0xffff) +
                         static_cast<uint32_t>((r >> 32) & 0xffff) + static_cast<uint32_t>(r >> 48);
    out[i] = static_cast<float>(sum) * scale + offset;
  }
}

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream f(p, std::ios::binary);
  f << text;
  f.close();  // the data reaches the disk here: a full disk shows at close, not at <<
  if (!f) throw Error(p.string() + ": cannot write");
}

void write_files(const ModelConfig& c, const fs::path& out_dir, io::DType dtype, uint64_t seed, int threads);

}  // namespace

void write_random_model(const ModelConfig& config, const fs::path& out_dir, io::DType dtype, uint64_t seed, int threads,
                        bool overwrite) {
  ModelConfig c = config;
  c.torch_dtype = dtype == io::DType::F32 ? "float32" : dtype == io::DType::F16 ? "float16" : "bfloat16";
  c.validate("make-random");
  std::error_code ec;
  if (fs::exists(out_dir, ec) && !fs::is_directory(out_dir, ec))
    throw Error(out_dir.string() + ": exists and is not a directory");
  if (fs::is_directory(out_dir, ec) && !fs::is_empty(out_dir, ec) && !overwrite)
    throw Error(out_dir.string() + ": the directory is not empty; make-random would overwrite the model files in it "
                "(pass --force to do that)");
  fs::create_directories(out_dir, ec);
  if (ec) throw Error(out_dir.string() + ": cannot create directory: " + ec.message());

  // On any failure, what was written is removed: a half-written model must not look usable.
  const fs::path written[] = {out_dir / "config.json", out_dir / "generation_config.json", out_dir / "model.safetensors"};
  try {
    write_files(c, out_dir, dtype, seed, threads);
  } catch (...) {
    for (const auto& p : written) fs::remove(p, ec);
    throw;
  }
}

namespace {
void write_files(const ModelConfig& c, const fs::path& out_dir, io::DType dtype, uint64_t seed, int threads) {
  std::error_code ec;
  write_text(out_dir / "config.json", c.to_json());
  nlohmann::json gen{{"_from_model_config", true},
                     {"bos_token_id", c.bos_token_id},
                     {"eos_token_id", c.eos_token_ids.size() == 1 ? nlohmann::json(c.eos_token_ids[0]) : nlohmann::json(c.eos_token_ids)},
                     {"transformers_version", "4.44.0"}};
  write_text(out_dir / "generation_config.json", gen.dump(2) + "\n");

  const auto specs = tensor_specs(c);
  const size_t esize = io::dtype_size(dtype);
  nlohmann::json header;
  header["__metadata__"] = {{"format", "pt"}};
  uint64_t offset = 0;
  struct Item {
    const Spec* spec;
    uint64_t offset;
    int64_t numel;
  };
  std::vector<Item> items;
  for (auto& [name, spec] : specs) {
    int64_t numel = 1;
    for (int64_t dim : spec.shape) numel *= dim;
    const uint64_t bytes = static_cast<uint64_t>(numel) * esize;
    header[name] = {{"dtype", io::dtype_name(dtype)}, {"shape", spec.shape}, {"data_offsets", {offset, offset + bytes}}};
    items.push_back({&spec, offset, numel});
    offset += bytes;
  }
  const std::string head = io::encode_header(header);

  const fs::path path = out_dir / "model.safetensors";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(path.string() + ": cannot create: " + std::strerror(errno));
  std::string failure;
  std::mutex failure_mu;
  std::atomic<bool> failed{false};  // checked per chunk: stop at the first failed write
  auto write_at = [&](const void* data, size_t n, uint64_t pos) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      const ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(pos));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        std::lock_guard<std::mutex> lock(failure_mu);
        if (failure.empty()) failure = std::strerror(w < 0 ? errno : ENOSPC);
        failed.store(true, std::memory_order_relaxed);
        return;
      }
      p += w;
      n -= static_cast<size_t>(w);
      pos += static_cast<uint64_t>(w);
    }
  };
  write_at(head.data(), head.size(), 0);
  const uint64_t data_start = head.size();

  ThreadPool pool(threads);
  for (size_t ti = 0; ti < items.size() && !failed.load(); ++ti) {
    const Item& it = items[ti];
    const int64_t chunks = (it.numel + kChunk - 1) / kChunk;
    pool.parallel_for(chunks, [&](int, int64_t c0, int64_t c1) {
      std::vector<float> f(kChunk);
      std::vector<uint16_t> h(dtype == io::DType::F32 ? 0 : kChunk);
      for (int64_t ch = c0; ch < c1 && !failed.load(std::memory_order_relaxed); ++ch) {
        const int64_t n = std::min(kChunk, it.numel - ch * kChunk);
        fill_chunk(f.data(), n, seed, ti, static_cast<uint64_t>(ch), it.spec->mean, it.spec->std);
        const uint64_t pos = data_start + it.offset + static_cast<uint64_t>(ch * kChunk) * esize;
        if (dtype == io::DType::F32) {
          write_at(f.data(), static_cast<size_t>(n) * 4, pos);
        } else {
          kernels::store_kv(f.data(), 1, n, dtype == io::DType::F16 ? kernels::WType::F16 : kernels::WType::BF16, h.data());
          write_at(h.data(), static_cast<size_t>(n) * 2, pos);
        }
      }
    });
  }
  if (::close(fd) != 0 && failure.empty()) failure = std::strerror(errno);
  if (!failure.empty()) throw Error(path.string() + ": write failed: " + failure);
}
}  // namespace

}  // namespace stablelm
