#include "emledger/consensus/replica.hpp"

#include <algorithm>
#include <deque>
#include <utility>

namespace emledger::consensus {

Replica::Replica(Core core, KeyGuard guard)
    : core_(std::move(core)),
      guard_(std::move(guard)),
      durable_view_(core_.last_finalized().view) {}

Result<Replica> Replica::open(FsEnv& env, ReplicaConfig config, crypto::KeyPair key,
                              const Verifier& verifier) {
  if (!config.core.anchor_proof) config.core.anchor_proof = std::move(config.anchor_proof);
  EMLEDGER_TRY(config.core.check());
  if (key.public_key() != config.core.validators[config.core.self])
    return Status::error("CONFIG_INVALID", "the key is not validator self's");
  const View anchor_view = config.core.anchor.view;
  // The guard signs in the core's epoch: one number decides what both sign
  // and accept.
  auto guard =
      KeyGuard::open(env, std::move(config.wal_path), std::move(key), config.core.chain_id,
                     config.core.epoch, config.core.self, anchor_view, config.wal_capacity_bytes);
  if (!guard.is_ok()) return guard.status();
  auto core = Core::create(std::move(config.core), verifier);
  if (!core.is_ok()) return core.status();
  // The core skips logged votes at or below its anchor itself; the guard
  // hands it only those of its epoch.
  EMLEDGER_TRY(core->replay(guard->logged()));
  return Replica(std::move(core).value(), std::move(guard).value());
}

void Replica::ledger_durable(View view) { durable_view_ = std::max(durable_view_, view); }

std::optional<SignedVote> Replica::sign(const Vote& vote) {
  if (!guard_.has_room()) {
    // Keep only what a restart could still need: votes above the view the
    // ledger holds as final durably, and not above what the core finalized.
    const View floor = std::min(durable_view_, core_.last_finalized().view);
    if (floor > guard_.floor_view()) {
      if (Status st = guard_.compact(floor); !st.is_ok()) {
        halted_ = st;
        return std::nullopt;
      }
    }
  }
  auto signed_vote = guard_.sign(vote);
  if (signed_vote.is_ok()) {
    ++counters_.votes_signed;
    return std::move(signed_vote).value();
  }
  const std::string& code = signed_vote.status().code();
  if (code == "VOTE_CONFLICT" || code == "VOTE_BELOW_FLOOR" || code == "MALFORMED_ENCODING") {
    // The core asked for a vote its own rules forbid: refuse it and go on.
    // The core keeps waiting for the signature, so it casts nothing else in
    // that slot; the view times out like one with a silent leader.
    ++counters_.guard_refusals;
    return std::nullopt;
  }
  halted_ = signed_vote.status();  // the WAL failed or is full: stop
  return std::nullopt;
}

ReplicaOutput Replica::run(std::uint64_t now_ms, std::vector<Action> actions) {
  ReplicaOutput out;
  std::deque<Action> queue(std::make_move_iterator(actions.begin()),
                           std::make_move_iterator(actions.end()));
  while (!queue.empty() && halted_.is_ok()) {
    Action a = std::move(queue.front());
    queue.pop_front();
    std::vector<Action> more;
    if (auto* p = std::get_if<PersistVote>(&a)) {
      if (auto sv = sign(p->vote)) more = core_.on_own_vote(now_ms, *sv);
    } else if (auto* s = std::get_if<SignVote>(&a)) {
      if (auto sv = sign(s->vote)) more = core_.on_own_vote(now_ms, *sv);
    } else if (auto* b = std::get_if<Broadcast>(&a)) {
      out.broadcasts.push_back(std::move(b->message));
    } else if (auto* w = std::get_if<WakeAt>(&a)) {
      out.wake_at_ms = w->at_ms;
    } else if (auto* bb = std::get_if<BuildBlock>(&a)) {
      out.builds.push_back(*bb);
    } else if (auto* c = std::get_if<CheckBlock>(&a)) {
      out.checks.push_back(std::move(*c));
    } else if (auto* f = std::get_if<FetchBlock>(&a)) {
      out.fetches.push_back(*f);
    } else if (auto* fin = std::get_if<Finalized>(&a)) {
      out.finalized.push_back(std::move(*fin));
    } else if (auto* e = std::get_if<Equivocation>(&a)) {
      out.evidence.push_back(std::move(e->evidence));
    }
    for (auto& m : more) queue.push_back(std::move(m));
  }
  return out;
}

ReplicaOutput Replica::start(std::uint64_t now_ms) {
  EMLEDGER_ASSERT(!started_);
  started_ = true;
  return run(now_ms, core_.start(now_ms));
}

ReplicaOutput Replica::on_message(std::uint64_t now_ms, const Message& message) {
  EMLEDGER_ASSERT(started_);
  if (!halted_.is_ok()) return {};
  return run(now_ms, core_.on_message(now_ms, message));
}

ReplicaOutput Replica::on_tick(std::uint64_t now_ms) {
  EMLEDGER_ASSERT(started_);
  if (!halted_.is_ok()) return {};
  return run(now_ms, core_.on_tick(now_ms));
}

ReplicaOutput Replica::on_block_built(std::uint64_t now_ms, const BlockRef& block, Bytes payload) {
  EMLEDGER_ASSERT(started_);
  if (!halted_.is_ok()) return {};
  return run(now_ms, core_.on_block_built(now_ms, block, std::move(payload)));
}

ReplicaOutput Replica::on_block_checked(std::uint64_t now_ms, const BlockRef& block, bool valid) {
  EMLEDGER_ASSERT(started_);
  if (!halted_.is_ok()) return {};
  return run(now_ms, core_.on_block_checked(now_ms, block, valid));
}

ReplicaOutput Replica::on_block_fetched(std::uint64_t now_ms, const BlockRef& block) {
  EMLEDGER_ASSERT(started_);
  if (!halted_.is_ok()) return {};
  return run(now_ms, core_.on_block_fetched(now_ms, block));
}

ReplicaOutput Replica::on_synced(std::uint64_t now_ms, const BlockRef& block) {
  EMLEDGER_ASSERT(started_);
  if (!halted_.is_ok()) return {};
  ledger_durable(block.view);
  return run(now_ms, core_.on_synced(now_ms, block));
}

}  // namespace emledger::consensus
