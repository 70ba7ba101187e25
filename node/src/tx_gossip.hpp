// Mempool gossip between validators (docs/node.md, "Mempool gossip"): the
// transactions clients submitted to one validator, forwarded to the others so
// that whichever validator leads next can propose them. Carried over
// PeerTransport beside the consensus messages, told apart by the domain tag.
//
// A receiver treats a forwarded transaction exactly as one a client
// submitted: it decodes it (parse_tx), checks it (check_tx_stateless: the
// signature among the rest), refuses one already committed, and adds it to
// its mempool without forwarding it again. A peer can therefore only make
// the receiver spend verifications, within the transport's rate limits.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "emledger/crypto/bytes.hpp"
#include "emledger/ledger/limits.hpp"

namespace emledger::node {

// Transactions in one message, and the encoded size a message fills up to.
inline constexpr std::size_t kGossipTxsPerMessageMax = 1024;
inline constexpr std::size_t kGossipMessageBytesTarget = 4u << 20;
// Admitted transactions waiting to be forwarded; more are not forwarded (they
// still commit when this validator leads).
inline constexpr std::size_t kGossipQueueMax = 65'536;

struct TxGossip {
  static constexpr std::string_view kDomain = "emledger.peer.tx-gossip";
  static constexpr std::uint8_t kVersion = 1;
  std::vector<Bytes> txs;  // each the transaction's canonical encoding
  template <class V>
  void describe(V& v) {
    v.bytes_list(txs, kGossipTxsPerMessageMax, ledger::kTxBytesMax);
  }
};

}  // namespace emledger::node
