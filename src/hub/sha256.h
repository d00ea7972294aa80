#pragma once
// Streaming SHA-256 (OpenSSL EVP): LFS files are named and verified by it.
#include <cstddef>
#include <memory>
#include <string>

namespace stablelm::hub {

class Sha256 {
 public:
  // algorithm: an OpenSSL digest name; "sha1" checks git blob ids of small (non-LFS) files.
  explicit Sha256(const char* algorithm = "sha256");
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void reset();
  void update(const void* data, size_t n);
  std::string hex_digest();  // finishes; call reset() before reusing

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
  const void* md_type_ = nullptr;
};

}  // namespace stablelm::hub
