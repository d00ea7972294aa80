// kernel_bench: the linear and attention kernels alone on 1.6B-shaped matrices, for tuning.
//   kernel_bench [--threads N] [--isa scalar|avx2|avx512] [--n 1,64,512] [--formats bf16,f16,q8,q4]
//                [--shapes attn,up,down,head,l2,attention] [--cpu-time] [--budget SECONDS] [--copies C]
//                [--matmul-precision highest|medium]
// (--n 1 alone is the decode-only mode: weight bytes streamed per second.)
// Prints, per format and shape, the decode (n = 1) weight stream in GB/s and the prefill
// (n > 1) rate in GFLOP/s (2 * rows * cols * n per call).
#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/thread_pool.h"
#include "kernels/kernels.h"
#include "kernels/quant.h"

namespace k = stablelm::kernels;

namespace {
// --cpu-time: process CPU seconds instead of wall time (with --threads 1, a figure that holds
// up on a machine shared with other work).
bool g_cpu_time = false;
double g_budget_s = 0.6;
int g_copies = 0;
bool g_bf16_acts = false;  // --matmul-precision medium: bf16 weights use the bf16 dot-product GEMM  // 0: enough to stream from DRAM; 1: the matrix stays in cache (compute-bound figure)
double now() {
  if (g_cpu_time) {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

template <class F>
double best_time(F fn) {
  const double budget_s = g_budget_s;
  fn();
  double best = 1e30, start = now();
  int reps = 0;
  while (reps < 3 || (now() - start < budget_s && reps < 200)) {
    const double t0 = now();
    fn();
    best = std::min(best, now() - t0);
    ++reps;
  }
  return best;
}
}  // namespace

int main(int argc, char** argv) {
  int threads = 2;
  std::vector<int64_t> ns = {1, 64, 512};
  std::string formats = "bf16,f16,q8,q4", shapes = "attn,up,down,attention";
  auto listed = [](const std::string& list, const std::string& item) {
    return ("," + list + ",").find("," + item + ",") != std::string::npos;
  };
  for (int i = 1; i < argc; ++i)
    if (!std::strcmp(argv[i], "--cpu-time")) g_cpu_time = true;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--cpu-time")) {
      --i;
      continue;
    }
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--isa")) k::set_isa(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--formats")) formats = argv[i + 1];
    else if (!std::strcmp(argv[i], "--shapes")) shapes = argv[i + 1];
    else if (!std::strcmp(argv[i], "--budget")) g_budget_s = std::atof(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--copies")) g_copies = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--matmul-precision")) g_bf16_acts = !std::strcmp(argv[i + 1], "medium");
    else if (!std::strcmp(argv[i], "--n")) {
      ns.clear();
      for (char* p = argv[i + 1]; *p;) {
        ns.push_back(std::strtoll(p, &p, 10));
        if (*p == ',') ++p;
      }
    }
  }
  stablelm::ThreadPool pool(threads);
  std::printf("isa %s, %d threads\n", k::active_isa(), threads);
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 0.02f);
  struct Shape {
    int64_t rows, cols;
    const char *name, *key;
  };
  for (Shape s : {Shape{2048, 2048, "attn 2048x2048", "attn"}, Shape{5632, 2048, "mlp up 5632x2048", "up"},
                  Shape{2048, 5632, "mlp down 2048x5632", "down"}, Shape{100352, 2048, "lm_head 100352x2048", "head"},
                  Shape{512, 2048, "l2-sized 512x2048", "l2"}}) {
    if (!listed(shapes, s.key)) continue;
    // Enough copies that decode streams from DRAM, not from the L3 cache (16 of the layer
    // matrices; 2 of the 100352-row head).
    const int copies = g_copies > 0 ? g_copies : s.rows > 10000 ? 2 : 16;
    std::vector<float> wf(static_cast<size_t>(s.rows * s.cols));
    for (auto& v : wf) v = dist(rng);
    const k::Weight src{k::WType::F32, s.rows, s.cols, wf.data(), wf.size() * 4};
    for (k::WType t : {k::WType::BF16, k::WType::F16, k::WType::Q8, k::WType::Q4}) {
      if (!listed(formats, k::wtype_name(t))) continue;
      std::vector<k::OwnedWeight> ws;
      for (int c = 0; c < copies; ++c) {
        ws.push_back(k::convert_weight(src, t, &pool));
        ws.back().view.bf16_acts = g_bf16_acts;
      }
      for (int64_t n : ns) {
        std::vector<float> x(static_cast<size_t>(n * s.cols)), y(static_cast<size_t>(n * s.rows));
        for (auto& v : x) v = dist(rng) * 50;
        int c = 0;
        const double sec = best_time([&] {
          if (n == 1)
            for (int i = 0; i < copies; ++i) k::linear(ws[static_cast<size_t>(i)].view, nullptr, x.data(), n, y.data(), &pool);
          else
            k::linear(ws[static_cast<size_t>(c++ % copies)].view, nullptr, x.data(), n, y.data(), &pool);
        });
        if (n == 1)
          std::printf("%-20s %-5s n=%-4lld %7.2f GB/s  (%.3f ms per matrix)\n", s.name, k::wtype_name(t),
                      static_cast<long long>(n), static_cast<double>(ws[0].view.bytes) * copies / sec / 1e9,
                      sec / copies * 1e3);
        else
          std::printf("%-20s %-5s n=%-4lld %7.1f GFLOP/s (%.2f ms)\n", s.name, k::wtype_name(t),
                      static_cast<long long>(n), 2.0 * static_cast<double>(s.rows * s.cols * n) / sec / 1e9, sec * 1e3);
        std::fflush(stdout);
      }
    }
  }
  // Attention at depth: 32 heads x 64 dims (1.6B), one query, f16 and q8 caches. As many layers'
  // caches as make 256 MiB (or --copies), visited in turn, so that the cache streams from DRAM as
  // in a real model (--copies 1: from the L3 cache, the kernel's compute rate).
  for (k::WType kt : {k::WType::F16, k::WType::Q8}) {
    if (!listed(shapes, "attention")) break;
    if (!listed(formats, k::wtype_name(kt))) continue;
    for (int64_t depth : {1024, 4000}) {
      const int64_t H = 32, D = 64, W = H * D;
      const auto row = static_cast<size_t>(k::kv_row_bytes(kt, H, D)), bytes = row * static_cast<size_t>(depth);
      const int64_t layers = g_copies > 0 ? g_copies : std::max<int64_t>(2, (int64_t{256} << 20) / static_cast<int64_t>(2 * bytes));
      std::vector<float> q(static_cast<size_t>(W)), out(static_cast<size_t>(W)), kv(static_cast<size_t>(depth * W));
      for (auto& v : q) v = dist(rng) * 50;
      for (auto& v : kv) v = dist(rng) * 50;
      std::vector<std::vector<uint8_t>> kc(static_cast<size_t>(layers)), vc(static_cast<size_t>(layers));
      for (size_t l = 0; l < kc.size(); ++l) {
        kc[l].resize(bytes);
        vc[l].resize(bytes);
        k::store_kv(kv.data(), depth, W, kt, kc[l].data(), D);
        k::store_kv(kv.data(), depth, W, kt, vc[l].data(), D);
      }
      const double sec = best_time([&] {
        for (size_t l = 0; l < kc.size(); ++l)
          k::attention(q.data(), 1, depth - 1, H, H, D, kc[l].data(), vc[l].data(), kt, out.data(), &pool);
      }) / static_cast<double>(layers);
      std::printf("attention decode %-4s depth %-5lld %.3f ms per layer (%.2f GB/s of KV)\n", k::wtype_name(kt),
                  static_cast<long long>(depth), sec * 1e3, static_cast<double>(2 * bytes) / sec / 1e9);
    }
  }
  return 0;
}
