// Runtime dispatch: the public kernel entry points forward to the best implementation for the
// CPU we run on. Until SIMD kernels land, everything runs the scalar reference, with linear()
// and attention() split across the thread pool.
#include <algorithm>
#include <vector>

#include "common/thread_pool.h"
#include "kernels/kernels.h"

namespace stablelm::kernels {

const char* active_isa() { return "scalar"; }

void embed_row(const Weight& w, int64_t row, float* out) { reference::embed_row(w, row, out); }

void linear(const Weight& w, const float* bias, const float* x, int64_t n, float* y, ThreadPool* pool) {
  if (!pool || pool->size() == 1 || w.rows < 64) {
    reference::linear(w, bias, x, n, y);
    return;
  }
  // Split output rows: each thread computes a column block of y via a sub-matrix view.
  const size_t elem = w.type == WType::F32 ? 4 : 2;
  std::vector<std::vector<float>> parts(static_cast<size_t>(pool->size()));
  pool->parallel_for(w.rows, [&](int tid, int64_t r0, int64_t r1) {
    Weight sub = w;
    sub.rows = r1 - r0;
    sub.data = static_cast<const char*>(w.data) + static_cast<size_t>(r0 * w.cols) * elem;
    auto& part = parts[static_cast<size_t>(tid)];
    part.resize(static_cast<size_t>(n * sub.rows));
    reference::linear(sub, bias ? bias + r0 : nullptr, x, n, part.data());
    for (int64_t t = 0; t < n; ++t)
      std::copy(part.begin() + t * sub.rows, part.begin() + (t + 1) * sub.rows, y + t * w.rows + r0);
  }, 16);
}

void layer_norm(const float* x, int64_t n, int64_t dim, const float* weight, const float* bias, float eps,
                float* out) {
  reference::layer_norm(x, n, dim, weight, bias, eps, out);
}

void rope(float* x, int64_t n, int64_t n_heads, int64_t head_dim, int64_t rot_dims, const int32_t* positions,
          const float* inv_freq) {
  reference::rope(x, n, n_heads, head_dim, rot_dims, positions, inv_freq);
}

void attention(const float* q, int64_t n, int64_t pos0, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim,
               const void* k, const void* v, WType kv_type, float* out, ThreadPool*) {
  reference::attention(q, n, pos0, n_heads, n_kv_heads, head_dim, k, v, kv_type, out);
}

void store_kv(const float* src, int64_t n, int64_t width, WType t, void* dst) {
  reference::store_kv(src, n, width, t, dst);
}

void silu_mul(float* gate, const float* up, int64_t n) { reference::silu_mul(gate, up, n); }

void add(float* y, const float* x, int64_t n) { reference::add(y, x, n); }

}  // namespace stablelm::kernels
