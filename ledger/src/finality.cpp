// Finality proofs: ADR 014, docs/formats/finality.md.
#include "emledger/ledger/finality.hpp"

#include <algorithm>

#include "emledger/ledger/validator_set.hpp"

namespace emledger::ledger {
namespace {

// The domain tag at the start of a top-level encoding, or empty if the input
// is too short to hold one.
std::string_view leading_domain(ByteView in) {
  if (in.empty() || in.size() < 1u + in[0]) return {};
  return {reinterpret_cast<const char*>(in.data() + 1), in[0]};
}

}  // namespace

Bytes encode_finality_proof(const FinalityProof& p) {
  return p.by_descendant() ? encode(p) : encode(p.certificate);
}

Result<FinalityProof> decode_finality_proof(ByteView in) {
  if (leading_domain(in) == Certificate::kDomain) {
    auto cert = decode<Certificate>(in);
    if (!cert) return cert.status();
    return FinalityProof::own(std::move(cert).value());
  }
  auto p = decode<FinalityProof>(in);
  if (!p) return p.status();
  if (!p->by_descendant())
    return Status::error("MALFORMED_ENCODING",
                         std::string(FinalityProof::kDomain) +
                             ": no links (an own certificate is encoded as emledger.cert)");
  return p;
}

Status verify_finality(const Genesis& genesis, const BlockHeader& header,
                       const FinalityProof& proof) {
  ValidatorSet set = genesis_validator_set(genesis);
  return verify_finality_in_set(genesis.chain_id, set, header, proof);
}

}  // namespace emledger::ledger
