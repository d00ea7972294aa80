#pragma once
// Safetensors reader: memory-maps a file, validates its header strictly (every error names the
// file and the tensor) and exposes each tensor as a view into the mapping. TensorStore opens a
// model directory: model.safetensors, or model.safetensors.index.json and its shards.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/mapped_file.h"

namespace stablelm::io {

// U8: opaque bytes of our Q8/Q4 block formats, written by `stablelm quantize` (docs/FORMATS.md).
enum class DType { F32, F16, BF16, U8 };
const char* dtype_name(DType t);  // "F32", "F16", "BF16" (the safetensors codes)
size_t dtype_size(DType t);

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // into the mapping
  uint64_t offset = 0;            // of data in the file
  size_t bytes = 0;
  const std::filesystem::path* file = nullptr;  // the file it lives in (for messages)
  std::string quant;  // U8 tensors: their format, "q8" or "q4" (__metadata__ "stablelm.quant")

  int64_t numel() const;
  std::string shape_str() const;  // "[2048, 64]"
};

class SafetensorsFile {
 public:
  // Maps and validates; throws stablelm::Error naming the file (and tensor) on any defect.
  explicit SafetensorsFile(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return file_.path(); }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(std::string_view name) const;

 private:
  MappedFile file_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> by_name_;
};

class TensorStore {
 public:
  // dir holds model.safetensors (preferred, as transformers does) or model.safetensors.index.json.
  explicit TensorStore(const std::filesystem::path& dir);

  const TensorInfo* find(std::string_view name) const;
  // Every tensor, by name (for the unexpected-tensor check).
  const std::map<std::string, const TensorInfo*, std::less<>>& all() const { return tensors_; }
  // "model.safetensors" or "model.safetensors.index.json": what the user should look at.
  const std::filesystem::path& source() const { return source_; }

 private:
  std::filesystem::path source_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorInfo*, std::less<>> tensors_;
};

// The 8-byte length + JSON header of a safetensors file, padded with spaces so the data starts at a
// multiple of 64 bytes
// (shared by writers: make-random, quantize, and tests that build corrupted files).
std::string encode_header(const nlohmann::json& header);

}  // namespace stablelm::io
