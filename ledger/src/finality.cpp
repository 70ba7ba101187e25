// Finality proofs: ADR 014, docs/formats/finality.md.
#include "emledger/ledger/finality.hpp"

#include <algorithm>

namespace emledger::ledger {
namespace {

// The domain tag at the start of a top-level encoding, or empty if the input
// is too short to hold one.
std::string_view leading_domain(ByteView in) {
  if (in.empty() || in.size() < 1u + in[0]) return {};
  return {reinterpret_cast<const char*>(in.data() + 1), in[0]};
}

Status broken(const BlockHeader& header, const std::string& why) {
  return Status::error("CERT_LINK_BROKEN",
                       "finality proof of height " + std::to_string(header.height) + ": " + why);
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
  // The epoch of the header proven, also in the descendant form: its links
  // are blocks the same validator set finalized (docs/validator-set-changes.md
  // section 2, tail blocks).
  const Epoch epoch = epoch_at_height(genesis, header.height);
  if (!proof.by_descendant())
    return verify_certificate_in_epoch(genesis, epoch, header, proof.certificate);
  if (proof.links.size() > kFinalityLinksMax)
    return Status::error("CERT_LINK_TOO_LONG",
                         "finality proof of " + std::to_string(proof.links.size()) +
                             " links; at most " + std::to_string(kFinalityLinksMax));
  if (header.chain_id != genesis.chain_id)
    return broken(header, "the header names chain '" + header.chain_id + "'");
  const BlockHeader* prev = &header;
  Hash prev_hash = header.hash();
  for (const BlockHeader& link : proof.links) {
    if (link.chain_id != genesis.chain_id)
      return broken(header, "a link names chain '" + link.chain_id + "'");
    if (prev->height == UINT64_MAX || link.height != prev->height + 1)
      return broken(header, "link of height " + std::to_string(link.height) + " follows height " +
                                std::to_string(prev->height));
    if (link.parent != prev_hash)
      return broken(header, "the link of height " + std::to_string(link.height) +
                                " does not name height " + std::to_string(prev->height) +
                                " as its parent");
    prev = &link;
    prev_hash = link.hash();
  }
  return verify_certificate_in_epoch(genesis, epoch, *prev, proof.certificate);
}

}  // namespace emledger::ledger
