#pragma once
// One progress line per downloaded file on stderr: bytes, rate, ETA. Redrawn at most 10×/s.
#include <chrono>
#include <cstdint>
#include <string>

namespace stablelm::hub {

class ProgressBar {
 public:
  // initial: bytes already on disk (a resumed download); total 0 when unknown.
  ProgressBar(bool enabled, std::string name, uint64_t total, uint64_t initial);
  void update(uint64_t done);  // bytes of the file on disk so far
  void finish();               // final line + newline (only if something was drawn)

 private:
  void draw(bool final);
  bool enabled_;
  std::string name_;
  uint64_t total_, initial_, done_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool drawn_ = false;
  bool tty_;
};

}  // namespace stablelm::hub
