#pragma once
// Turns a hub HTTP answer into a stablelm::Error that says what is missing or forbidden and what
// to do about it (the hub's X-Error-Code header tells repo, revision and file apart).
#include <string>

#include "hub/http.h"
#include "stablelm/error.h"

namespace stablelm::hub {

struct ErrorContext {
  std::string endpoint, repo, revision;
  std::string file;  // empty for the revision look-up
  bool sent_token = false;
};

// For a response whose status is not a success; always returns an Error to throw.
Error http_error(const HttpResponse& resp, const std::string& url, const ErrorContext& ctx);
// Retry-worthy statuses: 429 and 5xx.
bool transient_status(long status);

}  // namespace stablelm::hub
