// snapshot_download: resolve the revision with one API call, then fetch each needed file that
// the snapshot lacks (HEAD for its etag and location, then GET into blobs/), like
// huggingface_hub's snapshot_download restricted to the files the engine reads.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>

#include "hub/cache.h"
#include "io/json.h"
#include "hub/download.h"
#include "hub/errors.h"
#include "hub/http.h"
#include "stablelm/error.h"
#include "stablelm/hub.h"

namespace stablelm::hub {
namespace fs = std::filesystem;
namespace {

const char* const kOptionalFiles[] = {"generation_config.json", "tokenizer.json", "tokenizer_config.json",
                                      "special_tokens_map.json", "arcade100k.tiktoken"};

struct RepoInfo {
  std::string sha;
  std::vector<std::string> siblings;
};

// Small (non-LFS) files are stored under their git blob sha1: check a cached one against its name
// (a corrupted copy would otherwise be trusted forever). LFS blobs were sha256-checked when
// downloaded and are large: not re-read.
bool cached_blob_intact(const fs::path& pointer) {
  std::error_code ec;
  const fs::path blob = fs::canonical(pointer, ec);
  if (ec) return false;
  const std::string etag = blob.filename().string();
  if (etag.size() != 40 || etag.find_first_not_of("0123456789abcdef") != std::string::npos) return true;
  return git_blob_sha1(blob) == etag;
}

class Session {
 public:
  Session(const std::string& repo, const std::string& revision, const Options& opts)
      : opts_(opts),
        http_(opts.connect_timeout_s, opts.stall_timeout_s, opts.low_speed_bytes_per_s, opts.low_speed_time_s),
        cache_(opts.cache_dir, repo) {
    if (opts.token) validate_token(*opts.token, "the hub token");
    ctx_.endpoint = opts.endpoint;
    ctx_.repo = repo;
    ctx_.revision = revision;
    ctx_.sent_token = opts.token.has_value();
  }

  RepoCache& cache() { return cache_; }

  RepoInfo fetch_info() {
    std::string url = opts_.endpoint + "/api/models/" + ctx_.repo + "/revision/" + url_quote(ctx_.revision, false);
    HttpResponse resp = with_retries([&] {
      HttpRequest req;
      req.url = url;
      req.headers = auth_headers(url);
      req.follow_redirects = true;  // a renamed repo answers with a redirect
      return http_.perform(req);
    });
    if (resp.status != 200) {
      Error e = http_error(resp, url, ctx_);
      if (transient_status(resp.status)) throw Error(e.what() + cached_hint());  // the hub is down
      throw e;
    }
    nlohmann::json j;
    try {
      j = io::parse_json(resp.body, url);
    } catch (const Error&) {
      j = nlohmann::json();  // reported below as malformed
    }
    RepoInfo info;
    if (!j.is_object() || !j.contains("sha") || !j["sha"].is_string())
      throw Error("malformed answer from " + url + ": expected JSON with a \"sha\" (is HF_ENDPOINT a hub?)");
    info.sha = j["sha"].get<std::string>();
    if (!is_commit_hash(info.sha)) throw Error("malformed answer from " + url + ": \"sha\" is not a commit hash");
    if (j.contains("siblings") && j["siblings"].is_array())
      for (auto& s : j["siblings"])
        if (s.is_object() && s.contains("rfilename") && s["rfilename"].is_string())
          info.siblings.push_back(s["rfilename"].get<std::string>());
    return info;
  }

  // Makes snapshots/<commit>/<file> present; no request when it already is.
  void ensure_file(const std::string& commit, const std::string& file) {
    fs::path pointer = cache_.pointer_path(commit, file);
    if (fs::exists(pointer)) {  // follows the link: a dangling one is fetched again
      if (cached_blob_intact(pointer)) return;
      std::fprintf(stderr, "%s: the cached copy does not match its git blob id; downloading it again\n", file.c_str());
      std::error_code ec;
      fs::remove(fs::canonical(pointer, ec), ec);
      fs::remove(pointer, ec);
    }
    ErrorContext ctx = ctx_;
    ctx.file = file;
    FileMeta meta = head(commit, file, ctx);
    fs::path blob = cache_.blob_path(meta.etag);
    fs::create_directories(blob.parent_path());
    {
      FileLock lock(cache_.lock_path(meta.etag));  // another process (ours or Python) may be on it
      if (!fs::exists(blob)) download_blob(http_, opts_, meta, auth_headers(meta.location), blob, file, ctx);
    }
    cache_.link_pointer(blob, pointer);
  }

  Error network_down(const NetworkError& e) {
    std::string msg = "cannot reach " + opts_.endpoint + " (" + e.what() + ")";
    std::string hint = cached_hint();
    if (hint.empty())
      msg += "; check the network connection and HF_ENDPOINT (" + ctx_.repo + " at revision '" + ctx_.revision +
             "' is not in the cache " + opts_.cache_dir.string() + ")";
    return Error(msg + hint);
  }

  // When the hub cannot be used but the cache has a usable snapshot, say how to run from it.
  std::string cached_hint() const {
    auto commit = cache_.commit_for(ctx_.revision);
    try {
      if (!commit || !cache_.missing_in_snapshot(*commit).empty()) return "";
    } catch (const Error&) {
      return "";  // a damaged index: not usable offline either
    }
    return "; " + ctx_.repo + " is in the cache (" + cache_.snapshot_dir(*commit).string() +
           "): set HF_HUB_OFFLINE=1 to use it without the network";
  }

 private:
  // The token goes only to the hub itself, never to another host (an LFS CDN).
  std::vector<std::string> auth_headers(const std::string& url) const {
    std::vector<std::string> h;
    if (opts_.token && url_origin(url) == url_origin(opts_.endpoint))
      h.push_back("Authorization: Bearer " + *opts_.token);
    return h;
  }

  template <class F>
  HttpResponse with_retries(F&& call) {
    for (int attempt = 0;; ++attempt) {
      try {
        HttpResponse r = call();
        if (transient_status(r.status) && attempt < opts_.retries) {
          retry_pause(opts_, attempt);
          continue;
        }
        return r;
      } catch (const NetworkError& e) {
        if (!e.transient() || attempt >= opts_.retries) throw;
        retry_pause(opts_, attempt);
      }
    }
  }

  // HEAD of the resolve URL: relative redirects (a renamed repo) are followed, an absolute one
  // (LFS content on a CDN) is not: its Location is where the GET goes.
  FileMeta head(const std::string& commit, const std::string& file, const ErrorContext& ctx) {
    std::string url = opts_.endpoint + "/" + ctx_.repo + "/resolve/" + commit + "/" + url_quote(file, true);
    HttpResponse resp;
    for (int hop = 0;; ++hop) {
      resp = with_retries([&] {
        HttpRequest req;
        req.head = true;
        req.url = url;
        req.headers = auth_headers(url);
        req.headers.push_back("Accept-Encoding: identity");  // so Content-Length is the file's size
        return http_.perform(req);
      });
      std::string loc = resp.header("location");
      if (resp.status >= 300 && resp.status < 400 && !loc.empty() && url_origin(loc).empty() && loc[0] == '/' &&
          hop < 10) {
        url = url_origin(url) + loc;
        continue;
      }
      break;
    }
    if (resp.status < 200 || resp.status >= 400) throw http_error(resp, url, ctx);
    FileMeta m;
    m.commit = resp.header("x-repo-commit");
    std::string etag = resp.header("x-linked-etag");
    if (etag.empty()) etag = resp.header("etag");
    if (etag.rfind("W/", 0) == 0) etag = etag.substr(2);
    while (!etag.empty() && etag.front() == '"') etag.erase(etag.begin());
    while (!etag.empty() && etag.back() == '"') etag.pop_back();
    if (etag.empty())
      throw Error("the server sent no ETag for " + file + " (" + url + "): is HF_ENDPOINT a Hugging Face hub?");
    const bool has_control =
        std::any_of(etag.begin(), etag.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; });
    if (etag == "." || etag == ".." || etag.find_first_of("/\\") != std::string::npos || etag.size() > 200 ||
        has_control)
      throw Error("the server sent an unusable ETag for " + file + ": " + etag);
    m.etag = etag;
    std::string size = resp.header("x-linked-size");
    if (size.empty()) size = resp.header("content-length");
    if (!size.empty()) {
      char* end = nullptr;
      unsigned long long v = std::strtoull(size.c_str(), &end, 10);
      if (end != size.c_str() && *end == '\0') m.size = v;
    }
    // The size bounds the download: without one a server could stream forever into the cache.
    if (!m.size)
      throw Error("the server announced no size for " + file + " (" + url +
                  ": no X-Linked-Size or Content-Length): refusing an unbounded download");
    m.location = (resp.status >= 300 && resp.status < 400 && !resp.header("location").empty()) ? resp.header("location")
                                                                                                  : url;
    if (url_origin(m.location).empty()) m.location = url_origin(url) + m.location;
    return m;
  }

  const Options& opts_;
  HttpClient http_;
  RepoCache cache_;
  ErrorContext ctx_;
};

}  // namespace

std::vector<std::string> select_needed_files(const std::string& repo, const std::vector<std::string>& siblings) {
  std::set<std::string> have(siblings.begin(), siblings.end());
  if (!have.count("config.json"))
    throw Error(repo + " has no config.json: not a transformers model repository (or the wrong revision)");
  std::vector<std::string> out = {"config.json"};
  for (const char* f : kOptionalFiles)
    if (have.count(f)) out.push_back(f);
  if (have.count("model.safetensors")) {
    out.push_back("model.safetensors");
  } else if (have.count("model.safetensors.index.json")) {
    out.push_back("model.safetensors.index.json");
  } else {
    std::string msg = repo + " has no safetensors weights (neither model.safetensors nor model.safetensors.index.json)";
    if (have.count("pytorch_model.bin") || have.count("pytorch_model.bin.index.json"))
      msg += "; it only ships PyTorch .bin weights, which stablelm.cpp does not read: convert them to safetensors";
    throw Error(msg);
  }
  return out;
}

fs::path snapshot_download(const std::string& repo, const std::string& revision, const Options& opts) {
  validate_repo_id(repo);
  const std::string rev = revision.empty() ? "main" : revision;
  validate_revision(rev);

  if (opts.offline) {
    RepoCache cache(opts.cache_dir, repo);
    auto commit = cache.commit_for(rev);
    if (!commit || !fs::is_directory(cache.snapshot_dir(*commit)))
      throw Error("HF_HUB_OFFLINE is set and " + repo + " at revision '" + rev + "' is not in the cache " +
                  opts.cache_dir.string() + ": unset HF_HUB_OFFLINE to download it");
    auto missing = cache.missing_in_snapshot(*commit);
    if (!missing.empty()) {
      std::string list;
      for (auto& m : missing) list += (list.empty() ? "" : ", ") + m;
      throw Error("HF_HUB_OFFLINE is set and the cached snapshot " + cache.snapshot_dir(*commit).string() +
                  " of " + repo + " is incomplete (missing " + list + "): unset HF_HUB_OFFLINE to download the rest");
    }
    return cache.snapshot_dir(*commit);
  }

  Session s(repo, rev, opts);
  RepoInfo info;
  try {
    info = s.fetch_info();
  } catch (const NetworkError& e) {
    throw s.network_down(e);
  }
  s.cache().write_ref(rev, info.sha);
  std::vector<std::string> files = select_needed_files(repo, info.siblings);
  for (auto& f : files) validate_repo_filename(f);
  try {
    for (auto& f : files) s.ensure_file(info.sha, f);
    if (std::find(files.begin(), files.end(), "model.safetensors.index.json") != files.end()) {
      std::set<std::string> have(info.siblings.begin(), info.siblings.end());
      for (auto& shard : index_shards(s.cache().pointer_path(info.sha, "model.safetensors.index.json"))) {
        if (!have.count(shard))
          throw Error("model.safetensors.index.json of " + repo + " names shard " + shard +
                      ", which the repository does not have");
        s.ensure_file(info.sha, shard);
      }
    }
  } catch (const NetworkError& e) {
    throw Error("download from " + opts.endpoint + " failed: " + e.what() + " (run again to resume)");
  }
  return s.cache().snapshot_dir(info.sha);
}

}  // namespace stablelm::hub
