// hw_probe: the machine limits the speed goals are measured against (issue 5).
//   memory read bandwidth with 1 and 2 threads (4-stream prefetched sum over a 1 GiB buffer),
//   fp32 FMA peak (zmm vfmadd231ps), vdpbf16ps peak, int8 vpdpbusd peak (zmm),
// each with enough independent accumulators to hide latency, on 1 and N threads.
// Prints one JSON object. Usage: hw_probe [--threads N] [--mib M]
// GCC 12 AVX-512 headers trip -Wuninitialized at -O3 (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Runs fn(thread) on n threads started together; returns the wall time of the slowest.
template <class F>
double timed_parallel(int n, F fn) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<double> spent(static_cast<size_t>(n));
  std::vector<std::thread> ts;
  for (int t = 0; t < n; ++t)
    ts.emplace_back([&, t] {
      ready++;
      while (!go.load()) {
      }
      const double t0 = now();
      fn(t);
      spent[static_cast<size_t>(t)] = now() - t0;
    });
  while (ready.load() < n) {
  }
  go = true;
  for (auto& t : ts) t.join();
  return *std::max_element(spent.begin(), spent.end());
}

// Sums n floats read as 4 sequential streams (the 4 quarters of [p, p + n)) with software
// prefetch 2 KiB ahead: one stream per thread leaves the memory system idle between misses and
// under-reports what the machine can deliver (the decode kernels read this way too).
__attribute__((target("avx512f"))) float read_sum(const float* p, size_t n) {
  const size_t q = n / 4 / 16 * 16;
  const float* s[4] = {p, p + q, p + 2 * q, p + 3 * q};
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i < q; i += 16) {
    for (int j = 0; j < 4; ++j) _mm_prefetch(reinterpret_cast<const char*>(s[j] + i + 512), _MM_HINT_T0);
    a0 = _mm512_add_ps(a0, _mm512_load_ps(s[0] + i));
    a1 = _mm512_add_ps(a1, _mm512_load_ps(s[1] + i));
    a2 = _mm512_add_ps(a2, _mm512_load_ps(s[2] + i));
    a3 = _mm512_add_ps(a3, _mm512_load_ps(s[3] + i));
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

constexpr int64_t kIters = 20'000'000;

// 12 independent chains of each instruction; the result is stored so nothing is optimized away.
__attribute__((target("avx512f"))) void fma_loop(float* sink) {
  __m512 a[12];
  for (int i = 0; i < 12; ++i) a[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512 b = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(0.001f);
  for (int64_t it = 0; it < kIters; ++it)
    for (int i = 0; i < 12; ++i) a[i] = _mm512_fmadd_ps(a[i], b, c);
  __m512 s = a[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, a[i]);
  *sink = _mm512_reduce_add_ps(s);
}

__attribute__((target("avx512f,avx512bf16"))) void bf16_loop(float* sink) {
  __m512 a[12];
  for (int i = 0; i < 12; ++i) a[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512bh b = (__m512bh)_mm512_set1_epi16(0x3f80), c = (__m512bh)_mm512_set1_epi16(0x3a83);
  for (int64_t it = 0; it < kIters; ++it)
    for (int i = 0; i < 12; ++i) a[i] = _mm512_dpbf16_ps(a[i], b, c);
  __m512 s = a[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, a[i]);
  *sink = _mm512_reduce_add_ps(s);
}

__attribute__((target("avx512f,avx512vnni"))) void vnni_loop(float* sink) {
  __m512i a[12];
  for (int i = 0; i < 12; ++i) a[i] = _mm512_set1_epi32(i);
  const __m512i b = _mm512_set1_epi8(3), c = _mm512_set1_epi8(-2);
  for (int64_t it = 0; it < kIters; ++it)
    for (int i = 0; i < 12; ++i) a[i] = _mm512_dpbusd_epi32(a[i], b, c);
  __m512i s = a[0];
  for (int i = 1; i < 12; ++i) s = _mm512_add_epi32(s, a[i]);
  *sink = static_cast<float>(_mm512_reduce_add_epi32(s));
}

}  // namespace

int main(int argc, char** argv) {
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  size_t mib = 1024;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--mib")) mib = static_cast<size_t>(std::atol(argv[i + 1]));
  }
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bf16") ||
      !__builtin_cpu_supports("avx512vnni")) {
    std::fprintf(stderr, "hw_probe: needs AVX-512 F + BF16 + VNNI\n");
    return 1;
  }
  const size_t n = mib * 1024 * 1024 / 4;
  float* buf = static_cast<float*>(std::aligned_alloc(64, n * 4));
  // Touch every page from its reader thread's side so both halves are resident.
  for (size_t i = 0; i < n; ++i) buf[i] = static_cast<float>(i & 7);
  std::vector<float> sinks(64);

  auto bandwidth = [&](int nt) {
    double best = 0;
    for (int rep = 0; rep < 5; ++rep) {
      const double s = timed_parallel(nt, [&](int t) {
        const size_t chunk = n / static_cast<size_t>(nt) / 64 * 64;
        sinks[static_cast<size_t>(t)] += read_sum(buf + chunk * static_cast<size_t>(t), chunk);
      });
      best = std::max(best, static_cast<double>(n / static_cast<size_t>(nt) / 64 * 64 * static_cast<size_t>(nt)) * 4 / s);
    }
    return best;
  };
  // ops per instruction: FMA 16 lanes x 2 flops; vdpbf16ps 16 lanes x 2 pairs x 2; vpdpbusd 16 x 4 x 2.
  auto peak = [&](int nt, void (*loop)(float*), double ops_per_insn) {
    double best = 0;
    for (int rep = 0; rep < 3; ++rep) {
      const double s = timed_parallel(nt, [&](int t) { loop(&sinks[static_cast<size_t>(8 + t)]); });
      best = std::max(best, static_cast<double>(kIters) * 12 * ops_per_insn * nt / s);
    }
    return best;
  };
  const double bw1 = bandwidth(1), bw2 = bandwidth(threads);
  const double fma1 = peak(1, fma_loop, 32), fmaN = peak(threads, fma_loop, 32);
  const double bf1 = peak(1, bf16_loop, 64), bfN = peak(threads, bf16_loop, 64);
  const double vn1 = peak(1, vnni_loop, 128), vnN = peak(threads, vnni_loop, 128);
  std::printf(
      "{\"threads\": %d, \"read_bw_1t_gbs\": %.2f, \"read_bw_gbs\": %.2f, \"fma_f32_1t_gflops\": %.1f, "
      "\"fma_f32_gflops\": %.1f, \"dpbf16_1t_gflops\": %.1f, \"dpbf16_gflops\": %.1f, \"vnni_int8_1t_gops\": %.1f, "
      "\"vnni_int8_gops\": %.1f, \"sink\": %g}\n",
      threads, bw1 / 1e9, bw2 / 1e9, fma1 / 1e9, fmaN / 1e9, bf1 / 1e9, bfN / 1e9, vn1 / 1e9, vnN / 1e9,
      static_cast<double>(sinks[0] + sinks[8]) * 0);
  std::free(buf);
  return 0;
}
