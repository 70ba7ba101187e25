// Blocks a validator voted for, durable before the vote (docs/node.md,
// "Pending blocks"; format docs/formats/pending-blocks.md).
//
// A notarize vote says "I hold this block and it is valid". If every
// validator that holds a block crashes before the block is committed (always
// the case with one validator; with several, a power cut across regions), the
// votes survive in the WALs and certify a block nobody can produce any more:
// consensus must extend it and cannot. So a validator writes each block it
// built or checked to DATA/consensus/blocks before the replica signs a vote
// for it, and on restart holds them again. Committed ones are removed.
//
// One file per block, DIR/<height, 20 digits>-<header hash hex>.blk, holding
// encode(PendingBlock). It is written under a temporary name, synced, renamed
// and the directory synced, so a name only ever points at a whole file. A
// file whose block does not hash to its name is refused at load (it cannot
// be one we voted for: the rename came after the sync).
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "emledger/consensus/fs_env.hpp"
#include "emledger/ledger/encoding.hpp"
#include "emledger/ledger/limits.hpp"
#include "emledger/ledger/types.hpp"

namespace emledger::node {

struct PendingBlock {
  static constexpr std::string_view kDomain = "emledger.pending-block";
  static constexpr std::uint8_t kVersion = 1;
  std::uint64_t parent_view = 0;  // the view of the block's parent (the replica needs it)
  Bytes block;                    // encode(ledger::Block)
  template <class V>
  void describe(V& v) {
    v.u64(parent_view);
    v.bytes(block, kPendingBlockBytesMax);
  }
  // A block of kBlockTxsMax transactions of kTxBytesMax, with room for its
  // header and the length prefixes.
  static constexpr std::size_t kPendingBlockBytesMax =
      ledger::kBlockTxsMax * (ledger::kTxBytesMax + 4) + 64 * 1024;
};

class PendingBlocks {
 public:
  struct Entry {
    Hash digest{};
    std::uint64_t parent_view = 0;
    ledger::Block block;
  };

  // Creates `dir` if needed and reads the names in it; stray temporary files
  // of an interrupted put are removed. Errors: IO_ERROR.
  static Result<PendingBlocks> open(consensus::FsEnv& fs, std::string dir);

  // Makes the block at `height` whose header hashes to `digest` durable,
  // given as `encoded` (encode(ledger::Block), which the caller holds
  // already: it is the payload consensus carries); a block stored already is
  // not written again. Errors: IO_ERROR (then the caller must not vote).
  Status put(const Hash& digest, std::uint64_t height, std::uint64_t parent_view, ByteView encoded);

  // Every stored block above `height`, lowest height first. A file that does
  // not decode or whose block does not hash to its name is skipped and
  // removed (stderr says so). Errors: IO_ERROR reading.
  Result<std::vector<Entry>> load_above(std::uint64_t height);

  // Removes the files of blocks at or below `height` (committed: the ledger
  // holds them now). Best effort: a failure is logged, retried next time.
  void prune_through(std::uint64_t height);

  std::size_t size() const { return names_.size(); }

 private:
  PendingBlocks(consensus::FsEnv& fs, std::string dir) : fs_(&fs), dir_(std::move(dir)) {}
  std::string path_of(std::uint64_t height, const Hash& digest) const;

  consensus::FsEnv* fs_;
  std::string dir_;
  std::set<std::pair<std::uint64_t, Hash>> names_;  // (height, digest) stored
};

}  // namespace emledger::node
