#pragma once
// The server's counters and latency histograms, rendered in Prometheus' text format (/metrics).
// Updated by the scheduler thread, read by HTTP threads: every field is guarded by one mutex.
#include <array>
#include <cstdint>
#include <mutex>
#include <string>

#include "stablelm/engine.h"

namespace stablelm::server {

class Histogram {
 public:
  static constexpr std::array<double, 14> kBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                     0.25,  0.5,    1.0,   2.5,  5.0,   10.0, 30.0};
  void observe(double seconds);
  std::string render(const std::string& name, const std::string& help) const;

 private:
  std::array<uint64_t, kBounds.size()> counts_{};  // per bucket (not cumulative)
  uint64_t count_ = 0;
  double sum_ = 0;
};

class Metrics {
 public:
  void set_queue(int64_t running, int64_t waiting);
  void add_request(bool ok);
  void add_prompt_tokens(int64_t n);
  void add_generated_tokens(int64_t n);
  void observe_ttft(double s);
  void observe_itl(double s);
  void set_engine(const EngineStats& st);
  std::string render(const std::string& model_name) const;

 private:
  mutable std::mutex mu_;
  int64_t running_ = 0, waiting_ = 0;
  uint64_t requests_ok_ = 0, requests_failed_ = 0;
  uint64_t prompt_tokens_ = 0, generated_tokens_ = 0;
  Histogram ttft_, itl_;
  EngineStats engine_;
};

}  // namespace stablelm::server
