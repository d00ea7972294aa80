#pragma once
// Weight format conversion and the block-quantized formats (Q8, Q4).
// The Q8/Q4 block layouts are defined in quant.cpp and documented in docs/FORMATS.md.
#include <cstdint>
#include <memory>

#include "kernels/kernels.h"

namespace stablelm::kernels {

// A weight that owns its storage (64-byte aligned), e.g. after conversion at load time.
struct OwnedWeight {
  Weight view;                           // view.data points into storage
  std::shared_ptr<uint8_t[]> storage;    // keeps the bytes alive
};

// Bytes needed to store a rows x cols matrix in format t.
size_t weight_bytes(WType t, int64_t rows, int64_t cols);

// Converts any weight to `target` (F32/F16/BF16 exact where representable, round to nearest
// even otherwise; Q8/Q4 quantize). Rows are split across the pool when given.
OwnedWeight convert_weight(const Weight& src, WType target, ThreadPool* pool = nullptr);

// out[0, w.cols) = row `row` of a Q8/Q4 weight, dequantized to fp32.
void dequantize_row(const Weight& w, int64_t row, float* out);

}  // namespace stablelm::kernels
