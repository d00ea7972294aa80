#include "common/huge_pages.h"

#include <sys/mman.h>

#include <cstdlib>
#include <new>

namespace stablelm {

namespace {
size_t round_up(size_t bytes) { return (bytes + kHugePage - 1) / kHugePage * kHugePage; }
}  // namespace

void* map_huge(size_t bytes) {
  const size_t size = round_up(bytes);
  // Over-map by one huge page so the block can start on a 2 MiB boundary, then trim.
  void* raw = mmap(nullptr, size + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  auto* base = static_cast<char*>(raw);
  const size_t lead = (kHugePage - reinterpret_cast<uintptr_t>(base) % kHugePage) % kHugePage;
  if (lead) munmap(base, lead);
  if (kHugePage - lead) munmap(base + lead + size, kHugePage - lead);
  madvise(base + lead, size, MADV_HUGEPAGE);
  return base + lead;
}

void unmap_huge(void* p, size_t bytes) noexcept {
  if (p) munmap(p, round_up(bytes));
}

std::shared_ptr<uint8_t[]> huge_buffer(size_t bytes) {
  if (bytes >= kHugePage) {
    auto* p = static_cast<uint8_t*>(map_huge(bytes));
    return std::shared_ptr<uint8_t[]>(p, [bytes](uint8_t* q) { unmap_huge(q, bytes); });
  }
  void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
  if (!p) throw std::bad_alloc();
  return std::shared_ptr<uint8_t[]>(static_cast<uint8_t*>(p), [](uint8_t* q) { std::free(q); });
}

}  // namespace stablelm
