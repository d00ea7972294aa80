#include "tokenizer/bpe.h"

#include <climits>
#include <cstring>
#include <queue>

namespace stablelm::tok {
namespace {

// The 1..7 bytes at p as a zero-padded little-endian word. A memcpy of variable length would be
// a libc call; this is two loads (hot: every piece is hashed and looked up).
inline uint64_t load_short(const char* p, size_t n) {
  if (n >= 4) {
    uint32_t lo, hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + n - 4, 4);
    return lo | (static_cast<uint64_t>(hi) << (8 * (n - 4)));  // overlapping bytes are equal
  }
  auto b = [&](size_t k) { return static_cast<uint64_t>(static_cast<unsigned char>(p[k])) << (8 * k); };
  return b(0) | b(n >> 1) | b(n - 1);
}

// Equality of two byte strings of length n ≥ 1, without a libc call for the common n ≤ 8.
inline bool same_bytes(const char* a, const char* b, size_t n) {
  if (n > 8) return std::memcmp(a, b, n) == 0;
  if (n == 8) {
    uint64_t x, y;
    std::memcpy(&x, a, 8);
    std::memcpy(&y, b, 8);
    return x == y;
  }
  return load_short(a, n) == load_short(b, n);
}

inline uint64_t hash_bytes(const char* p, size_t n) {
  uint64_t h = 0x9E3779B97F4A7C15ULL ^ (n * 0x100000001B3ULL);
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * 0xff51afd7ed558ccdULL;
    h ^= h >> 32;
    p += 8;
    n -= 8;
  }
  if (n) h = (h ^ load_short(p, n)) * 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 29;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 32;
  return h;
}

size_t pow2_at_least(size_t n) {
  size_t c = 16;
  while (c < n) c <<= 1;
  return c;
}

}  // namespace

void BytesMap::split_key(const char* p, size_t n, uint64_t& head, uint32_t& tail) {
  tail = 0;
  if (n >= 8) {
    std::memcpy(&head, p, 8);
    if (n >= 12) std::memcpy(&tail, p + 8, 4);
    else if (n > 8) tail = static_cast<uint32_t>(load_short(p + 8, n - 8));
  } else {
    head = n ? load_short(p, n) : 0;
  }
}

void BytesMap::place(const Slot& s, uint64_t h) {
  size_t i = h & mask_;
  while (slots_[i].meta != 0) i = (i + 1) & mask_;
  slots_[i] = s;
}

void BytesMap::reserve(size_t n) {
  size_t cap = pow2_at_least(n * 2 + 1);
  if (cap <= slots_.size()) return;
  auto old = std::move(slots_);
  slots_.assign(cap, Slot{0, 0, 0});
  mask_ = cap - 1;
  for (const Slot& s : old) {
    if (s.meta == 0) continue;
    size_t len = s.meta & 0xFF;
    char buf[16];
    const char* key = buf;
    if (len <= 12) {
      std::memcpy(buf, &s.head, 8);
      std::memcpy(buf + 8, &s.tail, 4);
    } else {
      uint32_t full;
      std::memcpy(&full, arena_.data() + s.tail, 4);
      len = full;
      key = arena_.data() + s.tail + 4;
    }
    place(s, hash_bytes(key, len));
  }
}

bool BytesMap::insert(std::string_view key, int32_t id) {
  if ((count_ + 1) * 2 > slots_.size()) reserve(slots_.empty() ? 16 : slots_.size());
  Slot s;
  split_key(key.data(), key.size(), s.head, s.tail);
  uint32_t len8 = static_cast<uint32_t>(key.size() < 255 ? key.size() : 255);
  s.meta = (static_cast<uint32_t>(id + 1) << 8) | len8;
  // One probe sequence: stop at the key (duplicate) or at the first empty slot.
  size_t i = hash_bytes(key.data(), key.size()) & mask_;
  for (; slots_[i].meta != 0; i = (i + 1) & mask_) {
    const Slot& o = slots_[i];
    if ((o.meta & 0xFF) != len8 || o.head != s.head) continue;
    if (key.size() <= 12) {
      if (o.tail == s.tail) return false;
    } else {
      uint32_t full;
      std::memcpy(&full, arena_.data() + o.tail, 4);
      if (full == key.size() && std::memcmp(arena_.data() + o.tail + 4, key.data(), key.size()) == 0) return false;
    }
  }
  if (key.size() > 12) {
    s.tail = static_cast<uint32_t>(arena_.size());
    uint32_t len = static_cast<uint32_t>(key.size());
    arena_.append(reinterpret_cast<const char*>(&len), 4);
    arena_.append(key);
  }
  slots_[i] = s;
  ++count_;
  return true;
}

uint64_t BytesMap::hash(const char* p, size_t n) { return hash_bytes(p, n); }

int32_t BytesMap::find_hashed(const char* p, size_t n, uint64_t h) const {
  if (slots_.empty()) return -1;
  uint64_t head;
  uint32_t tail;
  split_key(p, n, head, tail);
  uint32_t len8 = static_cast<uint32_t>(n < 255 ? n : 255);
  size_t i = h & mask_;
  while (true) {
    const Slot& s = slots_[i];
    if (s.meta == 0) return -1;
    if ((s.meta & 0xFF) == len8 && s.head == head) {
      if (n <= 12) {
        if (s.tail == tail) return static_cast<int32_t>(s.meta >> 8) - 1;
      } else {
        uint32_t full;
        std::memcpy(&full, arena_.data() + s.tail, 4);
        if (full == n && std::memcmp(arena_.data() + s.tail + 4, p, n) == 0) return static_cast<int32_t>(s.meta >> 8) - 1;
      }
    }
    i = (i + 1) & mask_;
  }
}

void PairMap::reserve(size_t n) {
  size_t cap = pow2_at_least(n * 2 + 1);
  if (cap <= slots_.size()) return;
  auto old = std::move(slots_);
  slots_.assign(cap, Slot{0, -1, 0});
  mask_ = cap - 1;
  for (const Slot& s : old) {
    if (s.rank < 0) continue;
    size_t i = hash(s.key) & mask_;
    while (slots_[i].rank >= 0) i = (i + 1) & mask_;
    slots_[i] = s;
  }
}

bool PairMap::insert(int32_t a, int32_t b, int32_t rank, int32_t merged) {
  if ((count_ + 1) * 2 > slots_.size()) reserve(slots_.empty() ? 16 : slots_.size());
  uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  size_t i = hash(key) & mask_;
  while (slots_[i].rank >= 0) {
    if (slots_[i].key == key) return false;  // HF keeps the first (lowest-rank) entry
    i = (i + 1) & mask_;
  }
  slots_[i] = Slot{key, rank, merged};
  ++count_;
  return true;
}

namespace {
std::atomic<uint32_t> next_instance{1};
}

Bpe::Bpe(Mode mode, BytesMap vocab, PairMap merges, const int32_t (&byte_ids)[256], int32_t max_id,
         bool ignore_merges)
    : instance_(next_instance.fetch_add(1)),
      mode_(mode), vocab_(std::move(vocab)), merges_(std::move(merges)), ignore_merges_(ignore_merges) {
  std::memcpy(byte_ids_, byte_ids, sizeof byte_ids_);
  pair2_rank_.resize(65536);
  pair2_merged_.resize(65536);
  for (uint32_t a = 0; a < 256; ++a)
    for (uint32_t b = 0; b < 256; ++b) {
      char two[2] = {static_cast<char>(a), static_cast<char>(b)};
      uint32_t k = (a << 8) | b;
      if (mode_ == Mode::Ranks) {
        int32_t id = vocab_.find(two, 2);
        pair2_rank_[k] = id < 0 ? INT32_MAX : id;
        pair2_merged_[k] = id;
      } else if (!merges_.find(byte_ids_[a], byte_ids_[b], pair2_rank_[k], pair2_merged_[k])) {
        pair2_rank_[k] = INT32_MAX;
        pair2_merged_[k] = -1;
      }
    }
  if (mode_ == Mode::Merges && !ignore_merges_) {
    direct_.reset(new std::atomic<uint8_t>[static_cast<size_t>(max_id) + 1]);
    for (int32_t i = 0; i <= max_id; ++i) direct_[i].store(0, std::memory_order_relaxed);
  }
}

inline void Bpe::pair_rank(std::string_view piece, uint32_t a, uint32_t c, int32_t ia, int32_t ib,
                           int32_t& rank, int32_t& merged) const {
  if (mode_ == Mode::Ranks) {
    int32_t id = vocab_.find(piece.data() + a, c - a);
    rank = id < 0 ? INT32_MAX : id;
    merged = id;
  } else if (!merges_.find(ia, ib, rank, merged)) {
    rank = INT32_MAX;
  }
}

bool Bpe::direct_ok(int32_t id, std::string_view piece) const {
  if (!direct_) return true;
  uint8_t v = direct_[id].load(std::memory_order_relaxed);
  if (v == 0) {
    // Decide once: does the merge loop on this token's bytes give the token itself?
    std::vector<int32_t> ids;
    if (piece.size() > 256) merge_large(piece, ids);
    else merge_small(piece, ids);
    v = (ids.size() == 1 && ids[0] == id) ? 1 : 2;
    direct_[id].store(v, std::memory_order_relaxed);
  }
  return v == 1;
}

uint64_t Bpe::hash(std::string_view piece) { return hash_bytes(piece.data(), piece.size()); }

Bpe::CacheEntry* Bpe::thread_cache() {
  thread_local std::unique_ptr<CacheEntry[]> cache;
  if (!cache) cache.reset(new CacheEntry[kCacheSize]());
  return cache.get();
}

uint64_t Bpe::prefetch(std::string_view piece) const {
  uint64_t h = hash_bytes(piece.data(), piece.size());
  if (piece.size() <= sizeof(CacheEntry::key)) __builtin_prefetch(&thread_cache()[(h >> 20) & (kCacheSize - 1)]);
  vocab_.prefetch(h);
  return h;
}

void Bpe::encode_piece_hashed(std::string_view piece, uint64_t h, std::vector<int32_t>& out) const {
  size_t n = piece.size();
  if (n == 0) return;
  if (n == 1) {
    out.push_back(byte_ids_[static_cast<unsigned char>(piece[0])]);
    return;
  }
  CacheEntry* e = nullptr;
  if (n <= sizeof(CacheEntry::key)) {
    e = &thread_cache()[(h >> 20) & (kCacheSize - 1)];
    if (e->hash == h && e->owner == instance_ && e->len == n && same_bytes(e->key, piece.data(), n)) {
      out.insert(out.end(), e->ids, e->ids + e->n_ids);
      return;
    }
  }
  size_t before = out.size();
  int32_t id = vocab_.find_hashed(piece.data(), n, h);
  if (id >= 0 && direct_ok(id, piece)) {
    out.push_back(id);
  } else if (n > 256) {
    merge_large(piece, out);
  } else {
    merge_small(piece, out);
  }
  size_t got = out.size() - before;
  if (e && got <= std::size(e->ids)) {
    e->hash = h;
    e->owner = instance_;
    e->len = static_cast<uint8_t>(n);
    e->n_ids = static_cast<uint8_t>(got);
    std::memcpy(e->key, piece.data(), n);
    std::memcpy(e->ids, out.data() + before, got * sizeof(int32_t));
  }
}

// Quadratic but allocation-light: right for the short pieces that make up nearly all text.
void Bpe::merge_small(std::string_view piece, std::vector<int32_t>& out) const {
  Part parts_buf[257];
  Part* parts = parts_buf;
  size_t n = piece.size(), m = n;
  for (size_t i = 0; i < n; ++i)
    parts[i] = Part{static_cast<uint32_t>(i), byte_ids_[static_cast<unsigned char>(piece[i])], INT32_MAX, -1};
  auto end_of = [&](size_t i) -> uint32_t { return i + 1 < m ? parts[i + 1].start : static_cast<uint32_t>(n); };
  auto update = [&](size_t i) {
    if (i + 1 >= m) {
      parts[i].rank = INT32_MAX;
      return;
    }
    pair_rank(piece, parts[i].start, end_of(i + 1), parts[i].id, parts[i + 1].id, parts[i].rank, parts[i].merged);
  };
  for (size_t i = 0; i + 1 < m; ++i)
    pair_of_bytes(static_cast<unsigned char>(piece[i]), static_cast<unsigned char>(piece[i + 1]), parts[i].rank,
                  parts[i].merged);
  while (m > 1) {
    int32_t best = INT32_MAX;
    size_t bi = 0;
    for (size_t i = 0; i + 1 < m; ++i)
      if (parts[i].rank < best) {
        best = parts[i].rank;
        bi = i;
      }
    if (best == INT32_MAX) break;
    parts[bi].id = parts[bi].merged;
    std::memmove(parts + bi + 1, parts + bi + 2, (m - bi - 2) * sizeof(Part));
    --m;
    update(bi);
    if (bi > 0) update(bi - 1);
  }
  for (size_t i = 0; i < m; ++i) out.push_back(parts[i].id);
}

// O(n log n) with a heap and a linked list, for long pieces (runs of spaces, punctuation, ...).
void Bpe::merge_large(std::string_view piece, std::vector<int32_t>& out) const {
  size_t n = piece.size();
  struct Node {
    uint32_t start, end;
    int32_t id;
    int32_t prev, next;
    uint32_t ver;
    bool alive;
  };
  std::vector<Node> nodes(n);
  for (size_t i = 0; i < n; ++i)
    nodes[i] = Node{static_cast<uint32_t>(i), static_cast<uint32_t>(i + 1), byte_ids_[static_cast<unsigned char>(piece[i])],
                    static_cast<int32_t>(i) - 1, i + 1 < n ? static_cast<int32_t>(i + 1) : -1, 0, true};
  struct Cand {
    int32_t rank;
    uint32_t left;  // node index == byte position of the left part: orders ties leftmost first
    uint32_t lver, rver;
    int32_t right, merged;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
  };
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
  auto push = [&](int32_t l) {
    if (l < 0) return;
    int32_t r = nodes[l].next;
    if (r < 0) return;
    int32_t rank, merged;
    pair_rank(piece, nodes[l].start, nodes[r].end, nodes[l].id, nodes[r].id, rank, merged);
    if (rank != INT32_MAX)
      heap.push(Cand{rank, static_cast<uint32_t>(l), nodes[l].ver, nodes[r].ver, r, merged});
  };
  for (size_t i = 0; i + 1 < n; ++i) push(static_cast<int32_t>(i));
  while (!heap.empty()) {
    Cand c = heap.top();
    heap.pop();
    Node& L = nodes[c.left];
    if (!L.alive || L.ver != c.lver || L.next != c.right) continue;
    Node& R = nodes[c.right];
    if (!R.alive || R.ver != c.rver) continue;
    L.id = c.merged;
    L.end = R.end;
    L.next = R.next;
    L.ver++;  // invalidates every queued pair that involved L
    R.alive = false;
    if (R.next >= 0) nodes[R.next].prev = static_cast<int32_t>(c.left);
    push(L.prev);
    push(static_cast<int32_t>(c.left));
  }
  for (int32_t i = 0; i >= 0; i = nodes[i].next) out.push_back(nodes[i].id);
}

}  // namespace stablelm::tok
