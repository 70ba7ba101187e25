// The simulator's engine, shared by sim.cpp (setup, the run, the network,
// the application) and sim_adversary.cpp (Byzantine behaviour and the
// invariants it checks): its constants, the simulated nodes and events, and
// the Simulation class. docs/simulation.md describes the model. Internal to
// tests/sim.
#pragma once

#include <algorithm>
#include <cstdio>
#include <deque>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <tuple>
#include <unordered_map>

#include "emledger/consensus/replica.hpp"
#include "emledger/consensus/verifier.hpp"
#include "emledger/crypto/sha256.hpp"
#include "emledger/ledger/encoding.hpp"
#include "fault_fs.hpp"
#include "sim.hpp"

namespace emledger::consensus::sim::engine {

inline const std::string kChain = "sim-chain";
// The simulated network never changes its validator set: every vote is of
// the genesis epoch.
inline constexpr Epoch kEpoch = kGenesisEpoch;
inline unsigned long long ull(std::uint64_t x) { return x; }
inline constexpr const char* kWalPath = "/node/votes.wal";
// Timers of every simulated validator (Config fields of the same names).
inline constexpr std::uint64_t kViewTimeoutMs = 300;
inline constexpr std::uint64_t kViewTimeoutMaxMs = 4800;
inline constexpr std::uint64_t kRebroadcastMs = 150;
// After the faults heal, every honest node must finalize this many blocks
// beyond the highest honest height at healing, within this simulated time.
inline constexpr std::uint64_t kLivenessBoundMs = 60'000;
inline constexpr Height kLivenessBlocks = 2;
inline constexpr std::uint64_t kEventsMax = 4'000'000;
inline constexpr std::size_t kSeenMax = 128;        // messages a replaying Byzantine node remembers
inline constexpr std::size_t kViolationsKept = 16;  // per run; later ones are only counted
inline constexpr std::size_t kSizes[] = {1, 4, 5, 7, 10, 13, 16};
inline constexpr std::size_t kValidatorsMax = 16;
inline constexpr std::uint64_t kRealSignatureEvery = 32;
static_assert(std::tuple_size_v<decltype(RunResult::crashes_at_op)> == kFsOps);
static_assert(std::tuple_size_v<decltype(RunResult::crashes_in_compaction_at_op)> == kFsOps);
// One seed in kSmallWalEvery gives every node a WAL of kSmallWalMinBytes to
// kSmallWalMaxBytes (86 bytes a vote), so that compaction runs many times a
// run and crashes land inside it. Drawn from a generator of its own, so the
// other seeds run exactly as they did before WALs could be small.
inline constexpr std::uint64_t kSmallWalEvery = 3;
inline constexpr std::uint64_t kSmallWalMinBytes = 2 * 1024;
inline constexpr std::uint64_t kSmallWalMaxBytes = 16 * 1024;
inline constexpr std::uint64_t kBuildMinMs = 10;
inline constexpr std::uint64_t kBuildMaxMs = 50;

inline crypto::KeyPair key_of(std::size_t i) {
  static const std::vector<crypto::KeyPair> keys = [] {
    std::vector<crypto::KeyPair> k;
    for (std::size_t j = 0; j < kValidatorsMax; ++j) {
      crypto::Seed seed{};
      seed[0] = static_cast<std::uint8_t>(j + 1);
      seed[1] = 0x51;
      k.push_back(crypto::KeyPair::from_seed(seed));
    }
    return k;
  }();
  return keys.at(i);
}

inline Hash genesis_hash() { return crypto::sha256(as_bytes("emledger-sim-genesis")); }
inline BlockRef genesis() { return BlockRef{0, 0, 0, Hash{}, genesis_hash()}; }

// A block's bytes: its header fields, who built it, a nonce (so two builds
// of one view differ, as real blocks with other transactions would) and
// whether the application will accept it. Its digest is SHA-256 of this.
struct SimBlock {
  static constexpr std::string_view kDomain = "emledger.sim.block";
  static constexpr std::uint8_t kVersion = 1;
  View view = 0;
  Height height = 0;
  View parent_view = 0;
  Hash parent{};
  std::uint16_t builder = 0;
  std::uint64_t nonce = 0;
  std::uint8_t valid = 1;
  template <class V>
  void describe(V& v) {
    v.u64(view);
    v.u64(height);
    v.u64(parent_view);
    v.fixed(parent);
    v.u16(builder);
    v.u64(nonce);
    v.u8(valid);
  }
};

// The application's verdict on a proposed block: deterministic, from the
// bytes alone.
inline bool app_accepts(const BlockRef& b, const Bytes& payload) {
  auto blk = ledger::decode<SimBlock>(payload);
  if (!blk.is_ok() || crypto::sha256(payload) != b.digest) return false;
  return blk->valid == 1 && blk->view == b.view && blk->height == b.height &&
         blk->parent_view == b.parent_view && blk->parent == b.parent;
}

// A sound stand-in for Ed25519 verification: a signature verifies only if
// some signer in this run produced it for that key and message. Every
// signature of the run (key guards, Byzantine nodes) is added here, so a
// forged or altered one is refused exactly as Ed25519 would refuse it.
class RegistryVerifier final : public Verifier {
 public:
  void add(const PublicKey& key, ByteView message, const Signature& sig) {
    table_[sig].insert({key, crypto::sha256(message)});
  }
  bool verify(const PublicKey& key, ByteView message, const Signature& sig) const override {
    auto it = table_.find(sig);
    return it != table_.end() && it->second.contains({key, crypto::sha256(message)});
  }

 private:
  struct SigHash {
    std::size_t operator()(const Signature& s) const {
      std::size_t h = 0;
      for (std::size_t i = 0; i < sizeof(h); ++i) h = (h << 8) | s[i];
      return h;
    }
  };
  std::unordered_map<Signature, std::set<std::pair<PublicKey, Hash>>, SigHash> table_;
};

enum class Behavior {
  kHonest,
  kSilent,
  kSilentLeader,
  kEquivocator,
  kDoubleVoter,
  kSharedKey,
  kReplayer,
  kForger,
  kFlooder,
  kInvalidBlocks,
};
inline constexpr Behavior kByzantineBehaviors[] = {
    Behavior::kSilent,      Behavior::kSilentLeader, Behavior::kEquivocator,
    Behavior::kDoubleVoter, Behavior::kSharedKey,    Behavior::kReplayer,
    Behavior::kForger,      Behavior::kFlooder,      Behavior::kInvalidBlocks};
inline const char* behavior_name(Behavior b) {
  switch (b) {
    case Behavior::kHonest:
      return "honest";
    case Behavior::kSilent:
      return "silent";
    case Behavior::kSilentLeader:
      return "silent-leader";
    case Behavior::kEquivocator:
      return "equivocator";
    case Behavior::kDoubleVoter:
      return "double-voter";
    case Behavior::kSharedKey:
      return "shared-key";
    case Behavior::kReplayer:
      return "replayer";
    case Behavior::kForger:
      return "forger";
    case Behavior::kFlooder:
      return "flooder";
    case Behavior::kInvalidBlocks:
      return "invalid-blocks";
  }
  return "?";
}

enum class PartitionKind { kLeader, kSplit, kOneWay, kRolling };
struct Partition {
  PartitionKind kind;
  std::uint64_t start_ms;
  std::uint64_t end_ms;
  std::optional<ValidatorIndex> isolated;                   // kLeader: chosen when it begins
  std::uint32_t group = 0;                                  // kSplit: bit i set = side A
  std::set<std::pair<ValidatorIndex, ValidatorIndex>> cut;  // kOneWay: from -> to
  std::uint64_t period_ms = 0;                              // kRolling
  std::uint64_t base = 0;                                   // kRolling
};

// One running copy of a validator's software: its disk, its replica and the
// ledger it reported as final (the application's, durable on report).
struct Slot {
  SimFsEnv disk;
  FaultFs fs{disk};
  std::optional<Replica> replica;
  std::uint64_t incarnation = 0;
  std::uint64_t wake_gen = 0;
  bool restart_pending = false;
  std::vector<BlockRef> ledger;
  std::optional<Certificate> last_proof;  // what made the ledger's last block final
  Height max_height = 0;
  std::uint64_t builds = 0;
  // fs.rewrites_begun() when a compaction crash was last armed.
  std::uint64_t rewrites_armed_at = 0;
  std::uint64_t wal_capacity_bytes = kWalFileBytesMax;  // grows on WAL_FULL (small-WAL seeds)
};

struct Node {
  ValidatorIndex index = 0;
  Behavior behavior = Behavior::kHonest;
  std::vector<std::unique_ptr<Slot>> slots;  // two for a shared key
  std::uint64_t clock_offset_ms = 0;
  std::uint64_t clock_rate_pm = 1000;  // local ms per 1000 simulated ms
  bool equivocate_to_all = false;      // kEquivocator: both proposals to everyone
  bool no_rule_one = false;            // Control::kNoRuleOne
  std::deque<std::shared_ptr<const Message>> seen;
  std::set<std::pair<View, Hash>> extra_votes;  // kDoubleVoter / kNoRuleOne: signed already
  std::map<View, Hash> first_proposal;          // kNoRuleOne
  std::uint64_t next_extra_ms = 0;              // replay, forgery and flood pace: a bounded rate
  // kDoubleVoter: valid votes seen, by statement, to assemble certificates.
  std::map<Vote, std::map<ValidatorIndex, Signature>> pool;
  std::set<Vote> assembled;
  bool honest() const { return behavior == Behavior::kHonest; }
};

enum class Ev : std::uint8_t {
  kDeliver,
  kWake,
  kBuilt,
  kChecked,
  kFetched,
  kCrash,
  kRestart,
  kHeal
};

struct Event {
  Event(std::uint64_t at_ms, Ev what, ValidatorIndex to = 0, std::size_t slot_index = 0,
        std::uint64_t of_incarnation = 0)
      : at(at_ms),
        type(what),
        node(to),
        slot(static_cast<std::uint8_t>(slot_index)),
        incarnation(of_incarnation) {}
  std::uint64_t at = 0;
  std::uint64_t seq = 0;
  Ev type = Ev::kDeliver;
  ValidatorIndex node = 0;
  std::uint8_t slot = 0;
  std::uint64_t incarnation = 0;
  std::uint64_t gen = 0;
  std::shared_ptr<const Message> msg;
  BlockRef block;
  std::shared_ptr<const Bytes> payload;
  bool valid = false;
};
struct Later {
  bool operator()(const Event& a, const Event& b) const {
    return std::tie(a.at, a.seq) > std::tie(b.at, b.seq);
  }
};

struct Params {
  std::size_t n = 4;
  std::map<ValidatorIndex, Behavior> byzantine;
  bool real_signatures = false;
  std::uint64_t drop_pct = 0, dup_pct = 0, reorder_pct = 0;
  std::uint64_t min_delay_ms = 1, max_delay_ms = 20;
  std::vector<Partition> partitions;
  bool crashes = false;
  // The honest nodes that crash (between steps or at a file-system op).
  std::set<ValidatorIndex> crashable;
  std::uint64_t crash_gap_min_ms = 0, crash_gap_max_ms = 0;
  std::uint64_t down_min_ms = 0, down_max_ms = 0;
  std::uint64_t fs_crash_pct = 0;  // chance a (re)start arms a crash at a file-system op
  bool drift = false;
  std::uint64_t heal_ms = 5000;
  bool check_liveness = true;
  bool sync_noop = false;
  // Small-WAL seeds: the cap, the chance that a (re)start arms a crash inside
  // the next compaction, and the chance that a crash kills only the process.
  std::uint64_t wal_capacity_bytes = kWalFileBytesMax;
  std::uint64_t compaction_crash_pct = 0;
  std::uint64_t process_kill_pct = 0;
  bool small_wal() const { return wal_capacity_bytes < kWalFileBytesMax; }
};

class Simulation {
 public:
  Simulation(std::uint64_t seed, Control control, bool trace)
      : rng_(seed), control_(control), trace_(trace) {
    result_.seed = seed;
    choose(seed);
  }
  RunResult run();

 private:
  // ---- setup ----
  void choose(std::uint64_t seed);
  void choose_control();
  std::string describe() const;

  // ---- helpers ----
  void count(Fault f, std::uint64_t k = 1) { result_.faults[static_cast<std::size_t>(f)] += k; }
  void violate(Invariant i, std::string what) {
    ++violations_seen_;
    if (result_.violations.size() < kViolationsKept)
      result_.violations.push_back({i, now_, std::move(what)});
    else if (!result_.caught(i))
      result_.violations.push_back({i, now_, std::move(what)});
  }
  void mix(std::uint64_t x) { result_.trace = splitmix64_next(result_.trace) ^ x; }
  const Verifier& verifier() const {
    return params_.real_signatures ? ed25519_verifier() : registry_;
  }
  bool byzantine(ValidatorIndex i) const { return params_.byzantine.contains(i); }
  std::size_t f() const { return (params_.n - 1) / 3; }
  ValidatorIndex leader(View v) const { return static_cast<ValidatorIndex>(v % params_.n); }
  std::uint64_t local_now(const Node& node) const {
    return node.clock_offset_ms + now_ * node.clock_rate_pm / 1000;
  }
  std::uint64_t to_global(const Node& node, std::uint64_t local) const {
    if (local <= node.clock_offset_ms) return now_;
    const std::uint64_t d = local - node.clock_offset_ms;
    return std::max(now_, (d * 1000 + node.clock_rate_pm - 1) / node.clock_rate_pm);
  }
  void push(Event e) {
    e.seq = seq_++;
    queue_.push(std::move(e));
  }
  Config config_for(ValidatorIndex self, const BlockRef& anchor) const;

  // ---- the run ----
  void dispatch(const Event& e);
  void deliver(Node& node, const std::shared_ptr<const Message>& msg);
  void after(Node& node, std::size_t slot, ReplicaOutput out);
  void restart(Node& node, std::size_t slot);
  void crash(Node& node, std::size_t slot, bool at_fs_op);
  void arm_compaction_crash(Slot& s);
  void wal_full(Node& node, Slot& s);
  void heal();
  bool liveness_met() const;

  // ---- network ----
  void emit(Node& node, std::size_t slot, const Message& m);
  void broadcast(ValidatorIndex from, std::shared_ptr<const Message> m,
                 const std::function<bool(ValidatorIndex)>& to_filter = {});
  void send(ValidatorIndex from, ValidatorIndex to, std::shared_ptr<const Message> m);
  std::optional<Fault> cut(ValidatorIndex from, ValidatorIndex to);

  // ---- application ----
  std::pair<BlockRef, Bytes> build(Node& node, Slot& s, const BuildBlock& b, bool invalid);

  // ---- Byzantine behaviour ----
  SignedVote raw_sign(Node& node, const Vote& v);
  void react(Node& node, const std::shared_ptr<const Message>& msg);
  void equivocate(Node& node, std::size_t slot, const Proposal& p);
  void forge(Node& node);
  void flood(Node& node);
  void no_rule_one(Node& node, const Proposal& p);
  void pool_vote(Node& node, const SignedVote& v);
  bool certificate_valid(const Certificate& c) const;
  View view_of(const Node& node) const;

  // ---- invariants ----
  void on_signed(ValidatorIndex who, const SignedVote& sv);
  void check_honest_vote(ValidatorIndex who, const Vote& v);
  void check_certificate(const Certificate& c);
  void check_final(Node& node, Slot& s, const Finalized& f);
  void check_evidence(const Evidence& e);
  void check_heights();

  template <class... A>
  void log(const char* fmt, A... args) const {
    std::fprintf(stderr, "%10llu ms  ", ull(now_));
    std::fprintf(stderr, fmt, args...);
    std::fputc('\n', stderr);
  }

  Rng rng_;
  Control control_;
  bool trace_;
  Params params_;
  RunResult result_;
  std::uint64_t violations_seen_ = 0;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::priority_queue<Event, std::vector<Event>, Later> queue_;
  std::uint64_t seq_ = 0;
  std::uint64_t now_ = 0;
  bool healed_ = false;
  Height liveness_target_ = 0;
  mutable RegistryVerifier registry_;
  std::map<Hash, BlockRef> blocks_;  // every block built: what peers can serve to a fetch
  std::vector<Hash> canonical_;      // the finalized chain, by height - 1
  struct ViewCerts {
    std::optional<Hash> notarized, finalized;
    bool nullified = false;
  };
  std::map<View, ViewCerts> certs_;
  std::map<ValidatorIndex, std::map<View, std::array<std::optional<Vote>, 3>>> signed_;
};

}  // namespace emledger::consensus::sim::engine
