// The Simplex consensus core (docs/consensus.md): a pure state machine.
//
// Inputs are messages, the application's answers, this validator's own votes
// coming back signed, and the time (ms, from the adapter's monotonic clock).
// Every input returns the actions it caused, in order. The core reads no
// clock, draws no randomness, does no I/O and iterates only ordered
// containers: the same inputs give the same actions, on every machine.
//
// Not thread safe: one adapter thread drives one Core.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "emledger/consensus/messages.hpp"
#include "emledger/consensus/verifier.hpp"

namespace emledger::consensus {

// Messages for views further than this above the current view are ignored
// (finalization certificates excepted), so far-future views cannot fill
// memory.
inline constexpr View kViewsAheadMax = 64;
// On each finalization, state of views more than this below the finalized
// view is forgotten and later messages for them are ignored.
inline constexpr View kViewsRetainedBelowFinalized = 16;
// Timeouts double at most this many times before the cap applies anyway;
// keeps the shift far from overflow.
inline constexpr std::uint32_t kBackoffShiftMax = 20;
inline constexpr std::uint64_t kTimeoutMsMax = std::uint64_t{1} << 40;
static_assert(kViewsRetainedBelowFinalized >= 1);
static_assert((kTimeoutMsMax << kBackoffShiftMax) > kTimeoutMsMax, "no overflow in the backoff");

struct Config {
  std::string chain_id;
  // The epoch of `validators` (docs/validator-set-changes.md section 2): every
  // vote the core asks for, and every vote and certificate it accepts, is
  // signed for it. kGenesisEpoch until validator-set changes exist.
  Epoch epoch = kGenesisEpoch;
  std::vector<PublicKey> validators;  // the epoch's set, in order; distinct keys
  ValidatorIndex self = 0;            // this validator's index
  // The last block the ledger holds as final; for a new chain the genesis:
  // {view 0, height 0, parent view 0, zero parent, genesis hash}.
  BlockRef anchor;
  // The finalization certificate that made the anchor final (the anchor's own
  // or a descendant's, as the ledger stored it), if any. Taken as verified
  // (the ledger checked it against the validator set): the core does not act
  // on it, it only rebroadcasts it, so that validators left behind can
  // follow after a restart.
  std::optional<Certificate> anchor_proof;
  std::uint64_t view_timeout_ms = 2000;       // first timeout of a view
  std::uint64_t view_timeout_max_ms = 60000;  // cap of the backoff (timeouts and rebroadcasts)
  std::uint64_t rebroadcast_ms = 1000;        // first rebroadcast interval after a timeout
  // CONFIG_INVALID unless: 1..kValidatorsMax distinct keys, self among them,
  // anchor view below kViewMax, a chain id, 1 <= rebroadcast_ms, view_timeout_ms <=
  // view_timeout_max_ms <= kTimeoutMsMax, and an anchor_proof (if any) that is
  // a well-formed finalization of a view at or above the anchor's, signed by
  // validators of the set.
  Status check() const;
};

// ---- actions ----

// Send to every other validator. A proposal of this validator's is followed,
// in the same output, by the certificates that justify its parent; a
// rebroadcast sends every certificate and own vote a lagging validator could
// need (docs/consensus.md sections 4 and 6).
struct Broadcast {
  Message message;
};
// Call on_tick() at this time (or later). Replaces any earlier WakeAt.
struct WakeAt {
  std::uint64_t at_ms = 0;
};
// Append `vote` to the WAL and fsync, then sign signing_bytes(chain_id, epoch, vote)
// with this validator's key and hand the result to on_own_vote(). The core
// already counts the vote as cast: it will never ask for a conflicting one.
struct PersistVote {
  Vote vote;
};
// Sign `vote`, already in the WAL (replayed after a restart), and hand the
// result to on_own_vote().
struct SignVote {
  Vote vote;
};
// This validator leads `view`: build a block of height parent_height + 1 on
// the parent and hand it to on_block_built().
struct BuildBlock {
  View view = 0;
  View parent_view = 0;
  Height parent_height = 0;
  Hash parent{};
};
// Check that `payload` is a valid block whose header hash, view, height and
// parent hash are `block`'s and whose parent's header has view
// block.parent_view, and answer with on_block_checked().
struct CheckBlock {
  BlockRef block;
  Bytes payload;
};
// A block on a finalized chain is unknown here: fetch the block with this
// header hash from peers and hand its reference to on_block_fetched().
struct FetchBlock {
  View view = 0;
  Height height = 0;
  Hash digest{};
};
// `block` is final. Reported in chain order, each block once. `proof` is a
// finalization certificate: the block's own (by_descendant false) or that of
// a descendant (true).
struct Finalized {
  BlockRef block;
  Certificate proof;
  bool by_descendant = false;
};
// A validator signed two conflicting votes (docs/consensus.md section 8).
struct Equivocation {
  Evidence evidence;
};

using Action = std::variant<Broadcast, WakeAt, PersistVote, SignVote, BuildBlock, CheckBlock,
                            FetchBlock, Finalized, Equivocation>;

// What the core refused or ignored, for metrics and tests.
struct Counters {
  std::uint64_t refused_malformed = 0;          // check() failed
  std::uint64_t refused_unknown_validator = 0;  // signer index outside the set
  std::uint64_t refused_bad_signature = 0;
  std::uint64_t refused_not_leader = 0;     // proposal from someone not leading its view
  std::uint64_t refused_no_quorum = 0;      // certificate with too few signers
  std::uint64_t refused_bad_answer = 0;     // adapter answer matching no request
  std::uint64_t ignored_out_of_window = 0;  // too far ahead, or pruned
  std::uint64_t ignored_duplicate = 0;
  std::uint64_t evidence = 0;
  std::uint64_t safety_faults = 0;  // a finalized chain not through our last final block
  // Blocks looked up by the finality walk: once per block of a finalized
  // chain, however many fetches and finalizations the walk waits for (it
  // resumes where it stopped).
  std::uint64_t finality_walk_steps = 0;
};

class Core {
 public:
  // Errors: CONFIG_INVALID. `verifier` must outlive the Core.
  static Result<Core> create(Config config, const Verifier& verifier = ed25519_verifier());

  // Restores this validator's own votes from its WAL, oldest first. Only
  // before start(). Votes at or below the anchor's view are skipped. start()
  // asks for every restored vote to be signed again (SignVote) and counts it,
  // as it counts any validator's vote, once it comes back.
  // Errors: MALFORMED_ENCODING for a vote whose check() fails, CORE_STARTED.
  Status replay(const std::vector<Vote>& logged);

  // Enters the first view: anchor view + 1, or after replay() the highest
  // logged view, treated as timed out (a nullify vote unless the log forbids
  // it, and a rebroadcast). Call once.
  std::vector<Action> start(std::uint64_t now_ms);

  std::vector<Action> on_message(std::uint64_t now_ms, const Message& message);
  std::vector<Action> on_tick(std::uint64_t now_ms);
  // Answer to PersistVote / SignVote.
  std::vector<Action> on_own_vote(std::uint64_t now_ms, const SignedVote& vote);
  // Answer to BuildBlock.
  std::vector<Action> on_block_built(std::uint64_t now_ms, const BlockRef& block, Bytes payload);
  // Answer to CheckBlock.
  std::vector<Action> on_block_checked(std::uint64_t now_ms, const BlockRef& block, bool valid);
  // Answer to FetchBlock: the fetched block's reference, its header hash
  // checked by the adapter.
  std::vector<Action> on_block_fetched(std::uint64_t now_ms, const BlockRef& block);
  // The adapter committed `block` itself, outside this core (a node far behind
  // synced whole ranges of finalized blocks from its peers, each with a
  // finality proof the ledger verified): the core takes it as its last
  // finalized block, drops a fetch at or below it and reports no Finalized for
  // it or any block below it. Ignored unless it is above the last finalized
  // block in both view and height. Safety does not depend on the adapter's
  // word beyond that proof: a finalized block is one a quorum finalized.
  std::vector<Action> on_synced(std::uint64_t now_ms, const BlockRef& block);

  View current_view() const { return current_view_; }
  const BlockRef& last_finalized() const { return last_finalized_; }
  ValidatorIndex leader(View view) const;
  std::size_t quorum() const { return quorum_; }
  const Counters& counters() const { return counters_; }
  // Views with state held; bounded by docs/consensus.md section 9.
  std::size_t views_held() const { return views_.size(); }
  const Config& config() const { return config_; }

 private:
  static constexpr std::size_t kKinds = 3;
  struct ViewState {
    std::array<std::map<ValidatorIndex, SignedVote>, kKinds> votes;  // first vote of each signer
    std::array<std::optional<Certificate>, kKinds> certs;
    std::array<std::optional<Vote>, kKinds> my_votes;         // cast (persist requested)
    std::array<std::optional<SignedVote>, kKinds> my_signed;  // for rebroadcast
    std::optional<BlockRef> proposal;                         // the leader's first proposal
    bool proposal_checked = false;
    bool proposal_valid = false;
    std::optional<BuildBlock> build;  // this validator leads the view and asked for a block
    std::set<std::pair<std::uint8_t, ValidatorIndex>> evidence_sent;
  };

  Core(Config config, const Verifier& verifier);

  std::vector<Action> finish();
  void observe_time(std::uint64_t now_ms);
  bool in_window(View view) const;

  void handle_proposal(const Proposal& p);
  void handle_vote(const SignedVote& v);
  void handle_certificate(const Certificate& c);
  bool vote_shape_ok(const SignedVote& v);
  bool verify_vote(const SignedVote& v);
  bool verify_certificate(const Certificate& c);

  void add_vote(const SignedVote& v);
  void add_certificate(const Certificate& c);
  void maybe_form_certificate(View view, std::uint8_t kind, const Vote& statement);

  using CertificateKey = std::pair<View, std::uint8_t>;  // (view, kind)
  std::set<CertificateKey> certificates_in_output() const;
  void send_once(const Certificate& c, std::set<CertificateKey>& sent);
  // Queues `m` for the other validators. A lone validator has none, so it
  // queues nothing: its proposal is a block of up to megabytes, and copying
  // it into an action for nobody took about 1.4% of a node's busiest thread.
  template <class M>
  void broadcast(const M& m) {
    if (config_.validators.size() > 1) out_.push_back(Broadcast{m});
  }

  void enter_view(View view, bool progress);
  void timeout();
  void rebroadcast();
  void send_own_votes();
  void send_justification(const BlockRef& block);
  void cast(const Vote& vote);
  void try_propose();
  void try_notarize(View view);
  bool parent_acceptable(const BlockRef& block) const;
  std::optional<Certificate> block_certificate(View view, const Hash& digest) const;
  void advance_finality();
  void prune();
  std::uint64_t backoff(std::uint64_t base_ms, std::uint32_t doublings) const;

  Config config_;
  const Verifier* verifier_;
  std::size_t quorum_;
  Counters counters_;

  bool started_ = false;
  std::uint64_t now_ms_ = 0;
  View current_view_ = 0;
  View floor_view_ = 0;  // views below are forgotten
  BlockRef last_finalized_;
  std::map<View, ViewState> views_;
  std::map<Hash, BlockRef>
      blocks_;  // blocks whose parent link is trusted (built, checked, fetched)
  std::set<Vote> awaiting_signature_;
  std::optional<Proposal> own_proposal_;     // awaiting its signature, or kept for rebroadcast
  std::optional<Certificate> finalization_;  // highest observed finalization: the walk's target
  // The highest finalization known, for rebroadcast: observed, or the
  // anchor's proof. Never reset (a safety fault resets finalization_ only).
  std::optional<Certificate> latest_finalization_;
  // The finality walk so far, top down: blocks linked from an observed
  // finalization's block down to walk_.back(), all above last_finalized_,
  // whose parent link is the next to resolve. Kept while the walk waits for
  // a fetch, so that it resumes there (docs/consensus.md section 5).
  std::deque<BlockRef> walk_;
  std::optional<FetchBlock> fetching_;

  // Timers of the current view.
  std::uint32_t nullified_streak_ = 0;  // consecutive views ended by nullification
  std::uint64_t deadline_ms_ = 0;
  bool timed_out_ = false;
  std::uint32_t rebroadcasts_ = 0;
  std::uint64_t rebroadcast_at_ms_ = 0;
  std::uint64_t wake_sent_ms_ = 0;

  std::vector<Action> out_;
};

}  // namespace emledger::consensus
