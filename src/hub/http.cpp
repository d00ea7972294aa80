#include "hub/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <mutex>

#include "stablelm/error.h"

namespace stablelm::hub {
namespace {

constexpr size_t kBodyCap = 1 << 20;  // enough for the API's JSON; error pages are cut here

struct Transfer {
  const HttpRequest* req;
  double stall_s;
  HttpResponse resp;
  bool aborted_by_sink = false;
  bool stalled = false;
  curl_off_t last_bytes = -1;
  std::chrono::steady_clock::time_point last_change = std::chrono::steady_clock::now();
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {
    // A new response (after a redirect or a 100-continue): keep only the last one's headers.
    t->resp.headers.clear();
    t->resp.body.clear();
    size_t sp = line.find(' ');
    t->resp.status = sp == std::string::npos ? 0 : std::strtol(line.c_str() + sp + 1, nullptr, 10);
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon != std::string::npos) t->resp.headers[lower(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
  return size * n;
}

size_t on_write(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t bytes = size * n;
  long status = t->resp.status;
  if (status >= 200 && status < 300 && t->req->on_body) {
    if (!t->req->on_body(status, data, bytes)) {
      t->aborted_by_sink = true;
      return 0;  // makes curl stop with CURLE_WRITE_ERROR
    }
    return bytes;
  }
  if (t->resp.body.size() < kBodyCap) t->resp.body.append(data, std::min(bytes, kBodyCap - t->resp.body.size()));
  return bytes;
}

int on_progress(void* user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  // Stall watchdog: curl's own low-speed check averages over several seconds, so a server that
  // sent a burst and then went silent would hold us much longer than stall_s.
  auto now = std::chrono::steady_clock::now();
  if (dlnow != t->last_bytes) {
    t->last_bytes = dlnow;
    t->last_change = now;
  } else if (std::chrono::duration<double>(now - t->last_change).count() > t->stall_s) {
    t->stalled = true;
    return 1;  // CURLE_ABORTED_BY_CALLBACK
  }
  if (t->req->on_progress && t->resp.status >= 200 && t->resp.status < 300)
    t->req->on_progress(static_cast<uint64_t>(dlnow), static_cast<uint64_t>(dltotal));
  return 0;
}

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

HttpClient::HttpClient(double connect_timeout_s, double stall_timeout_s, double low_speed_bytes_per_s,
                       double low_speed_time_s)
    : connect_timeout_s_(connect_timeout_s),
      stall_timeout_s_(stall_timeout_s),
      low_speed_bytes_per_s_(low_speed_bytes_per_s),
      low_speed_time_s_(low_speed_time_s) {
  global_init();
  curl_ = curl_easy_init();
  if (!curl_) throw Error("libcurl: cannot create a handle");
}

HttpClient::~HttpClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

HttpResponse HttpClient::perform(const HttpRequest& req) {
  CURL* c = static_cast<CURL*>(curl_);
  curl_easy_reset(c);  // keeps the connection cache
  Transfer t{&req, stall_timeout_s_, {}};
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_slist* hdrs = nullptr;
  for (auto& h : req.headers) hdrs = curl_slist_append(hdrs, h.c_str());
  curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "stablelm.cpp/0.1 (huggingface_hub-compatible cache)");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_NOBODY, req.head ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, req.follow_redirects ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_timeout_s_ * 1000));
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  if (low_speed_bytes_per_s_ > 0 && low_speed_time_s_ > 0) {
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, std::max(1L, static_cast<long>(low_speed_bytes_per_s_)));
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, std::max(1L, static_cast<long>(low_speed_time_s_)));
  }
  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(hdrs);
  if (rc == CURLE_OK) return std::move(t.resp);

  std::string what = errbuf[0] ? errbuf : curl_easy_strerror(rc);
  using K = NetworkError::Kind;
  K kind = K::Other;
  switch (rc) {
    case CURLE_COULDNT_CONNECT: kind = K::Connect; break;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: kind = K::Resolve; break;
    case CURLE_OPERATION_TIMEDOUT:
      kind = K::Timeout;
      if (what.find("slower than") != std::string::npos || what.find("too slow") != std::string::npos)
        what = "the transfer was slower than " + std::to_string(static_cast<long>(low_speed_bytes_per_s_)) +
               " bytes/s for " + std::to_string(static_cast<long>(low_speed_time_s_)) + " s";
      break;
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM: kind = K::Dropped; break;
    case CURLE_WRITE_ERROR: kind = t.aborted_by_sink ? K::Aborted : K::Other; break;
    case CURLE_ABORTED_BY_CALLBACK:
      if (t.stalled) {
        kind = K::Timeout;
        what = "no data from the server for " + std::to_string(static_cast<int>(stall_timeout_s_)) + " s";
      }
      break;
    default: break;
  }
  throw NetworkError(kind, what);
}

std::string url_origin(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return "";
  size_t path = url.find('/', scheme + 3);
  return path == std::string::npos ? url : url.substr(0, path);
}

std::string url_quote(const std::string& s, bool keep_slash) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace stablelm::hub
