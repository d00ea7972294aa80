#pragma once
// Memory backed by transparent huge pages (2 MiB) for large, long-lived buffers: weight matrices
// converted at load and the tokenizer's hash tables. With 4 KiB pages a 1.5 GB Q8 model is
// 370 000 pages, and the decode's 8 concurrent streams enter a page the TLB does not hold every
// few hundred nanoseconds: Q8 linear layers ran 1.10x as fast from a huge-page copy of the
// weights as from the file mapping, and 0.86x from a 4 KiB-page copy (docs/PERFORMANCE.md).
// Filling a huge page also costs one fault instead of 512. Where transparent huge pages are off,
// the advice is ignored and the memory behaves like any other anonymous mapping.
#include <cstddef>
#include <cstdint>
#include <memory>

namespace stablelm {

inline constexpr size_t kHugePage = size_t{2} << 20;

// `bytes` (rounded up to whole huge pages) of zeroed anonymous memory, 2 MiB-aligned, advised
// MADV_HUGEPAGE. Throws std::bad_alloc. Release with unmap_huge(p, bytes).
void* map_huge(size_t bytes);
void unmap_huge(void* p, size_t bytes) noexcept;

// A 64-byte-aligned buffer of `bytes`: map_huge for 2 MiB or more, aligned_alloc below.
std::shared_ptr<uint8_t[]> huge_buffer(size_t bytes);

}  // namespace stablelm
