// Defaults from the environment, resolved in the same order as huggingface_hub's constants so
// that a Python user's cache and token are found without any configuration.
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "io/regular_file.h"
#include "stablelm/error.h"
#include "stablelm/hub.h"

namespace stablelm::hub {
namespace fs = std::filesystem;
namespace {

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

fs::path expand_user(const std::string& p) {
  if (p == "~" || p.rfind("~/", 0) == 0) {
    const char* home = std::getenv("HOME");
    return fs::path(home ? home : "") / p.substr(p.size() > 1 ? 2 : 1);
  }
  return fs::path(p);
}

fs::path hf_home() {
  if (auto h = env("HF_HOME")) return expand_user(*h);
  std::string xdg = env("XDG_CACHE_HOME").value_or("~/.cache");
  return expand_user(xdg) / "huggingface";
}

bool is_true(const std::optional<std::string>& v) {
  if (!v) return false;
  std::string s;
  for (char c : *v) s += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s == "1" || s == "ON" || s == "YES" || s == "TRUE";
}

double seconds_from_env(const char* name, double fallback) {
  auto v = env(name);
  if (!v) return fallback;
  char* end = nullptr;
  double d = std::strtod(v->c_str(), &end);
  if (end == v->c_str() || *end != '\0' || !(d > 0))
    throw Error(std::string(name) + "='" + *v + "': expected a positive number of seconds");
  return d;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

}  // namespace

fs::path default_cache_dir() {
  if (auto c = env("HF_HUB_CACHE")) return expand_user(*c);
  if (auto c = env("HUGGINGFACE_HUB_CACHE")) return expand_user(*c);
  return hf_home() / "hub";
}

void validate_token(const std::string& token, const std::string& where) {
  for (char c : token)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      throw Error(where + " contains a control character (a line break?): it would change the HTTP request "
                  "rather than authenticate it; fix the token");
}

std::optional<std::string> default_token() {
  for (const char* name : {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"})
    if (auto t = env(name)) {
      std::string s = trim(*t);
      validate_token(s, name);
      if (!s.empty()) return s;
    }
  fs::path file = env("HF_TOKEN_PATH") ? expand_user(*env("HF_TOKEN_PATH")) : hf_home() / "token";
  std::error_code ec;
  if (!fs::exists(file, ec)) return std::nullopt;
  std::string s = trim(io::read_regular_file(file));
  validate_token(s, "the token file " + file.string());
  if (s.empty()) return std::nullopt;
  return s;
}

Options Options::from_env() {
  Options o;
  if (auto e = env("HF_ENDPOINT")) {
    o.endpoint = *e;
    while (!o.endpoint.empty() && o.endpoint.back() == '/') o.endpoint.pop_back();
  }
  o.cache_dir = default_cache_dir();
  o.token = default_token();
  o.offline = is_true(env("HF_HUB_OFFLINE")) || is_true(env("TRANSFORMERS_OFFLINE"));
  if (is_true(env("HF_HUB_DISABLE_PROGRESS_BARS"))) o.progress = Progress::Never;
  o.connect_timeout_s = seconds_from_env("HF_HUB_ETAG_TIMEOUT", o.connect_timeout_s);
  o.stall_timeout_s = seconds_from_env("HF_HUB_DOWNLOAD_TIMEOUT", o.stall_timeout_s);
  o.low_speed_bytes_per_s = seconds_from_env("HF_HUB_LOW_SPEED_LIMIT", o.low_speed_bytes_per_s);
  o.low_speed_time_s = seconds_from_env("HF_HUB_LOW_SPEED_TIME", o.low_speed_time_s);
  return o;
}

}  // namespace stablelm::hub
