#include "kernels/quant.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/thread_pool.h"

namespace stablelm::kernels {

size_t weight_bytes(WType t, int64_t rows, int64_t cols) {
  const size_t n = static_cast<size_t>(rows) * static_cast<size_t>(cols);
  switch (t) {
    case WType::F32: return n * 4;
    case WType::F16:
    case WType::BF16: return n * 2;
    default: break;
  }
  throw std::logic_error(std::string("weight_bytes: format not implemented: ") + wtype_name(t));
}

static std::shared_ptr<uint8_t[]> aligned_bytes(size_t n) {
  void* p = std::aligned_alloc(64, (n + 63) / 64 * 64);
  if (!p) throw std::bad_alloc();
  return std::shared_ptr<uint8_t[]>(static_cast<uint8_t*>(p), [](uint8_t* q) { std::free(q); });
}

OwnedWeight convert_weight(const Weight& src, WType target, ThreadPool* pool) {
  OwnedWeight out;
  out.view = src;
  out.view.type = target;
  out.view.bytes = weight_bytes(target, src.rows, src.cols);
  out.storage = aligned_bytes(out.view.bytes);
  out.view.data = out.storage.get();
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

void dequantize_row(const Weight& w, int64_t, float*) {
  // Filled in with the Q8/Q4 formats (issue 5).
  throw std::logic_error(std::string("dequantize_row: format not implemented: ") + wtype_name(w.type));
}

}  // namespace stablelm::kernels
