#pragma once
// Hugging Face hub client: downloads the files the engine needs into the same cache that the
// Python libraries (huggingface_hub, transformers) use, so one copy serves both.
//
//   <cache>/models--{org}--{name}/blobs/<etag>              file contents (sha256 for LFS files,
//                                                          git blob sha1 for the others)
//   <cache>/models--{org}--{name}/snapshots/<commit>/<file> relative symlink ../../blobs/<etag>
//   <cache>/models--{org}--{name}/refs/<revision>          the commit a branch/tag resolved to
//
// Environment (read by Options::from_env, as huggingface_hub reads it): HF_ENDPOINT, HF_HUB_CACHE
// (else HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub, HF_HOME defaulting to
// ${XDG_CACHE_HOME:-~/.cache}/huggingface), HF_TOKEN (else the file $HF_TOKEN_PATH or
// $HF_HOME/token), HF_HUB_OFFLINE, HF_HUB_ETAG_TIMEOUT, HF_HUB_DOWNLOAD_TIMEOUT,
// HF_HUB_DISABLE_PROGRESS_BARS. Every failure is a stablelm::Error saying what to do.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace stablelm::hub {

// "org/name[@revision]" split; revision empty when not given.
struct ModelRef {
  std::string repo;      // "org/name"
  std::string revision;  // "" = default branch (main)
};

// Validates like huggingface_hub's validate_repo_id, restricted to the org/name form.
// Throws Error naming what is wrong (empty, a/b/c, "..", bad characters).
ModelRef parse_model_ref(const std::string& text);
void validate_repo_id(const std::string& repo);
// A branch, tag or commit; it becomes a path under refs/, so no "..", empty parts or controls.
void validate_revision(const std::string& revision);
// A repo file name that stays inside the snapshot directory (no absolute path, no "..").
void validate_repo_filename(const std::string& name);
bool is_commit_hash(const std::string& s);  // 40 lowercase hex digits

enum class Progress { Auto, Always, Never };  // Auto: a bar when stderr is a terminal

struct Options {
  std::string endpoint = "https://huggingface.co";
  std::filesystem::path cache_dir;     // the hub cache root (…/hub)
  std::optional<std::string> token;    // sent as "Authorization: Bearer …"
  bool offline = false;                // HF_HUB_OFFLINE: never touch the network
  Progress progress = Progress::Auto;
  double connect_timeout_s = 10;       // HF_HUB_ETAG_TIMEOUT
  double stall_timeout_s = 10;         // HF_HUB_DOWNLOAD_TIMEOUT: abort when no byte arrives for this long
  // A transfer averaging less than low_speed_bytes_per_s over low_speed_time_s is cut and resumed
  // (curl's LOW_SPEED_LIMIT / LOW_SPEED_TIME; HF_HUB_LOW_SPEED_LIMIT, HF_HUB_LOW_SPEED_TIME).
  double low_speed_bytes_per_s = 1024;
  double low_speed_time_s = 60;
  int retries = 3;                     // extra tries for transient failures (drops, timeouts, 5xx, 429)
  double retry_base_delay_s = 0.5;     // doubles each try, capped at 4 s

  static Options from_env();
};

// Resolved from the environment exactly as huggingface_hub's constants do.
std::filesystem::path default_cache_dir();
// Throws Error when the token holds a control character (a CR/LF would inject a request header).
std::optional<std::string> default_token();
void validate_token(const std::string& token, const std::string& where);

// "models--org--name"
std::string repo_folder_name(const std::string& repo);

// The files of a repo (its "siblings") that the engine needs. Throws Error when the repo has no
// config.json or no safetensors weights. Shards of an index are added later, once it is read.
std::vector<std::string> select_needed_files(const std::string& repo, const std::vector<std::string>& siblings);

// Downloads (or finds in the cache) everything the engine needs from `repo` at `revision`
// (branch, tag or commit; "" = main) and returns the snapshot directory
// <cache>/models--org--name/snapshots/<commit>. With everything cached, online this makes one
// request (the revision look-up), offline none.
std::filesystem::path snapshot_download(const std::string& repo, const std::string& revision,
                                        const Options& options);

// SHA-256 of a file, lowercase hex (how LFS files are named and checked).
std::string sha256_file(const std::filesystem::path& path);

}  // namespace stablelm::hub
