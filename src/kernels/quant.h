#pragma once
// Block-quantized weight formats (Q8, Q4). Owned by the CPU-speed work: layout, quantizer and
// dequantizer live in src/kernels/quant.cpp.
#include <cstdint>

#include "kernels/kernels.h"

namespace stablelm::kernels {

// out[0, w.cols) = row `row` of a Q8/Q4 weight, dequantized to fp32.
void dequantize_row(const Weight& w, int64_t row, float* out);

}  // namespace stablelm::kernels
