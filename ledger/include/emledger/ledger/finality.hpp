// Finality proofs (ADR 014, docs/formats/finality.md). In Simplex a block is
// final when a quorum finalizes it or any descendant of it (docs/consensus.md
// section 5). A FinalityProof shows either:
//   - own form: a Certificate for the block itself (links empty); or
//   - descendant form: the headers of the next heights up to a finalized
//     descendant (`links`, each the parent of the next, the first naming the
//     block's header hash as its parent) and the descendant's Certificate.
// Both verify against the genesis validator set alone: quorum n - f of
// distinct validators over encode(FinalizeVote).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "emledger/crypto/bytes.hpp"
#include "emledger/crypto/result.hpp"
#include "emledger/ledger/encoding.hpp"
#include "emledger/ledger/limits.hpp"
#include "emledger/ledger/types.hpp"

namespace emledger::ledger {

struct FinalityProof {
  static constexpr std::string_view kDomain = "emledger.finality";
  static constexpr std::uint8_t kVersion = 1;
  Certificate certificate;         // of the block (own form) or of links.back()
  std::vector<BlockHeader> links;  // heights h+1 .. d; empty in the own form
  template <class V>
  void describe(V& v) {
    v.object(certificate);
    v.list(links, kFinalityLinksMax);
  }
  bool by_descendant() const { return !links.empty(); }
  // The height of the block whose certificate this is.
  std::uint64_t certified_height() const { return certificate.height; }
  static FinalityProof own(Certificate cert) { return FinalityProof{std::move(cert), {}}; }
};

// The wire and disk form of a proof, one encoding per proof: the own form is
// exactly encode(Certificate) (tag "emledger.cert", so a single-node chain's
// bytes are what they were before descendant proofs existed), the descendant
// form is encode(FinalityProof) (tag "emledger.finality").
Bytes encode_finality_proof(const FinalityProof& p);

// Accepts either form by its tag. Refuses a "emledger.finality" value with no
// links (the own form has only the certificate encoding). Errors:
// MALFORMED_ENCODING.
Result<FinalityProof> decode_finality_proof(ByteView in);

// Checks that `proof` makes `header` final under the genesis set in
// kGenesisEpoch (for chains whose validators never changed; after a change,
// verify_finality_in_set with the set of the header's height, validator_set.hpp),
// in both forms: in the own form verify_certificate_in_epoch(genesis,
// kGenesisEpoch, header, certificate); in the descendant form,
// links[0] has height header.height + 1 and parent header.hash(), every next
// link has the next height and the previous link's hash as its parent, every
// link names the genesis chain id, and the certificate verifies for the last
// link. Pure; costs one signature check per certificate signer.
// Errors: CERT_LINK_BROKEN, CERT_LINK_TOO_LONG, CERT_MISMATCH,
// CERT_BAD_SIGNATURE, CERT_NO_QUORUM.
Status verify_finality(const Genesis& genesis, const BlockHeader& header,
                       const FinalityProof& proof);

}  // namespace emledger::ledger
