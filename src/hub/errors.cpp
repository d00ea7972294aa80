#include "hub/errors.h"

namespace stablelm::hub {

bool transient_status(long status) { return status == 429 || (status >= 500 && status <= 599); }

Error http_error(const HttpResponse& resp, const std::string& url, const ErrorContext& ctx) {
  const std::string code = resp.header("x-error-code");
  std::string server_says = resp.header("x-error-message");
  std::string tail = server_says.empty() ? "" : " (server: " + server_says + ")";
  const std::string login =
      "set HF_TOKEN to a token that can read it (or run `huggingface-cli login`, which stores one in "
      "$HF_HOME/token)";
  const std::string what = ctx.file.empty() ? ctx.repo + " at revision '" + ctx.revision + "'"
                                            : ctx.file + " of " + ctx.repo + " at revision '" + ctx.revision + "'";
  long s = resp.status;
  if (code == "GatedRepo" || (s == 403 && code != "RepoNotFound")) {
    return Error("access to " + ctx.repo + " is restricted (HTTP " + std::to_string(s) +
                 ": gated or private model): accept its conditions at " + ctx.endpoint + "/" + ctx.repo +
                 " and " + login + tail);
  }
  if (code == "RepoNotFound") {
    std::string msg = "repository " + ctx.repo + " not found at " + ctx.endpoint + " (HTTP " + std::to_string(s) + ")";
    if (s == 401 || s == 403)
      msg += ctx.sent_token ? "; if it is private or gated, check that your token (HF_TOKEN) can read it"
                            : "; if it is private or gated, " + login;
    return Error(msg + tail);
  }
  if (code == "RevisionNotFound")
    return Error("revision '" + ctx.revision + "' not found in " + ctx.repo + " (no such branch, tag or commit)" + tail);
  if (code == "EntryNotFound" || (s == 404 && !ctx.file.empty()))
    return Error("file " + ctx.file + " not found in " + ctx.repo + " at revision '" + ctx.revision + "'" + tail);
  if (s == 404)
    return Error("repository " + ctx.repo + " or its revision '" + ctx.revision + "' not found at " + ctx.endpoint +
                 tail);
  if (s == 401)
    return Error("unauthorized (HTTP 401) fetching " + what + ": " +
                 (ctx.sent_token ? "the hub refused the token; check HF_TOKEN (or the token file of "
                                   "`huggingface-cli login`)"
                                 : "it may be private or gated: " + login) +
                 tail);
  return Error("HTTP " + std::to_string(s) + " from " + url + " while fetching " + what + tail);
}

}  // namespace stablelm::hub
