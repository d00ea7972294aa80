// Sampling warpers on the finite candidates, each as transformers' *LogitsWarper computes it.
#include <algorithm>
#include <cmath>
#include <limits>

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
  if (std::isinf(mx) && mx > 0) {
    // A tiny temperature overflowed some scores to +inf: they share all the mass (the limit).
    double n = 0.0;
    for (size_t i = 0; i < items_.size(); ++i) n += probs_[i] = items_[i].score == mx ? 1.0 : 0.0;
    for (double& p : probs_) p /= n;
    return probs_;
  }
  double sum = 0.0;
  for (size_t i = 0; i < items_.size(); ++i) {
    probs_[i] = static_cast<double>(std::exp(items_[i].score - mx));  // float exp, as torch softmax
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
  decltype(auto) items = c.mutable_items();
  bool overflow = false;
  for (const auto& x : items) overflow |= std::isfinite(x.score) && std::isinf(x.score / temperature);
  if (!overflow) {
    for (auto& x : items) x.score = x.score / temperature;
    return;
  }
  // A temperature so small that scores overflow float (1e-45): divide the distances to the top
  // score instead. The top tokens get 0, the rest large negatives or -inf: the greedy limit of
  // T -> 0, instead of every positive score becoming +inf and sharing the mass.
  float top = -std::numeric_limits<float>::infinity();
  for (const auto& x : items) top = std::max(top, x.score);
  for (auto& x : items) x.score = x.score == top ? 0.0f : (x.score - top) / temperature;
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
      heap.push_back({x.score, 0.0, x});
      std::push_heap(heap.begin(), heap.end(), greater_key);
    } else if (x.score > heap.front().key) {
      std::pop_heap(heap.begin(), heap.end(), greater_key);
      heap.back() = {x.score, 0.0, x};
      std::push_heap(heap.begin(), heap.end(), greater_key);
    }
  }
  const float threshold = static_cast<float>(heap.front().key);
  auto end = std::remove_if(items.begin(), items.end(), [threshold](const Candidate& x) { return x.score < threshold; });
  items.erase(end, items.end());
}

namespace {
// For keyed entries in the order `less` (a total order), returns L = the length of the longest
// sorted prefix whose cumulative probability satisfies `ok` (a predicate true on a prefix), and
// leaves the L smallest entries in keyed[0, L). Quickselect on partial sums: O(n) expected, where
// transformers sorts the whole vocabulary and takes a cumsum.
template <typename Less, typename Ok>
size_t mass_prefix(std::vector<Candidates::Keyed>& keyed, Less less, Ok ok) {
  size_t lo = 0, hi = keyed.size();
  double acc = 0.0;  // mass of keyed[0, lo), all before keyed[lo, hi) in the order
  while (lo < hi) {
    const size_t m = lo + (hi - lo) / 2;
    std::nth_element(keyed.begin() + static_cast<std::ptrdiff_t>(lo), keyed.begin() + static_cast<std::ptrdiff_t>(m),
                     keyed.begin() + static_cast<std::ptrdiff_t>(hi), less);
    double s = acc;
    for (size_t i = lo; i <= m; ++i) s += keyed[i].p;
    if (ok(s)) {
      acc = s;
      lo = m + 1;
    } else {
      hi = m;
    }
  }
  return lo;
}

void fill_keyed(Candidates& c, bool key_is_score) {
  const auto probs = c.probs();
  auto& keyed = c.keyed();
  keyed.clear();
  const auto items = c.items();
  for (size_t i = 0; i < items.size(); ++i) keyed.push_back({key_is_score ? items[i].score : 0.0, probs[i], items[i]});
}
}  // namespace

void apply_top_p(Candidates& c, double top_p, int min_keep) {
  auto& items = c.mutable_items();
  if (items.empty()) return;
  // Ascending by score (ties: lower id first), remove the low end while its cumulative mass is
  // <= 1 - top_p (rounded to float, as torch compares a float32 tensor with a Python scalar);
  // never the min_keep most probable.
  const double cut = static_cast<double>(static_cast<float>(1.0 - top_p));
  const size_t max_remove = items.size() > static_cast<size_t>(min_keep) ? items.size() - static_cast<size_t>(min_keep) : 0;
  fill_keyed(c, true);
  auto& keyed = c.keyed();
  const auto asc = [](const Candidates::Keyed& a, const Candidates::Keyed& b) { return ascending(a.c, b.c); };
  const size_t low = mass_prefix(keyed, asc, [cut](double cum) { return cum <= cut; });
  const size_t remove = std::min(low, max_remove);
  // When min_keep caps the removal, only the `remove` smallest of the `low` smallest go.
  if (remove < low)
    std::nth_element(keyed.begin(), keyed.begin() + static_cast<std::ptrdiff_t>(remove),
                     keyed.begin() + static_cast<std::ptrdiff_t>(low), asc);
  items.clear();
  for (size_t i = remove; i < keyed.size(); ++i) items.push_back(keyed[i].c);
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
  fill_keyed(c, false);
  auto& keyed = c.keyed();
  double entropy = 0.0;
  for (const auto& k : keyed)
    if (k.p > 0.0) entropy -= k.p * std::log(k.p);
  for (auto& k : keyed) k.key = std::abs(-std::log(k.p) - entropy);
  // Ascending distance; ties by ascending id for determinism.
  const auto by_key = [](const Candidates::Keyed& a, const Candidates::Keyed& b) {
    return a.key < b.key || (a.key == b.key && a.c.id < b.c.id);
  };
  // last = how many cumulative probabilities (in that order) are < mass, at most n - 1; every
  // entry whose distance is <= the distance at position `last` stays, and at least min_keep.
  const size_t n = keyed.size();
  const size_t below = mass_prefix(keyed, by_key, [mass](double cum) { return cum < mass; });
  const size_t last = std::min(below, n - 1);
  // Put the (last+1)-th smallest at `last`; keyed[0, below) already holds the `below` smallest.
  if (below <= last)
    std::nth_element(keyed.begin() + static_cast<std::ptrdiff_t>(last), keyed.begin() + static_cast<std::ptrdiff_t>(last),
                     keyed.end(), by_key);
  else
    std::nth_element(keyed.begin(), keyed.begin() + static_cast<std::ptrdiff_t>(last),
                     keyed.begin() + static_cast<std::ptrdiff_t>(below), by_key);
  const double threshold = keyed[last].key;
  size_t keep = last + 1;
  for (size_t i = keep; i < n; ++i)
    if (!(keyed[i].key > threshold)) std::swap(keyed[keep++], keyed[i]);
  const size_t want = std::min(n, static_cast<size_t>(std::max(min_keep, 1)));
  if (keep < want) {
    std::nth_element(keyed.begin(), keyed.begin() + static_cast<std::ptrdiff_t>(want - 1), keyed.end(), by_key);
    keep = want;
  }
  items.clear();
  for (size_t i = 0; i < keep; ++i) items.push_back(keyed[i].c);
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
