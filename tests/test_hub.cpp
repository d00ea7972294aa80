// The hub client against a real HTTP server (tests/hub_server.py) that serves the fixture models
// under the hub's URL scheme and headers, with injected faults. Every test uses its own temporary
// cache, never the user's ~/.cache.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <optional>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "hub/download.h"
#include "stablelm/error.h"
#include "stablelm/hub.h"
#include "testutil.h"

extern char** environ;

namespace stablelm::test {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

const std::string kRepo = "stabilityai/tiny-stablelm-2";

fs::path tiny_dir() { return fixtures_dir() / "models" / "tiny-stablelm-2"; }
fs::path sharded_dir() { return fixtures_dir() / "models" / "micro-sharded"; }

// tests/hub_server.py as a child process; killed (and reaped) by the destructor.
class HubServer {
 public:
  explicit HubServer(std::vector<std::string> extra) {
    log_ = temp_dir("hublog") / "requests.jsonl";
    // Debian's python3 (scripts/install-deps.sh) directly: a version-manager shim in PATH can cost
    // seconds per start on a loaded machine.
    const std::string python = fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
    std::vector<std::string> args = {python, std::string(STABLELM_SOURCE_DIR) + "/tests/hub_server.py",
                                     "--log", log_.string(), "--stall-seconds", "4", "--max-seconds", "600"};
    args.insert(args.end(), extra.begin(), extra.end());
    int out[2];
    if (pipe(out) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int rc = posix_spawnp(&pid_, python.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    if (rc != 0) {
      close(out[0]);
      throw std::runtime_error("cannot start python3 tests/hub_server.py");
    }
    // The first stdout line is the port (bounded wait: the server reads ~40 MB of fixtures).
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{out[0], POLLIN, 0};
      if (poll(&p, 1, 200) > 0) {
        char buf[64];
        ssize_t n = read(out[0], buf, sizeof buf);
        if (n <= 0) break;
        line.append(buf, static_cast<size_t>(n));
      }
    }
    close(out[0]);
    port_ = std::atoi(line.c_str());
    if (port_ <= 0) {
      stop();
      throw std::runtime_error("hub_server.py did not report a port");
    }
  }
  ~HubServer() { stop(); }
  HubServer(const HubServer&) = delete;
  HubServer& operator=(const HubServer&) = delete;

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

  std::vector<json> requests() const {
    std::vector<json> out;
    std::ifstream f(log_);
    std::string line;
    while (std::getline(f, line))
      if (!line.empty()) out.push_back(json::parse(line));
    return out;
  }
  size_t count(const std::string& method, const std::string& path_part = "") const {
    size_t n = 0;
    for (auto& r : requests())
      if (r["method"] == method && r["path"].get<std::string>().find(path_part) != std::string::npos) ++n;
    return n;
  }

 private:
  void stop() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  pid_t pid_ = -1;
  int port_ = 0;
  fs::path log_;
};

std::vector<std::string> tiny_repo_args() { return {"--repo", kRepo + "=" + tiny_dir().string()}; }

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

hub::Options options_for(const HubServer& s, const fs::path& cache) {
  hub::Options o;
  o.endpoint = s.endpoint();
  o.cache_dir = cache;
  o.progress = hub::Progress::Never;
  o.connect_timeout_s = 5;
  o.stall_timeout_s = 10;  // generous: the machine running the tests may be loaded
  o.retries = 2;
  o.retry_base_delay_s = 0.05;
  return o;
}

std::string read_all(const fs::path& p) { return read_file(p); }

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

fs::path storage(const fs::path& cache) { return cache / "models--stabilityai--tiny-stablelm-2"; }

// The invariant after any fault: blobs hold only verified complete files (or .incomplete
// partials), and every snapshot entry is a relative link to an existing blob.
void expect_cache_sound(const fs::path& cache) {
  if (!fs::exists(cache)) return;
  for (auto& repo : fs::directory_iterator(cache)) {
    if (repo.path().filename().string().rfind("models--", 0) != 0) continue;
    if (fs::exists(repo.path() / "blobs"))
      for (auto& b : fs::directory_iterator(repo.path() / "blobs")) {
        std::string name = b.path().filename().string();
        if (name.size() > 11 && name.substr(name.size() - 11) == ".incomplete") continue;
        if (name.size() == 64) {
          EXPECT_EQ(hub::sha256_file(b.path()), name) << b.path();
        }
      }
    if (fs::exists(repo.path() / "snapshots"))
      for (auto& e : fs::recursive_directory_iterator(repo.path() / "snapshots")) {
        if (e.is_directory() && !e.is_symlink()) continue;
        ASSERT_TRUE(e.is_symlink()) << e.path() << " is not a symlink";
        EXPECT_TRUE(fs::read_symlink(e.path()).is_relative()) << e.path();
        EXPECT_TRUE(fs::exists(e.path())) << e.path() << " dangles";
      }
  }
}

std::vector<fs::path> files_with_suffix(const fs::path& dir, const std::string& suffix) {
  std::vector<fs::path> out;
  if (!fs::exists(dir)) return out;
  for (auto& e : fs::recursive_directory_iterator(dir)) {
    std::string n = e.path().filename().string();
    if (n.size() >= suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0)
      out.push_back(e.path());
  }
  return out;
}

// ---- ids, environment, file selection ----------------------------------------------------

TEST(HubIds, ParsesOrgNameAndRevision) {
  auto r = hub::parse_model_ref("stabilityai/stablelm-2-1_6b");
  EXPECT_EQ(r.repo, "stabilityai/stablelm-2-1_6b");
  EXPECT_EQ(r.revision, "");
  r = hub::parse_model_ref("org/name@refs/pr/1");
  EXPECT_EQ(r.repo, "org/name");
  EXPECT_EQ(r.revision, "refs/pr/1");
  EXPECT_EQ(hub::repo_folder_name("org/name"), "models--org--name");
  EXPECT_TRUE(hub::is_commit_hash(std::string(40, 'a')));
  EXPECT_FALSE(hub::is_commit_hash(std::string(40, 'A')));
}

TEST(HubIds, RejectsMalformedIds) {
  for (const char* bad : {"", "a/b/c", "..", "a/..", "../b", "org", "org/", "/name", "org/na me", "org/name@",
                          "org/name@../x", "org/name@a//b", "-org/name", "org/name.", "a--b/c", "org/name.git",
                          "org/na\nme"}) {
    std::string msg = message_of([&] { hub::parse_model_ref(bad); });
    EXPECT_NE(msg, "(no error)") << "accepted: '" << bad << "'";
  }
  EXPECT_NE(message_of([] { hub::parse_model_ref("a/b/c"); }).find("org/name"), std::string::npos);
  EXPECT_NE(message_of([] { hub::validate_repo_filename("../evil"); }), "(no error)");
  EXPECT_NE(message_of([] { hub::validate_repo_filename("/etc/passwd"); }), "(no error)");
  EXPECT_EQ(message_of([] { hub::validate_repo_filename("sub/dir/file.json"); }), "(no error)");
}

// Sets environment variables for one scope and restores them after.
class EnvScope {
 public:
  EnvScope(std::initializer_list<std::pair<const char*, const char*>> vars) {
    for (const char* n : {"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME", "HF_TOKEN",
                          "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_ENDPOINT", "HF_HUB_OFFLINE",
                          "TRANSFORMERS_OFFLINE", "HOME", "HF_HUB_DOWNLOAD_TIMEOUT", "HF_HUB_ETAG_TIMEOUT"}) {
      const char* v = std::getenv(n);
      saved_.push_back({n, v ? std::optional<std::string>(v) : std::nullopt});
      unsetenv(n);
    }
    for (auto& [n, v] : vars) setenv(n, v, 1);
  }
  ~EnvScope() {
    for (auto& [n, v] : saved_) {
      if (v)
        setenv(n.c_str(), v->c_str(), 1);
      else
        unsetenv(n.c_str());
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

TEST(HubEnv, CacheDirFollowsHuggingfaceHubOrder) {
  {
    EnvScope e({{"HOME", "/home/u"}});
    EXPECT_EQ(hub::default_cache_dir(), fs::path("/home/u/.cache/huggingface/hub"));
  }
  {
    EnvScope e({{"HOME", "/home/u"}, {"XDG_CACHE_HOME", "/xdg"}});
    EXPECT_EQ(hub::default_cache_dir(), fs::path("/xdg/huggingface/hub"));
  }
  {
    EnvScope e({{"HOME", "/home/u"}, {"XDG_CACHE_HOME", "/xdg"}, {"HF_HOME", "/hfh"}});
    EXPECT_EQ(hub::default_cache_dir(), fs::path("/hfh/hub"));
  }
  {
    EnvScope e({{"HF_HOME", "/hfh"}, {"HUGGINGFACE_HUB_CACHE", "/legacy"}});
    EXPECT_EQ(hub::default_cache_dir(), fs::path("/legacy"));
  }
  {
    EnvScope e({{"HF_HOME", "/hfh"}, {"HUGGINGFACE_HUB_CACHE", "/legacy"}, {"HF_HUB_CACHE", "~/c"}, {"HOME", "/h"}});
    EXPECT_EQ(hub::default_cache_dir(), fs::path("/h/c"));
  }
}

TEST(HubEnv, TokenEndpointOfflineFromEnvironment) {
  fs::path home = temp_dir("hfhome");
  write_file(home / "token", "hf_fromfile\n");
  {
    EnvScope e({{"HF_HOME", home.c_str()}});
    EXPECT_EQ(hub::default_token().value_or(""), "hf_fromfile");
    auto o = hub::Options::from_env();
    EXPECT_EQ(o.endpoint, "https://huggingface.co");
    EXPECT_FALSE(o.offline);
    EXPECT_EQ(o.cache_dir, home / "hub");
  }
  {
    EnvScope e({{"HF_HOME", home.c_str()}, {"HF_TOKEN", "hf_env"}, {"HF_ENDPOINT", "http://mirror:8080/"},
                {"HF_HUB_OFFLINE", "1"}});
    auto o = hub::Options::from_env();
    EXPECT_EQ(o.token.value_or(""), "hf_env");
    EXPECT_EQ(o.endpoint, "http://mirror:8080");
    EXPECT_TRUE(o.offline);
  }
  {
    EnvScope e({{"HF_HOME", "/nonexistent-hf-home"}, {"HF_HUB_OFFLINE", "yes"}});
    EXPECT_FALSE(hub::default_token().has_value());
    EXPECT_TRUE(hub::Options::from_env().offline);
  }
  {
    EnvScope e({{"HF_HUB_DOWNLOAD_TIMEOUT", "soon"}});
    EXPECT_NE(message_of([] { hub::Options::from_env(); }).find("HF_HUB_DOWNLOAD_TIMEOUT"), std::string::npos);
  }
}

TEST(HubFiles, SelectsWhatTheEngineNeeds) {
  auto f = hub::select_needed_files("o/n", {"README.md", "config.json", "model.safetensors", "tokenizer.json",
                                            "pytorch_model.bin", "generation_config.json", ".gitattributes",
                                            "model.safetensors.index.json", "arcade100k.tiktoken"});
  std::set<std::string> got(f.begin(), f.end());
  EXPECT_EQ(got, (std::set<std::string>{"config.json", "generation_config.json", "tokenizer.json",
                                        "arcade100k.tiktoken", "model.safetensors"}));
  f = hub::select_needed_files("o/n", {"config.json", "model.safetensors.index.json", "model-00001-of-00002.safetensors"});
  EXPECT_EQ(f, (std::vector<std::string>{"config.json", "model.safetensors.index.json"}));
  EXPECT_NE(message_of([] { hub::select_needed_files("o/n", {"config.json", "pytorch_model.bin"}); })
                .find("no safetensors weights"),
            std::string::npos);
  EXPECT_NE(message_of([] { hub::select_needed_files("o/n", {"model.safetensors"}); }).find("config.json"),
            std::string::npos);
}

// ---- downloads ---------------------------------------------------------------------------

TEST(HubDownload, HappyPathMatchesHuggingfaceCacheLayout) {
  HubServer server(tiny_repo_args());
  fs::path cache = temp_dir("cache");
  fs::path snap = hub::snapshot_download(kRepo, "", options_for(server, cache));

  // refs/main → the commit the server reported; the snapshot is named after it.
  std::string commit = read_all(storage(cache) / "refs" / "main");
  ASSERT_TRUE(hub::is_commit_hash(commit)) << commit;
  EXPECT_EQ(snap, storage(cache) / "snapshots" / commit);

  for (const char* name : {"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                           "special_tokens_map.json", "model.safetensors"}) {
    fs::path p = snap / name;
    ASSERT_TRUE(fs::is_symlink(p)) << p;
    fs::path target = fs::read_symlink(p);
    EXPECT_EQ(target.parent_path(), fs::path("../../blobs")) << target;
    EXPECT_EQ(read_all(p), read_all(tiny_dir() / name)) << name;
    std::string etag = target.filename().string();
    if (std::string(name) == "model.safetensors") {
      EXPECT_EQ(etag, hub::sha256_file(tiny_dir() / name));  // LFS: named by sha256
    } else {
      EXPECT_TRUE(hub::is_commit_hash(etag)) << etag;  // git blob sha1
    }
  }
  EXPECT_FALSE(fs::exists(snap / "golden"));
  EXPECT_TRUE(files_with_suffix(cache, ".incomplete").empty());
  EXPECT_TRUE(fs::exists(cache / ".locks" / "models--stabilityai--tiny-stablelm-2"));
  // One revision look-up, one HEAD and one GET per file; the LFS file via the /lfs redirect target.
  EXPECT_EQ(server.count("GET", "/api/models/"), 1u);
  EXPECT_EQ(server.count("HEAD", "/resolve/"), 6u);
  EXPECT_EQ(server.count("GET", "/lfs/"), 1u);
  EXPECT_EQ(server.count("GET", "/resolve/"), 5u);
  expect_cache_sound(cache);

  // Second run: everything cached → only the revision look-up.
  size_t before = server.requests().size();
  EXPECT_EQ(hub::snapshot_download(kRepo, "main", options_for(server, cache)), snap);
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), before + 1);
  EXPECT_NE(reqs.back()["path"].get<std::string>().find("/api/models/"), std::string::npos);

  // Offline: no request at all, by branch or by commit.
  auto off = options_for(server, cache);
  off.offline = true;
  EXPECT_EQ(hub::snapshot_download(kRepo, "", off), snap);
  EXPECT_EQ(hub::snapshot_download(kRepo, commit, off), snap);
  EXPECT_EQ(server.requests().size(), before + 1);
  // An explicit commit online also works (it names the same snapshot).
  EXPECT_EQ(hub::snapshot_download(kRepo, commit, options_for(server, cache)), snap);
}

TEST(HubDownload, OfflineErrors) {
  HubServer server(tiny_repo_args());
  fs::path cache = temp_dir("cache");
  auto off = options_for(server, cache);
  off.offline = true;
  std::string msg = message_of([&] { hub::snapshot_download(kRepo, "", off); });
  EXPECT_NE(msg.find("HF_HUB_OFFLINE"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not in the cache"), std::string::npos) << msg;
  EXPECT_EQ(server.requests().size(), 0u);

  fs::path snap = hub::snapshot_download(kRepo, "", options_for(server, cache));
  fs::remove(fs::path(snap / "model.safetensors"));  // the user deleted a file of the snapshot
  msg = message_of([&] { hub::snapshot_download(kRepo, "", off); });
  EXPECT_NE(msg.find("incomplete"), std::string::npos) << msg;
  EXPECT_NE(msg.find("model.safetensors"), std::string::npos) << msg;
  // Online it is repaired from the blob already there: no new GET.
  size_t gets = server.count("GET", "/lfs/");
  hub::snapshot_download(kRepo, "", options_for(server, cache));
  EXPECT_EQ(server.count("GET", "/lfs/"), gets);
  EXPECT_EQ(hub::snapshot_download(kRepo, "", off), snap);
}

TEST(HubDownload, ShardedWeightsFetchIndexAndEveryShard) {
  HubServer server({"--repo", "org/sharded=" + sharded_dir().string()});
  fs::path cache = temp_dir("cache");
  fs::path snap = hub::snapshot_download("org/sharded", "", options_for(server, cache));
  for (const char* name : {"config.json", "model.safetensors.index.json", "model-00001-of-00002.safetensors",
                           "model-00002-of-00002.safetensors"})
    EXPECT_EQ(read_all(snap / name), read_all(sharded_dir() / name)) << name;
  EXPECT_EQ(server.count("GET", "/lfs/"), 2u);
  expect_cache_sound(cache);
}

TEST(HubDownload, BranchesAndRevisionsResolveSeparately) {
  HubServer server({"--repo", "org/m=" + tiny_dir().string(), "--repo", "org/m@dev=" + sharded_dir().string()});
  fs::path cache = temp_dir("cache");
  fs::path main_snap = hub::snapshot_download("org/m", "", options_for(server, cache));
  fs::path dev_snap = hub::snapshot_download("org/m", "dev", options_for(server, cache));
  EXPECT_NE(main_snap, dev_snap);
  EXPECT_TRUE(fs::exists(dev_snap / "model.safetensors.index.json"));
  EXPECT_EQ(read_all(cache / "models--org--m" / "refs" / "dev"), dev_snap.filename().string());
  std::string msg = message_of([&] { hub::snapshot_download("org/m", "nope", options_for(server, cache)); });
  EXPECT_NE(msg.find("revision 'nope' not found"), std::string::npos) << msg;
}

TEST(HubDownload, RevisionWithSlashesIsQuotedAndStoredUnderRefs) {
  HubServer server({"--repo", "org/m=" + tiny_dir().string(), "--repo", "org/m@refs/pr/1=" + sharded_dir().string()});
  fs::path cache = temp_dir("cache");
  fs::path snap = hub::snapshot_download("org/m", "refs/pr/1", options_for(server, cache));
  EXPECT_TRUE(fs::exists(snap / "model.safetensors.index.json"));
  EXPECT_EQ(read_all(cache / "models--org--m" / "refs" / "refs" / "pr" / "1"), snap.filename().string());
  EXPECT_EQ(server.count("GET", "/revision/refs%2Fpr%2F1"), 1u);
}

TEST(HubDownload, ConcurrentDownloadsShareOneCopy) {
  HubServer server(tiny_repo_args());
  fs::path cache = temp_dir("cache");
  fs::path a, b;
  std::string err_a, err_b;
  // Two downloaders at once (threads here; processes behave the same): the per-blob lock makes
  // the second wait for the first and reuse its blob.
  std::thread t1([&] { err_a = message_of([&] { a = hub::snapshot_download(kRepo, "", options_for(server, cache)); }); });
  std::thread t2([&] { err_b = message_of([&] { b = hub::snapshot_download(kRepo, "", options_for(server, cache)); }); });
  t1.join();
  t2.join();
  EXPECT_EQ(err_a, "(no error)");
  EXPECT_EQ(err_b, "(no error)");
  EXPECT_EQ(a, b);
  EXPECT_EQ(server.count("GET", "/lfs/"), 1u);
  EXPECT_EQ(hub::sha256_file(a / "model.safetensors"), hub::sha256_file(tiny_dir() / "model.safetensors"));
  expect_cache_sound(cache);
}

TEST(HubDownload, ResumesWithRangeAfterAConnectionDrop) {
  HubServer server(with(tiny_repo_args(), {"--fault", "drop:model.safetensors:1"}));
  fs::path cache = temp_dir("cache");
  fs::path snap = hub::snapshot_download(kRepo, "", options_for(server, cache));
  EXPECT_EQ(hub::sha256_file(snap / "model.safetensors"), hub::sha256_file(tiny_dir() / "model.safetensors"));
  // The second GET continued the partial file instead of starting over.
  std::vector<json> lfs;
  for (auto& r : server.requests())
    if (r["path"].get<std::string>().find("/lfs/") != std::string::npos) lfs.push_back(r);
  ASSERT_EQ(lfs.size(), 2u);
  EXPECT_TRUE(lfs[0]["range"].is_null());
  ASSERT_TRUE(lfs[1]["range"].is_string());
  long from = std::stol(lfs[1]["range"].get<std::string>().substr(6));
  EXPECT_GT(from, 0);
  EXPECT_EQ(lfs[1]["status"], 206);
  expect_cache_sound(cache);
}

TEST(HubDownload, ResumesAPartialLeftByAnEarlierRun) {
  fs::path cache = temp_dir("cache");
  uintmax_t partial = 0;
  {
    HubServer server(with(tiny_repo_args(), {"--fault", "drop:model.safetensors"}));
    std::string msg = message_of([&] { hub::snapshot_download(kRepo, "", options_for(server, cache)); });
    EXPECT_NE(msg.find("model.safetensors"), std::string::npos) << msg;
    EXPECT_NE(msg.find("run again to resume"), std::string::npos) << msg;
    auto parts = files_with_suffix(cache, ".incomplete");
    ASSERT_EQ(parts.size(), 1u);
    partial = fs::file_size(parts[0]);
    EXPECT_GT(partial, 0u);
    EXPECT_FALSE(fs::exists(storage(cache) / "snapshots" / read_all(storage(cache) / "refs" / "main") /
                            "model.safetensors"));
    expect_cache_sound(cache);
  }
  HubServer server(tiny_repo_args());
  fs::path snap = hub::snapshot_download(kRepo, "", options_for(server, cache));
  EXPECT_EQ(hub::sha256_file(snap / "model.safetensors"), hub::sha256_file(tiny_dir() / "model.safetensors"));
  bool resumed = false;
  for (auto& r : server.requests())
    if (r["path"].get<std::string>().find("/lfs/") != std::string::npos && r["range"].is_string())
      resumed = r["range"] == "bytes=" + std::to_string(partial) + "-";
  EXPECT_TRUE(resumed);
  EXPECT_TRUE(files_with_suffix(cache, ".incomplete").empty());
}

TEST(HubDownload, RestartsWhenTheServerIgnoresRange) {
  fs::path cache = temp_dir("cache");
  {
    HubServer server(with(tiny_repo_args(), {"--fault", "drop:model.safetensors"}));
    auto o = options_for(server, cache);
    o.retries = 0;
    message_of([&] { hub::snapshot_download(kRepo, "", o); });
  }
  ASSERT_EQ(files_with_suffix(cache, ".incomplete").size(), 1u);
  HubServer server(with(tiny_repo_args(), {"--fault", "norange:model.safetensors"}));
  fs::path snap = hub::snapshot_download(kRepo, "", options_for(server, cache));
  EXPECT_EQ(hub::sha256_file(snap / "model.safetensors"), hub::sha256_file(tiny_dir() / "model.safetensors"));
}

TEST(HubDownload, ChecksumMismatchRemovesTheFile) {
  fs::path cache = temp_dir("cache");
  {
    HubServer server(with(tiny_repo_args(), {"--fault", "corrupt:model.safetensors"}));
    std::string msg = message_of([&] { hub::snapshot_download(kRepo, "", options_for(server, cache)); });
    EXPECT_NE(msg.find("checksum mismatch for model.safetensors"), std::string::npos) << msg;
    EXPECT_TRUE(files_with_suffix(cache, ".incomplete").empty());
    EXPECT_FALSE(fs::exists(storage(cache) / "blobs" / hub::sha256_file(tiny_dir() / "model.safetensors")));
    expect_cache_sound(cache);
  }
  HubServer server(tiny_repo_args());
  fs::path snap = hub::snapshot_download(kRepo, "", options_for(server, cache));
  EXPECT_EQ(read_all(snap / "model.safetensors"), read_all(tiny_dir() / "model.safetensors"));
}

TEST(HubDownload, HttpErrorsSayWhatIsMissing) {
  HubServer server(with(tiny_repo_args(), {"--fault", "404:tokenizer.json:1"}));
  fs::path cache = temp_dir("cache");
  auto o = options_for(server, cache);
  std::string msg = message_of([&] { hub::snapshot_download(kRepo, "", o); });
  EXPECT_NE(msg.find("file tokenizer.json not found in " + kRepo), std::string::npos) << msg;
  expect_cache_sound(cache);

  msg = message_of([&] { hub::snapshot_download("nobody/nothing", "", o); });
  EXPECT_NE(msg.find("repository nobody/nothing not found"), std::string::npos) << msg;
  msg = message_of([&] { hub::snapshot_download(kRepo, "v9", o); });
  EXPECT_NE(msg.find("revision 'v9' not found"), std::string::npos) << msg;
  // After the fault is gone the same cache completes.
  hub::snapshot_download(kRepo, "", o);
  expect_cache_sound(cache);
}

TEST(HubDownload, GatedRepoNeedsAToken) {
  HubServer server(with(tiny_repo_args(), {"--token", "hf_secret"}));
  fs::path cache = temp_dir("cache");
  auto o = options_for(server, cache);
  std::string msg = message_of([&] { hub::snapshot_download(kRepo, "", o); });
  EXPECT_NE(msg.find("HF_TOKEN"), std::string::npos) << msg;
  EXPECT_NE(msg.find("huggingface-cli login"), std::string::npos) << msg;
  EXPECT_NE(msg.find("gated"), std::string::npos) << msg;
  o.token = "hf_wrong";
  msg = message_of([&] { hub::snapshot_download(kRepo, "", o); });
  EXPECT_NE(msg.find("HF_TOKEN"), std::string::npos) << msg;
  o.token = "hf_secret";
  fs::path snap = hub::snapshot_download(kRepo, "", o);
  EXPECT_TRUE(fs::exists(snap / "model.safetensors"));
  for (auto& r : server.requests())
    if (r["path"].get<std::string>().find("/resolve/") != std::string::npos && r["status"] != 401) {
      EXPECT_EQ(r["auth"], "Bearer hf_secret");
    }
}

TEST(HubDownload, InjectedUnauthorizedOnAFile) {
  HubServer server(with(tiny_repo_args(), {"--fault", "401:config.json:1"}));
  fs::path cache = temp_dir("cache");
  std::string msg = message_of([&] { hub::snapshot_download(kRepo, "", options_for(server, cache)); });
  EXPECT_NE(msg.find("HF_TOKEN"), std::string::npos) << msg;
  expect_cache_sound(cache);
}

TEST(HubDownload, ForbiddenSaysHowToGetAccess) {
  HubServer server(with(tiny_repo_args(), {"--fault", "403:api:1"}));
  fs::path cache = temp_dir("cache");
  std::string msg = message_of([&] { hub::snapshot_download(kRepo, "", options_for(server, cache)); });
  EXPECT_NE(msg.find("HTTP 403"), std::string::npos) << msg;
  EXPECT_NE(msg.find("HF_TOKEN"), std::string::npos) << msg;
  EXPECT_NE(msg.find(server.endpoint() + "/" + kRepo), std::string::npos) << msg;  // where to accept the terms
  EXPECT_FALSE(fs::exists(storage(cache) / "snapshots"));
}

TEST(HubDownload, TransientServerErrorsAreRetried) {
  HubServer server(with(tiny_repo_args(), {"--fault", "500:api:1", "--fault", "500:config.json:1"}));
  fs::path cache = temp_dir("cache");
  fs::path snap = hub::snapshot_download(kRepo, "", options_for(server, cache));
  EXPECT_TRUE(fs::exists(snap / "config.json"));
  EXPECT_EQ(server.count("GET", "/api/models/"), 2u);
}

TEST(HubDownload, PersistentServerErrorFailsBounded) {
  HubServer server(with(tiny_repo_args(), {"--fault", "500:api"}));
  fs::path cache = temp_dir("cache");
  auto o = options_for(server, cache);
  auto t0 = std::chrono::steady_clock::now();
  std::string msg = message_of([&] { hub::snapshot_download(kRepo, "", o); });
  EXPECT_NE(msg.find("HTTP 500"), std::string::npos) << msg;
  EXPECT_EQ(server.count("GET", "/api/models/"), static_cast<size_t>(o.retries + 1));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(30));  // bounded, even on a loaded machine
}

TEST(HubDownload, SlowAndStalledServers) {
  {
    // Slow but steady: finishes (the server spreads the body over about a second).
    HubServer server(with(tiny_repo_args(), {"--fault", "slow:model.safetensors:1", "--slow-seconds", "1"}));
    fs::path cache = temp_dir("cache");
    fs::path snap = hub::snapshot_download(kRepo, "", options_for(server, cache));
    EXPECT_EQ(fs::file_size(snap / "model.safetensors"), fs::file_size(tiny_dir() / "model.safetensors"));
  }
  {
    // Stalled mid-file for 30 s: given up after stall_timeout (1 s), then resumed with Range.
    HubServer server(with(tiny_repo_args(), {"--fault", "stall:model.safetensors:1", "--stall-seconds", "30"}));
    fs::path cache = temp_dir("cache");
    auto o = options_for(server, cache);
    o.stall_timeout_s = 1;
    auto t0 = std::chrono::steady_clock::now();
    fs::path snap = hub::snapshot_download(kRepo, "", o);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(15));  // not the server's 30 s
    EXPECT_EQ(hub::sha256_file(snap / "model.safetensors"), hub::sha256_file(tiny_dir() / "model.safetensors"));
    bool ranged = false;
    for (auto& r : server.requests())
      if (r["path"].get<std::string>().find("/lfs/") != std::string::npos && r["range"].is_string()) ranged = true;
    EXPECT_TRUE(ranged);
  }
}

int closed_port() {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  close(s);
  return port;
}

TEST(HubDownload, NetworkDownSuggestsOfflineWhenCached) {
  fs::path cache = temp_dir("cache");
  hub::Options o;
  o.endpoint = "http://127.0.0.1:" + std::to_string(closed_port());
  o.cache_dir = cache;
  o.progress = hub::Progress::Never;
  o.retry_base_delay_s = 0.05;
  std::string msg = message_of([&] { hub::snapshot_download(kRepo, "", o); });
  EXPECT_NE(msg.find("cannot reach"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("HF_HUB_OFFLINE=1"), std::string::npos) << msg;
  {
    HubServer server(tiny_repo_args());
    hub::snapshot_download(kRepo, "", options_for(server, cache));
  }
  msg = message_of([&] { hub::snapshot_download(kRepo, "", o); });
  EXPECT_NE(msg.find("HF_HUB_OFFLINE=1"), std::string::npos) << msg;
}

TEST(HubDownload, DiskFullOnWriteIsAClearError) {
  // A partial that is really /dev/full makes every write fail with ENOSPC, as a full disk would.
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  HubServer server(tiny_repo_args());
  fs::path cache = temp_dir("cache");
  std::string sha = hub::sha256_file(tiny_dir() / "model.safetensors");
  fs::create_directories(storage(cache) / "blobs");
  fs::create_symlink("/dev/full", storage(cache) / "blobs" / (sha + ".incomplete"));
  std::string msg = message_of([&] { hub::snapshot_download(kRepo, "", options_for(server, cache)); });
  EXPECT_NE(msg.find("disk full"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(storage(cache) / "blobs" / sha));
  fs::remove(storage(cache) / "blobs" / (sha + ".incomplete"));
  expect_cache_sound(cache);
}

TEST(HubDownload, TooLittleDiskSpaceIsCaughtBeforeDownloading) {
  // A 2 MB tmpfs in a private mount namespace (needs root; skipped otherwise).
  HubServer server(tiny_repo_args());
  fs::path mnt = temp_dir("tmpfs");
  if (run_shell("unshare -m true").exit_code != 0) GTEST_SKIP() << "no mount namespaces here";
  auto r = run_shell("unshare -m sh -c 'mount -t tmpfs -o size=2m tmpfs " + mnt.string() + " && HF_ENDPOINT=" +
                     server.endpoint() + " HF_HOME=" + mnt.string() + " HF_TOKEN= HF_HUB_CACHE=" + mnt.string() +
                     "/hub " + STABLELM_CLI +
                     " download " + kRepo + " --no-progress'");
  if (r.err.find("mount:") != std::string::npos) GTEST_SKIP() << r.err;
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("disk space"), std::string::npos) << r.err;
}

// ---- the CLI -----------------------------------------------------------------------------

// Never the user's cache or token: HF_HOME and the cache are temporary.
std::string env_prefix(const HubServer& s, const fs::path& cache) {
  return "HF_ENDPOINT=" + s.endpoint() + " HF_HUB_CACHE=" + cache.string() + " HF_HOME=" +
         temp_dir("hfhome").string() + " HF_TOKEN= HF_HUB_OFFLINE= ";
}

TEST(HubCli, DownloadPrintsTheSnapshotDirectory) {
  HubServer server(tiny_repo_args());
  fs::path cache = temp_dir("cache");
  auto r = run_shell(env_prefix(server, cache) + STABLELM_CLI + " download " + kRepo);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string dir = r.out.substr(0, r.out.find('\n'));
  EXPECT_TRUE(fs::exists(fs::path(dir) / "model.safetensors")) << dir;
  EXPECT_EQ(r.err, "");  // stderr is not a terminal: no progress bars
  // --revision wins over @rev; --progress draws bars even on a pipe.
  fs::path cache2 = temp_dir("cache");
  r = run_shell(env_prefix(server, cache2) + STABLELM_CLI + " download " + kRepo + "@nope --revision main --progress");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("model.safetensors"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("/s"), std::string::npos) << r.err;
  // --cache-dir overrides the environment.
  fs::path cache3 = temp_dir("cache");
  r = run_shell(env_prefix(server, cache) + STABLELM_CLI + " download " + kRepo + " --cache-dir " + cache3.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind(cache3.string(), 0), 0u) << r.out;
  // Offline through the environment.
  r = run_shell("HF_HUB_OFFLINE=1 HF_HOME=" + temp_dir("hfhome").string() + " HF_HUB_CACHE=" + cache.string() +
                " " + STABLELM_CLI + " download " + kRepo);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.substr(0, r.out.find('\n')), dir);
}

TEST(HubCli, MalformedIdsAndUsageErrors) {
  for (const char* bad : {"a/b/c", "..", "org/name@"}) {
    auto r = run_cli({"download", bad});
    EXPECT_NE(r.exit_code, 0) << bad;
    EXPECT_NE(r.err.find("error:"), std::string::npos) << r.err;
  }
  auto r = run_cli({"download", "org/name", "--progress", "--no-progress"});
  EXPECT_NE(r.exit_code, 0);
}

TEST(HubCli, ModelOptionTakesHubIds) {
  HubServer server(tiny_repo_args());
  fs::path cache = temp_dir("cache");
  // A hub id runs straight from the snapshot (the engine follows the symlinks into blobs/).
  auto r = run_shell(env_prefix(server, cache) + STABLELM_CLI + " logits --model " + kRepo +
                     " --ids 1,2,3 --positions last");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"logits\""), std::string::npos);
  // Malformed ids and missing paths are told apart.
  r = run_shell(env_prefix(server, cache) + STABLELM_CLI + " logits --model a/b/c --ids 1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("not a hub id"), std::string::npos) << r.err;
  r = run_shell(env_prefix(server, cache) + STABLELM_CLI + " logits --model ./missing-dir --ids 1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("no such directory"), std::string::npos) << r.err;
  r = run_shell(env_prefix(server, cache) + STABLELM_CLI + " logits --model '' --ids 1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("empty"), std::string::npos) << r.err;
}

// ---- reliability class 5 (docs/RELIABILITY.md): downloads that never end or keep bad data ----

TEST(HubReliability, ADripFeedIsCutAndResumed) {
  {
    // One byte every 0.5 s never trips the stall watchdog; the low-speed limit cuts it, the retry
    // resumes from the partial.
    HubServer server(with(tiny_repo_args(), {"--fault", "drip:config.json:1", "--drip-seconds", "0.5"}));
    fs::path cache = temp_dir("cache");
    auto o = options_for(server, cache);
    o.low_speed_bytes_per_s = 1000;
    o.low_speed_time_s = 1;
    fs::path snap = hub::snapshot_download(kRepo, "", o);
    EXPECT_EQ(read_all(snap / "config.json"), read_all(tiny_dir() / "config.json"));
    bool ranged = false;
    for (auto& r : server.requests())
      if (r["path"].get<std::string>().find("config.json") != std::string::npos && r["range"].is_string()) ranged = true;
    EXPECT_TRUE(ranged);
  }
  // A server that only ever drips: a bounded error, the partial kept for the next run.
  HubServer server(with(tiny_repo_args(), {"--fault", "drip:config.json", "--drip-seconds", "0.5"}));
  fs::path cache = temp_dir("cache");
  auto o = options_for(server, cache);
  o.low_speed_bytes_per_s = 1000;
  o.low_speed_time_s = 1;
  o.retries = 1;
  const std::string msg = message_of([&] { hub::snapshot_download(kRepo, "", o); });
  EXPECT_NE(msg.find("slower than 1000 bytes/s for 1 s"), std::string::npos) << msg;
  EXPECT_NE(msg.find("run again to resume"), std::string::npos) << msg;
  EXPECT_EQ(files_with_suffix(cache, ".incomplete").size(), 1u);
}

TEST(HubReliability, SmallFilesAreCheckedAgainstTheirGitBlobId) {
  for (const char* file : {"config.json", "tokenizer.json"}) {
    fs::path cache = temp_dir("cache");
    HubServer server(with(tiny_repo_args(), {"--fault", std::string("corrupt:") + file}));
    std::string msg = message_of([&] { hub::snapshot_download(kRepo, "", options_for(server, cache)); });
    EXPECT_NE(msg.find(std::string("checksum mismatch for ") + file + ": expected git blob sha1"), std::string::npos)
        << msg;
    EXPECT_TRUE(files_with_suffix(cache, ".incomplete").empty());
    expect_cache_sound(cache);
  }
  fs::path cache = temp_dir("cache");
  HubServer server(tiny_repo_args());
  fs::path snap = hub::snapshot_download(kRepo, "", options_for(server, cache));
  EXPECT_EQ(read_all(snap / "tokenizer.json"), read_all(tiny_dir() / "tokenizer.json"));
  EXPECT_EQ(hub::git_blob_sha1(snap / "config.json"), fs::canonical(snap / "config.json").filename().string());

  // A cached copy damaged later is fetched again instead of being trusted forever.
  const fs::path blob = fs::canonical(snap / "tokenizer.json");
  fs::remove(blob);
  write_file(blob, "{\"damaged\": true}");
  snap = hub::snapshot_download(kRepo, "", options_for(server, cache));
  EXPECT_EQ(read_all(snap / "tokenizer.json"), read_all(tiny_dir() / "tokenizer.json"));
}

TEST(HubReliability, BodiesBeyondTheAnnouncedSizeAndUnknownSizesAreRefused) {
  {
    HubServer server(with(tiny_repo_args(), {"--fault", "extra:config.json"}));
    fs::path cache = temp_dir("cache");
    std::string msg = message_of([&] { hub::snapshot_download(kRepo, "", options_for(server, cache)); });
    EXPECT_NE(msg.find("the server sent more than the"), std::string::npos) << msg;
    EXPECT_TRUE(files_with_suffix(cache, ".incomplete").empty());
    EXPECT_TRUE(files_with_suffix(cache, "config.json").empty());
  }
  HubServer server(with(tiny_repo_args(), {"--fault", "nolength:config.json"}));
  fs::path cache = temp_dir("cache");
  std::string msg = message_of([&] { hub::snapshot_download(kRepo, "", options_for(server, cache)); });
  EXPECT_NE(msg.find("the server announced no size for config.json"), std::string::npos) << msg;
}

TEST(HubReliability, TokensWithLineBreaksAreRefused) {
  {
    EnvScope env({{"HF_TOKEN", "hf_abc\r\nX-Injected: 1"}});
    EXPECT_NE(message_of([] { hub::default_token(); }).find("HF_TOKEN contains a control character"),
              std::string::npos);
  }
  fs::path home = temp_dir("home");
  write_file(home / "token", "hf_abc\nX-Injected: 1\n");
  {
    EnvScope env({{"HF_HOME", home.c_str()}});
    EXPECT_NE(message_of([] { hub::default_token(); }).find("contains a control character"), std::string::npos);
  }
  HubServer server(tiny_repo_args());
  auto o = options_for(server, temp_dir("cache"));
  o.token = "hf_abc\nX-Injected: 1";
  EXPECT_NE(message_of([&] { hub::snapshot_download(kRepo, "", o); }).find("the hub token contains a control character"),
            std::string::npos);
  for (auto& r : server.requests()) EXPECT_TRUE(r["auth"].is_null() || r["auth"] == "") << r.dump();
}

TEST(HubDownload, RenamedRepoFollowsRelativeRedirects) {
  HubServer server(with(tiny_repo_args(), {"--rename", "oldorg/tiny=" + kRepo}));
  fs::path cache = temp_dir("cache");
  fs::path snap = hub::snapshot_download("oldorg/tiny", "", options_for(server, cache));
  EXPECT_EQ(read_all(snap / "config.json"), read_all(tiny_dir() / "config.json"));
  EXPECT_TRUE(fs::exists(cache / "models--oldorg--tiny"));
}

}  // namespace
}  // namespace stablelm::test
