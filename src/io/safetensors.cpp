#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>
#include <unordered_set>

#include "io/json.h"
#include "stablelm/error.h"

namespace stablelm::io {
namespace fs = std::filesystem;
using nlohmann::json;

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::U8: return "U8";
  }
  return "?";
}

size_t dtype_size(DType t) { return t == DType::F32 ? 4 : t == DType::U8 ? 1 : 2; }

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string TensorInfo::shape_str() const {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

namespace {

// Valid safetensors dtypes this engine does not compute with: reported as "unsupported" rather
// than "unknown" so the user knows the file itself is fine.
const std::set<std::string, std::less<>> kOtherDtypes = {"BOOL", "U8", "I8", "I16", "U16", "I32", "U32",
                                                         "I64", "U64", "F64", "F8_E4M3", "F8_E5M2"};

constexpr uint64_t kMaxHeader = 100u << 20;  // the safetensors library's own limit (100 MB)

// Reads a non-negative integer that fits int64 from a JSON value.
bool as_index(const json& v, uint64_t& out) {
  if (v.is_number_unsigned()) {
    out = v.get<uint64_t>();
    return out <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  }
  if (v.is_number_integer()) {
    const int64_t s = v.get<int64_t>();
    if (s < 0) return false;
    out = static_cast<uint64_t>(s);
    return true;
  }
  return false;
}

// nlohmann's DOM builder, noting the first tensor name that appears twice (the DOM would
// silently keep the last one). Not a parser callback: nlohmann's callback parser rescans the
// whole top-level object after each entry, which made a 60k-tensor header take 47 s.
struct DomParserRejectingDuplicates : nlohmann::detail::json_sax_dom_parser<json> {
  explicit DomParserRejectingDuplicates(json& root) : json_sax_dom_parser(root) {}
  bool start_object(std::size_t n) {
    ++depth;
    return json_sax_dom_parser::start_object(n);
  }
  bool end_object() {
    --depth;
    return json_sax_dom_parser::end_object();
  }
  bool key(std::string& k) {
    if (depth == 1 && !seen.insert(k).second && duplicate.empty()) duplicate = k;
    return json_sax_dom_parser::key(k);
  }
  int depth = 0;
  std::unordered_set<std::string> seen;
  std::string duplicate;
};

}  // namespace

SafetensorsFile::SafetensorsFile(const fs::path& path) : file_(path) {
  const std::string where = path.string();
  const size_t size = file_.size();
  if (size < 8)
    throw Error(where + ": not a safetensors file: " + std::to_string(size) + " bytes, shorter than the 8-byte header length");
  uint64_t n = 0;
  std::memcpy(&n, file_.data(), 8);  // little-endian on every platform we build for
  if (n == 0) throw Error(where + ": safetensors header length is 0");
  if (n > kMaxHeader) throw Error(where + ": safetensors header length " + std::to_string(n) + " exceeds the 100 MB limit");
  if (n > size - 8)
    throw Error(where + ": safetensors header length " + std::to_string(n) + " runs past the end of the file (" +
                std::to_string(size) + " bytes): truncated or not a safetensors file");

  const char* hbegin = reinterpret_cast<const char*>(file_.data() + 8);
  check_json_depth(std::string_view(hbegin, n), where + ": safetensors header");
  json header;
  DomParserRejectingDuplicates sax(header);
  try {
    json::sax_parse(hbegin, hbegin + n, &sax);
  } catch (const json::exception& e) {
    throw Error(where + ": safetensors header is not valid JSON: " + text_excerpt(e.what(), 300));
  }
  if (!sax.duplicate.empty()) throw Error(where + ": tensor " + text_excerpt(sax.duplicate) + " appears twice in the header");
  if (!header.is_object()) throw Error(where + ": safetensors header is not a JSON object");

  const uint8_t* buffer = file_.data() + 8 + n;
  const uint64_t buffer_size = size - 8 - n;
  struct Span {
    uint64_t begin, end;
    size_t index;
  };
  std::vector<Span> spans;
  // Quantized model directories (stablelm quantize) name their U8 tensors' format here.
  std::string quant;
  if (header.contains("__metadata__") && header["__metadata__"].is_object()) {
    const json& meta = header["__metadata__"];
    if (meta.contains("stablelm.quant") && meta["stablelm.quant"].is_string()) quant = meta["stablelm.quant"].get<std::string>();
  }
  for (auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) throw Error(where + ": __metadata__ is not a JSON object");
      continue;
    }
    const std::string t = where + ": tensor " + name + ": ";
    if (name.empty()) throw Error(where + ": a tensor has an empty name");
    if (!entry.is_object()) throw Error(t + "entry is not a JSON object");
    for (const char* key : {"dtype", "shape", "data_offsets"})
      if (!entry.contains(key)) throw Error(t + "missing \"" + key + "\"");
    for (auto& [key, _] : entry.items())
      if (key != "dtype" && key != "shape" && key != "data_offsets") throw Error(t + "unexpected key \"" + key + "\"");

    TensorInfo info;
    info.name = name;
    info.file = &file_.path();
    if (!entry["dtype"].is_string()) throw Error(t + "dtype is not a string");
    const std::string dt = entry["dtype"].get<std::string>();
    if (dt == "F32") info.dtype = DType::F32;
    else if (dt == "F16") info.dtype = DType::F16;
    else if (dt == "BF16") info.dtype = DType::BF16;
    else if (dt == "U8" && !quant.empty()) info.dtype = DType::U8, info.quant = quant;
    else if (kOtherDtypes.count(dt)) throw Error(t + "unsupported dtype " + dt + " (supported: F32, F16, BF16)");
    else throw Error(t + "unknown dtype \"" + dt + "\"");

    const json& shape = entry["shape"];
    if (!shape.is_array()) throw Error(t + "shape is not an array");
    if (shape.size() > 8) throw Error(t + "shape has " + std::to_string(shape.size()) + " dimensions");
    uint64_t numel = 1;
    bool overflow = false;
    for (const json& d : shape) {
      uint64_t v = 0;
      if (!as_index(d, v)) throw Error(t + "shape " + json_excerpt(shape) + " has a dimension that is not a non-negative integer");
      if (v != 0 && numel > std::numeric_limits<uint64_t>::max() / 8 / v) overflow = true;
      else numel *= v;
      info.shape.push_back(static_cast<int64_t>(v));
    }
    if (overflow || numel > buffer_size) throw Error(t + "shape " + json_excerpt(shape) + " is larger than the file's data");

    const json& off = entry["data_offsets"];
    uint64_t b = 0, e = 0;
    if (!off.is_array() || off.size() != 2 || !as_index(off[0], b) || !as_index(off[1], e))
      throw Error(t + "data_offsets " + json_excerpt(off) + " is not a pair of non-negative integers");
    if (b > e) throw Error(t + "data_offsets " + json_excerpt(off) + " end before they begin");
    if (e > buffer_size)
      throw Error(t + "data_offsets " + json_excerpt(off) + " out of bounds: the data buffer has " + std::to_string(buffer_size) + " bytes");
    const uint64_t want = numel * dtype_size(info.dtype);
    if (e - b != want)
      throw Error(t + "data_offsets " + json_excerpt(off) + " span " + std::to_string(e - b) + " bytes but shape " + json_excerpt(shape) +
                  " x " + dt + " needs " + std::to_string(want));
    info.data = buffer + b;
    info.offset = 8 + n + b;
    info.bytes = static_cast<size_t>(e - b);
    spans.push_back({b, e, tensors_.size()});
    tensors_.push_back(std::move(info));
  }

  // Data must tile the buffer exactly (as the safetensors library requires): no overlaps, no
  // gaps, nothing after the last tensor.
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t pos = 0;
  for (size_t i = 0; i < spans.size(); ++i) {
    const auto& s = spans[i];
    const std::string& nm = tensors_[s.index].name;
    if (s.begin < pos)
      throw Error(where + ": tensor " + nm + ": data_offsets [" + std::to_string(s.begin) + ", " + std::to_string(s.end) +
                  "] overlap tensor " + tensors_[spans[i - 1].index].name);
    if (s.begin > pos)
      throw Error(where + ": tensor " + nm + ": data_offsets [" + std::to_string(s.begin) + ", " + std::to_string(s.end) +
                  "] leave a gap of " + std::to_string(s.begin - pos) + " bytes before it");
    pos = s.end;
  }
  if (pos != buffer_size)
    throw Error(where + ": data buffer has " + std::to_string(buffer_size) + " bytes but the tensors cover " +
                std::to_string(pos) + (pos < buffer_size ? " (trailing bytes)" : ""));
  for (size_t i = 0; i < tensors_.size(); ++i) by_name_.emplace(tensors_[i].name, i);
}

const TensorInfo* SafetensorsFile::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &tensors_[it->second];
}

TensorStore::TensorStore(const fs::path& dir) {
  const fs::path single = dir / "model.safetensors";
  const fs::path index = dir / "model.safetensors.index.json";
  if (fs::exists(single)) {
    source_ = single;
    files_.push_back(std::make_unique<SafetensorsFile>(single));
    for (auto& t : files_.back()->tensors()) tensors_.emplace(t.name, &t);
    return;
  }
  if (!fs::exists(index))
    throw Error(dir.string() + ": no model.safetensors or model.safetensors.index.json (only safetensors weights are supported)");
  source_ = index;
  const std::string where = index.string();
  json j;
  {
    MappedFile f(index);
    j = parse_json(std::string_view(reinterpret_cast<const char*>(f.data()), f.size()), where);
  }
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    throw Error(where + ": no \"weight_map\" object");
  std::map<std::string, SafetensorsFile*> shards;
  for (auto& [name, file] : j["weight_map"].items()) {
    if (!file.is_string()) throw Error(where + ": tensor " + name + ": shard name is not a string");
    const std::string fname = file.get<std::string>();
    // Shards live beside the index: refuse paths that would escape the model directory.
    if (fname.empty() || fname.find('/') != std::string::npos || fname.find('\\') != std::string::npos || fname == "." ||
        fname == "..")
      throw Error(where + ": tensor " + name + ": shard name \"" + fname + "\" is not a plain file name");
    auto it = shards.find(fname);
    if (it == shards.end()) {
      const fs::path p = dir / fname;
      if (!fs::exists(p)) throw Error(where + ": tensor " + name + ": shard " + fname + " is missing");
      files_.push_back(std::make_unique<SafetensorsFile>(p));
      it = shards.emplace(fname, files_.back().get()).first;
    }
    const TensorInfo* t = it->second->find(name);
    if (!t) throw Error(where + ": tensor " + name + " is mapped to " + fname + ", which does not contain it");
    tensors_.emplace(name, t);
  }
  // A tensor present in a shard but absent from the weight_map would be silently ignored by a
  // name lookup: report it instead.
  for (auto& f : files_)
    for (auto& t : f->tensors())
      if (!tensors_.count(t.name))
        throw Error(f->path().string() + ": tensor " + t.name + " is not listed in " + index.filename().string());
}

const TensorInfo* TensorStore::find(std::string_view name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : it->second;
}

std::string encode_header(const json& header) {
  // Pad so the tensor data starts on a 64-byte boundary (a cache line; the spec asks for 8):
  // tensors whose sizes are multiples of 64 then never straddle lines at their ends.
  std::string h = header.dump();
  while ((8 + h.size()) % 64) h += ' ';
  std::string out(8, '\0');
  const uint64_t n = h.size();
  std::memcpy(out.data(), &n, 8);
  return out + h;
}

}  // namespace stablelm::io
