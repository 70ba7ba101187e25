// Checkpoint cosignatures of a multi-validator network (docs/formats/checkpoint.md,
// "Producing"; docs/adr/015-checkpoint-cosignatures.md).
//
// Every validator signs the checkpoint note text of its own committed log,
// (chain id, log size, log root), and sends the signature to the others as a
// CheckpointSignature peer message (docs/formats/peer-wire.md, "Checkpoint
// signatures"). A CheckpointBook collects them: it counts a signature only if
// its signer is a validator of the set in force (the genesis set until a
// change of set, then the one set_signers() names), it verifies over the note text, and the
// (size, root) it signs is this node's own log at that size. A signature for a
// size beyond this node's head is held (bounded) until the node gets there.
// Once a quorum of distinct validators signed one (size, root), that is a
// quorate note, the form `GET /v1/checkpoint` serves and
// ledger::verify_checkpoint accepts. The newest quorate note is persisted so
// that a restarted node serves it at once.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "emledger/consensus/fs_env.hpp"
#include "emledger/crypto/ed25519.hpp"
#include "emledger/ledger/checkpoint.hpp"
#include "emledger/ledger/encoding.hpp"
#include "emledger/ledger/limits.hpp"
#include "emledger/ledger/types.hpp"
#include "emledger/ledger/validator_set.hpp"

namespace emledger::node {

// Log sizes whose signatures are collected at once (the newest quorate one
// and newer ones of our log). Beyond it the smallest non-quorate is dropped.
inline constexpr std::size_t kCheckpointSizesMax = 64;
// Signatures for sizes beyond our head, held per signer (its newest ones).
inline constexpr std::size_t kCheckpointPendingPerSignerMax = 4;
// The persisted note is read back only up to this size: a quorate note of
// kValidatorsMax signers is about 130 bytes a line.
inline constexpr std::uint64_t kCheckpointNoteBytesMax = 64 * 1024;
static_assert(kCheckpointNoteBytesMax > 256 + ledger::kValidatorsMax * 256);
static_assert(kCheckpointSizesMax >= 2 && kCheckpointPendingPerSignerMax >= 1);

// The peer message: one validator's signature of one checkpoint note text.
struct CheckpointSignature {
  static constexpr std::string_view kDomain = "emledger.peer.checkpoint-sig";
  static constexpr std::uint8_t kVersion = 1;
  std::uint64_t size = 0;         // the log size
  Hash root{};                    // the log root at that size
  std::uint16_t signer = 0;       // validator index in the sender's set in force
  crypto::Signature signature{};  // Ed25519 over checkpoint_body({chain id, size, root})
  // The sender has no quorum for this size yet and asks each receiver that
  // signed it for its signature; false on first sends and on every reply.
  bool reply_wanted = false;
  template <class V>
  void describe(V& v) {
    v.u64(size);
    v.fixed(root);
    v.u16(signer);
    v.fixed(signature);
    v.boolean(reply_wanted);
  }
};

// What CheckpointBook::add did with a signature.
enum class CosignOutcome {
  kAdded,          // counted for that size of our log
  kDuplicate,      // that signer's signature of that size was held already
  kPending,        // beyond our head: held until the log gets there
  kStale,          // older than the newest quorate note: nothing to gain
  kUnknownSigner,  // not a validator index of the set
  kBadSignature,   // does not verify under the signer's key
  kConflict,       // verifies, but over another root than our log's at that size
  kDropped,        // our root at that size cannot be read, or no room
};
std::string_view to_string(CosignOutcome o);

class CheckpointBook {
 public:
  // This node's committed log root at `size` (0 <= size <= the head's).
  using RootAt = std::function<Result<Hash>(std::uint64_t size)>;

  // A book at the log head (head_size, head_root). Reads the note persisted
  // at `path` if there is one: it is served again if it is a quorate note of
  // this genesis and names our own log at its size; otherwise it is ignored
  // (a line on stderr; the file is a node-local cache, never a reason not to
  // start). Errors: IO_ERROR reading an existing file. `fs` must outlive
  // the book.
  static Result<std::unique_ptr<CheckpointBook>> open(consensus::FsEnv& fs,
                                                      const ledger::Genesis& genesis,
                                                      std::string path, std::uint64_t head_size,
                                                      const Hash& head_root, RootAt root_at);
  // The same with the signers of `set` (the set in force) instead of the
  // genesis validators (`genesis` gives the chain id).
  static Result<std::unique_ptr<CheckpointBook>> open(consensus::FsEnv& fs,
                                                      const ledger::Genesis& genesis,
                                                      const ledger::ValidatorSet& set,
                                                      std::string path, std::uint64_t head_size,
                                                      const Hash& head_root, RootAt root_at);

  // The set in force changed: from now on signatures count only from
  // `set`'s validators, by their indexes there. What was collected for
  // sizes not yet quorate is dropped; the newest quorate note stays.
  void set_signers(const ledger::ValidatorSet& set);

  // The rest is for one thread (the validator's), except note() and
  // quorate_size(), which any thread may call.

  // Checks and collects one signature (see CosignOutcome).
  CosignOutcome add(const CheckpointSignature& s);
  // Our log grew to (size, root) (never shrinks). Held signatures at or below
  // the new size are checked and counted; those over another root than ours
  // are returned (conflicting checkpoints, for the log) and dropped.
  std::vector<CheckpointSignature> advance(std::uint64_t size, const Hash& root);

  // `signer`'s held signature of `size`, if any.
  std::optional<CheckpointSignature> signature_of(std::uint16_t signer, std::uint64_t size) const;
  std::uint64_t head_size() const { return head_size_; }

  // The newest quorate note, if any: every signature line collected for it,
  // in index order of the set. Thread safe.
  std::optional<std::string> note() const;
  // Its log size. Thread safe.
  std::optional<std::uint64_t> quorate_size() const;

  // Whether a quorate note newer than the one on disk exists.
  bool dirty() const { return dirty_; }
  // Writes the newest quorate note to `path` atomically (a temporary file,
  // synced, renamed over `path`, the directory synced). Errors: IO_ERROR; the
  // note stays dirty and the previous file, if any, stays whole.
  Status persist();

 private:
  struct Entry {
    Hash root{};
    std::map<std::uint16_t, crypto::Signature> sigs;  // by signer index
  };

  CheckpointBook(consensus::FsEnv& fs, const ledger::Genesis& genesis,
                 const ledger::ValidatorSet& set, std::string path, std::uint64_t head_size,
                 const Hash& head_root, RootAt root_at);
  Status load();
  bool verifies(const CheckpointSignature& s) const;
  CosignOutcome count(const CheckpointSignature& s);
  void hold(const CheckpointSignature& s);
  void on_quorum(std::uint64_t size);
  std::string note_of(std::uint64_t size, const Entry& e) const;

  consensus::FsEnv& fs_;
  const std::string chain_id_;
  ledger::ValidatorSet signers_;  // the set in force
  const std::string path_;
  RootAt root_at_;
  std::uint64_t head_size_ = 0;
  Hash head_root_{};
  std::map<std::uint64_t, Entry> sizes_;  // sizes >= the quorate one, <= the head
  std::map<std::uint16_t, std::deque<CheckpointSignature>> pending_;  // by size, per signer
  bool dirty_ = false;

  mutable std::mutex mu_;  // guards quorate_ and note_ (read by HTTP threads)
  std::optional<std::uint64_t> quorate_;
  std::string note_;
};

}  // namespace emledger::node
