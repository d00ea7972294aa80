#include "common/block_key.h"

namespace stablelm {

uint64_t block_key(uint64_t parent, std::span<const int32_t> tokens) {
  // splitmix64's finalizer over the parent key and each token: cheap and well mixed.
  auto mix = [](uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  uint64_t h = mix(parent);
  for (int32_t t : tokens) h = mix(h ^ (static_cast<uint64_t>(static_cast<uint32_t>(t)) + 0x9e3779b97f4a7c15ull));
  return h;
}

}  // namespace stablelm
