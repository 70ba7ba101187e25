#include "emledger/consensus/replica.hpp"

#include <algorithm>
#include <deque>
#include <set>
#include <utility>

namespace emledger::consensus {

Replica::Replica(Core core, KeyGuard guard)
    : core_(std::move(core)),
      guard_(std::move(guard)),
      durable_view_(core_.last_finalized().view) {}

Result<Replica> Replica::open(FsEnv& env, ReplicaConfig config, crypto::KeyPair key,
                              const Verifier& verifier) {
  EMLEDGER_TRY(config.core.check());
  if (key.public_key() != config.core.validators[config.core.self])
    return Status::error("CONFIG_INVALID", "the key is not validator self's");
  const View anchor_view = config.core.anchor.view;
  auto guard = KeyGuard::open(env, std::move(config.wal_path), std::move(key), config.core.chain_id,
                              config.core.self, anchor_view, config.wal_capacity_bytes);
  if (!guard.is_ok()) return guard.status();
  auto core = Core::create(std::move(config.core), verifier);
  if (!core.is_ok()) return core.status();
  // The core skips logged votes at or below its anchor itself.
  EMLEDGER_TRY(core->replay(guard->logged()));
  Replica replica(std::move(core).value(), std::move(guard).value());
  if (config.anchor_proof && config.anchor_proof->vote_kind() == VoteKind::kFinalize &&
      config.anchor_proof->check().is_ok())
    replica.final_cert_ = std::move(config.anchor_proof);
  return replica;
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

namespace {

void append(ReplicaOutput& into, ReplicaOutput&& from) {
  auto move_all = [](auto& to, auto& what) {
    to.insert(to.end(), std::make_move_iterator(what.begin()), std::make_move_iterator(what.end()));
  };
  move_all(into.broadcasts, from.broadcasts);
  if (from.wake_at_ms) into.wake_at_ms = from.wake_at_ms;
  move_all(into.builds, from.builds);
  move_all(into.checks, from.checks);
  move_all(into.fetches, from.fetches);
  move_all(into.finalized, from.finalized);
  move_all(into.evidence, from.evidence);
}

}  // namespace

ReplicaOutput Replica::start(std::uint64_t now_ms) {
  EMLEDGER_ASSERT(!started_);
  started_ = true;
  const View restarted_in = core_.current_view();
  ReplicaOutput out = run(now_ms, core_.start(now_ms));
  // The restarted core re-signs and counts its own votes of the view it
  // restarts in, but not those of earlier views since the anchor: without
  // them a certificate of such a view that needs this validator's vote can
  // never form again (a simulated run stalled so, with every honest node
  // restarted). Hand them to the core like any validator's votes.
  for (const Vote& v : guard_.logged_between(core_.last_finalized().view, restarted_in - 1)) {
    if (!halted_.is_ok()) break;
    std::optional<SignedVote> sv = guard_.signed_before(v);
    if (!sv) {
      auto again = guard_.sign(v);  // logged: the same bytes, nothing written
      if (!again.is_ok()) continue;
      sv = std::move(again).value();
    }
    append(out, run(now_ms, core_.on_message(now_ms, *sv)));
  }
  // A restart inside a logged view is a timeout there, with a rebroadcast.
  hold_certificates(out, !out.broadcasts.empty());
  return out;
}

ReplicaOutput Replica::on_message(std::uint64_t now_ms, const Message& message) {
  EMLEDGER_ASSERT(started_);
  if (!halted_.is_ok()) return {};
  ReplicaOutput out = run(now_ms, core_.on_message(now_ms, message));
  hold_certificates(out, false);
  return out;
}

ReplicaOutput Replica::on_tick(std::uint64_t now_ms) {
  EMLEDGER_ASSERT(started_);
  if (!halted_.is_ok()) return {};
  // Only a timeout or a rebroadcast makes a tick send anything.
  ReplicaOutput out = run(now_ms, core_.on_tick(now_ms));
  hold_certificates(out, !out.broadcasts.empty());
  return out;
}

void Replica::hold_certificates(ReplicaOutput& out, bool rebroadcasting) {
  std::set<std::pair<View, std::uint8_t>> sent;
  for (const Message& m : out.broadcasts) {
    const auto* c = std::get_if<Certificate>(&m);
    if (c == nullptr) continue;
    sent.emplace(c->view, c->kind);
    certs_.emplace(std::pair{c->view, c->kind}, *c);
    if (c->vote_kind() == VoteKind::kFinalize && (!final_cert_ || final_cert_->view < c->view))
      final_cert_ = *c;
  }
  const View final_view = core_.last_finalized().view;
  std::erase_if(certs_, [&](const auto& e) { return e.first.first <= final_view; });
  // A leader's proposal goes out with the certificates that justify its
  // parent: a validator that lost them must not depend on the leader timing
  // out (it may never, when the others' votes always end its views first).
  bool proposing = false;
  for (const Message& m : out.broadcasts)
    if (const auto* p = std::get_if<Proposal>(&m))
      proposing = proposing || p->proposer == core_.config().self;
  if (!rebroadcasting && !proposing) return;
  for (const auto& [key, cert] : certs_) {
    if (sent.contains(key)) continue;
    out.broadcasts.push_back(cert);
    ++counters_.certs_resent;
  }
  if (final_cert_ && !sent.contains({final_cert_->view, final_cert_->kind}) &&
      !certs_.contains({final_cert_->view, final_cert_->kind})) {
    out.broadcasts.push_back(*final_cert_);
    ++counters_.certs_resent;
  }
  if (rebroadcasting) resend_own_votes(out);
}

void Replica::resend_own_votes(ReplicaOutput& out) {
  std::set<Vote> sent;
  for (const Message& m : out.broadcasts) {
    if (const auto* v = std::get_if<SignedVote>(&m)) sent.insert(v->vote);
    if (const auto* p = std::get_if<Proposal>(&m)) sent.insert(p->leader_vote().vote);
  }
  for (const Vote& v : guard_.logged_between(core_.last_finalized().view, core_.current_view())) {
    if (sent.contains(v)) continue;
    std::optional<SignedVote> sv = guard_.signed_before(v);
    if (!sv) {
      // Logged before a restart: identical to a logged vote, so the guard
      // signs it again to the same bytes and writes nothing.
      auto again = guard_.sign(v);
      if (!again.is_ok()) continue;
      sv = std::move(again).value();
    }
    sent.insert(v);
    out.broadcasts.push_back(*sv);
    ++counters_.votes_resent;
  }
}

ReplicaOutput Replica::on_block_built(std::uint64_t now_ms, const BlockRef& block, Bytes payload) {
  EMLEDGER_ASSERT(started_);
  if (!halted_.is_ok()) return {};
  ReplicaOutput out = run(now_ms, core_.on_block_built(now_ms, block, std::move(payload)));
  hold_certificates(out, false);
  return out;
}

ReplicaOutput Replica::on_block_checked(std::uint64_t now_ms, const BlockRef& block, bool valid) {
  EMLEDGER_ASSERT(started_);
  if (!halted_.is_ok()) return {};
  ReplicaOutput out = run(now_ms, core_.on_block_checked(now_ms, block, valid));
  hold_certificates(out, false);
  return out;
}

ReplicaOutput Replica::on_block_fetched(std::uint64_t now_ms, const BlockRef& block) {
  EMLEDGER_ASSERT(started_);
  if (!halted_.is_ok()) return {};
  ReplicaOutput out = run(now_ms, core_.on_block_fetched(now_ms, block));
  hold_certificates(out, false);
  return out;
}

ReplicaOutput Replica::on_synced(std::uint64_t now_ms, const BlockRef& block) {
  EMLEDGER_ASSERT(started_);
  if (!halted_.is_ok()) return {};
  ledger_durable(block.view);
  ReplicaOutput out = run(now_ms, core_.on_synced(now_ms, block));
  hold_certificates(out, false);
  return out;
}

}  // namespace emledger::consensus
