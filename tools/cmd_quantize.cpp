// stablelm quantize: writes a model directory whose matrices are already in our Q8/Q4 block
// formats, so that loading it needs no requantization.
//   stablelm quantize --model DIR --weights q8|q4 OUT_DIR
// Every 2-D weight except the embedding (read one row per token, kept as stored) becomes a U8
// tensor [bytes] holding the block layout of docs/FORMATS.md; the file's __metadata__ says
// which ("stablelm.quant": "q8" | "q4", "stablelm.quant_layout": "g16b32v1"). Vectors and the
// embedding keep their stored dtype. Other files of DIR (config, tokenizer) are copied.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "command.h"
#include "common/thread_pool.h"
#include "io/safetensors.h"
#include "kernels/kernels.h"
#include "kernels/quant.h"
#include "model/formats.h"
#include "model_path.h"
#include "stablelm/error.h"

namespace stablelm::cli {
namespace {
namespace fs = std::filesystem;

struct Options {
  std::string model;
  std::string weights;
  std::string out;
  int threads = 0;
};

kernels::WType wtype_of(io::DType t) {
  return t == io::DType::F32 ? kernels::WType::F32 : t == io::DType::F16 ? kernels::WType::F16 : kernels::WType::BF16;
}

bool quantized(const io::TensorInfo& t) { return t.shape.size() == 2 && t.name != "model.embed_tokens.weight"; }

int run(const Options& o) {
  const fs::path dir = resolve_model_dir(o.model);
  const fs::path out = o.out;
  const kernels::WType target = stablelm::wtype_of(parse_weight_format(o.weights));
  std::error_code ec;
  if (fs::exists(out) && fs::equivalent(out, dir, ec)) throw Error("quantize: OUT_DIR is the model directory itself");
  if (fs::exists(out) && (!fs::is_directory(out) || !fs::is_empty(out)))
    throw Error("quantize: " + out.string() + " exists and is not an empty directory");
  fs::create_directories(out, ec);
  if (ec) throw Error(out.string() + ": cannot create directory: " + ec.message());

  io::TensorStore store(dir);
  nlohmann::json header;
  header["__metadata__"] = {{"format", "pt"}, {"stablelm.quant", o.weights}, {"stablelm.quant_layout", "g16b32v1"}};
  uint64_t offset = 0;
  std::vector<const io::TensorInfo*> order;
  for (const auto& [name, t] : store.all()) order.push_back(t);  // sorted by name
  for (const io::TensorInfo* t : order) {
    nlohmann::json e;
    if (quantized(*t)) {
      const size_t bytes = kernels::weight_bytes(target, t->shape[0], t->shape[1]);
      e = {{"dtype", "U8"}, {"shape", {bytes}}, {"data_offsets", {offset, offset + bytes}}};
      offset += bytes;
    } else {
      e = {{"dtype", io::dtype_name(t->dtype)}, {"shape", t->shape}, {"data_offsets", {offset, offset + t->bytes}}};
      offset += t->bytes;
    }
    header[t->name] = e;
  }
  const fs::path tmp = out / "model.safetensors.tmp";
  {
    std::ofstream f(tmp, std::ios::binary);
    if (!f) throw Error(tmp.string() + ": cannot open for writing");
    const std::string h = io::encode_header(header);
    f.write(h.data(), static_cast<std::streamsize>(h.size()));
    ThreadPool pool(o.threads);
    for (const io::TensorInfo* t : order) {
      if (quantized(*t)) {
        const kernels::Weight w{wtype_of(t->dtype), t->shape[0], t->shape[1], t->data, t->bytes};
        const auto q = kernels::convert_weight(w, target, &pool);
        f.write(reinterpret_cast<const char*>(q.view.data), static_cast<std::streamsize>(q.view.bytes));
      } else {
        f.write(reinterpret_cast<const char*>(t->data), static_cast<std::streamsize>(t->bytes));
      }
      if (!f) throw Error(tmp.string() + ": write failed (disk full?)");
    }
  }
  fs::rename(tmp, out / "model.safetensors", ec);
  if (ec) throw Error(tmp.string() + ": cannot rename: " + ec.message());
  // Config, generation config, tokenizer files: everything but the weights.
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || name.ends_with(".safetensors") || name == "model.safetensors.index.json") continue;
    fs::copy_file(entry.path(), out / name, fs::copy_options::overwrite_existing, ec);
    if (ec) throw Error(entry.path().string() + ": cannot copy: " + ec.message());
  }
  std::printf("wrote %s (%s, %.1f MB of tensors)\n", out.c_str(), o.weights.c_str(), static_cast<double>(offset) / 1e6);
  return 0;
}

Registration reg("quantize", "Write a model directory with Q8/Q4 weights (loads without requantizing)",
                 [](CLI::App& app) {
                   auto o = std::make_shared<Options>();
                   app.add_option("--model", o->model, "Model directory")->required();
                   app.add_option("--weights", o->weights, "Target format: q8|q4")
                       ->required()
                       ->check(CLI::IsMember({"q8", "q4"}));
                   app.add_option("--threads", o->threads, "Threads (0 = all cores)")->check(CLI::NonNegativeNumber);
                   app.add_option("OUT_DIR", o->out, "Output directory (created; must be empty)")->required();
                   return [o] { return run(*o); };
                 });

}  // namespace
}  // namespace stablelm::cli
