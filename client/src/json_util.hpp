// Internal: reading the node's JSON answers without trusting their shape.
#pragma once

#include <string>

#include "emledger/client/errors.hpp"
#include "emledger/client/transport.hpp"
#include "emledger/crypto/hex.hpp"
#include "emledger/ledger/json.hpp"

namespace emledger::client {

// The body as JSON. Errors: NODE_BAD_RESPONSE.
inline Result<ledger::Json> parse_json(const HttpResponse& res) {
  auto j = ledger::Json::parse(res.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return Status::error(std::string(kNodeBadResponse),
                         "answer (HTTP " + std::to_string(res.status) + ") is not a JSON object");
  return j;
}

// A non-success answer as a Status: the API's {"error": {"code","message"}}
// when present, else NODE_ERROR with the HTTP status.
inline Status node_error(const HttpResponse& res) {
  auto j = ledger::Json::parse(res.body, nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.contains("error") && j["error"].is_object()) {
    const auto& e = j["error"];
    if (e.contains("code") && e["code"].is_string() && !e["code"].get<std::string>().empty()) {
      std::string msg = e.contains("message") && e["message"].is_string()
                            ? e["message"].get<std::string>()
                            : std::string();
      return Status::error(e["code"].get<std::string>(), msg);
    }
  }
  return Status::error(std::string(kNodeError), "node answered HTTP " + std::to_string(res.status));
}

// Typed field access that records the first missing or ill-typed field
// instead of throwing; check status() once after reading.
class Fields {
 public:
  Fields(const ledger::Json& j, std::string what) : j_(j), what_(std::move(what)) {}

  std::string str(const char* key) {
    const auto* v = find(key);
    if (!v || !v->is_string()) return wrong(key), std::string();
    return v->get<std::string>();
  }
  std::uint64_t u64(const char* key) {
    const auto* v = find(key);
    if (!v || !v->is_number_unsigned()) return wrong(key), 0;
    return v->get<std::uint64_t>();
  }
  Bytes hex(const char* key) {
    auto s = str(key);
    auto b = from_hex(s);
    if (!b) return wrong(key), Bytes();
    return std::move(*b);
  }
  Hash hash(const char* key) {
    auto s = str(key);
    auto h = hash_from_hex(s);
    if (!h) return wrong(key), Hash{};
    return *h;
  }
  // A nested {"code","message"} error object.
  Status error(const char* key) {
    const auto* v = find(key);
    if (!v || !v->is_object()) return wrong(key), Status::error(std::string(kNodeError), "");
    Fields e(*v, what_ + "." + key);
    std::string code = e.str("code");
    std::string message = v->contains("message") ? e.str("message") : std::string();
    if (!e.status().is_ok() || code.empty())
      return wrong(key), Status::error(std::string(kNodeError), "");
    return Status::error(code, message);
  }
  void bad(const std::string& why) {
    if (status_.is_ok()) status_ = Status::error(std::string(kNodeBadResponse), what_ + ": " + why);
  }
  const Status& status() const { return status_; }

 private:
  const ledger::Json* find(const char* key) const {
    if (!j_.is_object()) return nullptr;
    auto it = j_.find(key);
    return it == j_.end() ? nullptr : &*it;
  }
  void wrong(const char* key) { bad(std::string("missing or malformed field '") + key + "'"); }

  const ledger::Json& j_;
  std::string what_;
  Status status_;
};

}  // namespace emledger::client
