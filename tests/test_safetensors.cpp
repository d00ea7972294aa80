// Malformed weight files: each defect must give a stablelm::Error that names the file and the
// tensor, never a crash or a silently wrong model. Corrupted copies of the fixtures are built in
// temp_dir() (the fixtures are read-only).
#include <gtest/gtest.h>

#include <cstring>
#include <map>

#include "io/safetensors.h"
#include "stablelm/error.h"
#include "stablelm/model.h"
#include "testutil.h"

namespace stablelm::test {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kSmall = fixtures_dir() / "models" / "micro-3b-style-f16";
const fs::path kSharded = fixtures_dir() / "models" / "micro-sharded";

struct Parsed {
  json header;
  std::string data;  // the buffer after the header
};

Parsed parse(const fs::path& file) {
  const std::string s = read_file(file);
  uint64_t n = 0;
  std::memcpy(&n, s.data(), 8);
  return {json::parse(s.substr(8, n)), s.substr(8 + n)};
}

// A copy of a fixture model directory (no goldens) that a test may corrupt.
fs::path copy_model(const fs::path& src) {
  const fs::path dir = temp_dir("model");
  for (auto& e : fs::directory_iterator(src))
    if (e.is_regular_file()) fs::copy_file(e.path(), dir / e.path().filename());
  return dir;
}

// Writes a copy of kSmall whose model.safetensors has the given header text and data.
fs::path with_raw(const std::string& header_text, const std::string& data) {
  const fs::path dir = copy_model(kSmall);
  std::string h = header_text;
  while (h.size() % 8) h += ' ';
  std::string out(8, '\0');
  const uint64_t n = h.size();
  std::memcpy(out.data(), &n, 8);
  write_file(dir / "model.safetensors", out + h + data);
  return dir;
}

fs::path with_header(const json& header, const std::string& data) { return with_raw(header.dump(), data); }

// Rebuilds a valid file (contiguous, lexicographic layout) from tensors: name → (meta, bytes).
fs::path repack(std::map<std::string, std::pair<json, std::string>> tensors) {
  json header;
  header["__metadata__"] = {{"format", "pt"}};
  std::string data;
  for (auto& [name, t] : tensors) {
    json meta = t.first;
    meta["data_offsets"] = {data.size(), data.size() + t.second.size()};
    header[name] = meta;
    data += t.second;
  }
  return with_header(header, data);
}

std::map<std::string, std::pair<json, std::string>> tensors_of(const fs::path& file) {
  Parsed p = parse(file);
  std::map<std::string, std::pair<json, std::string>> out;
  for (auto& [name, meta] : p.header.items()) {
    if (name == "__metadata__") continue;
    const auto off = meta["data_offsets"].get<std::vector<size_t>>();
    json m = meta;
    m.erase("data_offsets");
    out[name] = {m, p.data.substr(off[0], off[1] - off[0])};
  }
  return out;
}

// Loads the model in dir and returns the error message (fails the test if it loads).
std::string load_error(const fs::path& dir) {
  try {
    Model::load(dir, {.weights = WeightFormat::Stored, .threads = 1});
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "model in " << dir << " loaded without error";
  return "";
}

#define EXPECT_HAS(msg, part) EXPECT_NE((msg).find(part), std::string::npos) << "message: " << (msg)

TEST(Safetensors, FixturesLoad) {
  for (const auto& dir : fixture_models()) {
    io::TensorStore store(dir);
    EXPECT_GT(store.all().size(), 10u) << dir;
  }
}

TEST(Safetensors, ShardedHasSameTensorsAsSingleFile) {
  io::TensorStore a(fixtures_dir() / "models" / "micro-v2-f32"), b(kSharded);
  ASSERT_EQ(a.all().size(), b.all().size());
  for (auto& [name, t] : a.all()) {
    const io::TensorInfo* u = b.find(name);
    ASSERT_NE(u, nullptr) << name;
    EXPECT_EQ(t->shape, u->shape);
    ASSERT_EQ(t->bytes, u->bytes);
    EXPECT_EQ(std::memcmp(t->data, u->data, t->bytes), 0) << name;
  }
}

TEST(Safetensors, EmptyAndTinyFiles) {
  for (size_t n : {0, 3, 7}) {
    const fs::path dir = with_raw("", "");
    write_file(dir / "model.safetensors", std::string(n, '\0'));
    const std::string msg = load_error(dir);
    EXPECT_HAS(msg, (dir / "model.safetensors").string());
    EXPECT_HAS(msg, "shorter than the 8-byte header length");
  }
}

TEST(Safetensors, HeaderLengthPastEnd) {
  const fs::path dir = copy_model(kSmall);
  std::string s = read_file(dir / "model.safetensors");
  const uint64_t n = s.size();  // 8 more than the file can hold
  std::memcpy(s.data(), &n, 8);
  write_file(dir / "model.safetensors", s);
  const std::string msg = load_error(dir);
  EXPECT_HAS(msg, (dir / "model.safetensors").string());
  EXPECT_HAS(msg, "runs past the end of the file");
}

TEST(Safetensors, HeaderLengthZeroAndHuge) {
  for (uint64_t n : {uint64_t{0}, ~uint64_t{0}, uint64_t{1} << 40}) {
    const fs::path dir = copy_model(kSmall);
    std::string s = read_file(dir / "model.safetensors");
    std::memcpy(s.data(), &n, 8);
    write_file(dir / "model.safetensors", s);
    EXPECT_HAS(load_error(dir), "header length");
  }
}

TEST(Safetensors, TruncatedData) {
  const fs::path dir = copy_model(kSmall);
  const std::string s = read_file(dir / "model.safetensors");
  write_file(dir / "model.safetensors", s.substr(0, s.size() - 100));
  const std::string msg = load_error(dir);
  EXPECT_HAS(msg, "out of bounds");
  EXPECT_HAS(msg, "model.norm.weight");  // the last tensor in the file is the one cut short
}

TEST(Safetensors, BadJson) {
  const std::string msg = load_error(with_raw("{\"a\": [1, 2", ""));
  EXPECT_HAS(msg, "not valid JSON");
  EXPECT_HAS(msg, "model.safetensors");
  EXPECT_HAS(load_error(with_raw("\xff\xfe{}", "")), "not valid JSON");
}

TEST(Safetensors, HeaderNotObject) { EXPECT_HAS(load_error(with_raw("[1, 2, 3]", "")), "not a JSON object"); }

TEST(Safetensors, MetadataNotObject) {
  Parsed p = parse(kSmall / "model.safetensors");
  p.header["__metadata__"] = "pt";
  EXPECT_HAS(load_error(with_header(p.header, p.data)), "__metadata__");
}

TEST(Safetensors, UnknownAndUnsupportedDtype) {
  Parsed p = parse(kSmall / "model.safetensors");
  p.header["model.norm.weight"]["dtype"] = "F99";
  std::string msg = load_error(with_header(p.header, p.data));
  EXPECT_HAS(msg, "model.norm.weight");
  EXPECT_HAS(msg, "unknown dtype \"F99\"");
  p.header["model.norm.weight"]["dtype"] = "I64";
  msg = load_error(with_header(p.header, p.data));
  EXPECT_HAS(msg, "model.norm.weight");
  EXPECT_HAS(msg, "unsupported dtype I64");
  p.header["model.norm.weight"]["dtype"] = 7;
  EXPECT_HAS(load_error(with_header(p.header, p.data)), "dtype is not a string");
}

TEST(Safetensors, EntryStructure) {
  const Parsed orig = parse(kSmall / "model.safetensors");
  auto err = [&](auto edit) {
    Parsed p = orig;
    edit(p.header["model.norm.bias"]);
    const std::string msg = load_error(with_header(p.header, p.data));
    EXPECT_HAS(msg, "model.norm.bias");
    return msg;
  };
  EXPECT_HAS(err([](json& t) { t = 5; }), "not a JSON object");
  EXPECT_HAS(err([](json& t) { t.erase("shape"); }), "missing \"shape\"");
  EXPECT_HAS(err([](json& t) { t.erase("data_offsets"); }), "missing \"data_offsets\"");
  EXPECT_HAS(err([](json& t) { t["extra"] = 1; }), "unexpected key");
  EXPECT_HAS(err([](json& t) { t["shape"] = "128"; }), "shape is not an array");
  EXPECT_HAS(err([](json& t) { t["shape"] = {-128}; }), "not a non-negative integer");
  EXPECT_HAS(err([](json& t) { t["shape"] = {1.5}; }), "not a non-negative integer");
  EXPECT_HAS(err([](json& t) { t["shape"] = {int64_t{1} << 40, int64_t{1} << 40}; }), "larger than the file's data");
  EXPECT_HAS(err([](json& t) { t["data_offsets"] = {1}; }), "not a pair");
  EXPECT_HAS(err([](json& t) { t["data_offsets"] = {-2, 254}; }), "not a pair");
  EXPECT_HAS(err([](json& t) {
               auto o = t["data_offsets"].get<std::vector<int64_t>>();
               t["data_offsets"] = {o[1], o[0]};
             }), "end before they begin");
}

TEST(Safetensors, OffsetsOutOfBounds) {
  Parsed p = parse(kSmall / "model.safetensors");
  const size_t end = p.data.size();
  p.header["model.norm.bias"]["data_offsets"] = {end - 2, end + 254};
  const std::string msg = load_error(with_header(p.header, p.data));
  EXPECT_HAS(msg, "model.norm.bias");
  EXPECT_HAS(msg, "out of bounds");
}

TEST(Safetensors, OffsetsDoNotMatchShape) {
  Parsed p = parse(kSmall / "model.safetensors");
  p.header["model.norm.bias"]["shape"] = {127};
  const std::string msg = load_error(with_header(p.header, p.data));
  EXPECT_HAS(msg, "model.norm.bias");
  EXPECT_HAS(msg, "needs 254");
}

TEST(Safetensors, OverlappingOffsets) {
  Parsed p = parse(kSmall / "model.safetensors");
  // The weight (laid out after the bias) claims the bias's bytes.
  p.header["model.norm.weight"]["data_offsets"] = p.header["model.norm.bias"]["data_offsets"];
  const std::string msg = load_error(with_header(p.header, p.data));
  EXPECT_HAS(msg, "overlap");
  EXPECT_HAS(msg, "model.norm.");
}

TEST(Safetensors, GapAndTrailingBytes) {
  Parsed p = parse(kSmall / "model.safetensors");
  EXPECT_HAS(load_error(with_header(p.header, p.data + "xxxx")), "trailing bytes");
  // Shift every tensor by 2 bytes: a gap at the start.
  Parsed q = p;
  for (auto& [name, t] : q.header.items())
    if (name != "__metadata__") t["data_offsets"] = {t["data_offsets"][0].get<size_t>() + 2, t["data_offsets"][1].get<size_t>() + 2};
  EXPECT_HAS(load_error(with_header(q.header, ".." + p.data)), "gap");
}

TEST(Safetensors, DuplicateTensorName) {
  Parsed p = parse(kSmall / "model.safetensors");
  std::string text = p.header.dump();
  const json bias = p.header["model.norm.bias"];
  text.pop_back();  // drop the closing brace, then repeat one entry
  text += ",\"model.norm.bias\":" + bias.dump() + "}";
  const std::string msg = load_error(with_raw(text, p.data));
  EXPECT_HAS(msg, "model.norm.bias");
  EXPECT_HAS(msg, "appears twice");
}

TEST(Safetensors, MissingTensor) {
  auto t = tensors_of(kSmall / "model.safetensors");
  t.erase("model.layers.1.mlp.up_proj.weight");
  const std::string msg = load_error(repack(t));
  EXPECT_HAS(msg, "missing tensor model.layers.1.mlp.up_proj.weight");
}

TEST(Safetensors, UnexpectedTensor) {
  auto t = tensors_of(kSmall / "model.safetensors");
  t["model.layers.0.self_attn.q_proj.bias"] = {json{{"dtype", "F16"}, {"shape", {128}}}, std::string(256, '\0')};
  const std::string msg = load_error(repack(t));
  EXPECT_HAS(msg, "unexpected tensor model.layers.0.self_attn.q_proj.bias");
  EXPECT_HAS(msg, "model.safetensors");
}

TEST(Safetensors, ShapeDisagreesWithConfig) {
  auto t = tensors_of(kSmall / "model.safetensors");
  auto& g = t["model.layers.0.mlp.gate_proj.weight"];
  g.first["shape"] = {128, 344};  // transposed
  std::string msg = load_error(repack(t));
  EXPECT_HAS(msg, "model.layers.0.mlp.gate_proj.weight");
  EXPECT_HAS(msg, "has shape [128, 344] but config.json implies [344, 128]");

  // The same file with a config.json that disagrees.
  const fs::path dir = copy_model(kSmall);
  json cfg = json::parse(read_file(dir / "config.json"));
  cfg["intermediate_size"] = 340;
  write_file(dir / "config.json", cfg.dump());
  msg = load_error(dir);
  EXPECT_HAS(msg, "mlp.");
  EXPECT_HAS(msg, "config.json implies");
}

TEST(Safetensors, WritersStartTheDataOnA64ByteBoundary) {
  for (const char* name : {"a", "ab", "abcdefghijklmnopqrstuvwxyz0123456789"}) {
    const std::string h = io::encode_header(nlohmann::json{{"__metadata__", {{"k", name}}}});
    uint64_t n = 0;
    std::memcpy(&n, h.data(), 8);
    EXPECT_EQ(h.size(), 8 + n);
    EXPECT_EQ(h.size() % 64, 0u) << name;
    EXPECT_TRUE(nlohmann::json::parse(h.substr(8)).contains("__metadata__"));
  }
}

TEST(Safetensors, MisalignedDataStillLoadsCorrectly) {
  // A header whose length is not a multiple of the element size leaves the data misaligned:
  // legal safetensors, so it must load (copied, not read through misaligned pointers).
  Parsed p = parse(kSmall / "model.safetensors");
  std::string h = p.header.dump();
  while (h.size() % 8 != 1) h += ' ';
  const fs::path dir = copy_model(kSmall);
  std::string out(8, '\0');
  const uint64_t n = h.size();
  std::memcpy(out.data(), &n, 8);
  write_file(dir / "model.safetensors", out + h + p.data);
  auto a = Model::load(dir, {.weights = WeightFormat::Stored, .threads = 1});
  auto b = Model::load(kSmall, {.weights = WeightFormat::Stored, .threads = 1});
  Session sa(*a), sb(*b);
  const std::vector<int32_t> ids = {1, 2, 3, 511};
  auto la = sa.forward(ids, true);
  auto lb = sb.forward(ids, true);
  ASSERT_EQ(la.size(), lb.size());
  for (size_t i = 0; i < la.size(); ++i) ASSERT_EQ(la[i], lb[i]) << i;
}

TEST(Safetensors, NoWeights) {
  const fs::path dir = copy_model(kSmall);
  fs::remove(dir / "model.safetensors");
  EXPECT_HAS(load_error(dir), "no model.safetensors or model.safetensors.index.json");
}

TEST(Safetensors, IndexNamesMissingShard) {
  const fs::path dir = copy_model(kSharded);
  fs::remove(dir / "model-00002-of-00002.safetensors");
  const std::string msg = load_error(dir);
  EXPECT_HAS(msg, "model.safetensors.index.json");
  EXPECT_HAS(msg, "model-00002-of-00002.safetensors is missing");
}

TEST(Safetensors, IndexDefects) {
  const json orig = json::parse(read_file(kSharded / "model.safetensors.index.json"));
  auto err = [&](auto edit) {
    const fs::path dir = copy_model(kSharded);
    json j = orig;
    edit(j);
    write_file(dir / "model.safetensors.index.json", j.dump());
    return load_error(dir);
  };
  EXPECT_HAS(err([](json& j) { j.erase("weight_map"); }), "no \"weight_map\"");
  EXPECT_HAS(err([](json& j) { j["weight_map"]["lm_head.weight"] = "../model-00002-of-00002.safetensors"; }),
             "not a plain file name");
  EXPECT_HAS(err([](json& j) { j["weight_map"]["lm_head.weight"] = 3; }), "not a string");
  // A tensor mapped to the shard that does not hold it.
  EXPECT_HAS(err([](json& j) { j["weight_map"]["lm_head.weight"] = "model-00001-of-00002.safetensors"; }),
             "lm_head.weight is mapped to model-00001-of-00002.safetensors, which does not contain it");
  // A tensor a shard holds but the map does not list.
  EXPECT_HAS(err([](json& j) { j["weight_map"].erase("model.norm.bias"); }),
             "tensor model.norm.bias is not listed in model.safetensors.index.json");

  const fs::path dir = copy_model(kSharded);
  write_file(dir / "model.safetensors.index.json", "{\"weight_map\": ");
  EXPECT_HAS(load_error(dir), "not valid JSON");
}

TEST(Safetensors, CorruptShardNamesTheShard) {
  const fs::path dir = copy_model(kSharded);
  const fs::path shard = dir / "model-00001-of-00002.safetensors";
  std::string s = read_file(shard);
  s[12] = '!';  // inside the JSON header
  write_file(shard, s);
  EXPECT_HAS(load_error(dir), shard.string());
}

}  // namespace
}  // namespace stablelm::test
