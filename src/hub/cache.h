#pragma once
// The on-disk layout of one repo in the hub cache, shared with huggingface_hub:
// blobs/<etag>, snapshots/<commit>/<file> → ../../blobs/<etag>, refs/<revision>, and the lock
// files .locks/models--org--name/<etag>.lock that both implementations take (flock).
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace stablelm::hub {

class RepoCache {
 public:
  RepoCache(std::filesystem::path cache_root, const std::string& repo);

  const std::filesystem::path& storage() const { return storage_; }
  std::filesystem::path blob_path(const std::string& etag) const;
  std::filesystem::path snapshot_dir(const std::string& commit) const;
  std::filesystem::path pointer_path(const std::string& commit, const std::string& file) const;
  std::filesystem::path lock_path(const std::string& etag) const;

  // The commit a branch/tag last resolved to (refs/<revision>), or the revision itself when it is
  // a commit hash; nullopt when unknown.
  std::optional<std::string> commit_for(const std::string& revision) const;
  void write_ref(const std::string& revision, const std::string& commit) const;

  // snapshots/<commit>/<file> as a relative symlink to the blob (replaced atomically).
  void link_pointer(const std::filesystem::path& blob, const std::filesystem::path& pointer) const;

  // Files an engine run needs that are missing (or dangling) in the snapshot: config.json and
  // the weights (model.safetensors, or the index and every shard it names). Empty = usable.
  std::vector<std::string> missing_in_snapshot(const std::string& commit) const;

 private:
  std::filesystem::path root_, storage_, locks_;
};

// An exclusive flock held for the lifetime of the object (interoperates with Python's filelock).
class FileLock {
 public:
  explicit FileLock(const std::filesystem::path& path);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

// Shard file names listed in a model.safetensors.index.json (sorted, unique, validated).
std::vector<std::string> index_shards(const std::filesystem::path& index_file);

}  // namespace stablelm::hub
