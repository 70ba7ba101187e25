// Blocks a validator voted for, durable before the vote (docs/node.md,
// "Pending blocks"; format docs/formats/pending-blocks.md).
//
// A notarize vote says "I hold this block and it is valid". If every
// validator that holds a block crashes before the block is committed (always
// the case with one validator; with several, a power cut across regions), the
// votes survive in the WALs and certify a block nobody can produce any more:
// consensus must extend it and cannot. So a validator writes each block it
// built or checked to DATA/consensus/blocks before the replica signs a vote
// for it, and on restart holds them again.
//
// Each block goes into a slot file, DIR/slot-<n>, written in place from its
// first byte: a record (head, the block's bytes, a CRC-32C of both) that
// names the block's height and header hash. A slot is free once its block's
// height is committed, and the next block is written over it, so a node
// writing one block after another rewrites the same file's bytes and its
// sync commits no metadata: no new file, rename, directory sync or unlink
// per block (ADR 042). Only a slot whose block is committed (or superseded
// at a committed height) is ever written over, so a write torn by a crash
// destroys nothing still needed, and a record whose CRC fails is a free
// slot. Files of the earlier layout (one file per block, named by height and
// hash) are moved into slots when the directory is opened.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
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

// The head of a slot's record; the block's bytes and a CRC-32C (u32, big
// endian) of the head and those bytes follow it.
struct PendingSlotHead {
  static constexpr std::string_view kDomain = "emledger.pending-slot";
  static constexpr std::uint8_t kVersion = 1;
  std::uint64_t height = 0;
  Hash digest{};  // the block's header hash
  std::uint64_t parent_view = 0;
  std::uint32_t block_bytes = 0;  // <= PendingBlock::kPendingBlockBytesMax
  template <class V>
  void describe(V& v) {
    v.u64(height);
    v.fixed(digest);
    v.u64(parent_view);
    v.u32(block_bytes);
  }
};

class PendingBlocks {
 public:
  struct Entry {
    Hash digest{};
    std::uint64_t parent_view = 0;
    ledger::Block block;
  };

  // Creates `dir` if needed and reads the slots in it (a slot without a
  // whole record is free). Files of the earlier layout are moved into slots
  // (synced) and removed; a temporary file of an interrupted earlier put, or
  // an earlier file that is not the block its name says, is removed.
  // Errors: IO_ERROR.
  static Result<PendingBlocks> open(consensus::FsEnv& fs, std::string dir);

  // Makes the block at `height` whose header hashes to `digest` durable,
  // given as `encoded` (encode(ledger::Block), which the caller holds
  // already: it is the payload consensus carries), in the lowest free slot
  // (a new one when none is free); a block stored already is not written
  // again. Errors: IO_ERROR (then the caller must not vote, and the slot
  // stays free).
  Status put(const Hash& digest, std::uint64_t height, std::uint64_t parent_view, ByteView encoded);

  // Every stored block above `height`, lowest height first. A record whose
  // block does not decode, or does not hash to the digest and height its
  // head names, is skipped and its slot freed (stderr says so).
  // Errors: IO_ERROR reading.
  Result<std::vector<Entry>> load_above(std::uint64_t height);

  // Frees the slots of blocks at or below `height` (committed: the ledger
  // holds them now). Writes nothing: a block freed here that a restart
  // finds again is at or below the head then, and freed again.
  void prune_through(std::uint64_t height);

  // Blocks stored, and slot files (used or free).
  std::size_t size() const { return stored_.size(); }
  std::size_t slots() const { return slot_used_.size(); }

 private:
  PendingBlocks(consensus::FsEnv& fs, std::string dir) : fs_(&fs), dir_(std::move(dir)) {}
  std::string slot_path(std::size_t slot) const;
  // The block a slot's bytes hold, if they are a whole record.
  struct Record {
    PendingSlotHead head;
    ByteView block;  // into the bytes read
  };
  static std::optional<Record> parse_record(ByteView bytes);
  Status migrate_earlier_file(const std::string& name);

  consensus::FsEnv* fs_;
  std::string dir_;
  // (height, digest) -> the slot holding the block.
  std::map<std::pair<std::uint64_t, Hash>, std::size_t> stored_;
  std::vector<bool> slot_used_;  // by slot number
  std::vector<bool> slot_file_;  // whether slot-<n> exists (a name synced into the directory)
};

}  // namespace emledger::node
