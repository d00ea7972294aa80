#include "io/mapped_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <string>

#include "io/regular_file.h"
#include "stablelm/error.h"

namespace stablelm::io {

namespace {
// The live mappings, for the SIGBUS handler: a fixed table of atomics, since the handler may not
// allocate or lock. Slots are claimed by a compare-exchange on `begin`.
struct Region {
  std::atomic<uintptr_t> begin{0};
  std::atomic<uintptr_t> end{0};
  std::atomic<const char*> path{nullptr};
};
constexpr size_t kRegions = 1024;  // shards of the largest models: a few dozen
Region g_regions[kRegions];

void register_region(const void* data, size_t size, const char* path) {
  const auto b = reinterpret_cast<uintptr_t>(data);
  for (auto& r : g_regions) {
    uintptr_t expected = 0;
    if (r.begin.compare_exchange_strong(expected, b)) {
      r.path.store(path);
      r.end.store(b + size);
      return;
    }
  }
  // Table full: the mapping works, a fault in it is just reported as a bare signal.
}

void unregister_region(const void* data) {
  const auto b = reinterpret_cast<uintptr_t>(data);
  for (auto& r : g_regions)
    if (r.begin.load() == b) {
      r.end.store(0);
      r.path.store(nullptr);
      r.begin.store(0);
      return;
    }
}

void write_str(const char* s) {
  size_t n = std::strlen(s);
  while (n > 0) {
    const ssize_t w = ::write(STDERR_FILENO, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<size_t>(w);
  }
}

void on_sigbus(int sig, siginfo_t* info, void*) {
  const auto a = reinterpret_cast<uintptr_t>(info->si_addr);
  for (auto& r : g_regions) {
    const uintptr_t b = r.begin.load(), e = r.end.load();
    const char* path = r.path.load();
    if (b != 0 && path && a >= b && a < e) {
      write_str("error: ");
      write_str(path);
      write_str(": the file changed while in use (truncated or replaced under the running process?); "
                "its data can no longer be read. Run again once the file is complete.\n");
      ::_exit(1);
    }
  }
  // Not one of ours: the default action, on return from this handler the access faults again.
  ::signal(sig, SIG_DFL);
}
}  // namespace

void install_mapping_fault_handler() {
  struct sigaction sa {};
  sa.sa_sigaction = on_sigbus;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGBUS, &sa, nullptr);
}

MappedFile::MappedFile(const std::filesystem::path& path, bool populate) : path_(path) {
  uint64_t size = 0;
  const UniqueFd fd = open_regular_file(path, &size);
  size_ = static_cast<size_t>(size);
  if (size_ > 0) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE | (populate ? MAP_POPULATE : 0), fd.get(), 0);
    if (p == MAP_FAILED) throw Error(path.string() + ": cannot mmap: " + std::strerror(errno));
    data_ = static_cast<const uint8_t*>(p);
    register_region(data_, size_, path_.c_str());
  }
  // the mapping stays valid after the descriptor is closed
}

MappedFile::~MappedFile() {
  if (data_) {
    unregister_region(data_);
    ::munmap(const_cast<uint8_t*>(data_), size_);
  }
}

void advise_huge_pages(const void* data, size_t bytes) {
  if (!data || bytes == 0) return;
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t b = reinterpret_cast<uintptr_t>(data) / page * page;
  const uintptr_t e = (reinterpret_cast<uintptr_t>(data) + bytes + page - 1) / page * page;
  ::madvise(reinterpret_cast<void*>(b), e - b, MADV_HUGEPAGE);
}

}  // namespace stablelm::io
