#include "hub/cache.h"

#include "io/json.h"
#include "io/regular_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "stablelm/error.h"
#include "stablelm/hub.h"

namespace stablelm::hub {
namespace fs = std::filesystem;
namespace {
// Temporary names unique across processes and threads (renamed into place atomically).
std::string unique_suffix() {
  static std::atomic<unsigned> counter{0};
  return ".tmp" + std::to_string(getpid()) + "-" + std::to_string(counter++);
}
}  // namespace

RepoCache::RepoCache(fs::path cache_root, const std::string& repo)
    : root_(fs::absolute(cache_root).lexically_normal()),
      storage_(root_ / repo_folder_name(repo)),
      locks_(root_ / ".locks" / repo_folder_name(repo)) {}

fs::path RepoCache::blob_path(const std::string& etag) const { return storage_ / "blobs" / etag; }
fs::path RepoCache::snapshot_dir(const std::string& commit) const { return storage_ / "snapshots" / commit; }
fs::path RepoCache::pointer_path(const std::string& commit, const std::string& file) const {
  return snapshot_dir(commit) / fs::path(file);
}
fs::path RepoCache::lock_path(const std::string& etag) const { return locks_ / (etag + ".lock"); }

std::optional<std::string> RepoCache::commit_for(const std::string& revision) const {
  if (is_commit_hash(revision)) return revision;
  std::ifstream f(storage_ / "refs" / revision);
  if (!f) return std::nullopt;
  std::string commit;
  f >> commit;
  if (!is_commit_hash(commit)) return std::nullopt;
  return commit;
}

void RepoCache::write_ref(const std::string& revision, const std::string& commit) const {
  if (revision == commit) return;
  if (commit_for(revision) == commit) return;
  fs::path ref = storage_ / "refs" / revision;
  fs::create_directories(ref.parent_path());
  fs::path tmp = ref;
  tmp += unique_suffix();
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << commit;  // no newline, as huggingface_hub writes it
    if (!f) throw Error("cannot write " + tmp.string() + ": " + std::strerror(errno));
  }
  fs::rename(tmp, ref);
}

void RepoCache::link_pointer(const fs::path& blob, const fs::path& pointer) const {
  fs::create_directories(pointer.parent_path());
  // Relative, so that the cache survives being moved (huggingface_hub does the same).
  fs::path target = blob.lexically_relative(pointer.parent_path());
  fs::path tmp = pointer;
  tmp += unique_suffix();
  std::error_code ec;
  fs::remove(tmp, ec);
  fs::create_symlink(target, tmp);
  fs::rename(tmp, pointer);
}

std::vector<std::string> RepoCache::missing_in_snapshot(const std::string& commit) const {
  fs::path dir = snapshot_dir(commit);
  std::vector<std::string> missing;
  if (!fs::exists(dir / "config.json")) missing.push_back("config.json");
  if (fs::exists(dir / "model.safetensors")) return missing;
  if (!fs::exists(dir / "model.safetensors.index.json")) {
    missing.push_back("model.safetensors (or model.safetensors.index.json)");
    return missing;
  }
  for (auto& shard : index_shards(dir / "model.safetensors.index.json"))
    if (!fs::exists(dir / shard)) missing.push_back(shard);
  return missing;
}

FileLock::FileLock(const fs::path& path) {
  fs::create_directories(path.parent_path());
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error("cannot open lock file " + path.string() + ": " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) return;
  std::fprintf(stderr, "waiting for another process downloading the same file (lock %s)\n", path.c_str());
  while (::flock(fd_, LOCK_EX) != 0) {
    if (errno != EINTR) {
      ::close(fd_);
      throw Error("cannot lock " + path.string() + ": " + std::strerror(errno));
    }
  }
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

std::vector<std::string> index_shards(const fs::path& index_file) {
  const std::string text = io::read_regular_file(index_file);
  nlohmann::json j;
  try {
    j = io::parse_json(text, index_file.string());
  } catch (const Error&) {
    j = nlohmann::json();  // reported below as not an index
  }
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    throw Error(index_file.string() + ": not a safetensors index (no \"weight_map\" object)");
  std::set<std::string> shards;
  for (auto& [tensor, shard] : j["weight_map"].items()) {
    if (!shard.is_string())
      throw Error(index_file.string() + ": weight_map[\"" + tensor + "\"] is not a file name");
    std::string name = shard.get<std::string>();
    try {
      validate_repo_filename(name);
    } catch (const Error& e) {
      throw Error(index_file.string() + ": " + e.what());
    }
    shards.insert(name);
  }
  if (shards.empty()) throw Error(index_file.string() + ": weight_map names no shard");
  return {shards.begin(), shards.end()};
}

}  // namespace stablelm::hub
