#include <gtest/gtest.h>

#include <algorithm>
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

TEST(ThreadPool, DynamicChunksCoverRangeExactlyOnceInChunkSizedPieces) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 5, 16, 17, 1000}) {
      for (int64_t chunk : {0, 1, 4, 256}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        std::atomic<bool> bad_piece{false}, bad_thread{false};
        for (int rep = 0; rep < 3; ++rep)
          pool.parallel_for_dynamic(n, chunk, [&](int t, int64_t b, int64_t e) {
            // Pieces start on a chunk boundary and are whole chunks but for the last.
            const int64_t c = std::max<int64_t>(chunk, 1);
            if (b % c != 0 || (e - b != c && e != n) || e <= b) bad_piece = true;
            if (t < 0 || t >= threads) bad_thread = true;
            for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
          });
        for (auto& h : hits) EXPECT_EQ(h.load(), 3) << "n " << n << " chunk " << chunk;
        EXPECT_FALSE(bad_piece) << "n " << n << " chunk " << chunk;
        EXPECT_FALSE(bad_thread);
      }
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
