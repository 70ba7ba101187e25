// Who signs: an org key from a key file, matched against the genesis, and the
// construction of signed transactions for it.
#pragma once

#include <string>

#include "emledger/crypto/ed25519.hpp"
#include "emledger/ledger/limits.hpp"
#include "emledger/ledger/types.hpp"

namespace emledger::client {

// Transactions the SDK builds expire this many blocks after the head they
// were built at: long enough to survive a slow submit, short enough that a
// leaked transaction is not replayable for long.
inline constexpr std::uint64_t kTxExpiryBlocks = 1000;
static_assert(kTxExpiryBlocks <= ledger::kTxLifetimeBlocksMax);

struct Signer {
  std::string org_id;
  std::uint32_t key_id = 0;
  crypto::KeyPair key;
};

// Finds the org of `genesis` holding `key`'s public key. When several orgs
// list the same key, the first by id wins (Genesis::check() does not forbid
// it; a careful operator never does it). Errors: KEY_NOT_IN_GENESIS.
Result<Signer> signer_for_key(const ledger::Genesis& genesis, const crypto::KeyPair& key);

// Checks a record body typed by a user before it is encoded (the encoder
// asserts on over-long fields): field maxima of limits.hpp, then
// RecordBody::check(). Errors: INVALID_PAYLOAD.
Status check_record_body(const ledger::RecordBody& body);

// A fresh 64-bit nonce from the OS CSPRNG (libsodium randombytes).
std::uint64_t random_nonce();

// Builds and signs a transaction: chain id of `genesis`, the signer's org and
// key id, expiry head_height + kTxExpiryBlocks.
ledger::Tx build_tx(const ledger::Genesis& genesis, const Signer& signer, ledger::TxType type,
                    Bytes payload, std::uint64_t head_height, std::uint64_t nonce);

}  // namespace emledger::client
