// Pending transactions between admission and their block.
//
// Admission (on the HTTP threads) has already run Ledger::check_tx_stateless;
// the mempool only deduplicates, bounds and orders. The validator take()s a
// batch, executes it, commits, and complete()s it, which calls the waiters.
// An id stays "in flight" from take() until complete(), so a resubmission
// while its block commits is still a DUPLICATE_TX. Thread safe.
//
// In a network of validators a transaction can also end in a block another
// validator proposed: the validator forwards what clients submit here to its
// peers (the admission listener), adds what its peers forward (without a
// listener call, so nothing is forwarded twice), and completes whatever a
// committed block holds (complete_committed), pending or in flight.
#pragma once

#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "emledger/ledger/ledger.hpp"
#include "emledger/ledger/types.hpp"

namespace emledger::node {

// Pending transactions held at most (not counting the block in flight). Each
// is held parsed and, when admission gave them, as the bytes it received (at
// most kTxBytesMax, 8 KiB): the bytes add at most 100,000 x 8 KiB = 800 MiB
// at the bound, 31 MB for register transactions of 311 bytes.
inline constexpr std::size_t kMempoolTxsMax = 100'000;
// Ids of forgotten transactions (committed in another validator's block)
// left in the pending order are swept out once there are this many and more
// of them than pending ones: amortized, the order stays within twice the
// pending count.
inline constexpr std::size_t kMempoolStaleCompactMin = 1024;
// Rejections remembered for GET /v1/transactions/{id}; the oldest is dropped.
inline constexpr std::size_t kRecentRejectionsMax = 65'536;

// The fate of one transaction, as its waiters learn it.
struct TxResult {
  Hash id{};
  Status status;  // OK: committed at (height, log_index)
  std::uint64_t height = 0;
  std::uint64_t log_index = 0;
};

// Called once, on the validator thread (or the thread that closes the pool);
// must not block.
using TxWaiter = std::function<void(const TxResult&)>;

struct Candidate {
  Hash id{};
  ledger::Tx tx;
  // The head height at which admission found the id uncommitted, for
  // Ledger::prepare (CandidateFacts::absent_at); kUnknown when not looked up.
  std::uint64_t absent_at = ledger::CandidateFacts::kUnknown;
  // encode(tx) exactly, as admission received it (the decoder accepts only
  // the canonical encoding), for Ledger::prepare (CandidateFacts::encoding):
  // the validator thread then neither re-encodes nor hashes it. Empty when
  // the adder did not give it.
  Bytes encoding;
  // log_leaf_hash(encoding), computed by add() on the adder's thread
  // (CandidateFacts::leaf); empty without an encoding.
  std::optional<Hash> leaf;
};

class Mempool {
 public:
  explicit Mempool(std::size_t txs_max = kMempoolTxsMax,
                   std::size_t rejections_max = kRecentRejectionsMax);

  // Queues `tx` (whose id is `id`), with an optional waiter, and then, if
  // `announce`, calls the admission listener with it (outside the lock).
  // `absent_at`: the head height at which the caller found the id absent
  // from the committed state, if it looked (Candidate::absent_at).
  // `encoding`: encode(tx) exactly, or empty (Candidate::encoding); the
  // caller vouches for it, as for `id`, its SHA-256. Given, its log leaf
  // hash is computed here, before the lock (Candidate::leaf).
  // Errors: DUPLICATE_TX (pending or in flight), MEMPOOL_FULL, SHUTTING_DOWN.
  Status add(ledger::Tx tx, const Hash& id, TxWaiter waiter, bool announce = true,
             std::uint64_t absent_at = ledger::CandidateFacts::kUnknown, Bytes encoding = {});

  // Called after every add() with announce (a validator forwards the
  // transaction to its peers); must not block or call back into the pool.
  // Set once, before the pool is shared.
  using AdmitListener = std::function<void(const ledger::Tx& tx)>;
  void set_admit_listener(AdmitListener listener);

  // Transactions committed in a block, wherever they were proposed: those
  // held here, pending or in flight, are forgotten and their waiters called
  // with `results` (ids not held are skipped). A candidate of them still
  // listed in a proposal is later skipped by return_to_pending().
  void complete_committed(const std::vector<TxResult>& results);

  // Blocks until a transaction is pending or the pool is closed, then moves up
  // to `max` of them, oldest first, in flight. Empty only once closed.
  std::vector<Candidate> take(std::size_t max);
  // As take() but never blocks.
  std::vector<Candidate> try_take(std::size_t max);

  // Reports the fate of in-flight transactions: records rejections, forgets
  // them, and then calls their waiters (outside the lock). Every result must
  // be of a transaction in flight.
  void complete(const std::vector<TxResult>& results);
  // Puts in-flight transactions back in front of the pending ones, in their
  // order, keeping their waiters: a validator of a multi-node network whose
  // proposed block was not finalized offers them again. Works after close()
  // too (fail_pending() then completes them). Does not count against the
  // pending bound: they were admitted already. Candidates that are no longer
  // held (complete_committed() took them) are dropped.
  void return_to_pending(std::vector<Candidate> candidates);

  enum class Where { kUnknown, kPending, kRejected };
  struct Lookup {
    Where where = Where::kUnknown;
    Status rejection;  // when kRejected
    // When kPending: the stamp add() was given (Candidate::absent_at).
    std::uint64_t absent_at = ledger::CandidateFacts::kUnknown;
  };
  Lookup lookup(const Hash& id) const;

  // Refuses further add()s (with `refusal`: SHUTTING_DOWN unless told) and
  // wakes take(). Pending transactions stay until fail_pending() (in-flight
  // ones are the validator's to complete). A second close keeps the first
  // refusal.
  void close();
  void close(Status refusal);
  // Completes every pending (not in flight) transaction with `status`.
  void fail_pending(const Status& status);

  std::size_t pending_count() const;
  std::size_t in_flight_count() const;

 private:
  struct Entry {
    std::optional<ledger::Tx> tx;  // moved out when taken
    std::vector<TxWaiter> waiters;
    bool in_flight = false;
    std::uint64_t absent_at = ledger::CandidateFacts::kUnknown;
    Bytes encoding;  // moved out with tx
    std::optional<Hash> leaf;
  };
  std::vector<Candidate> take_locked(std::size_t max);
  void remember_rejection_locked(const Hash& id, const Status& st);
  // An id in order_ that names no pending entry (forgotten by
  // complete_committed, or an earlier copy of a re-added id).
  bool stale_locked(const Hash& id) const;
  // Drops stale ids from order_ once they outnumber the pending ones.
  void compact_order_locked();

  const std::size_t txs_max_;
  const std::size_t rejections_max_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool closed_ = false;
  Status refusal_;                                       // what add() answers once closed
  std::unordered_map<Hash, Entry, HashHasher> entries_;  // pending and in flight
  std::deque<Hash> order_;   // pending, oldest first; may hold stale ids (stale_locked)
  std::size_t pending_ = 0;  // entries not in flight: order_.size() minus the stale ids
  std::size_t in_flight_ = 0;
  AdmitListener admit_listener_;
  std::unordered_map<Hash, Status, HashHasher> rejections_;
  std::deque<Hash> rejection_order_;
};

}  // namespace emledger::node
