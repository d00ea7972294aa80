#pragma once
// Downloads one file into blobs/<etag>: through blobs/<etag>.incomplete, resumed with an HTTP
// Range request when a partial exists, size- and (for LFS files) sha256-checked, then renamed into
// place. An interrupted run leaves only the .incomplete partial, never a complete-looking blob.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "hub/errors.h"
#include "hub/http.h"
#include "stablelm/hub.h"

namespace stablelm::hub {

struct FileMeta {
  std::string commit;    // X-Repo-Commit
  std::string etag;      // normalized X-Linked-Etag or ETag: sha256 (LFS) or git sha1
  std::string location;  // where to GET it (the CDN URL of an LFS redirect, else the resolve URL)
  std::optional<uint64_t> size;  // X-Linked-Size or Content-Length
};

bool is_sha256_hex(const std::string& s);
bool is_sha1_hex(const std::string& s);
// The git blob id of a file: sha1("blob <size>\0" + content), the hub's ETag of small files.
std::string git_blob_sha1(const std::filesystem::path& file);

void download_blob(HttpClient& http, const Options& opts, const FileMeta& meta,
                   const std::vector<std::string>& headers, const std::filesystem::path& blob,
                   const std::string& display_name, const ErrorContext& ctx);

// Sleeps before retry number `attempt` (0-based): base·2^attempt, at most 4 s.
void retry_pause(const Options& opts, int attempt);

}  // namespace stablelm::hub
