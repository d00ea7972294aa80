#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "common/thread_pool.h"

using stablelm::ThreadPool;

TEST(ThreadPool, CoversRangeExactlyOnce) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 5, 16, 17, 1000}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      for (int rep = 0; rep < 3; ++rep)
        pool.parallel_for(n, [&](int, int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
        }, 4);
      for (auto& h : hits) EXPECT_EQ(h.load(), 3);
    }
  }
}

TEST(ThreadPool, RunOnAllCallsEveryThread) {
  ThreadPool pool(4);
  std::atomic<int> mask{0};
  pool.run_on_all([&](int t, int n) {
    EXPECT_EQ(n, 4);
    mask |= 1 << t;
  });
  EXPECT_EQ(mask.load(), 0xF);
}
