// Runtime dispatch: the public kernel entry points forward to the best implementation for the
// CPU we run on (CPUID via __builtin_cpu_supports, capped by env STABLELM_ISA), split the work
// across the thread pool, and own the scratch buffers. Scratch is thread_local and only ever
// grows, so the decode loop allocates nothing after the first token.
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/thread_pool.h"
#include "kernels/cpu/quant_layout.h"
#include "kernels/cpu/simd.h"
#include "kernels/kernels.h"
#include "stablelm/error.h"

namespace stablelm::kernels {

namespace {

enum class Level { Scalar = 0, Avx2 = 1, Avx512 = 2 };

const char* level_name(Level l) {
  switch (l) {
    case Level::Scalar: return "scalar";
    case Level::Avx2: return "avx2";
    case Level::Avx512: return "avx512";
  }
  return "?";
}

Level cpu_level() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni") &&
      __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
    return Level::Avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c"))
    return Level::Avx2;
#endif
  return Level::Scalar;
}

const simd::Ops* ops_for(Level l) {
  switch (l) {
    case Level::Avx512: return simd::avx512_ops();
    case Level::Avx2: return simd::avx2_ops();
    default: return nullptr;
  }
}

bool parse_level(const char* name, Level* out) {
  for (Level l : {Level::Scalar, Level::Avx2, Level::Avx512})
    if (std::strcmp(name, level_name(l)) == 0) return *out = l, true;
  return false;
}

Level initial_level() {
  Level l = cpu_level();
  if (const char* env = std::getenv("STABLELM_ISA"); env && *env) {
    Level forced;
    // An unknown value is ignored rather than fatal: it only ever lowers the level.
    if (parse_level(env, &forced) && forced < l) l = forced;
  }
  return l;
}

std::atomic<Level> g_level{initial_level()};

const simd::Ops* ops() { return ops_for(g_level.load(std::memory_order_relaxed)); }

// Per-thread scratch that only grows.
struct Scratch {
  std::vector<int8_t> xq;
  std::vector<float> xd, attn, attn_part, row, trig;
  std::vector<int64_t> seg_first;
  std::vector<int32_t> xs;
  std::vector<uint16_t> xbf;
  std::vector<float> xpack;
};
Scratch& scratch() {
  thread_local Scratch s;
  return s;
}
template <class V>
auto* grow(V& v, size_t n) {
  if (v.size() < n) v.resize(std::max(n, v.size() * 2));
  return v.data();
}

// v's storage grown to n elements, from a 64-byte boundary (the packed activation tiles).
template <class V>
auto* grow_aligned(V& v, size_t n) {
  using T = typename V::value_type;
  auto* p = grow(v, n + 64 / sizeof(T));
  return reinterpret_cast<T*>((reinterpret_cast<uintptr_t>(p) + 63) & ~uintptr_t{63});
}

// Scalar rows [r0, r1): the reference's arithmetic, written into the full-width y.
void scalar_linear_rows(const Weight& w, const float* bias, const float* x, int64_t n, float* y, int64_t r0,
                        int64_t r1) {
  float* row = grow(scratch().row, static_cast<size_t>(w.cols));
  for (int64_t r = r0; r < r1; ++r) {
    reference::embed_row(w, r, row);
    for (int64_t t = 0; t < n; ++t) {
      const float* xt = x + t * w.cols;
      float acc = 0.0f;
      for (int64_t c = 0; c < w.cols; ++c) acc += row[c] * xt[c];
      y[t * w.rows + r] = acc + (bias ? bias[r] : 0.0f);
    }
  }
}

// Attention cuts each query's keys into segments of kAttnSegment keys at fixed key indices
// (0-255, 256-511, ...): a query's arithmetic then depends on its key count only, never on the
// threads, the batch or how its prompt was split. Threads take (query, segment) items; with too
// few of them (decode at low depth) they also split the heads, which never mix.
// (Decode at depth 4000: splitting keys, not heads, ran 1.05-1.34x as fast: each thread then
// reads whole cache rows.)
constexpr int64_t kAttnSegment = 256;

// Softmax-weighted sum of per-range partial attention results (attention_decode_keys): part
// holds, per range, [n_heads][head_dim] unnormalised sums, then the max and the sum of
// exponentials per head. out = Σ_r e^(m_r - M) o_r / Σ_r e^(m_r - M) l_r, M = max_r m_r.
void combine_partials(float* part, int64_t n_ranges, int64_t n_heads, int64_t head_dim, float* out) {
  const int64_t width = n_heads * head_dim, stride = width + 2 * n_heads;
  for (int64_t h = 0; h < n_heads; ++h) {
    float mx = -INFINITY;
    for (int64_t r = 0; r < n_ranges; ++r) mx = std::max(mx, part[r * stride + width + h]);
    float sum = 0.0f;
    for (int64_t r = 0; r < n_ranges; ++r) {  // the max slot becomes the range's weight
      float* m_r = part + r * stride + width + h;
      *m_r = std::exp(*m_r - mx);
      sum += *m_r * m_r[n_heads];
    }
    const float inv = 1.0f / sum;
    for (int64_t d = 0; d < head_dim; ++d) {
      float acc = 0.0f;
      for (int64_t r = 0; r < n_ranges; ++r) acc += part[r * stride + width + h] * part[r * stride + h * head_dim + d];
      out[h * head_dim + d] = acc * inv;
    }
  }
}

}  // namespace

const char* active_isa() { return level_name(g_level.load()); }

namespace {
int pick_decode_streams() {
  if (const char* env = std::getenv("STABLELM_DECODE_STREAMS"); env && *env) {
    if (std::strcmp(env, "1") == 0) return 1;
    if (std::strcmp(env, "4") == 0) return 4;  // anything else: the CPU's default
  }
#if defined(__x86_64__)
  // Zen 5 is family 1Ah (the tuned case of the 4-stream reader); everything else reads 1 stream.
  __builtin_cpu_init();
  if (__builtin_cpu_is("amd")) {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    __cpuid(1, eax, ebx, ecx, edx);
    const unsigned family = ((eax >> 8) & 0xF) + (((eax >> 8) & 0xF) == 0xF ? ((eax >> 20) & 0xFF) : 0);
    if (family >= 0x1A) return 4;
  }
#endif
  return 1;
}
std::atomic<int> g_decode_streams{pick_decode_streams()};
}  // namespace

int simd::decode_stream_count() { return g_decode_streams.load(std::memory_order_relaxed); }

void set_decode_streams(int streams) {
  if (streams != 1 && streams != 4)
    throw Error("decode streams must be 1 or 4, not " + std::to_string(streams));
  g_decode_streams.store(streams);
}

const char* decode_read_pattern() { return simd::decode_stream_count() == 1 ? "1 stream" : "4 streams"; }

namespace {
bool pick_medium_dot_fma() {
  if (const char* env = std::getenv("STABLELM_MEDIUM_DOT"); env && *env) {
    if (std::strcmp(env, "fma") == 0) return true;
    if (std::strcmp(env, "dpbf16") == 0) return false;  // anything else: the CPU's default
  }
  // vdpbf16ps by default everywhere: the FMA form ran at 0.79x the exact path's prefill on Zen 4
  // (where vdpbf16ps is 2x faster still), and on Intel it is not measured yet (issue 15).
  return false;
}
std::atomic<bool> g_medium_dot_fma{pick_medium_dot_fma()};
}  // namespace

bool simd::medium_dot_fma() { return g_medium_dot_fma.load(std::memory_order_relaxed); }

const char* medium_dot_kernel() { return simd::medium_dot_fma() ? "fp32 FMA" : "vdpbf16ps"; }

void set_medium_dot(const char* name) {
  if (std::strcmp(name, "fma") == 0) g_medium_dot_fma.store(true);
  else if (std::strcmp(name, "dpbf16") == 0) g_medium_dot_fma.store(false);
  else throw Error(std::string("medium dot must be fma or dpbf16, not '") + name + "'");
}

void set_isa(const char* name) {
  Level l;
  if (!parse_level(name, &l)) throw Error(std::string("unknown ISA level '") + name + "' (expected scalar, avx2 or avx512)");
  if (l > cpu_level()) throw Error(std::string("this CPU does not support ISA level '") + name + "'");
  g_level.store(l);
}

std::vector<std::string> supported_isas() {
  std::vector<std::string> out;
  for (int l = 0; l <= static_cast<int>(cpu_level()); ++l) out.push_back(level_name(static_cast<Level>(l)));
  return out;
}

void embed_row(const Weight& w, int64_t row, float* out) { reference::embed_row(w, row, out); }

namespace {
// Decode splits a matrix into pieces of ~1 MiB of weights that the threads take as they finish
// (ThreadPool::parallel_for_dynamic): a thread slowed by the machine no longer holds up the
// whole matrix, as a fixed half each did (about 10 % of decode time spent waiting, Zen 4 VM).
int64_t decode_chunk_rows(const Weight& w) {  // F32, F16 or BF16 rows
  const int64_t row_bytes = std::max<int64_t>(1, w.cols * (w.type == WType::F32 ? 4 : 2));
  return std::max<int64_t>(16, (int64_t{1} << 20) / row_bytes / 16 * 16);
}
}  // namespace

void linear(const Weight& w, const float* bias, const float* x, int64_t n, float* y, ThreadPool* pool) {
  if (n <= 0 || w.rows <= 0) return;
  const simd::Ops* o = ops();
  const bool threaded = pool && pool->size() > 1;
  if (w.type == WType::Q8 || w.type == WType::Q4) {
    if (!o) {
      qlayout::reference_linear(w, bias, x, n, y);
      return;
    }
    // Quantize the activations once (shared by all threads), then split the row groups.
    Scratch& s = scratch();
    qlayout::QActs xa;
    xa.n = n;
    xa.cols = w.cols;
    xa.blocks = qlayout::n_blocks(w.cols);
    xa.padded = xa.blocks * qlayout::kBlock;
    xa.q = grow(s.xq, static_cast<size_t>(n * xa.padded));
    xa.d = grow(s.xd, static_cast<size_t>(n * xa.blocks));
    xa.sum = grow(s.xs, static_cast<size_t>(n * xa.blocks));
    if (threaded && n >= 8) pool->parallel_for(n, [&](int, int64_t t0, int64_t t1) { o->quantize_acts(x, t0, t1, xa); });
    else o->quantize_acts(x, 0, n, xa);
    const int64_t groups = qlayout::n_groups(w.rows);
    auto run = [&](int, int64_t g0, int64_t g1) { o->linear_quant(w, bias, xa, y, g0, g1); };
    if (threaded) pool->parallel_for(groups, run, n == 1 ? 4 : 2);
    else run(0, 0, groups);
    return;
  }
  // The float paths are row-invariant (linear_float_avx512.cpp): the activations are packed
  // once per call (shared by all threads), then the threads split the rows; no row's arithmetic
  // depends on n, on the split or on the other rows.
  if (o && o->linear_bf16 && w.bf16_acts && w.type == WType::BF16) {
    // Matmul precision "medium", every n (decode too): activations rounded to bf16 once.
    uint16_t* xp = grow_aligned(scratch().xbf, static_cast<size_t>(simd::bf16_pack_elems(n, w.cols)));
    const int64_t tiles = simd::act_tiles(n);
    auto pack = [&](int, int64_t t0, int64_t t1) { o->pack_acts_bf16(x, n, w.cols, t0, t1, xp); };
    auto run = [&](int, int64_t r0, int64_t r1) { o->linear_bf16(w, bias, xp, n, y, r0, r1); };
    if (threaded) {
      if (tiles > 1) pool->parallel_for(tiles, pack);
      else pack(0, 0, tiles);
      if (n == 1) pool->parallel_for_dynamic(w.rows, decode_chunk_rows(w), run);
      else pool->parallel_for(w.rows, run, 16);
    } else {
      pack(0, 0, tiles);
      run(0, 0, w.rows);
    }
    return;
  }
  float* xp = nullptr;
  if (o && o->pack_acts_f32 && n > 1) {
    xp = grow_aligned(scratch().xpack, static_cast<size_t>(simd::f32_pack_floats(n, w.cols)));
    const int64_t tiles = simd::act_tiles(n);
    auto pack = [&](int, int64_t t0, int64_t t1) { o->pack_acts_f32(x, n, w.cols, t0, t1, xp); };
    if (threaded && tiles > 1) pool->parallel_for(tiles, pack);
    else pack(0, 0, tiles);
  }
  auto run = [&](int, int64_t r0, int64_t r1) {
    if (o) o->linear_float(w, bias, x, xp, n, y, r0, r1);
    else scalar_linear_rows(w, bias, x, n, y, r0, r1);
  };
  if (threaded && n == 1) pool->parallel_for_dynamic(w.rows, decode_chunk_rows(w), run);
  else if (threaded) pool->parallel_for(w.rows, run, 16);
  else run(0, 0, w.rows);
}

void layer_norm(const float* x, int64_t n, int64_t dim, const float* weight, const float* bias, float eps,
                float* out) {
  if (const simd::Ops* o = ops()) o->layer_norm(x, n, dim, weight, bias, eps, out);
  else reference::layer_norm(x, n, dim, weight, bias, eps, out);
}

void rope(float* x, int64_t n, int64_t n_heads, int64_t head_dim, int64_t rot_dims, const int32_t* positions,
          const float* inv_freq) {
  // The reference's arithmetic, but cos/sin computed once per (position, pair) instead of once
  // per head: identical results, n_heads times fewer transcendental calls.
  const int64_t half = rot_dims / 2;
  float* trig = grow(scratch().trig, static_cast<size_t>(2 * half));
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t j = 0; j < half; ++j) {
      const float a = static_cast<float>(positions[t]) * inv_freq[j];
      trig[j] = std::cos(a);
      trig[half + j] = std::sin(a);
    }
    for (int64_t h = 0; h < n_heads; ++h) {
      float* v = x + (t * n_heads + h) * head_dim;
      for (int64_t j = 0; j < half; ++j) {
        const float c = trig[j], s = trig[half + j];
        const float x0 = v[j], x1 = v[j + half];
        v[j] = x0 * c - x1 * s;
        v[j + half] = x1 * c + x0 * s;
      }
    }
  }
}

void attention(const AttnQuery* queries, int64_t n_queries, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim,
               WType kv_type, ThreadPool* pool) {
  if (n_queries <= 0) return;
  const Level level = g_level.load(std::memory_order_relaxed);
  const simd::Ops* o = ops();
  // The Q8 KV cache has SIMD kernels on the AVX-512 level only; AVX2 uses the oracle's arithmetic.
  const bool simd_ok = o && head_dim <= simd::kMaxHeadDim && (kv_type != WType::Q8 || level == Level::Avx512);
  const int threads = pool ? pool->size() : 1;
  const int64_t row_bytes = kv_row_bytes(kv_type, n_kv_heads, head_dim), width = n_heads * head_dim;
  auto args = [&](const AttnQuery& q) {
    return simd::AttnArgs{q.q, n_heads, n_kv_heads, head_dim,
                          simd::KVRows{static_cast<const uint8_t*>(q.kv->k), static_cast<const uint8_t*>(q.kv->v),
                                       q.kv->blocks, q.kv->block_shift, row_bytes},
                          kv_type};
  };
  auto run_items = [&](int64_t items, auto&& fn) {
    if (threads > 1 && items > 1) pool->parallel_for(items, [&](int, int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) fn(i);
    });
    else for (int64_t i = 0; i < items; ++i) fn(i);
  };
  // Heads per item: all of them, unless there are too few items to keep the threads busy.
  auto head_parts = [&](int64_t items) -> int64_t {
    if (threads <= 1 || items >= 2 * threads) return 1;
    return std::min<int64_t>(threads, (n_heads + 15) / 16);
  };
  auto head_range = [&](int64_t part, int64_t parts, int64_t* h0, int64_t* h1) {
    const int64_t groups = (n_heads + 15) / 16;  // whole groups of 16 heads per part
    *h0 = std::min(n_heads, 16 * (groups * part / parts));
    *h1 = std::min(n_heads, 16 * (groups * (part + 1) / parts));
  };

  if (level != Level::Avx512 || !simd_ok) {
    const auto fn = simd_ok ? o->attention : &simd::scalar_attention;
    const int64_t parts = head_parts(n_queries);
    run_items(n_queries * parts, [&](int64_t i) {
      const AttnQuery& q = queries[i / parts];
      int64_t h0, h1;
      head_range(i % parts, parts, &h0, &h1);
      if (h0 >= h1) return;
      const simd::AttnArgs a = args(q);
      fn(a, q.pos + 1, h0, h1, grow(scratch().attn, static_cast<size_t>(q.pos + 1)), q.out + h0 * head_dim);
    });
    return;
  }

  // AVX-512: items are (query, segment); a query with one segment writes its result directly,
  // the others write softmax partials that are combined afterwards. Queries go in chunks of at
  // most kAttnMaxItems items, which bounds the partials' memory (a 4096-token prefill has ~35k
  // items); no query's arithmetic depends on the chunking.
  constexpr int64_t kAttnMaxItems = 1024;
  const int64_t stride = width + 2 * n_heads;
  std::vector<int64_t>& seg_first = scratch().seg_first;  // first item of each query, then the total
  for (int64_t q0 = 0; q0 < n_queries;) {
    seg_first.clear();
    int64_t items = 0, q1 = q0;
    while (q1 < n_queries) {
      const int64_t segs = (queries[q1].pos + kAttnSegment) / kAttnSegment;
      if (q1 > q0 && items + segs > kAttnMaxItems) break;
      seg_first.push_back(items);
      items += segs;
      ++q1;
    }
    seg_first.push_back(items);
    float* part = grow(scratch().attn_part, static_cast<size_t>(items * stride));
    const int64_t parts = head_parts(items);
    run_items(items * parts, [&](int64_t i) {
      const int64_t item = i / parts;  // head parts of one item are adjacent: threads take whole rows at depth
      const auto qc = static_cast<size_t>(std::upper_bound(seg_first.begin(), seg_first.end() - 1, item) - seg_first.begin() - 1);
      const AttnQuery& q = queries[q0 + static_cast<int64_t>(qc)];
      const int64_t n_keys = q.pos + 1, seg = item - seg_first[qc];
      const bool single = seg_first[qc + 1] - seg_first[qc] == 1;
      const int64_t j0 = seg * kAttnSegment, j1 = std::min(n_keys, j0 + kAttnSegment);
      int64_t h0, h1;
      head_range(i % parts, parts, &h0, &h1);
      if (h0 >= h1) return;
      const simd::AttnArgs a = args(q);
      float* sc = grow(scratch().attn, static_cast<size_t>(simd::attn_scratch_floats(a, j1 - j0, h1 - h0)));
      if (single) {
        simd::avx512::attention_keys(a, h0, h1, j0, j1, sc, q.out + h0 * head_dim, nullptr, nullptr);
      } else {
        float* p = part + item * stride;
        simd::avx512::attention_keys(a, h0, h1, j0, j1, sc, p + h0 * head_dim, p + width + h0, p + width + n_heads + h0);
      }
    });
    for (int64_t qi = q0; qi < q1; ++qi) {
      const auto qc = static_cast<size_t>(qi - q0);
      const int64_t s0 = seg_first[qc], s1 = seg_first[qc + 1];
      if (s1 - s0 > 1) combine_partials(part + s0 * stride, s1 - s0, n_heads, head_dim, queries[qi].out);
    }
    q0 = q1;
  }
}

void attention(const float* q, int64_t n, int64_t pos0, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim,
               const void* k, const void* v, WType kv_type, float* out, ThreadPool* pool) {
  const int32_t block0 = 0;
  const KVLayerView kv{k, v, &block0, 62};
  std::vector<AttnQuery> qs(static_cast<size_t>(n));
  for (int64_t t = 0; t < n; ++t)
    qs[static_cast<size_t>(t)] = {q + t * n_heads * head_dim, out + t * n_heads * head_dim, pos0 + t, &kv};
  attention(qs.data(), n, n_heads, n_kv_heads, head_dim, kv_type, pool);
}

void store_kv(const float* src, int64_t n, int64_t width, WType t, void* dst, int64_t head_dim) {
  if (t == WType::Q8) {
    if (g_level.load(std::memory_order_relaxed) == Level::Avx512 && (head_dim <= 0 || width % head_dim == 0))
      simd::avx512::store_kv_q8(src, n, width, head_dim > 0 ? head_dim : width, dst);
    else reference::store_kv(src, n, width, t, dst, head_dim);
    return;
  }
  if (const simd::Ops* o = ops()) o->store_kv(src, n, width, t, dst);
  else reference::store_kv(src, n, width, t, dst);
}

void silu_mul(float* gate, const float* up, int64_t n) {
  if (const simd::Ops* o = ops()) o->silu_mul(gate, up, n);
  else reference::silu_mul(gate, up, n);
}

void add(float* y, const float* x, int64_t n) { reference::add(y, x, n); }

double sum_exp(const float* x, int64_t n, float shift) {
  if (const simd::Ops* o = ops(); o != nullptr && o->sum_exp != nullptr) return o->sum_exp(x, n, shift);
  return reference::sum_exp(x, n, shift);
}

}  // namespace stablelm::kernels
