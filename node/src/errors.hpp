// The API's error form (docs/api.md, schemas/errors.json):
//   {"error": {"code": "UPPER_SNAKE", "message": "...", "details": {...}}}
// and the HTTP status of every code the node emits.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "emledger/crypto/result.hpp"
#include "http_server.hpp"

namespace emledger::node {

// Where a code arises decides a few statuses: RECORD_NOT_FOUND is 404 on a
// read but 422 as the rejection of a transaction.
enum class ErrorContext { kRead, kTransaction };

// The HTTP status for `code`; unknown codes are 500 (a bug: every code we emit
// is listed in schemas/errors.json and tests/node/validate_test.cpp checks them).
int http_status_for(std::string_view code, ErrorContext context = ErrorContext::kRead);

// Every code in the table, for tests and docs.
struct ErrorCodeInfo {
  std::string_view code;
  int status;
};
const std::vector<ErrorCodeInfo>& known_error_codes();

nlohmann::json error_object(const std::string& code, const std::string& message,
                            nlohmann::json details = nlohmann::json::object());
HttpResponse error_response(int status, const std::string& code, const std::string& message,
                            nlohmann::json details = nlohmann::json::object());
HttpResponse error_response(const Status& st, ErrorContext context = ErrorContext::kRead,
                            nlohmann::json details = nlohmann::json::object());
HttpResponse json_response(int status, const nlohmann::json& body);

}  // namespace emledger::node
