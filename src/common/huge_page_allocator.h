#pragma once
// std::allocator replacement for large, long-lived tables (the tokenizer's hash tables): blocks
// of 2 MiB or more are mmap'ed 2 MiB-aligned and advised MADV_HUGEPAGE, so filling a 4 MiB
// table costs two page faults instead of a thousand (page faults dominate load time on VMs).
// Where transparent huge pages are off, the advice is ignored and it behaves like malloc.
#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <new>

namespace stablelm {

template <class T>
struct HugePageAllocator {
  using value_type = T;
  static constexpr size_t kHuge = size_t{2} << 20;

  HugePageAllocator() = default;
  template <class U>
  HugePageAllocator(const HugePageAllocator<U>&) noexcept {}

  static size_t mapped_bytes(size_t n) { return (n * sizeof(T) + kHuge - 1) / kHuge * kHuge; }

  T* allocate(size_t n) {
    if (n * sizeof(T) < kHuge) return std::allocator<T>().allocate(n);
    // Over-map by one huge page so the block can start on a 2 MiB boundary.
    const size_t bytes = mapped_bytes(n);
    void* raw = mmap(nullptr, bytes + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    auto* base = static_cast<char*>(raw);
    const size_t lead = (kHuge - reinterpret_cast<uintptr_t>(base) % kHuge) % kHuge;
    if (lead) munmap(base, lead);
    if (kHuge - lead) munmap(base + lead + bytes, kHuge - lead);
    madvise(base + lead, bytes, MADV_HUGEPAGE);
    return reinterpret_cast<T*>(base + lead);
  }
  void deallocate(T* p, size_t n) noexcept {
    if (n * sizeof(T) < kHuge) return std::allocator<T>().deallocate(p, n);
    munmap(p, mapped_bytes(n));
  }
  template <class U>
  bool operator==(const HugePageAllocator<U>&) const noexcept {
    return true;
  }
};

}  // namespace stablelm
