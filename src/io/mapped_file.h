#pragma once
// A read-only memory mapping of a whole file. Weights are used in place from the mapping, so a
// model's resident memory is the page cache, not a second copy.
#include <cstddef>
#include <cstdint>
#include <filesystem>

namespace stablelm::io {

class MappedFile {
 public:
  // Throws stablelm::Error naming the file when it cannot be opened or mapped. populate: map
  // every page up front (MAP_POPULATE), for files read whole right away (one kernel call instead
  // of a page fault per 4 KiB).
  explicit MappedFile(const std::filesystem::path& path, bool populate = false);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Turns a SIGBUS in a MappedFile (its file was truncated or replaced while mapped, e.g. a model
// re-downloaded under a running process) into "error: <file>: ..." on stderr and exit status 1,
// instead of a bare signal. Process-wide; for programs (the CLI, a server) to call once at start.
// A SIGBUS elsewhere keeps its default action.
void install_mapping_fault_handler();

// Advises the pages of a range of a mapping (rounded out to whole pages) MADV_HUGEPAGE: the kernel
// may then map it with 2 MiB pages where the page cache holds the file in large folios, and reads
// it ahead in 2 MiB folios when it is not cached (fewer TLB misses for data streamed end to end).
// Advice only: errors are ignored. (There is deliberately no MADV_NOHUGEPAGE counterpart: over a
// page cache of 2 MiB folios it made Q8 decode 25x slower on our Linux 6.18 VM.)
void advise_huge_pages(const void* data, size_t bytes);

}  // namespace stablelm::io
