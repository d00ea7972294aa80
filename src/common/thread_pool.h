#pragma once
// A persistent pool of worker threads for the kernels. parallel_for splits [0, n) into
// contiguous chunks, one per thread (the calling thread takes the first), and returns when
// all are done. No allocation per call: the decode loop calls it hundreds of times a token,
// so jobs are passed as a non-owning function reference (never a heap-allocating
// std::function) and workers spin briefly on an atomic before sleeping on a futex, which
// keeps the hand-off to a few hundred nanoseconds between back-to-back kernel calls.
#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace stablelm {

// Starts up to n threads running fn, for work that the caller shares with them (work stealing):
// stops at the first thread the system refuses (process or memory limits) and returns how many
// started, so the caller can go on with fewer. The caller joins them.
int start_helper_threads(std::vector<std::thread>& threads, int n, const std::function<void()>& fn);

class ThreadPool {
 public:
  // n_threads <= 0: one per hardware thread. Throws stablelm::Error naming how many threads could
  // be started when the system refuses one (rather than std::terminate from a joinable thread).
  explicit ThreadPool(int n_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // fn(thread_index, begin, end) on n_threads chunks of [0, n); chunks are aligned to `grain`.
  template <class F>
  void parallel_for(int64_t n, F&& fn, int64_t grain = 1) {
    using Fn = std::remove_reference_t<F>;
    parallel_for_impl(n, grain, &fn, [](void* f, int t, int64_t b, int64_t e) { (*static_cast<Fn*>(f))(t, b, e); });
  }

  // fn(thread_index, begin, end) on chunks of `chunk` indices of [0, n) that the threads take in
  // turn as they finish the previous one (an atomic counter): a thread slowed by the machine
  // (another process, an interrupt) takes fewer chunks instead of holding up the others, as in
  // the bandwidth-bound decode. Which thread runs a chunk varies from call to call.
  template <class F>
  void parallel_for_dynamic(int64_t n, int64_t chunk, F&& fn) {
    using Fn = std::remove_reference_t<F>;
    parallel_for_dynamic_impl(n, chunk, &fn,
                              [](void* f, int t, int64_t b, int64_t e) { (*static_cast<Fn*>(f))(t, b, e); });
  }

  // fn(thread_index, n_threads) once on every thread (for kernels that split work themselves).
  template <class F>
  void run_on_all(F&& fn) {
    using Fn = std::remove_reference_t<F>;
    run_on_all_impl(&fn, [](void* f, int t, int n) { (*static_cast<Fn*>(f))(t, n); });
  }

 private:
  using AllFn = void (*)(void*, int, int);
  using RangeFn = void (*)(void*, int, int64_t, int64_t);
  void run_on_all_impl(void* ctx, AllFn fn);
  void parallel_for_impl(int64_t n, int64_t grain, void* ctx, RangeFn fn);
  void parallel_for_dynamic_impl(int64_t n, int64_t chunk, void* ctx, RangeFn fn);
  void worker(int index);
  void stop_workers();

  int n_threads_;
  std::vector<std::thread> workers_;
  // The current job; published by bumping generation_ (release), read after seeing it (acquire).
  void* job_ctx_ = nullptr;
  AllFn job_fn_ = nullptr;
  std::atomic<uint32_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace stablelm
