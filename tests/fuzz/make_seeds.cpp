// Writes the seed corpus of decode_fuzz: one file per sample value of
// tests/ledger/encoding_samples.hpp, named <selector>-<type>-<n>, holding the
// selector byte and the encoding. Run after an intentional format change:
//
//   emledger_fuzz_seeds tests/fuzz/corpus
#include <cstdio>
#include <fstream>
#include <string>

#include "block_fetch.hpp"
#include "checkpoint_book.hpp"
#include "decode_fuzz.hpp"
#include "emledger/consensus/key_guard.hpp"
#include "emledger/consensus/messages.hpp"
#include "emledger/ledger/smt.hpp"
#include "emledger/ledger/tx_batch.hpp"
#include "encoding_samples.hpp"
#include "peer_transport.hpp"
#include "snapshot_fetch.hpp"
#include "tx_gossip.hpp"

namespace {

using namespace emledger;
namespace s = emledger::samples;

std::string g_dir;
int g_failed = 0;

void seed_bytes(std::uint8_t selector, int n, const Bytes& enc) {
  Bytes data{selector};
  data.insert(data.end(), enc.begin(), enc.end());
  // Only seeds the target accepts are worth writing.
  if (!fuzz::decode_round_trip(data.data(), data.size())) {
    std::fprintf(stderr, "seed %u-%d does not decode\n", selector, n);
    ++g_failed;
    return;
  }
  const std::string name = g_dir + "/" + (selector < 10 ? "0" : "") + std::to_string(selector) +
                           "-" + fuzz::decoders()[selector].name + "-" + std::to_string(n);
  std::ofstream out(name, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  if (!out) {
    std::fprintf(stderr, "cannot write %s\n", name.c_str());
    ++g_failed;
  }
}

template <class T>
void seed(std::uint8_t selector, int n, const T& value) {
  seed_bytes(selector, n, ledger::encode(value));
}

// The consensus messages validators exchange (node/consensus/messages.hpp).
void seed_consensus() {
  namespace c = emledger::consensus;
  const c::Vote notarize = c::notarize_vote(7, 3, s::filled(0xd1));
  const c::SignedVote signed_a{notarize, 2, s::sig_filled(0xd2)};
  const c::SignedVote signed_b{c::notarize_vote(7, 3, s::filled(0xd3)), 2, s::sig_filled(0xd4)};
  c::Proposal proposal;
  proposal.block = c::BlockRef{7, 3, 6, s::filled(0xd5), s::filled(0xd1)};
  proposal.proposer = 3;
  proposal.signature = s::sig_filled(0xd6);
  proposal.payload = ledger::encode(s::block());
  c::Certificate cert;
  cert.kind = static_cast<std::uint8_t>(c::VoteKind::kFinalize);
  cert.view = 7;
  cert.height = 3;
  cert.digest = s::filled(0xd1);
  cert.signatures = {ledger::CertSignature{0, s::sig_filled(0xd7)},
                     ledger::CertSignature{2, s::sig_filled(0xd8)}};
  seed(40, 1, notarize);
  seed(40, 2, c::nullify_vote(8));
  seed(41, 1, signed_a);
  seed(42, 1, proposal);
  seed(43, 1, cert);
  seed(44, 1, c::make_evidence(signed_a, signed_b));
  seed_bytes(45, 1, c::encode_message(c::Message{proposal}));
  seed_bytes(45, 2, c::encode_message(c::Message{signed_a}));
  seed_bytes(45, 3, c::encode_message(c::Message{cert}));
  // The vote WAL's records.
  seed(64, 1, c::LoggedVote{c::kGenesisEpoch, notarize});
  seed(64, 2, c::LoggedVote{3, c::nullify_vote(8)});
}

// The other messages validators exchange (node/src: block_fetch.hpp,
// tx_gossip.hpp, checkpoint_book.hpp), each full and, where a field may be
// empty, with it empty.
void seed_peer() {
  const Bytes block = ledger::encode(s::block());
  const Bytes proof = ledger::encode_finality_proof(ledger::FinalityProof::own(s::certificate()));
  const Bytes by_descendant = ledger::encode_finality_proof(s::finality_by_descendant());
  seed(46, 1, node::BlockRequest{3, s::filled(0xe1)});
  seed(47, 1, node::BlockResponse{block, ledger::encode(s::header()), proof});
  seed(47, 2, node::BlockResponse{block, {}, {}});
  seed(48, 1, node::RangeRequest{5, node::kSyncBlocksPerRequestMax});
  seed(49, 1, node::RangeResponse{5, {block, block}, {proof, by_descendant}});
  seed(49, 2, node::RangeResponse{9, {}, {}});
  seed(50, 1, node::TxGossip{{ledger::encode(s::tx()), ledger::encode(s::tx())}});
  seed(50, 2, node::TxGossip{});
  seed(51, 1, node::CheckpointSignature{12, s::filled(0xe2), 1, s::sig_filled(0xe3), false});
  seed(51, 2, node::CheckpointSignature{0, s::filled(0xe4), 3, s::sig_filled(0xe5), true});
}

// The peer transport's handshake messages (node/src/peer_transport.hpp), every
// field filled; the second hello has a chain id of the largest length allowed.
void seed_handshake() {
  namespace w = emledger::node::peer_wire;
  crypto::KxPublicKey client_ephemeral;
  client_ephemeral.fill(0xf2);
  crypto::KxPublicKey server_ephemeral;
  server_ephemeral.fill(0xf4);
  const std::string longest_chain_id(ledger::kChainIdBytesMax, 'c');
  seed(52, 1, w::ClientHello{"sh-yrd.licenses", s::key_filled(0xf1), client_ephemeral});
  seed(52, 2, w::ClientHello{longest_chain_id, s::key_filled(0xf1), client_ephemeral});
  seed(53, 1,
       w::ServerHello{"sh-yrd.licenses", s::key_filled(0xf3), server_ephemeral,
                      s::sig_filled(0xf5)});
  seed(54, 1, w::ClientAuth{s::sig_filled(0xf6)});
}

// Snapshot fetch (node/src/snapshot_fetch.hpp): a request that starts a
// download and one that resumes; a chunk with bytes (a small one: the seed
// files stay small), the empty one past the end, and a "preparing" answer
// with every other field zero.
void seed_snapshot_fetch() {
  seed(55, 1, node::SnapshotRequest{0, 0});
  seed(55, 2, node::SnapshotRequest{1200, 3u << 20});
  const auto ready = static_cast<std::uint8_t>(node::SnapshotState::kReady);
  const Bytes some(300, 0x5a);
  seed(56, 1, node::SnapshotChunk{ready, 1200, s::filled(0xf7), 5u << 20, 1u << 20, some});
  seed(56, 2, node::SnapshotChunk{ready, 1200, s::filled(0xf7), 5u << 20, 5u << 20, {}});
  seed(56, 3,
       node::SnapshotChunk{
           static_cast<std::uint8_t>(node::SnapshotState::kPreparing), 0, {}, 0, 0, {}});
}

// State snapshot frames (emledger/ledger/snapshot.hpp); the anchors frame
// also empty, as after a state frame that names no anchor.
void seed_snapshot_frames() {
  seed(57, 1, s::snapshot_manifest());
  seed(58, 1, s::snapshot_headers());
  seed(59, 1, s::snapshot_leaves());
  seed(60, 1, s::snapshot_state());
  seed(61, 1, s::snapshot_txs());
  seed(61, 2, ledger::SnapshotTxs{});
  seed(62, 1, s::snapshot_block_txs());
  seed(63, 1, s::snapshot_end());
}

// Validator-set changes (emledger/ledger/validator_set.hpp), and the
// version 2 bundles still read.
void seed_validator_sets() {
  seed(65, 1, s::validator_set());
  seed(66, 1, s::validator_list());
  seed(67, 1, s::validator_set_change());
  seed(68, 1, s::change_validators());
  seed(68, 2, ledger::ChangeValidators{});
  seed(69, 1, s::epoch_change());
  seed(70, 1, s::succession());
  seed(70, 2, ledger::Succession{});
  seed(71, 1, s::bundle_v2());
  seed(39, 3, s::bundle_v2());
}

// Evidence naming its epoch (version 2) and the version 1 forms still read.
void seed_evidence_epochs() {
  seed(72, 1, s::submit_evidence_v1());
  seed(73, 1, s::submit_evidence_v1());
  seed(73, 2, s::submit_evidence());
  seed(74, 1, s::evidence_record_v1());
  seed(75, 1, s::evidence_record_v1());
  seed(75, 2, s::evidence_record());
}

// The binary batch body (emledger/ledger/tx_batch.hpp): two transactions, and
// one.
void seed_tx_batch() {
  seed(76, 1, ledger::TxBatch{{ledger::encode(s::tx()), ledger::encode(s::tx())}});
  seed(76, 2, ledger::TxBatch{{ledger::encode(s::tx())}});
}

// State-tree pages (ADR 027) as StateTree writes them, each after the hash it
// is stored under: a full top page, a deeper one, and a one-leaf page.
class NoStore : public ledger::KvReader {
 public:
  Result<std::optional<Bytes>> get(ByteView) const override { return std::optional<Bytes>(); }
};

// The pages of a tree of `keys` keys, each after its hash, with the root's
// first.
std::vector<Bytes> smt_pages(std::size_t keys) {
  NoStore none;
  ledger::Overlay ov(none);
  std::vector<std::pair<Bytes, Bytes>> puts;
  for (std::size_t i = 0; i < keys; ++i) {
    const std::string k = "seed-key-" + std::to_string(i);
    puts.emplace_back(Bytes(k.begin(), k.end()), Bytes{static_cast<std::uint8_t>(i)});
  }
  auto root = ledger::StateTree(ov).update(ledger::smt_empty_root(), puts, ov);
  std::vector<Bytes> out;
  if (!root.is_ok()) return out;
  for (const auto& e : ov.batch().entries()) {
    if (e.key[0] != 'n') continue;
    Bytes in(e.key.begin() + 1, e.key.end());
    in.insert(in.end(), e.value.begin(), e.value.end());
    const bool top = std::equal(e.key.begin() + 1, e.key.end(), root.value().begin());
    out.insert(top ? out.begin() : out.end(), std::move(in));
  }
  return out;
}

void seed_smt_pages() {
  const std::vector<Bytes> many = smt_pages(600);
  const std::vector<Bytes> one = smt_pages(1);
  if (many.size() < 2 || one.size() != 1) {
    std::fprintf(stderr, "cannot build the pages' trees\n");
    ++g_failed;
    return;
  }
  seed_bytes(77, 1, many[0]);  // the top page, full
  seed_bytes(77, 2, many[1]);  // a page below it
  seed_bytes(77, 3, one[0]);   // a leaf alone
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: emledger_fuzz_seeds DIR\n");
    return 2;
  }
  g_dir = argv[1];
  seed(0, 1, s::tx());
  seed(1, 1, s::block());
  seed(1, 2, ledger::Block{s::header(), {}});
  seed(2, 1, s::header());
  seed(3, 1, s::certificate());
  seed(4, 1, s::genesis());
  seed(5, 1, s::record());
  seed(6, 1, s::bundle());
  seed(7, 1, s::state_proof_present());
  seed(7, 2, s::state_proof_other_leaf());
  seed(7, 3, ledger::StateProof{});
  seed(8, 1, s::inclusion_proof());
  seed(9, 1, s::consistency_proof());
  seed(10, 1, s::record_id_list());
  seed(11, 1, s::tx_entry());
  seed(12, 1, s::chain_head());
  seed(13, 1, s::org());
  seed(14, 1, s::register_record());
  seed(15, 1, s::change_license());
  seed(16, 1, s::renew_license());
  seed(17, 1, s::revoke_record());
  seed(18, 1, s::finalize_vote());
  seed(19, 1, s::signed_body_view());
  seed(20, 1, s::bind_holder());
  seed(21, 1, s::rotate_holder_key());
  seed(22, 1, s::create_grant());
  seed(23, 1, s::revoke_grant());
  seed(24, 1, s::record_access());
  seed(25, 1, s::file_objection());
  seed(26, 1, s::resolve_objection());
  seed(27, 1, s::anchor_archive());
  seed(28, 1, s::holder_binding());
  seed(29, 1, s::grant());
  seed(30, 1, s::access());
  seed(31, 1, s::objection());
  seed(32, 1, s::archive());
  seed(33, 1, s::submit_evidence());
  seed(34, 1, s::evidence_record());
  seed(35, 1, s::notarize_statement());
  seed(36, 1, s::nullify_statement());
  seed_bytes(37, 1, ledger::encode_finality_proof(s::finality_by_descendant()));
  seed_bytes(37, 2, ledger::encode_finality_proof(ledger::FinalityProof::own(s::certificate())));
  seed(38, 1, s::bundle_v1());
  seed(39, 1, s::bundle());
  seed(39, 2, s::bundle_v1());
  seed(6, 2, s::bundle_by_descendant());
  seed_consensus();
  seed_peer();
  seed_handshake();
  seed_snapshot_fetch();
  seed_snapshot_frames();
  seed_validator_sets();
  seed_evidence_epochs();
  seed_tx_batch();
  seed_smt_pages();
  return g_failed == 0 ? 0 : 1;
}
