#pragma once
// Byte-level BPE over a fixed vocabulary of byte strings.
// Two ways of choosing the next merge, because the two file formats define BPE differently:
//  - Ranks (tiktoken): merge the adjacent pair whose concatenated bytes have the lowest rank.
//  - Merges (tokenizer.json): merge the adjacent (left id, right id) pair listed earliest in
//    "merges"; a pair that is not listed never merges, even if its bytes form a token.
// Ties go to the leftmost pair in both (as tiktoken and HF tokenizers do).
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/huge_page_allocator.h"

namespace stablelm::tok {

// Open-addressing map from byte strings to ids. Keys of up to 12 bytes live inside the 16-byte
// slot (one cache miss per lookup); longer ones in an arena.
class BytesMap {
 public:
  void reserve(size_t n);
  // Returns false if the key was already present (the old id is kept).
  bool insert(std::string_view key, int32_t id);
  int32_t find(const char* p, size_t n) const { return find_hashed(p, n, hash(p, n)); }  // -1 when absent
  int32_t find_hashed(const char* p, size_t n, uint64_t h) const;
  void prefetch(uint64_t h) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[h & mask_]);
  }
  static uint64_t hash(const char* p, size_t n);
  int32_t find(std::string_view s) const { return find(s.data(), s.size()); }
  size_t size() const { return count_; }

 private:
  struct Slot {
    uint64_t head;  // key bytes 0..7, zero padded
    uint32_t tail;  // key bytes 8..11 (short keys) or arena offset (long keys)
    uint32_t meta;  // (id + 1) << 8 | min(len, 255); 0: empty
  };
  static void split_key(const char* p, size_t n, uint64_t& head, uint32_t& tail);
  void place(const Slot& s, uint64_t h);
  std::string arena_;  // long keys: 4-byte length, then the bytes
  std::vector<Slot, HugePageAllocator<Slot>> slots_;
  size_t mask_ = 0, count_ = 0;
};

// Open-addressing map from (left id, right id) to (merge rank, merged id).
class PairMap {
 public:
  void reserve(size_t n);
  bool insert(int32_t a, int32_t b, int32_t rank, int32_t merged);
  bool find(int32_t a, int32_t b, int32_t& rank, int32_t& merged) const {
    uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
    size_t h = hash(key) & mask_;
    while (true) {
      const Slot& s = slots_[h];
      if (s.rank < 0) return false;
      if (s.key == key) {
        rank = s.rank;
        merged = s.merged;
        return true;
      }
      h = (h + 1) & mask_;
    }
  }

 private:
  struct Slot {
    uint64_t key;
    int32_t rank;  // -1: empty
    int32_t merged;
  };
  static size_t hash(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return static_cast<size_t>(k);
  }
  std::vector<Slot, HugePageAllocator<Slot>> slots_;
  size_t mask_ = 0, count_ = 0;
};

class Bpe {
 public:
  enum class Mode { Ranks, Merges };

  // vocab: token bytes → id (for Ranks, the id is the rank). byte_ids[b]: the token of byte b.
  Bpe(Mode mode, BytesMap vocab, PairMap merges, const int32_t (&byte_ids)[256], int32_t max_id,
      bool ignore_merges);

  // Appends the ids of one pre-tokenized piece.
  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
    encode_piece_hashed(piece, hash(piece), out);
  }
  // Memory latency dominates: callers hash a piece a few pieces ahead (prefetch() starts the
  // loads of its memo and vocabulary slots), then encode it with that hash.
  static uint64_t hash(std::string_view piece);
  uint64_t prefetch(std::string_view piece) const;
  void encode_piece_hashed(std::string_view piece, uint64_t h, std::vector<int32_t>& out) const;
  const BytesMap& vocab() const { return vocab_; }
  Mode mode() const { return mode_; }

 private:
  struct Part {
    uint32_t start;
    int32_t id;
    int32_t rank;    // rank of merging with the next part; INT32_MAX: none
    int32_t merged;  // id that merge gives
  };
  void merge_small(std::string_view piece, std::vector<int32_t>& out) const;
  void merge_large(std::string_view piece, std::vector<int32_t>& out) const;
  // Rank and result of merging parts [a, b) and [b, c) whose ids are ia, ib.
  inline void pair_rank(std::string_view piece, uint32_t a, uint32_t c, int32_t ia, int32_t ib,
                        int32_t& rank, int32_t& merged) const;
  bool direct_ok(int32_t id, std::string_view piece) const;
  // Merging two single bytes is the most common first step: a dense table for it.
  void pair_of_bytes(unsigned char a, unsigned char b, int32_t& rank, int32_t& merged) const {
    uint32_t k = (static_cast<uint32_t>(a) << 8) | b;
    rank = pair2_rank_[k];
    merged = pair2_merged_[k];
  }

  // Per-thread memo of recent pieces → ids (direct-mapped; entries carry the owner's id, so
  // tokenizers sharing a thread never see each other's results).
  struct CacheEntry {
    uint64_t hash;
    uint32_t owner;
    uint8_t len, n_ids;
    char key[32];
    int32_t ids[12];
  };
  static constexpr size_t kCacheSize = 8192;
  static CacheEntry* thread_cache();

  uint32_t instance_;
  Mode mode_;
  BytesMap vocab_;
  PairMap merges_;
  int32_t byte_ids_[256];
  bool ignore_merges_;
  std::vector<int32_t> pair2_rank_, pair2_merged_;
  // Merges mode: whether BPE of a token's own bytes gives that token back (0 unknown, 1 yes,
  // 2 no), found lazily; only then may a piece that is a token skip the merge loop.
  std::unique_ptr<std::atomic<uint8_t>[]> direct_;
};

}  // namespace stablelm::tok
