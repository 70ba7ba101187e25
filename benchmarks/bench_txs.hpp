// The register transaction every benchmark submits, so that their figures
// are of one workload: record `n` of a synthetic material index (1,000
// holders, one file per record, 311 bytes signed), issued by `org` with key 1.
#pragma once

#include <cstdint>
#include <string>

#include "emledger/crypto/ed25519.hpp"
#include "emledger/crypto/sha256.hpp"
#include "emledger/ledger/types.hpp"

namespace emledger::bench {

inline ledger::Tx register_tx(std::uint64_t n, const std::string& chain_id, const std::string& org,
                              const crypto::KeyPair& issuer, std::uint64_t expires_at_height) {
  using namespace emledger::ledger;
  RegisterRecord r;
  r.body.kind = static_cast<std::uint8_t>(RecordKind::kMaterial);
  r.body.type_code = "bench.material";
  r.body.holder_ref = crypto::sha256(as_bytes("holder-" + std::to_string(n % 1000)));
  r.body.content_hash = crypto::sha256(as_bytes("bench-file-" + std::to_string(n)));
  r.body.size_bytes = 100000 + n;
  r.body.media_type = "application/pdf";
  r.body.locator = "store://bench/" + std::to_string(n);
  r.body.issued_at_ms = 1'800'000'000'000;
  TxBody b = make_body(TxType::kRegisterRecord, r);
  b.chain_id = chain_id;
  b.signer_org = org;
  b.key_id = 1;
  b.expires_at_height = expires_at_height;
  b.nonce = n;
  return sign_tx(std::move(b), issuer);
}

// The in-process chain of the kernel benchmarks: one issuer org ("a.issuer")
// and one validator org ("v.node"), keys from fixed seeds, chain "bench".
struct OneValidatorChain {
  crypto::KeyPair issuer;
  crypto::KeyPair validator;
  ledger::Genesis genesis;
};

inline OneValidatorChain one_validator_chain() {
  using namespace emledger::ledger;
  crypto::Seed s1{}, s2{};
  s1.fill(1);
  s2.fill(2);
  OneValidatorChain c{crypto::KeyPair::from_seed(s1), crypto::KeyPair::from_seed(s2), Genesis{}};
  c.genesis.chain_id = "bench";
  c.genesis.orgs = {Org{"a.issuer", "r", kRoleIssuer, {OrgKey{1, c.issuer.public_key()}}},
                    Org{"v.node", "r", kRoleValidator, {OrgKey{1, c.validator.public_key()}}}};
  c.genesis.validators = {Validator{"v.node", c.validator.public_key(), ""}};
  return c;
}

}  // namespace emledger::bench
