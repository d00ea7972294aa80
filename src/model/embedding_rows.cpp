#include "model/embedding_rows.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "stablelm/error.h"

namespace stablelm {

EmbeddingRows::EmbeddingRows(const kernels::Weight& w, const io::TensorInfo* t) : w_(w) {
  const bool float_rows = w.type == kernels::WType::F32 || w.type == kernels::WType::F16 || w.type == kernels::WType::BF16;
  if (!t || !t->file || !float_rows || t->data != w.data) return;
  fd_.reset(::open(t->file->c_str(), O_RDONLY | O_CLOEXEC));
  if (fd_.get() < 0) return;  // rows then come through the mapping, which is still valid
  offset_ = t->offset;
  row_bytes_ = t->bytes / static_cast<size_t>(w.rows);
  path_ = t->file->string();
}

void EmbeddingRows::read(int64_t row, float* out) const {
  if (fd_.get() < 0) {
    kernels::embed_row(w_, row, out);
    return;
  }
  thread_local std::vector<uint8_t> buf;
  buf.resize(row_bytes_);
  size_t got = 0;
  const uint64_t at = offset_ + static_cast<uint64_t>(row) * row_bytes_;
  while (got < row_bytes_) {
    const ssize_t r = ::pread(fd_.get(), buf.data() + got, row_bytes_ - got, static_cast<off_t>(at + got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0)
      throw Error(path_ + ": cannot read embedding row " + std::to_string(row) + ": " +
                  (r < 0 ? std::strerror(errno) : "file truncated after loading"));
    got += static_cast<size_t>(r);
  }
  kernels::Weight one = w_;
  one.rows = 1;
  one.data = buf.data();
  one.bytes = row_bytes_;
  kernels::embed_row(one, 0, out);
}

}  // namespace stablelm
