#pragma once
// Shared by the kernel tests (test_kernels.cpp, test_attention.cpp): a fixture that runs a test at
// one ISA level (forced through kernels::set_isa, the dispatcher's own switch) and restores the
// level afterwards, and seeded normal random data.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "kernels/kernels.h"

namespace stablelm::test {

// Sanitizer builds run smaller shape sweeps (STABLELM_SANITIZED, set by the asan test preset in CMakePresets.json).
inline bool sanitized() { return std::getenv("STABLELM_SANITIZED") != nullptr; }

inline std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

class IsaTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    saved_ = kernels::active_isa();
    kernels::set_isa(GetParam().c_str());
  }
  void TearDown() override { kernels::set_isa(saved_.c_str()); }
  std::string saved_;
};

inline std::string isa_name(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

}  // namespace stablelm::test
