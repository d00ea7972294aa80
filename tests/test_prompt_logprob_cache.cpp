// The server's prompt-logprob cache: it hands back exactly the entries stored for a prefix's whole
// blocks, cut to the asked top k, never entries of another chain, and stays within its capacity.
#include <gtest/gtest.h>

#include <numeric>
#include <span>

#include "server/prompt_logprob_cache.h"

namespace {

using stablelm::server::PromptLogprobCache;
using stablelm::server::TokenLogprob;

// Position p + 1's entry of `prompt`, made up from the tokens (what rows would have computed).
std::vector<TokenLogprob> entries_of(const std::vector<int32_t>& prompt, int top) {
  std::vector<TokenLogprob> out;
  for (size_t p = 1; p < prompt.size(); ++p) {
    TokenLogprob t;
    t.id = prompt[p];
    t.logprob = -0.5 * static_cast<double>(p) - prompt[p] * 1e-3;
    for (int i = 0; i < top; ++i) t.top.emplace_back(prompt[p] + i, -static_cast<double>(i) - 0.25 * static_cast<double>(p));
    out.push_back(t);
  }
  return out;
}

std::vector<int32_t> seq(int n, int start) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), start);
  return v;
}

TEST(PromptLogprobCache, WholeBlocksComeBackCutToK) {
  PromptLogprobCache c(4, 100, 5);
  const auto a = seq(11, 10);  // two whole blocks and 3 tokens
  c.insert(a, entries_of(a, 5));
  EXPECT_EQ(c.cached_blocks(a, 10), 2);
  EXPECT_EQ(c.cached_blocks(a, 1), 1);
  auto b = a;
  b[9] = 99;  // the third block differs: the first two still serve
  EXPECT_EQ(c.cached_blocks(b, 10), 2);
  const auto got = c.entries(b, 8, 2);  // positions 1..7
  const auto want = entries_of(a, 5);
  ASSERT_EQ(got.size(), 7u);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].id, want[i].id);
    EXPECT_EQ(got[i].logprob, want[i].logprob);
    ASSERT_EQ(got[i].top.size(), 2u);
    EXPECT_EQ(got[i].top[1], want[i].top[1]);
  }
}

TEST(PromptLogprobCache, AnotherChainDoesNotMatch) {
  PromptLogprobCache c(4, 100, 1);
  const auto a = seq(9, 10);
  c.insert(a, entries_of(a, 1));
  auto b = a;
  b[0] = 7;  // the same second block after a different first block
  EXPECT_EQ(c.cached_blocks(b, 10), 0);
  // Entries shorter than the prompt store only the blocks they cover.
  const auto d = seq(12, 50);
  const auto all = entries_of(d, 1);
  c.insert(d, std::span(all).first(6));  // positions 1..6: only block 0 (positions 0..3) is whole
  EXPECT_EQ(c.cached_blocks(d, 10), 1);
}

TEST(PromptLogprobCache, BoundedLeastRecentlyUsedFirst) {
  PromptLogprobCache c(4, 3, 1);
  const auto a = seq(9, 10), b = seq(9, 100);
  c.insert(a, entries_of(a, 1));  // 2 blocks
  c.insert(b, entries_of(b, 1));  // 2 more: a's first block (the oldest) goes
  EXPECT_EQ(c.cached_blocks(a, 10), 0);
  EXPECT_EQ(c.cached_blocks(b, 10), 2);
}

}  // namespace
