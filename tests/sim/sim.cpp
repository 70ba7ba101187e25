// The simulator's engine: setup, the run, the network and the application;
// the Byzantine behaviours and the invariants are in sim_adversary.cpp.
// docs/simulation.md describes the model.
#include "sim.hpp"

#include "sim_engine.hpp"

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

namespace engine {

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

}  // namespace engine

RunResult run_seed(std::uint64_t seed, Control control, bool trace) {
  engine::Simulation sim(seed, control, trace);
  return sim.run();
}

}  // namespace emledger::consensus::sim
