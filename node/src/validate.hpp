// Hand-written checks of request bodies. Each function mirrors one schema in
// schemas/ exactly (the schema is the contract; tests/node/validate_test.cpp
// feeds both the same documents). A violation is 400 MALFORMED_REQUEST with
// the JSON pointer of the offending value in details.field.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "emledger/ledger/limits.hpp"
#include "emledger/ledger/tx_batch.hpp"

namespace emledger::node {

// Largest number of transactions in one batch request (schemas/submit_batch.json),
// the same for the binary form.
inline constexpr std::size_t kBatchTxsMax = ledger::kTxBatchTxsMax;
// A transaction in hex: two characters per byte.
inline constexpr std::size_t kTxHexCharsMax = 2 * ledger::kTxBytesMax;

struct SchemaViolation {
  std::string field;  // JSON pointer, "" for the whole document
  std::string message;
};

// Lowercase hex of a transaction: non-empty, even length, [0-9a-f], at most
// kTxHexCharsMax characters. The "tx_hex" definition shared by both schemas.
std::optional<std::string> check_tx_hex(const nlohmann::json& v);

// schemas/submit_tx.json: {"tx": tx_hex}, no other members.
std::optional<SchemaViolation> validate_submit_tx(const nlohmann::json& body);
// schemas/submit_batch.json: {"txs": [tx_hex, ...]} with 1..kBatchTxsMax items, no other members.
std::optional<SchemaViolation> validate_submit_batch(const nlohmann::json& body);

}  // namespace emledger::node
