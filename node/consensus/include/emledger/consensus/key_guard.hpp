// The key guard: the only holder of this validator's signing key
// (docs/consensus.md section 7, design.md section 6).
//
// Before it signs a vote it re-checks the voting rules against every vote
// already in the WAL, appends the vote to the WAL and syncs it, and only then
// signs. The core already keeps these rules; the guard keeps them a second
// time, at the one place a signature can come from, against what is on disk,
// so a bug in the core (or in whoever drives it) cannot make the validator
// equivocate.
//
// The rules are kept per (epoch, view) (docs/validator-set-changes.md section
// 2): votes of different epochs never conflict, since their statements name
// their epochs and can never count together. The guard signs in one epoch,
// its own (open()); the WAL keeps the votes of every epoch it holds.
//
// Conflicts (docs/consensus.md sections 4 and 8), for one epoch and view v:
//   - two different votes of one kind (notarize or finalize for two blocks);
//   - finalize (v) and nullify (v), in either order (rules 2 and 3);
//   - notarize (v) after nullify (v) (rule 1). Nullify after notarize is
//     allowed: a validator that notarized and then timed out nullifies.
// A request identical to a logged vote is not a conflict: it is not logged
// again and gets the same signature (Ed25519 is deterministic; asserted).
//
// The guard owns the VoteWal: nothing else appends to it. Not thread-safe.
// Movable, not copyable.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "emledger/consensus/messages.hpp"
#include "emledger/consensus/wal.hpp"
#include "emledger/crypto/ed25519.hpp"

namespace emledger::consensus {

// Called with every signature the guard hands out, after the vote is durable
// (for audit logs; the simulator checks from it that no honest key ever
// signed two conflicting votes, whatever survived on disk).
using SignObserver = std::function<void(const SignedVote&)>;

// One record of the vote WAL (docs/formats/wal.md, WAL version 2): a vote of
// this validator's and the epoch it was signed for.
struct LoggedVote {
  static constexpr std::string_view kDomain = "emledger.consensus.logged-vote";
  static constexpr std::uint8_t kVersion = 1;
  Epoch epoch = kGenesisEpoch;
  Vote vote;
  template <class V>
  void describe(V& v) {
    v.u64(epoch);
    v.object(vote);
  }
  Status check() const { return vote.check(); }
  friend bool operator==(const LoggedVote&, const LoggedVote&) = default;
  friend auto operator<=>(const LoggedVote&, const LoggedVote&) = default;
};

struct KeyGuardCounters {
  std::uint64_t signed_new = 0;    // logged, synced and signed
  std::uint64_t signed_again = 0;  // identical to a logged vote: same signature
  std::uint64_t refused = 0;       // VOTE_CONFLICT, VOTE_BELOW_FLOOR, MALFORMED_ENCODING
  std::uint64_t compactions = 0;   // WAL rewrites
};

class KeyGuard {
 public:
  // Opens (or creates) the WAL at `path` on `env` and rebuilds the guard from
  // the votes it holds. Every vote it signs is signed for `epoch` on
  // `chain_id`. `anchor_view` is the view of the last block the ledger holds
  // as final, durably: the guard refuses votes at or below it, since the WAL
  // may have been compacted up to it. `self` is this validator's index,
  // written into every SignedVote. `wal_capacity_bytes` caps the WAL file
  // (WalOptions::capacity_bytes). Errors: CONFIG_INVALID (a capacity below
  // wal_capacity_bytes_min() or above kWalFileBytesMax), WAL_CORRUPT (the
  // WAL's own refusals, among them a WAL of version 1, whose votes name no
  // epoch, and a record that is not a valid LoggedVote): refuse to start;
  // IO_ERROR. `env` must outlive the guard.
  static Result<KeyGuard> open(FsEnv& env, std::string path, crypto::KeyPair key,
                               std::string chain_id, Epoch epoch, ValidatorIndex self,
                               View anchor_view,
                               std::uint64_t wal_capacity_bytes = kWalFileBytesMax);

  // The smallest WAL capacity open() takes: the header and one vote (every
  // vote encodes to the same size).
  static std::uint64_t wal_capacity_bytes_min();

  // Signs `vote` for epoch() if it conflicts with no logged vote of that
  // epoch: appends it to the WAL and syncs it first unless an identical vote
  // is already logged. When the WAL is full and still holds votes at or below
  // floor_view() (replayed at open), it compacts at floor_view() first.
  // Errors: MALFORMED_ENCODING (vote.check() fails), VOTE_BELOW_FLOOR,
  // VOTE_CONFLICT (nothing written), WAL_FULL (compact() first; nothing
  // written), and the WAL's I/O errors, after which the WAL is poisoned and
  // the guard refuses every new vote: the caller must stop and reopen.
  Result<SignedVote> sign(const Vote& vote);

  // OK if sign(vote) would sign (without writing anything).
  Status check(const Vote& vote) const;

  // The signed vote this guard already handed out for `vote` (in epoch())
  // since it was opened, if any (no signing, nothing written): for resending
  // own votes.
  std::optional<SignedVote> signed_before(const Vote& vote) const;

  // Rewrites the WAL keeping only the votes of views above `floor_view` (of
  // every epoch), and from then on refuses votes at or below it. Only call with a view whose
  // block the ledger holds as final durably (a restart anchors there).
  // Errors: the WAL's (see VoteWal::rewrite).
  Status compact(View floor_view);

  // True if the WAL has room for one more vote.
  bool has_room() const;
  // The logged votes of epoch(), oldest first: what Core::replay() needs.
  std::vector<Vote> logged() const;
  // The logged votes of every epoch, oldest first: the WAL's records.
  const std::vector<LoggedVote>& logged_all() const { return order_; }
  // The logged votes of epoch() of views in (after, upto], by view then kind.
  std::vector<Vote> logged_between(View after, View upto) const;
  Epoch epoch() const { return epoch_; }
  View floor_view() const { return floor_view_; }
  const PublicKey& public_key() const { return key_.public_key(); }
  const KeyGuardCounters& counters() const { return counters_; }
  const VoteWal& wal() const { return wal_; }
  // The torn tail the WAL cut when it opened (0: none).
  std::uint64_t torn_bytes_cut() const { return torn_bytes_cut_; }
  void set_observer(SignObserver observer) { observer_ = std::move(observer); }

 private:
  using Slots = std::array<std::optional<Vote>, kVoteKindMax>;
  using EpochView = std::pair<Epoch, View>;
  KeyGuard(VoteWal wal, crypto::KeyPair key, std::string chain_id, Epoch epoch, ValidatorIndex self,
           View floor_view);
  void remember(const LoggedVote& logged);
  const Slots* slots_of(const Vote& vote) const;  // epoch_'s slots of vote.view, if any
  bool holds_at_or_below(View view) const;        // a logged vote of any epoch at or below view
  SignedVote sign_now(const Vote& vote);

  VoteWal wal_;
  crypto::KeyPair key_;
  std::string chain_id_;
  Epoch epoch_;
  ValidatorIndex self_;
  View floor_view_;
  std::map<EpochView, Slots> by_view_;    // logged votes by (epoch, view) and kind
  std::vector<LoggedVote> order_;         // logged votes, append order
  std::map<Vote, Signature> signatures_;  // signatures handed out by this process (epoch_)
  std::uint64_t torn_bytes_cut_ = 0;
  KeyGuardCounters counters_;
  SignObserver observer_;
};

}  // namespace emledger::consensus
