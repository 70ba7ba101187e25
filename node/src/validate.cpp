#include "validate.hpp"

namespace emledger::node {

std::optional<std::string> check_tx_hex(const nlohmann::json& v) {
  if (!v.is_string()) return "must be a string";
  const auto& s = v.get_ref<const std::string&>();
  if (s.empty()) return "must not be empty";
  if (s.size() > kTxHexCharsMax)
    return "longer than " + std::to_string(kTxHexCharsMax) + " hex characters";
  if (s.size() % 2 != 0) return "hex must have an even length";
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return "must be lowercase hex";
  return std::nullopt;
}

namespace {

std::optional<SchemaViolation> only_member(const nlohmann::json& body, const char* name) {
  if (!body.is_object()) return SchemaViolation{"", "body must be a JSON object"};
  if (!body.contains(name))
    return SchemaViolation{"", std::string("missing member \"") + name + "\""};
  for (const auto& [key, value] : body.items())
    if (key != name) return SchemaViolation{"/" + key, "unknown member"};
  return std::nullopt;
}

}  // namespace

std::optional<SchemaViolation> validate_submit_tx(const nlohmann::json& body) {
  if (auto v = only_member(body, "tx")) return v;
  if (auto why = check_tx_hex(body["tx"])) return SchemaViolation{"/tx", *why};
  return std::nullopt;
}

std::optional<SchemaViolation> validate_submit_batch(const nlohmann::json& body) {
  if (auto v = only_member(body, "txs")) return v;
  const auto& txs = body["txs"];
  if (!txs.is_array()) return SchemaViolation{"/txs", "must be an array"};
  if (txs.empty()) return SchemaViolation{"/txs", "must hold at least one transaction"};
  if (txs.size() > kBatchTxsMax)
    return SchemaViolation{"/txs", "at most " + std::to_string(kBatchTxsMax) + " transactions"};
  for (std::size_t i = 0; i < txs.size(); ++i)
    if (auto why = check_tx_hex(txs[i])) return SchemaViolation{"/txs/" + std::to_string(i), *why};
  return std::nullopt;
}

}  // namespace emledger::node
