#pragma once
// Shared by the fuzz targets: the input as a file (most parsers take a path), kept in memory.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

namespace stablelm::fuzz {

// A memfd holding the bytes, reachable as /proc/self/fd/N: a regular file, no disk writes.
class MemFile {
 public:
  MemFile(const uint8_t* data, size_t size) : fd_(::memfd_create("fuzz", MFD_CLOEXEC)) {
    size_t done = 0;
    while (done < size) {
      const ssize_t w = ::write(fd_, data + done, size - done);
      if (w <= 0) break;
      done += static_cast<size_t>(w);
    }
  }
  ~MemFile() { ::close(fd_); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  std::filesystem::path path() const { return "/proc/self/fd/" + std::to_string(fd_); }

 private:
  int fd_;
};

// Closes a prefix a constrained-decoding recognizer accepted (push(byte), complete()) by trying
// the bytes of `order` first to last at each step; aborts when none moves it on (a dead end the
// recognizer promised never to reach). nullopt when it is not complete after max_steps (a fixed
// order need not finish where the grammar lets it go on forever).
template <class P>
std::optional<std::string> close_in_order(P& p, std::string done, const std::string& order, int max_steps) {
  for (int step = 0; step < max_steps && !p.complete(); ++step) {
    bool moved = false;
    for (char c : order)
      if (p.push(static_cast<uint8_t>(c))) {
        done += c;
        moved = true;
        break;
      }
    if (!moved) std::abort();
  }
  if (!p.complete()) return std::nullopt;
  return done;
}

}  // namespace stablelm::fuzz
