#pragma once
// Helpers for the golden tests: reading a fixture model's golden/*.json and comparing floats.
#include <cstdlib>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "testutil.h"

namespace stablelm::test {

inline nlohmann::json load_json(const std::filesystem::path& p) { return nlohmann::json::parse(read_file(p)); }

// Test names from model directory names ("tiny-stablelm-2" → "tiny_stablelm_2").
inline std::string test_name(const std::filesystem::path& p) {
  std::string s = p.filename().string();
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return s;
}

// ASan/UBSan runs shrink the most expensive work (but keep every model covered).
inline bool sanitized() {
  const char* v = std::getenv("STABLELM_SANITIZED");
  return v && *v && std::string(v) != "0";
}

}  // namespace stablelm::test
