#include "common/thread_pool.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <system_error>

#include <sys/mman.h>

#include "stablelm/error.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define STABLELM_PAUSE() _mm_pause()
#else
#define STABLELM_PAUSE() std::this_thread::yield()
#endif

namespace stablelm {

namespace {
// How long a waiting thread spins before sleeping. Decode issues a kernel call every few
// microseconds, so spinning avoids a futex round trip per call; longer idle periods (between
// requests, or when the pool is oversubscribed) fall back to sleeping. 2 ms, not less: the
// threads' halves of the 100k-row lm_head can finish a few hundred microseconds apart, and a
// worker that fell asleep then took ~190 µs to wake on a VM. rdtsc-instrumented Q4 decode runs
// counted 0.6-1.9 such wake-ups per token with 200 µs of spin, 0.2-0.4 with 2 ms.
constexpr auto kSpin = std::chrono::microseconds(2000);

template <class Pred>
void spin_then_wait(std::atomic<uint32_t>* word, uint32_t old, Pred done) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0;; ++i) {
    if (done()) return;
    STABLELM_PAUSE();
    if ((i & 255) == 255 && std::chrono::steady_clock::now() - start > kSpin) break;
  }
  while (!done()) word->wait(old, std::memory_order_acquire);
}
}  // namespace

int start_helper_threads(std::vector<std::thread>& threads, int n, const std::function<void()>& fn) {
  // When the address space is what refuses a thread, the last stack took nearly all of it and
  // the work itself could then not allocate (std::bad_alloc half-way through the lines). Hold
  // back some address space while starting the threads and hand it back after.
  constexpr size_t kHeadroom = size_t{128} << 20;
  void* reserve = n > 0 ? mmap(nullptr, kHeadroom, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
                        : MAP_FAILED;
  int started = 0;
  try {
    for (; started < n; ++started) threads.emplace_back(fn);
  } catch (const std::system_error&) {
    // EAGAIN: a thread limit or no memory for its stack. Fewer helpers still do all the work.
  }
  if (reserve != MAP_FAILED) munmap(reserve, kHeadroom);
  return started;
}

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads <= 0) n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  n_threads_ = n_threads;
  try {
    for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker(i); });
  } catch (const std::system_error& e) {
    const size_t started = workers_.size() + 1;  // the caller's thread is one of them
    stop_workers();
    throw Error("cannot start " + std::to_string(n_threads_) + " threads: the system allowed only " +
                std::to_string(started) + " (" + e.what() + "); ask for at most " + std::to_string(started) +
                " (--threads)");
  }
}

ThreadPool::~ThreadPool() { stop_workers(); }

void ThreadPool::stop_workers() {
  stop_.store(true, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
}

void ThreadPool::worker(int index) {
  uint32_t seen = 0;
  for (;;) {
    spin_then_wait(&generation_, seen, [&] { return generation_.load(std::memory_order_acquire) != seen; });
    seen = generation_.load(std::memory_order_acquire);
    if (stop_.load(std::memory_order_acquire)) return;
    job_fn_(job_ctx_, index, n_threads_);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      // The caller may be asleep on generation_-independent state: wake it through pending_.
      pending_.notify_one();
    }
  }
}

void ThreadPool::run_on_all_impl(void* ctx, AllFn fn) {
  if (n_threads_ == 1) {
    fn(ctx, 0, 1);
    return;
  }
  job_ctx_ = ctx;
  job_fn_ = fn;
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  fn(ctx, 0, n_threads_);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0;; ++i) {
    const int p = pending_.load(std::memory_order_acquire);
    if (p == 0) break;
    STABLELM_PAUSE();
    if ((i & 255) == 255 && std::chrono::steady_clock::now() - start > kSpin) pending_.wait(p, std::memory_order_acquire);
  }
}

void ThreadPool::parallel_for_impl(int64_t n, int64_t grain, void* ctx, RangeFn fn) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  const int64_t blocks = (n + grain - 1) / grain;
  const int used = static_cast<int>(std::min<int64_t>(n_threads_, blocks));
  if (used <= 1) {
    fn(ctx, 0, 0, n);
    return;
  }
  struct Split {
    int64_t n, grain, blocks;
    int used;
    void* ctx;
    RangeFn fn;
  } s{n, grain, blocks, used, ctx, fn};
  run_on_all_impl(&s, [](void* p, int t, int) {
    const Split& s = *static_cast<const Split*>(p);
    if (t >= s.used) return;
    const int64_t b0 = s.blocks * t / s.used, b1 = s.blocks * (t + 1) / s.used;
    const int64_t begin = b0 * s.grain, end = std::min(s.n, b1 * s.grain);
    if (begin < end) s.fn(s.ctx, t, begin, end);
  });
}

void ThreadPool::parallel_for_dynamic_impl(int64_t n, int64_t chunk, void* ctx, RangeFn fn) {
  if (n <= 0) return;
  if (chunk < 1) chunk = 1;
  if (n_threads_ == 1 || n <= chunk) {
    fn(ctx, 0, 0, n);
    return;
  }
  struct Shared {
    int64_t n, chunk;
    void* ctx;
    RangeFn fn;
    std::atomic<int64_t> next{0};
  } s{n, chunk, ctx, fn};
  run_on_all_impl(&s, [](void* p, int t, int) {
    Shared& s = *static_cast<Shared*>(p);
    for (;;) {
      const int64_t begin = s.next.fetch_add(s.chunk, std::memory_order_relaxed);
      if (begin >= s.n) return;
      s.fn(s.ctx, t, begin, std::min(s.n, begin + s.chunk));
    }
  });
}

}  // namespace stablelm
