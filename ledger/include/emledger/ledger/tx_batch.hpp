// The binary body of POST /v1/transactions/batch (docs/formats/tx-batch.md):
// the transactions of a batch as one canonical encoding, beside the JSON form
// {"txs": [hex, ...]}. A node answers both the same way; this one spares the
// submitter the hex and both sides the JSON. Shared by the node (decoding)
// and the SDK (encoding).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "emledger/crypto/bytes.hpp"
#include "emledger/crypto/result.hpp"
#include "emledger/ledger/limits.hpp"

namespace emledger::ledger {

// The Content-Type that selects this form; any other is read as JSON.
inline constexpr std::string_view kTxBatchMediaType = "application/vnd.emledger.tx-batch";
// Transactions in one batch, either form: a batch fits in one block.
inline constexpr std::size_t kTxBatchTxsMax = 4096;
static_assert(kTxBatchTxsMax <= kBlockTxsMax, "a batch must fit in one block");

struct TxBatch {
  static constexpr std::string_view kDomain = "emledger.tx-batch";
  static constexpr std::uint8_t kVersion = 1;
  // Each a transaction's canonical encoding. Their own decoding is the
  // node's per-transaction admission: a bad one is that entry's result, not
  // a refusal of the batch.
  std::vector<Bytes> txs;
  template <class V>
  void describe(V& v) {
    v.bytes_list(txs, kTxBatchTxsMax, kTxBytesMax);
  }
  Status check() const {
    if (txs.empty()) return Status::error("MALFORMED_ENCODING", "a batch holds no transaction");
    return Status::ok();
  }
};

// Whether a Content-Type field value names kTxBatchMediaType: the media type
// before any parameters, compared without regard to case (RFC 9110, 8.3.1).
inline bool is_tx_batch_media_type(std::string_view content_type) {
  const std::size_t semi = content_type.find(';');
  std::string_view type = content_type.substr(0, semi);
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.remove_prefix(1);
  if (type.size() != kTxBatchMediaType.size()) return false;
  for (std::size_t i = 0; i < type.size(); ++i) {
    char c = type[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kTxBatchMediaType[i]) return false;
  }
  return true;
}

}  // namespace emledger::ledger
