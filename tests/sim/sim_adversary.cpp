// The simulator's Byzantine behaviours (equivocation, replay, forged
// certificates, floods, votes against rule one) and the safety invariants
// checked on every honest vote, certificate and finalization.
// docs/simulation.md describes the model.
#include "sim_engine.hpp"

namespace emledger::consensus::sim::engine {

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

}  // namespace emledger::consensus::sim::engine
