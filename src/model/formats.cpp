// Format names, as the command line, the bench JSON and the server spell them, and their
// kernel element types: the one table of them.
#include "model/formats.h"

#include <stdexcept>
#include <string>

#include "stablelm/error.h"

namespace stablelm {

namespace {
struct WeightEntry {
  WeightFormat f;
  const char* name;
  kernels::WType t;
};
constexpr WeightEntry kWeights[] = {
    {WeightFormat::Stored, "stored", kernels::WType::F32}, {WeightFormat::F32, "f32", kernels::WType::F32},
    {WeightFormat::F16, "f16", kernels::WType::F16},       {WeightFormat::BF16, "bf16", kernels::WType::BF16},
    {WeightFormat::Q8, "q8", kernels::WType::Q8},          {WeightFormat::Q4, "q4", kernels::WType::Q4},
};
struct KVEntry {
  KVFormat f;
  const char* name;
  kernels::WType t;
};
constexpr KVEntry kKV[] = {
    {KVFormat::F32, "f32", kernels::WType::F32},
    {KVFormat::F16, "f16", kernels::WType::F16},
    {KVFormat::BF16, "bf16", kernels::WType::BF16},
    {KVFormat::Q8, "q8", kernels::WType::Q8},
};

template <class Table>
std::string joined(const Table& t) {
  std::string s;
  for (const auto& e : t) s += (s.empty() ? "" : ", ") + std::string(e.name);
  return s;
}
}  // namespace

const char* format_name(WeightFormat f) {
  for (const auto& e : kWeights)
    if (e.f == f) return e.name;
  return "?";
}
const char* format_name(KVFormat f) {
  for (const auto& e : kKV)
    if (e.f == f) return e.name;
  return "?";
}

WeightFormat parse_weight_format(std::string_view name, std::string_view what) {
  for (const auto& e : kWeights)
    if (name == e.name) return e.f;
  throw Error(std::string(what) + " " + std::string(name) + ": expected " + joined(kWeights));
}
KVFormat parse_kv_format(std::string_view name, std::string_view what) {
  for (const auto& e : kKV)
    if (name == e.name) return e.f;
  throw Error(std::string(what) + " " + std::string(name) + ": expected " + joined(kKV));
}

std::vector<std::string> weight_format_names() {
  std::vector<std::string> v;
  for (const auto& e : kWeights) v.push_back(e.name);
  return v;
}
std::vector<std::string> kv_format_names() {
  std::vector<std::string> v;
  for (const auto& e : kKV) v.push_back(e.name);
  return v;
}

kernels::WType wtype_of(WeightFormat f) {
  if (f == WeightFormat::Stored) throw std::logic_error("wtype_of(WeightFormat::Stored): the stored dtype has no fixed type");
  for (const auto& e : kWeights)
    if (e.f == f) return e.t;
  throw std::logic_error("wtype_of: unknown weight format");
}
kernels::WType wtype_of(KVFormat f) {
  for (const auto& e : kKV)
    if (e.f == f) return e.t;
  throw std::logic_error("wtype_of: unknown KV format");
}

}  // namespace stablelm
