#pragma once
// A thin libcurl wrapper for the hub client: one easy handle (connections are reused), bounded
// connect time, an abort when the transfer stalls, no redirect following unless asked.
#include <cstdint>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace stablelm::hub {

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // lowercase names, of the final response
  std::string body;                            // non-2xx bodies, or 2xx when no on_body sink (capped)
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct HttpRequest {
  bool head = false;
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  bool follow_redirects = false;
  // Receives the body of a 2xx response; returns false to abort (e.g. a failed disk write).
  std::function<bool(long status, const char* data, size_t n)> on_body;
  // Bytes received so far of this response and its announced total (0 when unknown).
  std::function<void(uint64_t now, uint64_t total)> on_progress;
};

// The transfer itself failed (no usable HTTP answer).
class NetworkError : public std::runtime_error {
 public:
  enum class Kind { Connect, Resolve, Timeout, Dropped, Aborted, Other };
  NetworkError(Kind kind, const std::string& what) : std::runtime_error(what), kind(kind) {}
  Kind kind;
  // Worth another try: the server may answer next time (stalls, drops); a refused connection is not.
  bool transient() const { return kind == Kind::Timeout || kind == Kind::Dropped; }
};

class HttpClient {
 public:
  // low_speed_*: abort (as a timeout, so the caller resumes) when fewer than low_speed_bytes_per_s
  // arrive per second for low_speed_time_s seconds: a server dripping a byte every few seconds
  // never trips the stall watchdog. 0 disables.
  HttpClient(double connect_timeout_s, double stall_timeout_s, double low_speed_bytes_per_s = 0,
             double low_speed_time_s = 0);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;
  // Throws NetworkError when no complete response arrived.
  HttpResponse perform(const HttpRequest& req);

 private:
  void* curl_;
  double connect_timeout_s_, stall_timeout_s_, low_speed_bytes_per_s_, low_speed_time_s_;
};

// "https://host:port" of a URL (empty when it has none, i.e. a relative reference).
std::string url_origin(const std::string& url);
// Percent-encodes everything but unreserved characters (and '/' when keep_slash).
std::string url_quote(const std::string& s, bool keep_slash);

}  // namespace stablelm::hub
