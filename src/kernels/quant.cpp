#include "kernels/quant.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/huge_pages.h"
#include "common/thread_pool.h"
#include "kernels/cpu/quant_layout.h"

namespace stablelm::kernels {

size_t weight_bytes(WType t, int64_t rows, int64_t cols) {
  const size_t n = static_cast<size_t>(rows) * static_cast<size_t>(cols);
  switch (t) {
    case WType::F32: return n * 4;
    case WType::F16:
    case WType::BF16: return n * 2;
    case WType::Q8:
    case WType::Q4: return static_cast<size_t>(qlayout::n_groups(rows)) * qlayout::group_bytes(t, cols);
  }
  throw std::logic_error(std::string("weight_bytes: format not implemented: ") + wtype_name(t));
}

OwnedWeight convert_weight(const Weight& src, WType target, ThreadPool* pool) {
  OwnedWeight out;
  out.view = src;
  out.view.type = target;
  out.view.bytes = weight_bytes(target, src.rows, src.cols);
  out.storage = huge_buffer(out.view.bytes);  // decode streams it: huge pages spare TLB misses
  out.view.data = out.storage.get();
  if (target == WType::Q8 || target == WType::Q4) {
    // One task per group of 16 rows: dequantize/convert the source rows, then quantize them.
    const int64_t groups = qlayout::n_groups(src.rows);
    const size_t gbytes = qlayout::group_bytes(target, src.cols);
    auto quantize_groups = [&](int, int64_t g0, int64_t g1) {
      std::vector<float> rows(static_cast<size_t>(qlayout::kGroupRows * src.cols));
      for (int64_t g = g0; g < g1; ++g) {
        const int64_t r0 = g * qlayout::kGroupRows;
        const int64_t valid = std::min<int64_t>(qlayout::kGroupRows, src.rows - r0);
        for (int64_t r = 0; r < valid; ++r) reference::embed_row(src, r0 + r, rows.data() + r * src.cols);
        qlayout::quantize_group(target, rows.data(), valid, src.cols, out.storage.get() + gbytes * static_cast<size_t>(g));
      }
    };
    if (pool) pool->parallel_for(groups, quantize_groups, 4);
    else quantize_groups(0, 0, groups);
    return out;
  }
  auto convert_rows = [&](int, int64_t r0, int64_t r1) {
    std::vector<float> row(static_cast<size_t>(src.cols));
    for (int64_t r = r0; r < r1; ++r) {
      reference::embed_row(src, r, row.data());
      uint8_t* dst = out.storage.get() + weight_bytes(target, r, src.cols);
      switch (target) {
        case WType::F32: std::memcpy(dst, row.data(), row.size() * 4); break;
        case WType::F16: reference::store_kv(row.data(), 1, src.cols, WType::F16, dst); break;
        case WType::BF16: reference::store_kv(row.data(), 1, src.cols, WType::BF16, dst); break;
        default: throw std::logic_error(std::string("convert_weight: format not implemented: ") + wtype_name(target));
      }
    }
  };
  if (pool) pool->parallel_for(src.rows, convert_rows, 8);
  else convert_rows(0, 0, src.rows);
  return out;
}

void dequantize_row(const Weight& w, int64_t row, float* out) { qlayout::dequantize_row(w, row, out); }

}  // namespace stablelm::kernels
