#include "server/api_error.h"

namespace stablelm::server {

ApiError::ApiError(int status, std::string message, std::optional<std::string> param, std::optional<std::string> code)
    : std::runtime_error(std::move(message)), status_(status), param_(std::move(param)), code_(std::move(code)) {}

nlohmann::json ApiError::body() const { return error_body(status_, what(), param_, code_); }

ApiError bad_field(const std::string& param, const std::string& message) { return ApiError(400, message, param); }

const char* error_type(int status) {
  if (status == 401) return "authentication_error";
  if (status == 404) return "not_found_error";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

nlohmann::json error_body(int status, const std::string& message, const std::optional<std::string>& param,
                          const std::optional<std::string>& code) {
  nlohmann::json e{{"message", message}, {"type", error_type(status)}, {"param", nullptr}, {"code", nullptr}};
  if (param) e["param"] = *param;
  if (code) e["code"] = *code;
  return {{"error", e}};
}

}  // namespace stablelm::server
