#pragma once
// Internal description of the Q8/Q4 block layouts (docs/FORMATS.md is the user-facing copy)
// and of the int8-quantized activations the quantized kernels consume.
//
// Weights are stored in *row groups* of 16 output rows. A group holds ceil(cols/32) blocks in
// column order; each block covers 32 columns of all 16 rows:
//   [16 x f16 scale d, one per row]                                  32 bytes
//   Q8: [8 steps][16 rows][4 bytes] u8 = q + 128, q in [-127, 127]    512 bytes  (w = d * q)
//   Q4: [4 vecs][16 rows][4 bytes]: low nibble = column 4v+i,         256 bytes  (w = d * (q - 8))
//       high nibble = column 16+4v+i, q in [0, 15]
// Rows past `rows` and columns past `cols` are zero (scale 0). The interleave puts the 16 rows
// of one group in the 16 int32 lanes of a zmm register: one vpdpbusd multiplies 4 columns of
// 16 rows by 4 broadcast activation bytes, so neither decode nor prefill needs a horizontal sum.
#include <cstddef>
#include <cstdint>

#include "kernels/kernels.h"

namespace stablelm::kernels::qlayout {

constexpr int64_t kGroupRows = 16;
constexpr int64_t kBlock = 32;
constexpr size_t kScaleBytes = 32;
constexpr size_t kQ8BlockBytes = kScaleBytes + 512;
constexpr size_t kQ4BlockBytes = kScaleBytes + 256;

// The 16 int8 levels a Q4 index selects (sorted; w = d * kQ4Grid[u]). Non-uniform, denser near
// zero: the levels of llama.cpp's IQ4_NL, which fit bell-shaped weight distributions.
constexpr int8_t kQ4Grid[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

inline int64_t n_groups(int64_t rows) { return (rows + kGroupRows - 1) / kGroupRows; }
inline int64_t n_blocks(int64_t cols) { return (cols + kBlock - 1) / kBlock; }
inline size_t block_bytes(WType t) { return t == WType::Q8 ? kQ8BlockBytes : kQ4BlockBytes; }
inline size_t group_bytes(WType t, int64_t cols) { return block_bytes(t) * static_cast<size_t>(n_blocks(cols)); }

// Activations quantized per token and per block of 32 to int8 with scale d = max|x| / 127:
// q = nearbyint(x * (1/d)). sum = Σ q over the block (the kernels use it to undo the +128 / +8
// offsets of the unsigned weight codes). Columns are padded with zeros to a multiple of 32.
struct QActs {
  int64_t n = 0, cols = 0, padded = 0, blocks = 0;
  int8_t* q = nullptr;     // [n][padded]
  float* d = nullptr;      // [n][blocks]
  int32_t* sum = nullptr;  // [n][blocks]
};

// Quantizes one block of 32 floats (count <= 32 valid, rest taken as zero). Exactly the
// arithmetic the SIMD versions perform, so results match bit for bit.
void quantize_act_block(const float* x, int64_t count, int8_t* q, float* d, int32_t* sum);

// Quantizes one row group: rows16 holds valid_rows fp32 rows of `cols` values (row-major);
// dst receives group_bytes(t, cols) bytes. Missing rows are encoded as zeros.
void quantize_group(WType t, const float* rows16, int64_t valid_rows, int64_t cols, uint8_t* dst);

// Row `row` of a Q8/Q4 weight back to fp32 (out[0, cols)).
void dequantize_row(const Weight& w, int64_t row, float* out);

// Scalar reference of the quantized linear: activations quantized with quantize_act_block, exact
// integer block dot products, then acc = fma(float(isum) * d_w, d_x, acc) block by block. The
// SIMD kernels perform the same operations in the same order, so they agree bit for bit.
void reference_linear(const Weight& w, const float* bias, const float* x, int64_t n, float* y);

}  // namespace stablelm::kernels::qlayout
