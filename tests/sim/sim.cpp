// The simulator's engine: docs/simulation.md describes the model.
#include "sim.hpp"

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

namespace emledger::consensus::sim {

const char* fault_name(Fault f) {
  static constexpr const char* kNames[] = {"delay",
                                           "drop",
                                           "duplicate",
                                           "reorder",
                                           "partition.leader-isolated",
                                           "partition.split-f+1",
                                           "partition.one-way",
                                           "partition.rolling",
                                           "crash",
                                           "crash.at-fs-op",
                                           "crash.torn-tail",
                                           "restart",
                                           "crash.process-only",
                                           "wal.compaction",
                                           "crash.in-compaction",
                                           "wal.grown",
                                           "timer-drift",
                                           "byz.equivocating-leader",
                                           "byz.double-vote",
                                           "byz.shared-key",
                                           "byz.replay",
                                           "byz.forgery",
                                           "byz.far-future",
                                           "byz.invalid-block",
                                           "byz.silent-leader",
                                           "byz.silent"};
  static_assert(std::size(kNames) == kFaultKinds);
  return kNames[static_cast<std::size_t>(f)];
}

const char* invariant_name(Invariant i) {
  static constexpr const char* kNames[] = {
      "prefix-consistent finalized logs",    "one notarization per view",
      "one finalization per view",           "never finalized and nullified",
      "honest key signed conflicting votes", "finalized height went back",
      "evidence against an honest node",     "liveness after healing",
      "honest WAL refused at restart",       "event budget",
      "WAL full with votes it could drop"};
  static_assert(std::size(kNames) == kInvariantKinds);
  return kNames[static_cast<std::size_t>(i)];
}

namespace {

const std::string kChain = "sim-chain";
// The simulated network never changes its validator set: every vote is of
// the genesis epoch.
constexpr Epoch kEpoch = kGenesisEpoch;
unsigned long long ull(std::uint64_t x) { return x; }
constexpr const char* kWalPath = "/node/votes.wal";
// Timers of every simulated validator (Config fields of the same names).
constexpr std::uint64_t kViewTimeoutMs = 300;
constexpr std::uint64_t kViewTimeoutMaxMs = 4800;
constexpr std::uint64_t kRebroadcastMs = 150;
// After the faults heal, every honest node must finalize this many blocks
// beyond the highest honest height at healing, within this simulated time.
constexpr std::uint64_t kLivenessBoundMs = 60'000;
constexpr Height kLivenessBlocks = 2;
constexpr std::uint64_t kEventsMax = 4'000'000;
constexpr std::size_t kSeenMax = 128;        // messages a replaying Byzantine node remembers
constexpr std::size_t kViolationsKept = 16;  // per run; later ones are only counted
constexpr std::size_t kSizes[] = {1, 4, 5, 7, 10, 13, 16};
constexpr std::size_t kValidatorsMax = 16;
constexpr std::uint64_t kRealSignatureEvery = 32;
static_assert(std::tuple_size_v<decltype(RunResult::crashes_at_op)> == kFsOps);
static_assert(std::tuple_size_v<decltype(RunResult::crashes_in_compaction_at_op)> == kFsOps);
// One seed in kSmallWalEvery gives every node a WAL of kSmallWalMinBytes to
// kSmallWalMaxBytes (86 bytes a vote), so that compaction runs many times a
// run and crashes land inside it. Drawn from a generator of its own, so the
// other seeds run exactly as they did before WALs could be small.
constexpr std::uint64_t kSmallWalEvery = 3;
constexpr std::uint64_t kSmallWalMinBytes = 2 * 1024;
constexpr std::uint64_t kSmallWalMaxBytes = 16 * 1024;
constexpr std::uint64_t kBuildMinMs = 10;
constexpr std::uint64_t kBuildMaxMs = 50;

crypto::KeyPair key_of(std::size_t i) {
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

Hash genesis_hash() { return crypto::sha256(as_bytes("emledger-sim-genesis")); }
BlockRef genesis() { return BlockRef{0, 0, 0, Hash{}, genesis_hash()}; }

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
bool app_accepts(const BlockRef& b, const Bytes& payload) {
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
constexpr Behavior kByzantineBehaviors[] = {
    Behavior::kSilent,      Behavior::kSilentLeader, Behavior::kEquivocator,
    Behavior::kDoubleVoter, Behavior::kSharedKey,    Behavior::kReplayer,
    Behavior::kForger,      Behavior::kFlooder,      Behavior::kInvalidBlocks};
const char* behavior_name(Behavior b) {
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

// ---------------------------------------------------------------- setup

void Simulation::choose(std::uint64_t seed) {
  Params& p = params_;
  // One seed in kRealSignatureEvery verifies real Ed25519 signatures and
  // sends every message through its wire encoding; those cost far more, so
  // they run the smaller sizes.
  p.real_signatures = seed % kRealSignatureEvery == 0;
  p.n = kSizes[rng_.below(p.real_signatures ? 4 : std::size(kSizes))];
  const std::size_t faulty = f() == 0 ? 0 : (rng_.percent(60) ? f() : rng_.below(f() + 1));
  while (p.byzantine.size() < faulty) {
    const auto i = static_cast<ValidatorIndex>(rng_.below(p.n));
    if (!p.byzantine.contains(i))
      p.byzantine[i] = kByzantineBehaviors[rng_.below(std::size(kByzantineBehaviors))];
  }
  p.heal_ms = rng_.range(2000, 9000);
  if (rng_.percent(70)) p.drop_pct = rng_.below(31);
  if (rng_.percent(50)) p.dup_pct = rng_.range(1, 10);
  if (rng_.percent(50)) p.reorder_pct = rng_.range(1, 10);
  p.min_delay_ms = rng_.range(0, 10);
  p.max_delay_ms = p.min_delay_ms + rng_.range(0, 70);
  const std::size_t partitions = p.n == 1 ? 0 : rng_.below(4);
  for (std::size_t i = 0; i < partitions; ++i) {
    Partition part{static_cast<PartitionKind>(rng_.below(4)), 0, 0, std::nullopt, 0, {}, 0, 0};
    part.start_ms = rng_.below(p.heal_ms);
    part.end_ms = std::min(p.heal_ms, part.start_ms + rng_.range(200, 3000));
    if (part.kind == PartitionKind::kSplit) {
      // f + 1 validators on one side, the other 2f (or more) on the other.
      std::set<std::size_t> side;
      while (side.size() < f() + 1) side.insert(rng_.below(p.n));
      for (std::size_t j : side) part.group |= 1u << j;
    } else if (part.kind == PartitionKind::kOneWay) {
      const std::size_t links = rng_.range(1, p.n);
      for (std::size_t j = 0; j < links; ++j) {
        const auto a = static_cast<ValidatorIndex>(rng_.below(p.n));
        const auto b = static_cast<ValidatorIndex>(rng_.below(p.n));
        if (a != b) part.cut.insert({a, b});
      }
    } else if (part.kind == PartitionKind::kRolling) {
      part.period_ms = rng_.range(200, 1500);
      part.base = rng_.below(p.n);
    }
    p.partitions.push_back(std::move(part));
  }
  p.crashes = rng_.percent(60);
  p.crash_gap_min_ms = 200;
  p.crash_gap_max_ms = rng_.range(400, 3000);
  p.down_min_ms = 10;
  p.down_max_ms = rng_.range(20, 2500);
  p.fs_crash_pct = rng_.percent(50) ? rng_.range(20, 80) : 0;
  p.drift = rng_.percent(50);
  // Up to f honest nodes crash in half the seeds, up to all of them in the
  // other half (then, at times, no honest node holds a certificate any more).
  const std::size_t honest = p.n - p.byzantine.size();
  const std::size_t crashing =
      rng_.range(1, rng_.percent(50) ? std::max<std::size_t>(1, f()) : honest);
  while (p.crashable.size() < crashing) {
    const auto i = static_cast<ValidatorIndex>(rng_.below(p.n));
    if (!p.byzantine.contains(i)) p.crashable.insert(i);
  }
  Rng wal_rng(seed ^ 0x5A11'3A1C'0000'0000ULL);
  if (wal_rng.below(kSmallWalEvery) == 0) {
    p.wal_capacity_bytes = wal_rng.range(kSmallWalMinBytes, kSmallWalMaxBytes);
    p.compaction_crash_pct = wal_rng.range(20, 80);
    p.process_kill_pct = wal_rng.range(10, 50);
  }
  if (control_ != Control::kNone) choose_control();
}

void Simulation::choose_control() {
  Params& p = params_;
  p.n = 4;
  p.byzantine.clear();
  p.crashable.clear();
  p.partitions.clear();
  p.drop_pct = p.dup_pct = p.reorder_pct = 0;
  p.check_liveness = false;  // the assumptions of the liveness argument are broken
  p.crashes = false;
  p.fs_crash_pct = 0;
  p.wal_capacity_bytes = kWalFileBytesMax;
  p.heal_ms = 4000;
  switch (control_) {
    case Control::kTooManyByzantine:
      // f + 1 = 2 colluding: the leader of views 1, 5, 9, ... sends one
      // block to half the honest nodes and another to the other half, and
      // a double voter signs both.
      p.byzantine[1] = Behavior::kEquivocator;
      p.byzantine[2] = Behavior::kDoubleVoter;
      break;
    case Control::kNoFsync:
      p.crashable = {0, 1, 2, 3};
      p.sync_noop = true;
      p.crashes = true;
      p.heal_ms = 10'000;
      p.crash_gap_min_ms = 20;
      p.crash_gap_max_ms = 150;
      p.down_min_ms = 1;
      p.down_max_ms = 50;
      break;
    case Control::kNoRuleOne:
      p.heal_ms = 8000;  // more views led by the equivocator
      p.byzantine[1] = Behavior::kEquivocator;
      break;
    case Control::kNone:
      break;
  }
}

std::string Simulation::describe() const {
  const Params& p = params_;
  std::string s = "n=" + std::to_string(p.n) + " byzantine={";
  for (const auto& [i, b] : p.byzantine) s += std::to_string(i) + ":" + behavior_name(b) + " ";
  s += "} drop=" + std::to_string(p.drop_pct) + "% dup=" + std::to_string(p.dup_pct) +
       "% reorder=" + std::to_string(p.reorder_pct) + "% delay=" + std::to_string(p.min_delay_ms) +
       ".." + std::to_string(p.max_delay_ms) +
       "ms partitions=" + std::to_string(p.partitions.size()) +
       " crashes=" + (p.crashes ? "yes" : "no") +
       " crashable=" + std::to_string(p.crashable.size()) +
       " fs-crash=" + std::to_string(p.fs_crash_pct) + "% drift=" + (p.drift ? "yes" : "no") +
       (p.small_wal() ? " wal=" + std::to_string(p.wal_capacity_bytes) +
                            "B compaction-crash=" + std::to_string(p.compaction_crash_pct) +
                            "% process-kill=" + std::to_string(p.process_kill_pct) + "%"
                      : std::string()) +
       " heal=" + std::to_string(p.heal_ms) +
       "ms signatures=" + (p.real_signatures ? "ed25519" : "registry");
  return s;
}

Config Simulation::config_for(ValidatorIndex self, const BlockRef& anchor) const {
  Config c;
  c.chain_id = kChain;
  c.epoch = kEpoch;
  for (std::size_t i = 0; i < params_.n; ++i) c.validators.push_back(key_of(i).public_key());
  c.self = self;
  c.anchor = anchor;
  c.view_timeout_ms = kViewTimeoutMs;
  c.view_timeout_max_ms = kViewTimeoutMaxMs;
  c.rebroadcast_ms = kRebroadcastMs;
  return c;
}

// ---------------------------------------------------------------- the run

RunResult Simulation::run() {
  const Params& p = params_;
  result_.n = p.n;
  result_.byzantine = p.byzantine.size();
  result_.real_signatures = p.real_signatures;
  result_.small_wal = p.small_wal();
  result_.heal_ms = p.heal_ms;
  result_.describe = describe();
  for (std::size_t i = 0; i < p.n; ++i) {
    auto node = std::make_unique<Node>();
    node->index = static_cast<ValidatorIndex>(i);
    if (auto it = p.byzantine.find(node->index); it != p.byzantine.end())
      node->behavior = it->second;
    node->slots.push_back(std::make_unique<Slot>());
    if (node->behavior == Behavior::kSharedKey) node->slots.push_back(std::make_unique<Slot>());
    if (p.drift && rng_.percent(50)) {
      node->clock_rate_pm = rng_.range(900, 1100);
      node->clock_offset_ms = rng_.below(100'000);
      count(Fault::kTimerDrift);
    }
    node->equivocate_to_all = rng_.percent(50);
    if (control_ == Control::kTooManyByzantine) node->equivocate_to_all = false;
    if (control_ == Control::kNoRuleOne) {
      node->equivocate_to_all = true;
      node->no_rule_one = node->honest();
    }
    for (auto& s : node->slots) {
      s->fs.set_sync_noop(p.sync_noop && node->honest());
      s->wal_capacity_bytes = p.wal_capacity_bytes;
    }
    nodes_.push_back(std::move(node));
  }
  for (auto& node : nodes_) {
    if (node->behavior == Behavior::kSilent) continue;  // never runs
    for (std::size_t s = 0; s < node->slots.size(); ++s) restart(*node, s);
  }
  push(Event(p.heal_ms, Ev::kHeal));
  if (p.crashes) push(Event(rng_.range(p.crash_gap_min_ms, p.crash_gap_max_ms), Ev::kCrash));

  while (!queue_.empty()) {
    Event e = queue_.top();
    queue_.pop();
    now_ = e.at;
    ++result_.events;
    mix((static_cast<std::uint64_t>(e.type) << 56) ^ (std::uint64_t{e.node} << 48) ^ e.at);
    if (trace_) log("event %d node %u slot %u", static_cast<int>(e.type), e.node, e.slot);
    dispatch(e);
    check_heights();
    if (result_.events >= kEventsMax) {
      violate(Invariant::kBudget, "event budget exhausted");
      break;
    }
    if (healed_ && (!p.check_liveness || liveness_met())) break;
    if (healed_ && now_ > p.heal_ms + kLivenessBoundMs) {
      violate(Invariant::kLiveness, "honest nodes below height " +
                                        std::to_string(liveness_target_) + " " +
                                        std::to_string(kLivenessBoundMs) + "ms after healing");
      break;
    }
  }
  result_.end_ms = now_;
  for (const auto& node : nodes_)
    for (const auto& s : node->slots) count(Fault::kCompaction, s->fs.rewrites_begun());
  result_.finalized_min = ~std::uint64_t{0};
  for (const auto& node : nodes_)
    if (node->honest())
      result_.finalized_min =
          std::min<std::uint64_t>(result_.finalized_min, node->slots[0]->ledger.size());
  return result_;
}

void Simulation::dispatch(const Event& e) {
  Node& node = *nodes_.at(e.node);
  Slot* s = e.slot < node.slots.size() ? node.slots[e.slot].get() : nullptr;
  const bool live = s != nullptr && s->replica && s->incarnation == e.incarnation;
  switch (e.type) {
    case Ev::kDeliver:
      deliver(node, e.msg);
      break;
    case Ev::kWake:
      if (live && e.gen == s->wake_gen) after(node, e.slot, s->replica->on_tick(local_now(node)));
      break;
    case Ev::kBuilt:
      if (live)
        after(node, e.slot, s->replica->on_block_built(local_now(node), e.block, *e.payload));
      break;
    case Ev::kChecked:
      if (live)
        after(node, e.slot, s->replica->on_block_checked(local_now(node), e.block, e.valid));
      break;
    case Ev::kFetched:
      if (live) {
        after(node, e.slot, s->replica->on_block_fetched(local_now(node), e.block));
        if (trace_ && s->replica)
          log("validator %u fetched view %llu (refused answers %llu, safety faults %llu, final "
              "%llu)",
              node.index, ull(e.block.view), ull(s->replica->core().counters().refused_bad_answer),
              ull(s->replica->core().counters().safety_faults),
              ull(s->replica->core().last_finalized().height));
      }
      break;
    case Ev::kCrash: {
      if (healed_) break;
      std::vector<ValidatorIndex> up;
      for (ValidatorIndex i : params_.crashable)
        if (nodes_[i]->slots[0]->replica) up.push_back(i);
      if (!up.empty()) crash(*nodes_[up[rng_.below(up.size())]], 0, false);
      push(
          Event(now_ + rng_.range(params_.crash_gap_min_ms, params_.crash_gap_max_ms), Ev::kCrash));
      break;
    }
    case Ev::kRestart:
      if (s != nullptr && !s->replica && s->incarnation == e.incarnation) {
        s->restart_pending = false;
        count(Fault::kRestart);
        restart(node, e.slot);
      }
      break;
    case Ev::kHeal:
      heal();
      break;
  }
}

void Simulation::deliver(Node& node, const std::shared_ptr<const Message>& msg) {
  if (node.behavior == Behavior::kSilent) {
    count(Fault::kByzSilent);  // received, never answered
    return;
  }
  if (node.no_rule_one)
    if (const auto* p = std::get_if<Proposal>(msg.get())) no_rule_one(node, *p);
  for (std::size_t s = 0; s < node.slots.size(); ++s) {
    Slot& slot = *node.slots[s];
    if (slot.replica) after(node, s, slot.replica->on_message(local_now(node), *msg));
  }
  if (!node.honest()) react(node, msg);
}

void Simulation::after(Node& node, std::size_t slot, ReplicaOutput out) {
  Slot& s = *node.slots[slot];
  const bool honest = node.honest();
  for (const Finalized& fin : out.finalized) check_final(node, s, fin);
  if (honest) {
    for (const Message& m : out.broadcasts)
      if (const auto* c = std::get_if<Certificate>(&m)) check_certificate(*c);
    for (const Evidence& e : out.evidence) check_evidence(e);
  }
  for (const Message& m : out.broadcasts) emit(node, slot, m);
  for (const BuildBlock& b : out.builds) {
    const bool invalid = node.behavior == Behavior::kInvalidBlocks && rng_.percent(70);
    auto [ref, payload] = build(node, s, b, invalid);
    // Building a block takes the application a while (collecting
    // transactions, executing them): this bounds how fast a chain grows,
    // n = 1 included.
    Event e(now_ + rng_.range(kBuildMinMs, kBuildMaxMs), Ev::kBuilt, node.index, slot,
            s.incarnation);
    e.block = ref;
    e.payload = std::make_shared<const Bytes>(std::move(payload));
    push(std::move(e));
  }
  for (const CheckBlock& c : out.checks) {
    Event e(now_ + rng_.range(0, 10), Ev::kChecked, node.index, slot, s.incarnation);
    e.block = c.block;
    e.valid = app_accepts(c.block, c.payload);
    push(std::move(e));
  }
  for (const FetchBlock& fb : out.fetches) {
    auto it = blocks_.find(fb.digest);
    if (trace_)
      log("validator %u fetches view %llu height %llu (%s)", node.index, ull(fb.view),
          ull(fb.height), it == blocks_.end() ? "unknown" : "known");
    if (it == blocks_.end()) continue;  // nobody has it: the core asks again on rebroadcast
    Event e(now_ + rng_.range(2 * params_.min_delay_ms, 2 * params_.max_delay_ms + 1), Ev::kFetched,
            node.index, slot, s.incarnation);
    e.block = it->second;
    push(std::move(e));
  }
  if (out.wake_at_ms && s.replica) {
    Event e(to_global(node, *out.wake_at_ms), Ev::kWake, node.index, slot, s.incarnation);
    e.gen = ++s.wake_gen;
    push(std::move(e));
  }
  if (s.replica && !healed_ && params_.small_wal() && params_.crashable.contains(node.index) &&
      !s.fs.tripped() && s.fs.rewrites_begun() != s.rewrites_armed_at)
    arm_compaction_crash(s);
  if (s.replica && s.replica->halted().code() == "WAL_FULL") wal_full(node, s);
  if (s.replica && (s.fs.tripped() || !s.replica->halted().is_ok())) {
    if (trace_) log("validator %u halted: %s", node.index, s.replica->halted().to_string().c_str());
    crash(node, slot, true);
  }
}

void Simulation::restart(Node& node, std::size_t slot) {
  Slot& s = *node.slots[slot];
  EMLEDGER_ASSERT(!s.replica);
  if (!healed_ && params_.crashable.contains(node.index) && params_.fs_crash_pct > 0 &&
      rng_.percent(params_.fs_crash_pct))
    s.fs.arm(rng_.range(1, 40), rng_.next());
  if (!healed_ && params_.crashable.contains(node.index) && params_.small_wal()) {
    // A rewrite file a killed process left behind: open removes it after
    // checking it exists (operations 1 and 2), so crash at the removal.
    const std::string leftover = std::string(kWalPath) + std::string(kWalRewriteSuffix);
    if (*s.disk.exists(leftover) && rng_.percent(50)) s.fs.arm(2, 0);
    arm_compaction_crash(s);
  }
  const BlockRef anchor = s.ledger.empty() ? genesis() : s.ledger.back();
  if (trace_) log("restart %u anchor view %llu", node.index, ull(anchor.view));
  auto r = Replica::open(
      s.fs,
      ReplicaConfig{config_for(node.index, anchor), kWalPath, s.last_proof, s.wal_capacity_bytes},
      key_of(node.index), verifier());
  if (!r.is_ok()) {
    if (s.fs.tripped()) {
      crash(node, slot, true);  // died while opening: try again later
      return;
    }
    if (node.honest())
      violate(Invariant::kRefusedStart,
              "validator " + std::to_string(node.index) + ": " + r.status().to_string());
    return;
  }
  s.replica.emplace(std::move(r).value());
  const ValidatorIndex who = node.index;
  s.replica->set_sign_observer([this, who](const SignedVote& sv) { on_signed(who, sv); });
  s.replica->ledger_durable(anchor.view);
  s.max_height = std::max<Height>(s.max_height, anchor.height);
  after(node, slot, s.replica->start(local_now(node)));
}

// A replica halts on WAL_FULL when compaction cannot make room. That is a
// bug if the WAL holds votes at or below the view the ledger holds final
// (compaction drops those); otherwise the votes above it fill the cap, which
// only a small-WAL seed can reach (a node lagging far behind, or n = 1
// without finalizing): that node's WAL goes back to the production cap, as
// an operator would grow it. (Doubling it instead restarted a lagging n = 1
// node again and again, each time losing the blocks it had fetched.)
void Simulation::wal_full(Node& node, Slot& s) {
  const View floor = std::min(s.ledger.empty() ? View{0} : s.ledger.back().view,
                              s.replica->core().last_finalized().view);
  for (const Vote& v : s.replica->guard().logged()) {
    if (v.view > floor) continue;
    violate(Invariant::kMissedCompact, "validator " + std::to_string(node.index) + ": view " +
                                           std::to_string(v.view) + " at or below " +
                                           std::to_string(floor));
    return;
  }
  if (s.wal_capacity_bytes == kWalFileBytesMax) return;
  count(Fault::kWalGrown);
  s.wal_capacity_bytes = kWalFileBytesMax;
}

// Small-WAL seeds: the next compaction of this process may crash at any of
// its operations. Armed at each (re)start and again after each compaction
// that went through, so that every compaction of a crashable node gets its
// chance.
void Simulation::arm_compaction_crash(Slot& s) {
  s.rewrites_armed_at = s.fs.rewrites_begun();
  if (rng_.percent(params_.compaction_crash_pct))
    s.fs.arm_in_rewrite(rng_.range(1, 6), rng_.next());
}

void Simulation::crash(Node& node, std::size_t slot, bool at_fs_op) {
  Slot& s = *node.slots[slot];
  if (trace_) log("crash %u%s", node.index, at_fs_op ? " at a file-system op" : "");
  count(at_fs_op ? Fault::kCrashAtFsOp : Fault::kCrash);
  if (s.fs.tripped()) ++result_.crashes_at_op[static_cast<std::size_t>(s.fs.tripped_at())];
  if (s.fs.tripped_in_rewrite()) {
    count(Fault::kCompactionCrash);
    ++result_.crashes_in_compaction_at_op[static_cast<std::size_t>(s.fs.tripped_at())];
  }
  s.replica.reset();
  ++s.incarnation;
  if (params_.small_wal() && rng_.percent(params_.process_kill_pct)) {
    count(Fault::kProcessKill);
    s.disk.kill_process();
  } else {
    const auto torn = SimFsEnv::torn_by_seed(rng_.next());
    s.disk.crash([&](const std::string& path, std::size_t unsynced) {
      const std::size_t keep = torn(path, unsynced);
      if (keep > 0 && keep < unsynced) count(Fault::kTornTail);
      return keep;
    });
  }
  s.fs.reset();
  s.restart_pending = true;
  const std::uint64_t down =
      healed_ ? 1
              : rng_.range(params_.down_min_ms, std::max(params_.down_min_ms, params_.down_max_ms));
  push(Event(now_ + down, Ev::kRestart, node.index, slot, s.incarnation));
}

void Simulation::heal() {
  healed_ = true;
  Height top = 0;
  for (auto& node : nodes_) {
    for (std::size_t i = 0; i < node->slots.size(); ++i) {
      Slot& s = *node->slots[i];
      s.fs.reset();  // nothing armed any more
      // Crashed nodes come back now rather than after their downtime.
      if (!s.replica && s.restart_pending)
        push(Event(now_, Ev::kRestart, node->index, i, s.incarnation));
    }
    if (node->honest()) top = std::max<Height>(top, node->slots[0]->ledger.size());
  }
  liveness_target_ = top + kLivenessBlocks;
}

bool Simulation::liveness_met() const {
  for (const auto& node : nodes_)
    if (node->honest() && node->slots[0]->ledger.size() < liveness_target_) return false;
  return true;
}

// ---------------------------------------------------------------- network

void Simulation::emit(Node& node, std::size_t slot, const Message& m) {
  const auto* p = std::get_if<Proposal>(&m);
  switch (node.behavior) {
    case Behavior::kSilent:
      count(Fault::kByzSilent);
      return;
    case Behavior::kSilentLeader:
      if (p != nullptr) {
        count(Fault::kByzSilentLeader);
        return;
      }
      break;
    case Behavior::kEquivocator:
      if (p != nullptr && p->proposer == node.index) {
        equivocate(node, slot, *p);
        return;
      }
      break;
    case Behavior::kSharedKey: {
      // Each copy of the key reaches its own half of the network.
      count(Fault::kByzSharedKey);
      broadcast(node.index, std::make_shared<const Message>(m),
                [slot](ValidatorIndex to) { return to % 2 == slot; });
      return;
    }
    default:
      break;
  }
  broadcast(node.index, std::make_shared<const Message>(m));
}

void Simulation::broadcast(ValidatorIndex from, std::shared_ptr<const Message> m,
                           const std::function<bool(ValidatorIndex)>& to_filter) {
  // A certificate is a fact whoever assembled it: one from a Byzantine node
  // that verifies counts like one from an honest node (which the core
  // verified or formed itself before sending it).
  if (const auto* c = std::get_if<Certificate>(m.get()); c != nullptr && byzantine(from))
    if (certificate_valid(*c)) check_certificate(*c);
  if (params_.real_signatures) {
    // Through the wire encoding, as the node would send it.
    auto back = decode_message(encode_message(*m));
    EMLEDGER_ASSERT(back.is_ok());
    m = std::make_shared<const Message>(std::move(back).value());
  }
  for (std::size_t i = 0; i < params_.n; ++i) {
    const auto to = static_cast<ValidatorIndex>(i);
    if (to == from || (to_filter && !to_filter(to))) continue;
    send(from, to, m);
  }
}

std::optional<Fault> Simulation::cut(ValidatorIndex from, ValidatorIndex to) {
  for (Partition& p : params_.partitions) {
    if (now_ < p.start_ms || now_ >= p.end_ms) continue;
    switch (p.kind) {
      case PartitionKind::kLeader:
        if (!p.isolated) p.isolated = leader(view_of(*nodes_[0]) + 1);
        if (from == *p.isolated || to == *p.isolated) return Fault::kPartitionLeader;
        break;
      case PartitionKind::kSplit:
        if (((p.group >> from) & 1) != ((p.group >> to) & 1)) return Fault::kPartitionSplit;
        break;
      case PartitionKind::kOneWay:
        if (p.cut.contains({from, to})) return Fault::kPartitionOneWay;
        break;
      case PartitionKind::kRolling: {
        const auto x = static_cast<ValidatorIndex>((p.base + now_ / p.period_ms) % params_.n);
        if (from == x || to == x) return Fault::kPartitionRolling;
        break;
      }
    }
  }
  return std::nullopt;
}

void Simulation::send(ValidatorIndex from, ValidatorIndex to, std::shared_ptr<const Message> m) {
  if (!healed_) {
    if (auto f = cut(from, to)) {
      count(*f);
      return;
    }
    if (params_.drop_pct > 0 && rng_.percent(params_.drop_pct)) {
      count(Fault::kDrop);
      return;
    }
  }
  std::uint64_t delay = rng_.range(params_.min_delay_ms, params_.max_delay_ms);
  if (delay > 0) count(Fault::kDelay);
  if (!healed_ && params_.reorder_pct > 0 && rng_.percent(params_.reorder_pct)) {
    delay += rng_.range(100, 600);
    count(Fault::kReorder);
  }
  Event e(now_ + delay, Ev::kDeliver, to);
  e.msg = m;
  push(e);
  if (!healed_ && params_.dup_pct > 0 && rng_.percent(params_.dup_pct)) {
    e.at = now_ + rng_.range(params_.min_delay_ms, params_.max_delay_ms + 50);
    push(e);
    count(Fault::kDuplicate);
  }
}

// ---------------------------------------------------------------- application

std::pair<BlockRef, Bytes> Simulation::build(Node& node, Slot& s, const BuildBlock& b,
                                             bool invalid) {
  SimBlock blk{b.view,
               b.parent_height + 1,
               b.parent_view,
               b.parent,
               node.index,
               (s.incarnation << 32) ^ (std::uint64_t{&s == node.slots[0].get() ? 0u : 1u} << 62) ^
                   s.builds++,
               1};
  bool bad_digest = false;
  if (invalid) {
    count(Fault::kByzInvalidBlock);
    if (rng_.percent(50))
      blk.valid = 0;
    else
      bad_digest = true;
  }
  Bytes payload = ledger::encode(blk);
  Hash digest = crypto::sha256(payload);
  if (bad_digest) digest[0] ^= 1;  // the bytes do not hash to the proposed digest
  BlockRef ref{b.view, blk.height, b.parent_view, b.parent, digest};
  blocks_[digest] = ref;
  return {ref, std::move(payload)};
}

// ---------------------------------------------------------------- Byzantine

View Simulation::view_of(const Node& node) const {
  for (const auto& s : node.slots)
    if (s->replica) return s->replica->core().current_view();
  return 0;
}

SignedVote Simulation::raw_sign(Node& node, const Vote& v) {
  SignedVote sv{v, node.index, key_of(node.index).sign(signing_bytes(kChain, kEpoch, v))};
  on_signed(node.index, sv);
  return sv;
}

void Simulation::equivocate(Node& node, std::size_t slot, const Proposal& p) {
  Slot& s = *node.slots[slot];
  BuildBlock again{p.block.view, p.block.parent_view, p.block.height - 1, p.block.parent};
  auto [ref, payload] = build(node, s, again, false);
  const SignedVote sv = raw_sign(node, notarize_vote(ref.view, ref.height, ref.digest));
  auto first = std::make_shared<const Message>(p);
  auto second = std::make_shared<const Message>(Proposal{ref, node.index, sv.signature, payload});
  count(Fault::kByzEquivocation);
  const std::uint64_t flip = rng_.below(2);
  for (std::size_t i = 0; i < params_.n; ++i) {
    const auto to = static_cast<ValidatorIndex>(i);
    if (to == node.index) continue;
    if (node.equivocate_to_all || byzantine(to)) {  // colluders get both
      const bool order = rng_.percent(50);
      send(node.index, to, order ? first : second);
      send(node.index, to, order ? second : first);
    } else {
      send(node.index, to, (i + flip) % 2 == 0 ? first : second);
    }
  }
}

void Simulation::react(Node& node, const std::shared_ptr<const Message>& msg) {
  // Replays, forgeries and floods go out at a bounded rate, so that they
  // stress the receivers without drowning the simulation in events.
  const bool paced = node.behavior == Behavior::kReplayer || node.behavior == Behavior::kForger ||
                     node.behavior == Behavior::kFlooder;
  if (paced) {
    if (now_ < node.next_extra_ms) return;
    node.next_extra_ms = now_ + rng_.range(5, 50);
  }
  switch (node.behavior) {
    case Behavior::kDoubleVoter: {
      // Signs every proposal it sees, and both finalize and nullify for
      // every notarized view; assembles and sends every certificate its
      // pool of valid votes allows.
      if (const auto* v = std::get_if<SignedVote>(msg.get())) pool_vote(node, *v);
      if (const auto* p = std::get_if<Proposal>(msg.get())) pool_vote(node, p->leader_vote());
      if (const auto* p = std::get_if<Proposal>(msg.get())) {
        if (p->proposer != leader(p->block.view)) break;
        if (!node.extra_votes.insert({p->block.view, p->block.digest}).second) break;
        count(Fault::kByzDoubleVote);
        const SignedVote mine =
            raw_sign(node, notarize_vote(p->block.view, p->block.height, p->block.digest));
        pool_vote(node, mine);
        broadcast(node.index, std::make_shared<const Message>(mine));
      } else if (const auto* c = std::get_if<Certificate>(msg.get())) {
        if (c->vote_kind() != VoteKind::kNotarize) break;
        if (!node.extra_votes.insert({c->view, Hash{}}).second) break;
        count(Fault::kByzDoubleVote);
        broadcast(node.index, std::make_shared<const Message>(
                                  raw_sign(node, finalize_vote(c->view, c->height, c->digest))));
        broadcast(node.index,
                  std::make_shared<const Message>(raw_sign(node, nullify_vote(c->view))));
      }
      break;
    }
    case Behavior::kReplayer:
      node.seen.push_back(msg);
      if (node.seen.size() > kSeenMax) node.seen.pop_front();
      if (rng_.percent(25)) {
        count(Fault::kByzReplay);
        auto to = static_cast<ValidatorIndex>(rng_.below(params_.n));
        if (to != node.index) send(node.index, to, node.seen[rng_.below(node.seen.size())]);
      }
      break;
    case Behavior::kForger:
      node.seen.push_back(msg);
      if (node.seen.size() > kSeenMax) node.seen.pop_front();
      if (rng_.percent(25)) forge(node);
      break;
    case Behavior::kFlooder:
      if (rng_.percent(25)) flood(node);
      break;
    default:
      break;
  }
}

void Simulation::pool_vote(Node& node, const SignedVote& v) {
  if (!v.check().is_ok() || v.validator >= params_.n || node.assembled.contains(v.vote)) return;
  if (!verifier().verify(key_of(v.validator).public_key(), signing_bytes(kChain, kEpoch, v.vote),
                         v.signature))
    return;
  auto& signers = node.pool[v.vote];
  signers.emplace(v.validator, v.signature);
  if (signers.size() < params_.n - f()) return;
  Certificate c{v.vote.kind, v.vote.view, v.vote.height, v.vote.digest, {}};
  for (const auto& [i, sig] : signers) c.signatures.push_back({i, sig});  // increasing index
  node.assembled.insert(v.vote);
  node.pool.erase(v.vote);
  broadcast(node.index, std::make_shared<const Message>(std::move(c)));
}

bool Simulation::certificate_valid(const Certificate& c) const {
  if (!c.check().is_ok() || c.signatures.size() < params_.n - f()) return false;
  const Bytes msg = signing_bytes(kChain, kEpoch, c.vote());
  for (const auto& s : c.signatures)
    if (s.validator >= params_.n ||
        !verifier().verify(key_of(s.validator).public_key(), msg, s.signature))
      return false;
  return true;
}

void Simulation::forge(Node& node) {
  // An honest node's message, altered: its signature no longer matches.
  Message m = *node.seen[rng_.below(node.seen.size())];
  if (auto* sv = std::get_if<SignedVote>(&m)) {
    if (rng_.percent(50) && sv->vote.vote_kind() != VoteKind::kNullify) {
      sv->vote.digest[1] ^= 0x40;
    } else {
      // Own signature, someone else's name.
      const ValidatorIndex victim = static_cast<ValidatorIndex>(rng_.below(params_.n));
      *sv = raw_sign(node, sv->vote);
      sv->validator = victim;
      if (victim == node.index) sv->signature[0] ^= 1;
    }
  } else if (auto* c = std::get_if<Certificate>(&m)) {
    c->signatures[rng_.below(c->signatures.size())].signature[5] ^= 0x10;
  } else if (auto* p = std::get_if<Proposal>(&m)) {
    if (rng_.percent(50)) {
      p->block.digest[2] ^= 0x08;
    } else {
      p->payload.push_back(0x00);  // a digest that no longer matches the bytes
      p->signature[7] ^= 0x01;
    }
  }
  count(Fault::kByzForgery);
  broadcast(node.index, std::make_shared<const Message>(std::move(m)));
}

void Simulation::flood(Node& node) {
  // Votes and a would-be certificate for views up to far beyond the window,
  // validly signed by this (Byzantine) key.
  const View base = view_of(node) + 1;
  const View far =
      std::min(kViewMax, base + (rng_.percent(50) ? rng_.below(2 * kViewsAheadMax)
                                                  : rng_.range(kViewsAheadMax, 1u << 30)));
  Hash digest{};
  digest[0] = static_cast<std::uint8_t>(rng_.next());
  const SignedVote nv = raw_sign(node, nullify_vote(far));
  const SignedVote fv = raw_sign(node, finalize_vote(far, 1 + rng_.below(1000), digest));
  Certificate cert{fv.vote.kind, far, fv.vote.height, digest, {{node.index, fv.signature}}};
  count(Fault::kByzFarFuture, 3);
  broadcast(node.index, std::make_shared<const Message>(nv));
  broadcast(node.index, std::make_shared<const Message>(fv));
  broadcast(node.index, std::make_shared<const Message>(cert));
}

void Simulation::no_rule_one(Node& node, const Proposal& p) {
  // Negative control: this honest node's software notarizes every valid
  // proposal of a view's leader, not only the first.
  if (p.proposer != leader(p.block.view) || !app_accepts(p.block, p.payload)) return;
  if (!verifier().verify(key_of(p.proposer).public_key(),
                         signing_bytes(kChain, kEpoch, p.leader_vote().vote), p.signature))
    return;
  auto [it, first] = node.first_proposal.emplace(p.block.view, p.block.digest);
  if (first || it->second == p.block.digest) return;  // the core's own rule 1 handles the first
  if (!node.extra_votes.insert({p.block.view, p.block.digest}).second) return;
  broadcast(node.index, std::make_shared<const Message>(raw_sign(
                            node, notarize_vote(p.block.view, p.block.height, p.block.digest))));
}

// ---------------------------------------------------------------- invariants

void Simulation::on_signed(ValidatorIndex who, const SignedVote& sv) {
  registry_.add(key_of(who).public_key(), signing_bytes(kChain, kEpoch, sv.vote), sv.signature);
  mix(sv.signature[0] | (std::uint64_t{sv.signature[1]} << 8) | (sv.vote.view << 16));
  if (trace_)
    log("validator %u signed kind %u view %llu height %llu", who, sv.vote.kind, ull(sv.vote.view),
        ull(sv.vote.height));
  if (!byzantine(who)) check_honest_vote(who, sv.vote);
}

// The voting rules, written again here (not shared with the key guard they
// check): one vote per kind and view; no finalize and nullify of one view;
// no notarize after a nullify.
void Simulation::check_honest_vote(ValidatorIndex who, const Vote& v) {
  auto& slots = signed_[who][v.view];
  const auto k = static_cast<std::size_t>(v.kind) - 1;
  const auto& nullify = slots[1];
  const auto& finalize = slots[2];
  if (slots[k] == v) return;  // the same statement again: signed before, allowed then
  std::string bad;
  if (slots[k] && *slots[k] != v) bad = "two different votes of one kind";
  if (v.vote_kind() == VoteKind::kNotarize && nullify) bad = "notarize after nullify";
  if (v.vote_kind() == VoteKind::kFinalize && nullify) bad = "finalize after nullify";
  if (v.vote_kind() == VoteKind::kNullify && finalize) bad = "nullify after finalize";
  if (!bad.empty())
    violate(Invariant::kHonestConflict,
            "validator " + std::to_string(who) + " view " + std::to_string(v.view) + ": " + bad);
  if (!slots[k]) slots[k] = v;
}

void Simulation::check_certificate(const Certificate& c) {
  ViewCerts& g = certs_[c.view];
  const std::string view = "view " + std::to_string(c.view);
  switch (c.vote_kind()) {
    case VoteKind::kNotarize:
      if (g.notarized && *g.notarized != c.digest)
        violate(Invariant::kOneNotarization, view + ": two notarized blocks");
      g.notarized = c.digest;
      break;
    case VoteKind::kFinalize:
      if (g.finalized && *g.finalized != c.digest)
        violate(Invariant::kOneFinalization, view + ": two finalized blocks");
      g.finalized = c.digest;
      if (g.nullified) violate(Invariant::kFinalAndNull, view + ": finalized and nullified");
      break;
    case VoteKind::kNullify:
      g.nullified = true;
      if (g.finalized) violate(Invariant::kFinalAndNull, view + ": nullified and finalized");
      break;
  }
}

void Simulation::check_final(Node& node, Slot& s, const Finalized& fin) {
  const BlockRef& b = fin.block;
  const Hash parent = s.ledger.empty() ? genesis_hash() : s.ledger.back().digest;
  mix(b.digest[0] | (b.height << 8));
  if (node.honest()) {
    if (b.height != s.ledger.size() + 1 || b.parent != parent)
      violate(Invariant::kPrefix, "validator " + std::to_string(node.index) +
                                      " reported a block not on its own chain at height " +
                                      std::to_string(b.height));
    if (b.height <= canonical_.size()) {
      if (canonical_[b.height - 1] != b.digest)
        violate(Invariant::kPrefix, "validator " + std::to_string(node.index) +
                                        " finalized another block at height " +
                                        std::to_string(b.height));
    } else if (b.height == canonical_.size() + 1) {
      canonical_.push_back(b.digest);
    }
  }
  if (trace_)
    log("validator %u finalized height %llu view %llu", node.index, ull(b.height), ull(b.view));
  s.ledger.push_back(b);
  s.last_proof = fin.proof;
  if (s.replica) s.replica->ledger_durable(b.view);
}

void Simulation::check_evidence(const Evidence& e) {
  const Status st =
      verify_evidence(kChain, kEpoch, config_for(0, genesis()).validators, verifier(), e);
  if (!st.is_ok() || !byzantine(e.first.validator))
    violate(Invariant::kEvidenceHonest, "evidence against validator " +
                                            std::to_string(e.first.validator) + " (" +
                                            st.to_string() + ")");
}

void Simulation::check_heights() {
  for (auto& node : nodes_) {
    if (!node->honest()) continue;
    Slot& s = *node->slots[0];
    if (!s.replica) continue;
    const Height h = s.replica->core().last_finalized().height;
    if (h < s.max_height)
      violate(Invariant::kHeightBack, "validator " + std::to_string(node->index) + " from " +
                                          std::to_string(s.max_height) + " to " +
                                          std::to_string(h));
    s.max_height = std::max(s.max_height, h);
  }
}

}  // namespace

RunResult run_seed(std::uint64_t seed, Control control, bool trace) {
  Simulation sim(seed, control, trace);
  return sim.run();
}

}  // namespace emledger::consensus::sim
