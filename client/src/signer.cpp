#include "emledger/client/signer.hpp"

#include <sodium.h>

#include "emledger/client/errors.hpp"
#include "emledger/crypto/hex.hpp"

namespace emledger::client {

Result<Signer> signer_for_key(const ledger::Genesis& genesis, const crypto::KeyPair& key) {
  for (const ledger::Org& org : genesis.orgs) {
    for (const ledger::OrgKey& k : org.keys) {
      if (k.public_key == key.public_key()) return Signer{org.id, k.key_id, key};
    }
  }
  return Status::error(std::string(kKeyNotInGenesis), "no org of chain " + genesis.chain_id +
                                                          " lists public key " +
                                                          to_hex(ByteView(key.public_key())));
}

Status check_record_body(const ledger::RecordBody& body) {
  auto too_long = [](const char* what, std::size_t max) {
    return Status::error("INVALID_PAYLOAD",
                         std::string(what) + " is longer than " + std::to_string(max) + " bytes");
  };
  if (body.type_code.size() > ledger::kTypeCodeBytesMax)
    return too_long("type code", ledger::kTypeCodeBytesMax);
  if (body.media_type.size() > ledger::kMediaTypeBytesMax)
    return too_long("media type", ledger::kMediaTypeBytesMax);
  if (body.locator.size() > ledger::kLocatorBytesMax)
    return too_long("locator", ledger::kLocatorBytesMax);
  return body.check();
}

std::uint64_t random_nonce() {
  crypto::ensure_sodium();
  std::uint64_t nonce = 0;
  randombytes_buf(&nonce, sizeof nonce);
  return nonce;
}

ledger::Tx build_tx(const ledger::Genesis& genesis, const Signer& signer, ledger::TxType type,
                    Bytes payload, std::uint64_t head_height, std::uint64_t nonce) {
  ledger::TxBody body;
  body.chain_id = genesis.chain_id;
  body.signer_org = signer.org_id;
  body.key_id = signer.key_id;
  body.expires_at_height = head_height + kTxExpiryBlocks;
  body.nonce = nonce;
  body.type = static_cast<std::uint8_t>(type);
  body.payload = std::move(payload);
  EMLEDGER_ASSERT(body.payload.size() <= ledger::kPayloadBytesMax);
  return ledger::sign_tx(std::move(body), signer.key);
}

}  // namespace emledger::client
