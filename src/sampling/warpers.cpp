// Sampling warpers on the finite candidates, each as transformers' *LogitsWarper computes it.
#include <algorithm>
#include <cmath>

#include "stablelm/error.h"
#include "stablelm/sampling.h"

namespace stablelm::sampling {

void Candidates::reserve(size_t n) {
  items_.reserve(n);
  probs_.reserve(n);
  keyed_.reserve(n);
}

void Candidates::assign(std::span<const float> scores) {
  items_.clear();
  for (size_t i = 0; i < scores.size(); ++i)
    if (std::isfinite(scores[i])) items_.push_back({scores[i], static_cast<int32_t>(i)});
}

std::vector<float> Candidates::to_full(size_t vocab_size) const {
  std::vector<float> out(vocab_size, kFiltered);
  for (const auto& c : items_)
    if (c.id >= 0 && static_cast<size_t>(c.id) < vocab_size) out[static_cast<size_t>(c.id)] = c.score;
  return out;
}

std::span<const double> Candidates::probs() {
  probs_.resize(items_.size());
  if (items_.empty()) return probs_;
  float mx = items_[0].score;
  for (const auto& c : items_) mx = std::max(mx, c.score);
  double sum = 0.0;
  for (size_t i = 0; i < items_.size(); ++i) {
    probs_[i] = std::exp(static_cast<double>(items_[i].score) - static_cast<double>(mx));
    sum += probs_[i];
  }
  for (double& p : probs_) p /= sum;
  return probs_;
}

namespace {
// Ascending by score, ties by ascending id: a total order, so results never depend on the order
// earlier warpers left the candidates in.
bool ascending(const Candidate& a, const Candidate& b) { return a.score < b.score || (a.score == b.score && a.id < b.id); }
bool descending(const Candidate& a, const Candidate& b) { return a.score > b.score || (a.score == b.score && a.id < b.id); }
}  // namespace

void apply_temperature(Candidates& c, float temperature) {
  for (auto& x : c.mutable_items()) x.score = x.score / temperature;
}

void apply_top_k(Candidates& c, int top_k, int min_keep) {
  auto& items = c.mutable_items();
  const size_t k = static_cast<size_t>(std::max(top_k, min_keep));
  if (k == 0 || k >= items.size()) return;
  // Threshold = the k-th largest score, found with a size-k min-heap of scores (one comparison per
  // candidate in the common case); everything >= it stays, so ties at the boundary are all kept.
  auto& heap = c.keyed();
  heap.clear();
  const auto greater_key = [](const Candidates::Keyed& a, const Candidates::Keyed& b) { return a.key > b.key; };
  for (const auto& x : items) {
    if (heap.size() < k) {
      heap.push_back({x.score, x});
      std::push_heap(heap.begin(), heap.end(), greater_key);
    } else if (x.score > heap.front().key) {
      std::pop_heap(heap.begin(), heap.end(), greater_key);
      heap.back() = {x.score, x};
      std::push_heap(heap.begin(), heap.end(), greater_key);
    }
  }
  const float threshold = static_cast<float>(heap.front().key);
  auto end = std::remove_if(items.begin(), items.end(), [threshold](const Candidate& x) { return x.score < threshold; });
  items.erase(end, items.end());
}

namespace {
// Moves the longest run of least probable candidates (ascending by score, ties by id) whose
// cumulative probability stays <= cut to the front and returns its length, at most max_remove.
// Quickselect on partial sums: O(n) expected instead of sorting the whole vocabulary.
size_t low_mass_prefix(Candidates& c, double cut, size_t max_remove) {
  auto& items = c.mutable_items();
  const auto probs = c.probs();
  auto& keyed = c.keyed();
  keyed.clear();
  for (size_t i = 0; i < items.size(); ++i) keyed.push_back({probs[i], items[i]});
  const auto asc = [](const Candidates::Keyed& a, const Candidates::Keyed& b) { return ascending(a.c, b.c); };
  size_t lo = 0, hi = keyed.size();
  double acc = 0.0;  // mass of keyed[0, lo), all below keyed[lo, hi)
  while (lo < hi) {
    const size_t m = lo + (hi - lo) / 2;
    std::nth_element(keyed.begin() + static_cast<std::ptrdiff_t>(lo), keyed.begin() + static_cast<std::ptrdiff_t>(m),
                     keyed.begin() + static_cast<std::ptrdiff_t>(hi), asc);
    double s = acc;
    for (size_t i = lo; i <= m; ++i) s += keyed[i].key;
    if (s <= cut) {
      acc = s;
      lo = m + 1;
    } else {
      hi = m;
    }
  }
  const size_t remove = std::min(lo, max_remove);
  // When min_keep caps the removal, only the `remove` smallest of the lo smallest go.
  if (remove < lo)
    std::nth_element(keyed.begin(), keyed.begin() + static_cast<std::ptrdiff_t>(remove),
                     keyed.begin() + static_cast<std::ptrdiff_t>(lo), asc);
  for (size_t i = 0; i < keyed.size(); ++i) items[i] = keyed[i].c;
  return remove;
}
}  // namespace

void apply_top_p(Candidates& c, double top_p, int min_keep) {
  auto& items = c.mutable_items();
  if (items.empty()) return;
  // Remove the low end while its cumulative mass is <= 1 - top_p (rounded to float, as torch
  // compares a float32 tensor with a Python scalar); never the min_keep most probable.
  const double cut = static_cast<double>(static_cast<float>(1.0 - top_p));
  const size_t max_remove = items.size() > static_cast<size_t>(min_keep) ? items.size() - static_cast<size_t>(min_keep) : 0;
  const size_t remove = low_mass_prefix(c, cut, max_remove);
  items.erase(items.begin(), items.begin() + static_cast<std::ptrdiff_t>(remove));
}

void apply_min_p(Candidates& c, double min_p, int min_keep) {
  auto& items = c.mutable_items();
  if (items.empty()) return;
  const auto probs = c.probs();
  double top = 0.0;
  for (double p : probs) top = std::max(top, p);
  const double threshold = min_p * top;
  size_t kept = 0;
  for (double p : probs) kept += !(p < threshold);
  const size_t want = std::min(items.size(), static_cast<size_t>(std::max(min_keep, 1)));
  if (kept >= want) {
    size_t w = 0;
    for (size_t i = 0; i < items.size(); ++i)
      if (!(probs[i] < threshold)) items[w++] = items[i];
    items.resize(w);
    return;
  }
  // Fewer than min_keep pass: keep the min_keep most probable instead.
  std::nth_element(items.begin(), items.begin() + static_cast<std::ptrdiff_t>(want - 1), items.end(), descending);
  items.resize(want);
}

void apply_typical_p(Candidates& c, double mass, int min_keep) {
  auto& items = c.mutable_items();
  if (items.empty()) return;
  // Entropy of the distribution, then each token's distance |-log p - H| from it.
  const auto probs = c.probs();
  double entropy = 0.0;
  for (double p : probs)
    if (p > 0.0) entropy -= p * std::log(p);
  auto& keyed = c.keyed();
  keyed.clear();
  for (size_t i = 0; i < items.size(); ++i) keyed.push_back({std::abs(-std::log(probs[i]) - entropy), items[i]});
  // Ascending distance; ties by ascending id for determinism.
  std::sort(keyed.begin(), keyed.end(), [](const Candidates::Keyed& a, const Candidates::Keyed& b) {
    return a.key < b.key || (a.key == b.key && a.c.id < b.c.id);
  });
  for (size_t i = 0; i < items.size(); ++i) items[i] = keyed[i].c;
  const auto sorted_probs = c.probs();
  double cum = 0.0;
  size_t last = 0;  // how many cumulative probabilities are < mass
  for (size_t i = 0; i < items.size(); ++i) {
    cum += sorted_probs[i];
    if (cum < mass) ++last;
  }
  last = std::min(last, items.size() - 1);
  const double threshold = keyed[last].key;
  size_t keep = 0;
  while (keep < items.size() && !(keyed[keep].key > threshold)) ++keep;
  keep = std::max(keep, std::min(items.size(), static_cast<size_t>(min_keep)));
  items.resize(keep);
}

int32_t sample(Candidates& c, Rng& rng) {
  if (c.empty()) throw Error("sampling: every token was filtered out (no candidate left to draw from)");
  const auto probs = c.probs();
  const double u = rng.uniform();
  double cum = 0.0;
  for (size_t i = 0; i < probs.size(); ++i) {
    cum += probs[i];
    if (u < cum) return c.items()[i].id;
  }
  return c.items().back().id;  // u within rounding of 1
}

}  // namespace stablelm::sampling
