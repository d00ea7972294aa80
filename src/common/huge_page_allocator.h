#pragma once
// std::allocator replacement for large, long-lived tables (the tokenizer's hash tables): blocks
// of 2 MiB or more are mmap'ed 2 MiB-aligned and advised MADV_HUGEPAGE, so filling a 4 MiB
// table costs two page faults instead of a thousand (page faults dominate load time on VMs).
// Where transparent huge pages are off, the advice is ignored and it behaves like malloc.
#include <cstddef>
#include <memory>

#include "common/huge_pages.h"

namespace stablelm {

template <class T>
struct HugePageAllocator {
  using value_type = T;

  HugePageAllocator() = default;
  template <class U>
  HugePageAllocator(const HugePageAllocator<U>&) noexcept {}

  T* allocate(size_t n) {
    if (n * sizeof(T) < kHugePage) return std::allocator<T>().allocate(n);
    return static_cast<T*>(map_huge(n * sizeof(T)));
  }
  void deallocate(T* p, size_t n) noexcept {
    if (n * sizeof(T) < kHugePage) return std::allocator<T>().deallocate(p, n);
    unmap_huge(p, n * sizeof(T));
  }
  template <class U>
  bool operator==(const HugePageAllocator<U>&) const noexcept {
    return true;
  }
};

}  // namespace stablelm
