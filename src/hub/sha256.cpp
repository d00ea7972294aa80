#include "hub/sha256.h"

#include <openssl/evp.h>

#include <fstream>
#include <vector>

#include "stablelm/error.h"
#include "stablelm/hub.h"

namespace stablelm::hub {

struct Sha256::Ctx {
  EVP_MD_CTX* md = nullptr;
};

Sha256::Sha256(const char* algorithm) : ctx_(std::make_unique<Ctx>()) {
  md_type_ = EVP_get_digestbyname(algorithm);
  if (!md_type_) throw Error(std::string("digest ") + algorithm + " is not available");
  ctx_->md = EVP_MD_CTX_new();
  if (!ctx_->md) throw Error("sha256: out of memory");
  reset();
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_->md); }

void Sha256::reset() {
  if (EVP_DigestInit_ex(ctx_->md, static_cast<const EVP_MD*>(md_type_), nullptr) != 1) throw Error("digest: init failed");
}

void Sha256::update(const void* data, size_t n) {
  if (n && EVP_DigestUpdate(ctx_->md, data, n) != 1) throw Error("sha256: update failed");
}

std::string Sha256::hex_digest() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_->md, out, &len) != 1) throw Error("sha256: final failed");
  static const char* digits = "0123456789abcdef";
  std::string hex;
  for (unsigned i = 0; i < len; ++i) {
    hex += digits[out[i] >> 4];
    hex += digits[out[i] & 15];
  }
  return hex;
}

std::string sha256_file(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error("cannot read " + path.string());
  Sha256 h;
  std::vector<char> buf(1 << 20);
  while (f) {
    f.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    h.update(buf.data(), static_cast<size_t>(f.gcount()));
  }
  if (f.bad()) throw Error("error reading " + path.string());
  return h.hex_digest();
}

}  // namespace stablelm::hub
