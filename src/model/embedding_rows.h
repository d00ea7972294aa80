#pragma once
// Reads rows of the token embedding. A float embedding used as stored is read with pread() from
// its file instead of through the mapping: a token touches one 4-8 KiB row, but a touch through
// the mapping makes resident whatever page maps it, and where the page cache holds the file in
// 2 MiB folios that is 2 MiB per distinct token (up to the whole 400 MB table in a long chat).
// Otherwise (converted, copied or quantized embeddings) rows come from memory.
#include <cstdint>
#include <string>

#include "common/unique_fd.h"
#include "io/safetensors.h"
#include "kernels/kernels.h"

namespace stablelm {

class EmbeddingRows {
 public:
  EmbeddingRows() = default;
  // `w` is the bound embedding; `t` its tensor when `w` points into t's mapping (else nullptr).
  EmbeddingRows(const kernels::Weight& w, const io::TensorInfo* t);

  // Row `row` as fp32 into out[0, cols). Throws stablelm::Error when the file cannot be read.
  void read(int64_t row, float* out) const;

 private:
  kernels::Weight w_;
  UniqueFd fd_;          // open: rows are pread from here
  uint64_t offset_ = 0;  // of row 0 in the file
  size_t row_bytes_ = 0;
  std::string path_;
};

}  // namespace stablelm
