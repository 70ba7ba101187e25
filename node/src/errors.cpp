#include "errors.hpp"

#include <vector>

namespace emledger::node {

const std::vector<ErrorCodeInfo>& known_error_codes() {
  // Keep in step with schemas/errors.json (checked by tests/node/validate_test.cpp).
  // From NOT_IDENTITY on: the authorization layer (the kernel's rejections of
  // transaction types 5-13, its reads, request signatures, the material store).
  static const std::vector<ErrorCodeInfo> kCodes = {
      {"MALFORMED_JSON", 400},
      {"MALFORMED_REQUEST", 400},
      {"TX_MALFORMED", 400},
      {"TX_TOO_LARGE", 400},
      {"MALFORMED_ENCODING", 400},
      {"WRONG_CHAIN", 400},
      {"BAD_PARAMETER", 400},
      {"PROOF_OUT_OF_RANGE", 400},
      {"BAD_SIGNATURE", 401},
      {"UNKNOWN_ORG", 403},
      {"UNKNOWN_KEY", 403},
      {"NOT_ISSUER", 403},
      {"NOT_RECORD_ISSUER", 403},
      {"NOT_FOUND", 404},
      {"TX_NOT_FOUND", 404},
      {"RECORD_NOT_FOUND", 404},
      {"METHOD_NOT_ALLOWED", 405},
      {"PRUNED", 410},
      {"DUPLICATE_TX", 409},
      {"LENGTH_REQUIRED", 411},
      {"BODY_TOO_LARGE", 413},
      {"HEADER_TOO_LARGE", 431},
      {"EXPIRED", 422},
      {"EXPIRY_TOO_FAR", 422},
      {"ILLEGAL_TRANSITION", 422},
      {"NOT_A_LICENSE", 422},
      {"DUPLICATE_RECORD", 422},
      {"TOO_MANY_RECORDS", 422},
      {"INVALID_PAYLOAD", 422},
      {"INTERNAL", 500},
      {"STORAGE_ERROR", 500},
      {"STORAGE_CORRUPT", 500},
      {"MEMPOOL_FULL", 503},
      {"SHUTTING_DOWN", 503},
      {"CHECKPOINT_PENDING", 503},
      {"NOT_A_VALIDATOR", 503},
      {"VALIDATORS_EPOCH_MISMATCH", 422},
      {"VALIDATORS_NO_QUORUM", 422},
      {"VALIDATORS_INVALID", 422},
      {"NOT_IDENTITY", 403},
      {"NOT_CONSUMER", 403},
      {"NOT_GRANT_HOLDER", 403},
      {"NOT_RECORD_HOLDER", 403},
      {"HOLDER_ALREADY_BOUND", 422},
      {"HOLDER_KEY_STALE", 422},
      {"NO_GRANT", 422},
      {"GRANT_REVOKED", 422},
      {"GRANT_WRONG_GRANTEE", 422},
      {"GRANT_NOT_YET_VALID", 422},
      {"GRANT_EXPIRED", 422},
      {"GRANT_SCOPE_MISMATCH", 422},
      {"GRANT_PURPOSE_MISMATCH", 422},
      {"GRANT_EXHAUSTED", 422},
      {"RECORD_NOT_ACTIVE", 422},
      {"HOLDER_NOT_BOUND", 404},
      {"GRANT_NOT_FOUND", 404},
      {"ACCESS_NOT_FOUND", 404},
      {"OBJECTION_NOT_FOUND", 404},
      {"MATERIAL_NOT_FOUND", 404},
      {"SIGNATURE_MISSING", 401},
      {"SIGNATURE_MALFORMED", 401},
      {"SIGNATURE_EXPIRED", 401},
      {"SIGNATURE_STALE", 401},
      {"SIGNATURE_UNKNOWN_KEY", 401},
      {"SIGNATURE_INVALID", 401},
      {"SIGNATURE_REPLAYED", 401},
      {"SIGNATURE_PREDATES_START", 401},
      {"CONTENT_DIGEST_MISMATCH", 401},
      {"FORBIDDEN", 403},
      {"CONTENT_HASH_MISMATCH", 400},
      {"ACCESS_ALREADY_USED", 409},
      {"NO_MATCHING_RECORD", 422},
      {"IO_ERROR", 500},
  };
  return kCodes;
}

int http_status_for(std::string_view code, ErrorContext context) {
  if (context == ErrorContext::kTransaction &&
      (code == "RECORD_NOT_FOUND" || code == "HOLDER_NOT_BOUND" || code == "GRANT_NOT_FOUND" ||
       code == "OBJECTION_NOT_FOUND"))
    return 422;
  for (const auto& c : known_error_codes())
    if (c.code == code) return c.status;
  return 500;
}

nlohmann::json error_object(const std::string& code, const std::string& message,
                            nlohmann::json details) {
  if (!details.is_object()) details = nlohmann::json::object();
  return {{"error", {{"code", code}, {"message", message}, {"details", std::move(details)}}}};
}

HttpResponse json_response(int status, const nlohmann::json& body) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  // Replace invalid UTF-8 rather than throw: messages may quote input.
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

HttpResponse error_response(int status, const std::string& code, const std::string& message,
                            nlohmann::json details) {
  return json_response(status, error_object(code, message, std::move(details)));
}

HttpResponse error_response(const Status& st, ErrorContext context, nlohmann::json details) {
  EMLEDGER_ASSERT(!st.is_ok());
  return error_response(http_status_for(st.code(), context), st.code(), st.message(),
                        std::move(details));
}

}  // namespace emledger::node
