#pragma once
// Errors that become an HTTP status and OpenAI's error body:
// {"error": {"message", "type", "param", "code"}}.
#include <optional>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace stablelm::server {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::optional<std::string> param = std::nullopt,
           std::optional<std::string> code = std::nullopt);
  int status() const { return status_; }
  const std::optional<std::string>& param() const { return param_; }
  const std::optional<std::string>& code() const { return code_; }
  nlohmann::json body() const;

 private:
  int status_;
  std::optional<std::string> param_, code_;
};

// 400 invalid_request_error naming the field.
ApiError bad_field(const std::string& param, const std::string& message);

// OpenAI's "type" for a status: invalid_request_error (4xx), server_error (5xx).
const char* error_type(int status);

nlohmann::json error_body(int status, const std::string& message, const std::optional<std::string>& param = std::nullopt,
                          const std::optional<std::string>& code = std::nullopt);

}  // namespace stablelm::server
