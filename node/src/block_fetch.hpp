// Block fetch between validators: a request for one block by height and
// header hash, and its answer (docs/node.md, "Block fetch"). Carried over
// PeerTransport beside the consensus messages, told apart by the domain tag.
//
// The consensus core asks for a block it does not know when the block lies
// on a finalized chain (consensus::FetchBlock); a validator that was down
// catches up this way, one block at a time from the newest finalization down
// to its own head. The answer is checked before it is used: the block's
// header must hash to the requested digest, and the parent header (sent
// along, so that the parent's view is known) must hash to the block's parent.
// A peer can therefore only withhold a block, never substitute one.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "emledger/consensus/messages.hpp"
#include "emledger/crypto/bytes.hpp"
#include "emledger/ledger/encoding.hpp"
#include "emledger/ledger/finality.hpp"
#include "emledger/ledger/limits.hpp"
#include "emledger/ledger/types.hpp"

namespace emledger::node {

// The largest encoded block a response carries (as a proposal's payload).
inline constexpr std::size_t kFetchBlockBytesMax = consensus::kProposalBytesMax;
inline constexpr std::size_t kFetchHeaderBytesMax = consensus::kBlockHeaderBytesMax;
// Room for a finality proof: a certificate of kValidatorsMax signers and
// kFinalityLinksMax headers.
inline constexpr std::size_t kFetchProofBytesMax =
    ledger::kValidatorsMax * (2 + 64) + ledger::kFinalityLinksMax * kFetchHeaderBytesMax + 4096;

struct BlockRequest {
  static constexpr std::string_view kDomain = "emledger.peer.block-request";
  static constexpr std::uint8_t kVersion = 1;
  std::uint64_t height = 0;
  Hash digest{};  // the block's header hash
  template <class V>
  void describe(V& v) {
    v.u64(height);
    v.fixed(digest);
  }
};

struct BlockResponse {
  static constexpr std::string_view kDomain = "emledger.peer.block-response";
  static constexpr std::uint8_t kVersion = 1;
  Bytes block;          // encode(ledger::Block)
  Bytes parent_header;  // encode(ledger::BlockHeader) of height - 1; empty at height 1
  // encode_finality_proof() of the proof the peer committed the block with
  // (its own certificate, or the link to a finalized descendant); empty when
  // the block is not committed there.
  Bytes proof;
  template <class V>
  void describe(V& v) {
    v.bytes(block, kFetchBlockBytesMax);
    v.bytes(parent_header, kFetchHeaderBytesMax);
    v.bytes(proof, kFetchProofBytesMax);
  }
};

// ---- Range sync (docs/node.md, "Range sync") ----
//
// A validator far behind the network's newest finalization asks one peer at
// a time for a run of committed blocks from its own head up, each with the
// finality proof the peer committed it with. The asker re-executes every
// block on its head and the ledger verifies every proof against the genesis
// before it commits, so a peer can only withhold blocks or waste one round
// trip, never make the asker commit something the validators did not
// finalize. How far to sync comes from a finalization certificate the
// consensus core verified, never from what a peer says its height is.

// Blocks asked for in one request, and the encoded size a response fills up
// to (one block always goes, whatever its size, so any block can be synced).
inline constexpr std::uint32_t kSyncBlocksPerRequestMax = 256;
inline constexpr std::size_t kSyncResponseBytesTarget = 8u << 20;

struct RangeRequest {
  static constexpr std::string_view kDomain = "emledger.peer.range-request";
  static constexpr std::uint8_t kVersion = 1;
  std::uint64_t from = 0;  // first height wanted, >= 1
  std::uint32_t count = 0;  // 1..kSyncBlocksPerRequestMax
  template <class V>
  void describe(V& v) {
    v.u64(from);
    v.u32(count);
  }
};

struct RangeResponse {
  static constexpr std::string_view kDomain = "emledger.peer.range-response";
  static constexpr std::uint8_t kVersion = 1;
  std::uint64_t from = 0;     // the request's
  std::vector<Bytes> blocks;  // encode(ledger::Block) of from, from + 1, ...; may be empty
  std::vector<Bytes> proofs;  // encode_finality_proof() of each, same count
  template <class V>
  void describe(V& v) {
    v.u64(from);
    v.bytes_list(blocks, kSyncBlocksPerRequestMax, kFetchBlockBytesMax);
    v.bytes_list(proofs, kSyncBlocksPerRequestMax, kFetchProofBytesMax);
  }
};

// The domain tag at the start of a top-level encoding; empty if there is none.
std::string_view leading_domain(ByteView in);

// A response checked for consistency: the block, its header hash, its
// parent's view, and the finality proof if one came and decoded (the
// ledger's commit verifies it). The caller checks the digest is one it asked
// for.
struct FetchedBlock {
  ledger::Block block;
  Hash digest{};
  std::uint64_t parent_view = 0;
  std::optional<ledger::FinalityProof> proof;
};
// Errors: MALFORMED_ENCODING, FETCH_MISMATCH (height 0, or the parent header
// does not hash to the block's parent, or is missing above height 1).
Result<FetchedBlock> check_block_response(const BlockResponse& resp);

}  // namespace emledger::node
