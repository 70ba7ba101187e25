// One libFuzzer entry point for every decoder, the kernel's, the consensus
// messages', the node's peer messages' and the peer handshake's (style.md,
// "Fuzz targets for every decoder in one binary"). The first input byte
// selects the type, the rest is its encoding; whenever decode<T>() accepts the
// bytes, encode() must give back exactly those bytes, or the decoder accepted
// a non-canonical form.
//
//   clang:  cmake -DEMLEDGER_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ ...
//           ./decode_fuzz tests/fuzz/corpus
//   any:    decode_fuzz_replay tests/fuzz/corpus   (ctest runs this)
#include "decode_fuzz.hpp"

#include <algorithm>

#include "block_fetch.hpp"
#include "checkpoint_book.hpp"
#include "emledger/consensus/key_guard.hpp"
#include "emledger/consensus/messages.hpp"
#include "emledger/ledger/bundle.hpp"
#include "emledger/ledger/finality.hpp"
#include "emledger/ledger/ledger.hpp"
#include "emledger/ledger/merkle_log.hpp"
#include "emledger/ledger/smt.hpp"
#include "emledger/ledger/smt_page.hpp"
#include "emledger/ledger/snapshot.hpp"
#include "emledger/ledger/tx_batch.hpp"
#include "emledger/ledger/types.hpp"
#include "emledger/ledger/validator_set.hpp"
#include "emledger/ledger/votes.hpp"
#include "peer_transport.hpp"
#include "snapshot_fetch.hpp"
#include "tx_gossip.hpp"

namespace emledger::fuzz {
namespace {

using namespace emledger::ledger;

template <class T>
bool round_trip(ByteView in) {
  auto decoded = decode<T>(in);
  if (!decoded.is_ok()) return false;
  Bytes again = encode(decoded.value());
#ifdef EMLEDGER_FUZZ_CANARY
  // A deliberately broken re-encoding: proves the harness reports a mismatch.
  again.push_back(0);
#endif
  EMLEDGER_ASSERT(again.size() == in.size() && std::equal(again.begin(), again.end(), in.begin()));
  return true;
}

// A finality proof has two encodings by form (finality.hpp); whichever one
// decode_finality_proof accepts, encode_finality_proof must give it back.
bool finality_round_trip(ByteView in) {
  auto decoded = decode_finality_proof(in);
  if (!decoded.is_ok()) return false;
  Bytes again = encode_finality_proof(decoded.value());
#ifdef EMLEDGER_FUZZ_CANARY
  again.push_back(0);
#endif
  EMLEDGER_ASSERT(again.size() == in.size() && std::equal(again.begin(), again.end(), in.begin()));
  return true;
}

// decode_proof_bundle reads versions 1 and 2 as version 3: the version 3
// encoding of what it accepts must decode to the same value, and a version 3
// input must come back byte for byte.
bool bundle_any_version(ByteView in) {
  auto decoded = decode_proof_bundle(in);
  if (!decoded.is_ok()) return false;
  const Bytes v3 = encode(decoded.value());
  auto again = decode<ProofBundle>(v3);
  EMLEDGER_ASSERT(again.is_ok() && encode(again.value()) == v3);
  if (decode<ProofBundleV1>(in).is_ok() || decode<ProofBundleV2>(in).is_ok()) return true;
#ifdef EMLEDGER_FUZZ_CANARY
  EMLEDGER_ASSERT(false);
#endif
  EMLEDGER_ASSERT(v3.size() == in.size() && std::equal(v3.begin(), v3.end(), in.begin()));
  return true;
}

// decode_submit_evidence reads version 1 as epoch 0: what it accepts comes
// back byte for byte in the version it was written in.
bool submit_evidence_any_version(ByteView in) {
  auto decoded = decode_submit_evidence(in);
  if (!decoded.is_ok()) return false;
  const SubmitEvidence& e = decoded.value();
  Bytes again = decode<SubmitEvidenceV1>(in).is_ok() ? encode(SubmitEvidenceV1{e.first, e.second})
                                                     : encode(e);
#ifdef EMLEDGER_FUZZ_CANARY
  again.push_back(0);
#endif
  EMLEDGER_ASSERT(again.size() == in.size() && std::equal(again.begin(), again.end(), in.begin()));
  return true;
}

// An evidence record has one encoding per epoch (version 1 for epoch 0):
// whatever decode_evidence_record accepts, encode_evidence_record gives back.
bool evidence_record_any_version(ByteView in) {
  auto decoded = decode_evidence_record(in);
  if (!decoded.is_ok()) return false;
  Bytes again = encode_evidence_record(decoded.value());
#ifdef EMLEDGER_FUZZ_CANARY
  again.push_back(0);
#endif
  EMLEDGER_ASSERT(again.size() == in.size() && std::equal(again.begin(), again.end(), in.begin()));
  return true;
}

// Consensus messages travel between validators in the form encode_message
// gives (the domain tag selects the type): what decode_message accepts,
// encode_message must give back byte for byte.
bool consensus_message_round_trip(ByteView in) {
  auto decoded = consensus::decode_message(in);
  if (!decoded.is_ok()) return false;
  Bytes again = consensus::encode_message(decoded.value());
#ifdef EMLEDGER_FUZZ_CANARY
  again.push_back(0);
#endif
  EMLEDGER_ASSERT(again.size() == in.size() && std::equal(again.begin(), again.end(), in.begin()));
  return true;
}

// A state-tree page as the store holds it (smt_page.hpp), read back from
// disk: the input is the 32-byte hash the page is stored under, then the
// page. What decode_smt_page accepts, encode_smt_page gives back byte for
// byte from the decoded nodes.
bool smt_page_round_trip(ByteView in) {
  if (in.size() < kHashSize) return false;
  Hash root;
  std::copy(in.begin(), in.begin() + kHashSize, root.begin());
  const ByteView page = in.subspan(kHashSize);
  auto decoded = decode_smt_page(page, root);
  if (!decoded.is_ok()) return false;
  const std::vector<SmtPageEntry>& nodes = decoded.value();
  auto again = encode_smt_page(root, [&](const Hash& h) -> std::optional<SmtNodeBytes> {
    for (const SmtPageEntry& e : nodes)
      if (e.hash == h) return e.node;
    return std::nullopt;
  });
  EMLEDGER_ASSERT(again.is_ok());
#ifdef EMLEDGER_FUZZ_CANARY
  again.value().push_back(0);
#endif
  EMLEDGER_ASSERT(again.value().size() == page.size() &&
                  std::equal(again.value().begin(), again.value().end(), page.begin()));
  return true;
}

// Index = the selector byte. Append only: the seed corpus names these indices.
constexpr Decoder kDecoders[] = {
    {"Tx", &round_trip<Tx>},
    {"Block", &round_trip<Block>},
    {"BlockHeader", &round_trip<BlockHeader>},
    {"Certificate", &round_trip<Certificate>},
    {"Genesis", &round_trip<Genesis>},
    {"Record", &round_trip<Record>},
    {"ProofBundle", &round_trip<ProofBundle>},
    {"StateProof", &round_trip<StateProof>},
    {"InclusionProof", &round_trip<InclusionProof>},
    {"ConsistencyProof", &round_trip<ConsistencyProof>},
    {"RecordIdList", &round_trip<RecordIdList>},
    {"TxEntry", &round_trip<TxEntry>},
    {"ChainHead", &round_trip<ChainHead>},
    {"Org", &round_trip<Org>},
    {"RegisterRecord", &round_trip<RegisterRecord>},
    {"ChangeLicense", &round_trip<ChangeLicense>},
    {"RenewLicense", &round_trip<RenewLicense>},
    {"RevokeRecord", &round_trip<RevokeRecord>},
    {"FinalizeVote", &round_trip<FinalizeVote>},
    {"SignedBodyView", &round_trip<SignedBodyView>},
    {"BindHolder", &round_trip<BindHolder>},
    {"RotateHolderKey", &round_trip<RotateHolderKey>},
    {"CreateGrant", &round_trip<CreateGrant>},
    {"RevokeGrant", &round_trip<RevokeGrant>},
    {"RecordAccess", &round_trip<RecordAccess>},
    {"FileObjection", &round_trip<FileObjection>},
    {"ResolveObjection", &round_trip<ResolveObjection>},
    {"AnchorArchive", &round_trip<AnchorArchive>},
    {"HolderBinding", &round_trip<HolderBinding>},
    {"Grant", &round_trip<Grant>},
    {"Access", &round_trip<Access>},
    {"Objection", &round_trip<Objection>},
    {"Archive", &round_trip<Archive>},
    {"SubmitEvidence", &round_trip<SubmitEvidence>},
    {"EvidenceRecord", &round_trip<EvidenceRecord>},
    {"NotarizeStatement", &round_trip<NotarizeStatement>},
    {"NullifyStatement", &round_trip<NullifyStatement>},
    {"FinalityProof", &finality_round_trip},
    {"ProofBundleV1", &round_trip<ProofBundleV1>},
    {"ProofBundleAnyVersion", &bundle_any_version},
    {"ConsensusVote", &round_trip<consensus::Vote>},
    {"ConsensusSignedVote", &round_trip<consensus::SignedVote>},
    {"ConsensusProposal", &round_trip<consensus::Proposal>},
    {"ConsensusCertificate", &round_trip<consensus::Certificate>},
    {"ConsensusEvidence", &round_trip<consensus::Evidence>},
    {"ConsensusMessage", &consensus_message_round_trip},
    // What validators send each other beside the consensus messages
    // (node/src: block fetch, range sync, mempool gossip, cosignatures).
    {"PeerBlockRequest", &round_trip<node::BlockRequest>},
    {"PeerBlockResponse", &round_trip<node::BlockResponse>},
    {"PeerRangeRequest", &round_trip<node::RangeRequest>},
    {"PeerRangeResponse", &round_trip<node::RangeResponse>},
    {"PeerTxGossip", &round_trip<node::TxGossip>},
    {"PeerCheckpointSignature", &round_trip<node::CheckpointSignature>},
    // The peer transport's handshake (peer_transport.hpp), decoded before the
    // peer has proved who it is. Transcript is left out: it is only encoded.
    {"PeerClientHello", &round_trip<node::peer_wire::ClientHello>},
    {"PeerServerHello", &round_trip<node::peer_wire::ServerHello>},
    {"PeerClientAuth", &round_trip<node::peer_wire::ClientAuth>},
    // Snapshot fetch (node/src/snapshot_fetch.hpp): a joiner's request and
    // the serving validator's chunk of its snapshot file.
    {"PeerSnapshotRequest", &round_trip<node::SnapshotRequest>},
    {"PeerSnapshotChunk", &round_trip<node::SnapshotChunk>},
    // The frames of a state snapshot (emledger/ledger/snapshot.hpp), which
    // a joining node reads from a peer it does not trust yet.
    {"SnapshotManifest", &round_trip<SnapshotManifest>},
    {"SnapshotHeaders", &round_trip<SnapshotHeaders>},
    {"SnapshotLeaves", &round_trip<SnapshotLeaves>},
    {"SnapshotState", &round_trip<SnapshotState>},
    {"SnapshotTxs", &round_trip<SnapshotTxs>},
    {"SnapshotBlockTxs", &round_trip<SnapshotBlockTxs>},
    {"SnapshotEnd", &round_trip<SnapshotEnd>},
    // A record of the vote WAL (key_guard.hpp), read back from disk at start.
    {"ConsensusLoggedVote", &round_trip<consensus::LoggedVote>},
    // Validator-set changes (emledger/ledger/validator_set.hpp): the
    // transaction payload, the state values, what approvers sign, and the
    // successions light clients and joiners read from untrusted peers.
    {"ValidatorSet", &round_trip<ValidatorSet>},
    {"ValidatorList", &round_trip<ValidatorList>},
    {"ValidatorSetChange", &round_trip<ValidatorSetChange>},
    {"ChangeValidators", &round_trip<ChangeValidators>},
    {"EpochChange", &round_trip<EpochChange>},
    {"Succession", &round_trip<Succession>},
    {"ProofBundleV2", &round_trip<ProofBundleV2>},
    // Evidence naming its epoch (votes.hpp): version 1 of the payload and
    // the record, and the readers of either version.
    {"SubmitEvidenceV1", &round_trip<SubmitEvidenceV1>},
    {"SubmitEvidenceAnyVersion", &submit_evidence_any_version},
    {"EvidenceRecordV1", &round_trip<EvidenceRecordV1>},
    {"EvidenceRecordAnyVersion", &evidence_record_any_version},
    // The binary body of POST /v1/transactions/batch (tx_batch.hpp), which
    // any client may send.
    {"TxBatch", &round_trip<TxBatch>},
    // A state-tree page (ADR 027), read from the store.
    {"SmtPage", &smt_page_round_trip},
};

}  // namespace

std::span<const Decoder> decoders() { return kDecoders; }

bool decode_round_trip(const std::uint8_t* data, std::size_t size) {
  if (size == 0 || data[0] >= std::size(kDecoders)) return false;
  return kDecoders[data[0]].round_trip(ByteView(data + 1, size - 1));
}

}  // namespace emledger::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  (void)emledger::fuzz::decode_round_trip(data, size);
  return 0;
}
