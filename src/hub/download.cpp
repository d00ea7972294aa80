#include "hub/download.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <thread>
#include <utility>

#include "hub/progress.h"
#include "common/unique_fd.h"
#include "hub/sha256.h"
#include "stablelm/error.h"

namespace stablelm::hub {
namespace fs = std::filesystem;
namespace {

Error write_error(int err, const fs::path& path) {
  if (err == ENOSPC || err == EDQUOT)
    return Error("disk full while writing " + path.string() +
                 ": free some space (or point HF_HUB_CACHE at a larger disk) and run again; the download "
                 "resumes from the partial file");
  return Error("cannot write " + path.string() + ": " + std::strerror(err));
}

void check_free_space(const fs::path& dir, uint64_t needed, const std::string& name) {
  struct statvfs st {};
  if (::statvfs(dir.c_str(), &st) != 0) return;  // unknown: let the writes tell
  uint64_t avail = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
  if (avail < needed)
    throw Error("not enough disk space for " + name + ": it needs " + std::to_string(needed) + " more bytes but only " +
                std::to_string(avail) + " are free in " + dir.string() +
                " (free some space or set HF_HUB_CACHE to a larger disk)");
}

// Feeds the first `n` bytes already on disk to the hash (a resumed download).
void hash_prefix(const fs::path& path, uint64_t n, Sha256& h) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) throw Error("cannot read " + path.string() + ": " + std::strerror(errno));
  std::vector<char> buf(1 << 20);
  while (n > 0) {
    ssize_t r = ::read(fd.get(), buf.data(), static_cast<size_t>(std::min<uint64_t>(n, buf.size())));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) throw Error("cannot read " + path.string() + ": " + (r < 0 ? std::strerror(errno) : "short file"));
    h.update(buf.data(), static_cast<size_t>(r));
    n -= static_cast<uint64_t>(r);
  }
}

bool write_all(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      if (w == 0) errno = ENOSPC;
      return false;
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool progress_enabled(const Options& o) {
  return o.progress == Progress::Always || (o.progress == Progress::Auto && isatty(STDERR_FILENO));
}

}  // namespace

bool is_sha1_hex(const std::string& s) {
  return s.size() == 40 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

std::string git_blob_sha1(const fs::path& file) {
  std::error_code ec;
  const uint64_t size = fs::file_size(file, ec);
  if (ec) throw Error("cannot read " + file.string() + ": " + ec.message());
  Sha256 h("sha1");
  const std::string head = "blob " + std::to_string(size) + '\0';
  h.update(head.data(), head.size());
  hash_prefix(file, size, h);
  return h.hex_digest();
}

bool is_sha256_hex(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

void retry_pause(const Options& opts, int attempt) {
  double s = std::min(4.0, opts.retry_base_delay_s * std::pow(2.0, attempt));
  std::this_thread::sleep_for(std::chrono::duration<double>(s));
}

void download_blob(HttpClient& http, const Options& opts, const FileMeta& meta, const std::vector<std::string>& headers,
                   const fs::path& blob, const std::string& display_name, const ErrorContext& ctx) {
  fs::path part = blob;
  part += ".incomplete";
  const bool lfs = is_sha256_hex(meta.etag);  // the hub names LFS files by their sha256
  // Other files by their git blob id, sha1("blob <size>\0" + content): checked too, or a
  // corrupted config or tokenizer would be cached as good.
  const bool git = !lfs && is_sha1_hex(meta.etag) && meta.size.has_value();
  const bool verify = lfs || git;
  for (int attempt = 0;; ++attempt) {
    UniqueFd fd(::open(part.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (fd.get() < 0) throw write_error(errno, part);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) throw write_error(errno, part);
    uint64_t have = S_ISREG(st.st_mode) ? static_cast<uint64_t>(st.st_size) : 0;
    if (meta.size && have > *meta.size) {  // not a prefix of this file: start over
      if (::ftruncate(fd.get(), 0) != 0) throw write_error(errno, part);
      have = 0;
    }
    Sha256 hasher(lfs ? "sha256" : "sha1");
    auto start_hash = [&] {
      hasher.reset();
      if (git) {
        const std::string head = "blob " + std::to_string(*meta.size) + '\0';
        hasher.update(head.data(), head.size());
      }
    };
    start_hash();
    if (verify && have > 0) hash_prefix(part, have, hasher);
    bool oversize = false;

    if (!meta.size || have < *meta.size) {
      if (meta.size) check_free_space(part.parent_path(), *meta.size - have, display_name);
      ProgressBar bar(progress_enabled(opts), display_name, meta.size.value_or(0), have);
      const uint64_t resume_from = have;
      bool first_chunk = true;
      int write_errno = 0;
      HttpRequest req;
      req.url = meta.location;
      req.headers = headers;
      if (have > 0) req.headers.push_back("Range: bytes=" + std::to_string(have) + "-");
      req.follow_redirects = true;
      req.on_body = [&](long status, const char* data, size_t n) {
        if (first_chunk && status == 200 && resume_from > 0) {
          // The server ignored the Range request and sends the whole file: start the partial over.
          if (::ftruncate(fd.get(), 0) != 0) {
            write_errno = errno;
            return false;
          }
          start_hash();
          have = 0;
        }
        first_chunk = false;
        if (meta.size && have + n > *meta.size) {  // more than announced: garbage, refuse it
          oversize = true;
          return false;
        }
        if (!write_all(fd.get(), data, n)) {
          write_errno = errno;
          return false;
        }
        if (verify) hasher.update(data, n);
        have += n;
        bar.update(have);
        return true;
      };
      HttpResponse resp;
      try {
        resp = http.perform(req);
      } catch (const NetworkError& e) {
        if (oversize) {
          fd.reset();
          std::error_code ec;
          fs::remove(part, ec);
          throw Error("the server sent more than the " + std::to_string(*meta.size) + " bytes it announced for " +
                      display_name + ": refused (partial removed)");
        }
        if (e.kind == NetworkError::Kind::Aborted) throw write_error(write_errno, part);
        if (e.transient() && attempt < opts.retries) {
          bar.finish();
          std::fprintf(stderr, "%s: download interrupted (%s) at %llu bytes; resuming (try %d of %d)\n",
                       display_name.c_str(), e.what(), static_cast<unsigned long long>(have), attempt + 2,
                       opts.retries + 1);
          retry_pause(opts, attempt);
          continue;
        }
        throw Error("download of " + display_name + " from " + ctx.endpoint + " failed: " + e.what() + " (" +
                    std::to_string(have) + " bytes kept in " + part.string() + "; run again to resume)");
      }
      if (resp.status == 416 && attempt < opts.retries) {  // our partial does not fit the file: restart
        if (::ftruncate(fd.get(), 0) != 0) throw write_error(errno, part);
        continue;
      }
      if (resp.status < 200 || resp.status >= 300) {
        if (transient_status(resp.status) && attempt < opts.retries) {
          retry_pause(opts, attempt);
          continue;
        }
        throw http_error(resp, meta.location, ctx);
      }
      bar.finish();
    }
    // Data must be on disk before the rename makes it look complete.
    if (S_ISREG(st.st_mode) && ::fdatasync(fd.get()) != 0) throw write_error(errno, part);
    if (::close(fd.release()) != 0) throw write_error(errno, part);

    if (meta.size && have != *meta.size) {
      if (have < *meta.size && attempt < opts.retries) continue;  // a short body: resume it
      std::error_code ec;
      fs::remove(part, ec);
      throw Error("size mismatch for " + display_name + ": the hub announced " + std::to_string(*meta.size) +
                  " bytes, " + std::to_string(have) + " arrived (partial removed; run again)");
    }
    if (verify) {
      std::string got = hasher.hex_digest();
      if (got != meta.etag) {
        std::error_code ec;
        fs::remove(part, ec);
        throw Error("checksum mismatch for " + display_name + ": expected " + (lfs ? "sha256 " : "git blob sha1 ") +
                    meta.etag + ", got " + got + " (the corrupt download was removed; run again)");
      }
    }
    fs::rename(part, blob);
    return;
  }
}

}  // namespace stablelm::hub
