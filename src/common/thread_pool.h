#pragma once
// A persistent pool of worker threads for the kernels. parallel_for splits [0, n) into
// contiguous chunks, one per thread (the calling thread takes the first), and returns when
// all are done. No allocation per call: the decode loop calls it hundreds of times a token.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace stablelm {

class ThreadPool {
 public:
  // n_threads <= 0: one per hardware thread.
  explicit ThreadPool(int n_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // fn(thread_index, begin, end) on n_threads chunks of [0, n); chunks are aligned to `grain`.
  void parallel_for(int64_t n, const std::function<void(int, int64_t, int64_t)>& fn, int64_t grain = 1);

  // fn(thread_index, n_threads) once on every thread (for kernels that split work themselves).
  void run_on_all(const std::function<void(int, int)>& fn);

 private:
  void worker(int index);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_start_;
  std::condition_variable cv_done_;
  const std::function<void(int, int)>* job_ = nullptr;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stop_ = false;
};

}  // namespace stablelm
