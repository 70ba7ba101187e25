// The deterministic consensus simulator (docs/simulation.md).
//
// Many Replicas in one process, on simulated time, a simulated network and
// one SimFsEnv per node. Everything a run does follows from its seed
// (xoshiro256** seeded by splitmix64; no clock, no std::random_device, only
// ordered containers), so a seed replays a run exactly.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace emledger::consensus::sim {

// splitmix64 (Steele, Lea, Flood 2014): seeds the generator below.
inline std::uint64_t splitmix64_next(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// xoshiro256** (Blackman, Vigna 2018).
class Rng {
 public:
  explicit Rng(std::uint64_t seed) {
    for (auto& s : s_) s = splitmix64_next(seed);
  }
  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, n) (n >= 1); the modulo bias is irrelevant here.
  std::uint64_t below(std::uint64_t n) { return next() % n; }
  // Uniform in [lo, hi].
  std::uint64_t range(std::uint64_t lo, std::uint64_t hi) { return lo + below(hi - lo + 1); }
  // True with probability pct / 100.
  bool percent(std::uint64_t pct) { return below(100) < pct; }
  bool per_mille(std::uint64_t pm) { return below(1000) < pm; }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::array<std::uint64_t, 4> s_{};
};

// What a run injects, counted per injection.
enum class Fault : std::size_t {
  kDelay,             // a message delivered after a non-zero delay
  kDrop,              // a message lost to the drop rate
  kDuplicate,         // a message delivered twice
  kReorder,           // a message held back far longer than the others
  kPartitionLeader,   // a message cut by a partition isolating one node
  kPartitionSplit,    // cut by an f+1 against the rest split
  kPartitionOneWay,   // cut by a one-way link failure
  kPartitionRolling,  // cut by a rolling isolation
  kCrash,             // a node crashed between steps
  kCrashAtFsOp,       // a node crashed at a file-system operation of its WAL
  kTornTail,          // a crash kept part of an unsynced write
  kRestart,           // a crashed node restarted from its WAL
  kProcessKill,       // a crash that killed only the process: unsynced state kept
  kCompaction,        // a WAL rewrite began (small-WAL seeds)
  kCompactionCrash,   // a node crashed at a file-system operation inside a WAL rewrite
  kWalGrown,          // a node halted on WAL_FULL with nothing to drop: its WAL back to 16 MiB
  kTimerDrift,        // a node whose clock runs fast or slow (per node per run)
  kByzEquivocation,   // a leader signed two proposals of one view
  kByzDoubleVote,     // a Byzantine validator signed conflicting votes
  kByzSharedKey,      // a vote or proposal from the second node holding one key
  kByzReplay,         // an old message sent again
  kByzForgery,        // a message with a signature that does not verify
  kByzFarFuture,      // a message for a view far ahead
  kByzInvalidBlock,   // a block the application rejects
  kByzSilentLeader,   // a leader that held back its proposal
  kByzSilent,         // a message a silent validator did not send
  kCount,
};
inline constexpr std::size_t kFaultKinds = static_cast<std::size_t>(Fault::kCount);
const char* fault_name(Fault f);

// The invariants the checker holds a run to.
enum class Invariant : std::size_t {
  kPrefix,           // finalized logs of honest nodes are prefix-consistent
  kOneNotarization,  // at most one notarized block per view
  kOneFinalization,  // at most one finalized block per view
  kFinalAndNull,     // never both finalized and nullified
  kHonestConflict,   // an honest key signed two conflicting votes
  kHeightBack,       // a node's finalized height went down
  kEvidenceHonest,   // evidence blamed an honest validator (or did not verify)
  kLiveness,         // after healing, honest nodes did not finalize more blocks in time
  kRefusedStart,     // an honest node's WAL was refused (WAL_CORRUPT) on restart
  kBudget,           // the run hit its event budget
  kMissedCompact,    // WAL_FULL while the WAL held votes at or below the ledger's final view
  kCount,
};
inline constexpr std::size_t kInvariantKinds = static_cast<std::size_t>(Invariant::kCount);
const char* invariant_name(Invariant i);

// Deliberately broken runs: the checker must report a violation.
enum class Control {
  kNone,
  kTooManyByzantine,  // f + 1 colluding Byzantine validators
  kNoFsync,           // the WAL's syncs make nothing durable
  kNoRuleOne,         // honest nodes notarize every valid proposal of a view
};

struct Violation {
  Invariant invariant;
  std::uint64_t at_ms;
  std::string what;
};

struct RunResult {
  std::uint64_t seed = 0;
  std::size_t n = 0;
  std::size_t byzantine = 0;
  bool real_signatures = false;
  bool small_wal = false;  // every node's WAL capped at a few KiB (compaction runs)
  std::array<std::uint64_t, kFaultKinds> faults{};
  std::array<std::uint64_t, 10> crashes_at_op{};                // by FsOp (fault_fs.hpp)
  std::array<std::uint64_t, 10> crashes_in_compaction_at_op{};  // the same, inside a rewrite
  std::vector<Violation> violations;
  std::uint64_t events = 0;
  std::uint64_t end_ms = 0;
  std::uint64_t heal_ms = 0;
  std::uint64_t finalized_min = 0;  // lowest finalized height of an honest node at the end
  std::uint64_t trace = 0;          // digest of everything that happened, for replay checks
  std::string describe;             // the parameters the seed chose
  bool caught(Invariant i) const {
    for (const auto& v : violations)
      if (v.invariant == i) return true;
    return false;
  }
};

// Runs one seed. `control` breaks the run on purpose (its parameters are then
// fixed by the control, the seed still choosing delays and the rest). With
// `trace`, every event, signature, crash and finalized block goes to stderr.
RunResult run_seed(std::uint64_t seed, Control control = Control::kNone, bool trace = false);

}  // namespace emledger::consensus::sim
