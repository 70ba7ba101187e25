#include "emledger/consensus/core.hpp"

#include <algorithm>
#include <utility>

#include "emledger/consensus/quorum.hpp"

namespace emledger::consensus {

namespace {

constexpr std::size_t kind_index(std::uint8_t kind) { return static_cast<std::size_t>(kind) - 1; }
constexpr std::uint8_t kind_of(VoteKind k) { return static_cast<std::uint8_t>(k); }
constexpr std::size_t kNotarize = kind_index(kind_of(VoteKind::kNotarize));
constexpr std::size_t kNullify = kind_index(kind_of(VoteKind::kNullify));
constexpr std::size_t kFinalize = kind_index(kind_of(VoteKind::kFinalize));

Status config_error(const std::string& why) { return Status::error("CONFIG_INVALID", why); }

}  // namespace

Status Config::check() const {
  if (chain_id.empty() || chain_id.size() > ledger::kChainIdBytesMax)
    return config_error("chain id empty or too long");
  if (validators.empty() || validators.size() > ledger::kValidatorsMax)
    return config_error("validator set empty or too large");
  if (self >= validators.size()) return config_error("self is not in the validator set");
  if (anchor.view >= kViewMax) return config_error("anchor view above kViewMax");
  std::set<PublicKey> keys(validators.begin(), validators.end());
  if (keys.size() != validators.size()) return config_error("a key appears twice in the set");
  if (rebroadcast_ms == 0 || view_timeout_ms == 0) return config_error("zero timer");
  if (view_timeout_ms > view_timeout_max_ms || view_timeout_max_ms > kTimeoutMsMax ||
      rebroadcast_ms > kTimeoutMsMax)
    return config_error("timeouts out of order or too long");
  if (anchor_proof) {
    const Certificate& p = *anchor_proof;
    if (p.kind != kind_of(VoteKind::kFinalize) || !p.check().is_ok() || p.view < anchor.view ||
        p.signatures.back().validator >= validators.size())
      return config_error("the anchor proof is not a finalization at or above the anchor");
  }
  return Status::ok();
}

Result<Core> Core::create(Config config, const Verifier& verifier) {
  EMLEDGER_TRY(config.check());
  return Core(std::move(config), verifier);
}

Core::Core(Config config, const Verifier& verifier)
    : config_(std::move(config)),
      verifier_(&verifier),
      quorum_(consensus::quorum(config_.validators.size())),
      last_finalized_(config_.anchor),
      latest_finalization_(config_.anchor_proof) {
  current_view_ = last_finalized_.view;
  floor_view_ = last_finalized_.view;
}

ValidatorIndex Core::leader(View view) const {
  return static_cast<ValidatorIndex>(view % config_.validators.size());
}

std::uint64_t Core::backoff(std::uint64_t base_ms, std::uint32_t doublings) const {
  const std::uint32_t shift = std::min(doublings, kBackoffShiftMax);
  return std::min(base_ms << shift, config_.view_timeout_max_ms);
}

// ---- inputs ----

Status Core::replay(const std::vector<Vote>& logged) {
  if (started_) return Status::error("CORE_STARTED", "replay() after start()");
  for (const Vote& v : logged) {
    EMLEDGER_TRY(v.check());
    if (v.view <= last_finalized_.view) continue;
    views_[v.view].my_votes[kind_index(v.kind)] = v;
    current_view_ = std::max(current_view_, v.view);
  }
  return Status::ok();
}

std::vector<Action> Core::start(std::uint64_t now_ms) {
  EMLEDGER_ASSERT(!started_);
  started_ = true;
  now_ms_ = now_ms;
  if (current_view_ == last_finalized_.view) {
    enter_view(last_finalized_.view + 1, /*progress=*/true);
    return finish();
  }
  // Restarted inside view current_view_: it counts as timed out. Re-sign
  // every vote the log holds (views_ holds only those yet), in view order:
  // they go out again and count like anyone's votes once signed. Those of
  // earlier views matter too: a certificate of such a view that needs this
  // validator's vote could otherwise never form again (the simulator found
  // every honest validator restarted and a nullification stuck so).
  for (const auto& [view, vs] : views_) {
    for (const auto& mine : vs.my_votes) {
      if (!mine) continue;
      awaiting_signature_.insert(*mine);
      out_.push_back(SignVote{*mine});
    }
  }
  deadline_ms_ = now_ms_;
  timeout();
  return finish();
}

std::vector<Action> Core::on_message(std::uint64_t now_ms, const Message& message) {
  observe_time(now_ms);
  std::visit(
      [this](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, Proposal>) handle_proposal(m);
        if constexpr (std::is_same_v<T, SignedVote>) handle_vote(m);
        if constexpr (std::is_same_v<T, Certificate>) handle_certificate(m);
      },
      message);
  return finish();
}

std::vector<Action> Core::on_tick(std::uint64_t now_ms) {
  observe_time(now_ms);
  if (!timed_out_ && now_ms_ >= deadline_ms_) timeout();
  if (timed_out_ && now_ms_ >= rebroadcast_at_ms_) {
    rebroadcast();
    ++rebroadcasts_;
    rebroadcast_at_ms_ = now_ms_ + backoff(config_.rebroadcast_ms, rebroadcasts_);
  }
  return finish();
}

std::vector<Action> Core::on_own_vote(std::uint64_t now_ms, const SignedVote& v) {
  observe_time(now_ms);
  auto it = awaiting_signature_.find(v.vote);
  if (v.validator != config_.self || it == awaiting_signature_.end() ||
      !verifier_->verify(config_.validators[config_.self],
                         signing_bytes(config_.chain_id, config_.epoch, v.vote), v.signature)) {
    ++counters_.refused_bad_answer;
    return finish();
  }
  awaiting_signature_.erase(it);
  auto found = views_.find(v.vote.view);
  if (found == views_.end()) return finish();  // pruned meanwhile
  found->second.my_signed[kind_index(v.vote.kind)] = v;
  if (own_proposal_ && v.vote.vote_kind() == VoteKind::kNotarize &&
      own_proposal_->block.view == v.vote.view && own_proposal_->block.digest == v.vote.digest) {
    own_proposal_->signature = v.signature;
    broadcast(*own_proposal_);
    send_justification(own_proposal_->block);
  } else {
    broadcast(v);
  }
  add_vote(v);
  return finish();
}

std::vector<Action> Core::on_block_built(std::uint64_t now_ms, const BlockRef& block,
                                         Bytes payload) {
  observe_time(now_ms);
  auto it = views_.find(block.view);
  const bool expected = it != views_.end() && it->second.build && !it->second.proposal &&
                        block.view == current_view_ && payload.size() <= kProposalBytesMax;
  if (!expected) {
    ++counters_.refused_bad_answer;
    return finish();
  }
  ViewState& vs = it->second;
  const BuildBlock& asked = *vs.build;
  if (block.parent_view != asked.parent_view || block.parent != asked.parent ||
      block.height != asked.parent_height + 1) {
    ++counters_.refused_bad_answer;
    return finish();
  }
  vs.proposal = block;
  vs.proposal_checked = vs.proposal_valid = true;
  blocks_[block.digest] = block;
  own_proposal_ = Proposal{block, config_.self, Signature{}, std::move(payload)};
  try_notarize(block.view);
  return finish();
}

std::vector<Action> Core::on_block_checked(std::uint64_t now_ms, const BlockRef& block,
                                           bool valid) {
  observe_time(now_ms);
  auto it = views_.find(block.view);
  if (it == views_.end() || it->second.proposal != block || it->second.proposal_checked) {
    ++counters_.refused_bad_answer;
    return finish();
  }
  it->second.proposal_checked = true;
  it->second.proposal_valid = valid;
  if (valid) {
    blocks_[block.digest] = block;
    try_notarize(block.view);
    advance_finality();
  }
  return finish();
}

std::vector<Action> Core::on_block_fetched(std::uint64_t now_ms, const BlockRef& block) {
  observe_time(now_ms);
  if (!fetching_ || fetching_->digest != block.digest || fetching_->view != block.view ||
      fetching_->height != block.height || block.parent_view >= block.view || block.height == 0) {
    ++counters_.refused_bad_answer;
    return finish();
  }
  fetching_.reset();
  blocks_[block.digest] = block;
  advance_finality();
  return finish();
}

std::vector<Action> Core::on_synced(std::uint64_t now_ms, const BlockRef& block) {
  observe_time(now_ms);
  if (block.view <= last_finalized_.view || block.height <= last_finalized_.height) return finish();
  last_finalized_ = block;
  blocks_[block.digest] = block;
  if (fetching_ && fetching_->height <= block.height) fetching_.reset();
  nullified_streak_ = 0;
  // A finalization above the synced block still has a (now short) chain to
  // walk down to it; one at or below it is done.
  advance_finality();
  prune();
  return finish();
}

// ---- messages ----

bool Core::in_window(View view) const {
  return view >= floor_view_ && view <= current_view_ + kViewsAheadMax;
}

bool Core::vote_shape_ok(const SignedVote& v) {
  if (!v.check().is_ok()) {
    ++counters_.refused_malformed;
    return false;
  }
  if (v.validator >= config_.validators.size()) {
    ++counters_.refused_unknown_validator;
    return false;
  }
  return true;
}

bool Core::verify_vote(const SignedVote& v) {
  if (!vote_shape_ok(v)) return false;
  if (!verifier_->verify(config_.validators[v.validator],
                         signing_bytes(config_.chain_id, config_.epoch, v.vote), v.signature)) {
    ++counters_.refused_bad_signature;
    return false;
  }
  return true;
}

void Core::handle_proposal(const Proposal& p) {
  if (!p.check().is_ok()) {
    ++counters_.refused_malformed;
    return;
  }
  if (!in_window(p.block.view) || p.block.view <= last_finalized_.view) {
    ++counters_.ignored_out_of_window;
    return;
  }
  if (p.proposer != leader(p.block.view)) {
    ++counters_.refused_not_leader;
    return;
  }
  ViewState& vs = views_[p.block.view];
  if (vs.proposal && vs.proposal->digest == p.block.digest) {
    ++counters_.ignored_duplicate;
    return;
  }
  const SignedVote leader_vote = p.leader_vote();
  if (!verify_vote(leader_vote)) return;
  if (!vs.proposal) {
    // Only the first proposal of a view is considered; a second one with
    // another block is an equivocation, reported by add_vote below.
    vs.proposal = p.block;
    out_.push_back(CheckBlock{p.block, p.payload});
  }
  add_vote(leader_vote);
}

void Core::handle_vote(const SignedVote& v) {
  if (!vote_shape_ok(v)) return;
  if (!in_window(v.vote.view)) {
    ++counters_.ignored_out_of_window;
    return;
  }
  auto it = views_.find(v.vote.view);
  if (it != views_.end()) {
    const auto& seen = it->second.votes[kind_index(v.vote.kind)];
    auto prior = seen.find(v.validator);
    if (prior != seen.end() && prior->second.vote == v.vote) {
      ++counters_.ignored_duplicate;  // same statement: never evidence, not worth a verify
      return;
    }
  }
  if (!verify_vote(v)) return;
  add_vote(v);
}

bool Core::verify_certificate(const Certificate& c) {
  if (!c.check().is_ok()) {
    ++counters_.refused_malformed;
    return false;
  }
  if (c.signatures.back().validator >= config_.validators.size()) {
    ++counters_.refused_unknown_validator;
    return false;
  }
  if (c.signatures.size() < quorum_) {
    ++counters_.refused_no_quorum;
    return false;
  }
  const Bytes msg = signing_bytes(config_.chain_id, config_.epoch, c.vote());
  for (const auto& s : c.signatures) {
    if (!verifier_->verify(config_.validators[s.validator], msg, s.signature)) {
      ++counters_.refused_bad_signature;
      return false;
    }
  }
  return true;
}

void Core::handle_certificate(const Certificate& c) {
  // A finalization is acted on whatever its view (it is checked against a
  // quorum, and acting on it prunes); other kinds only inside the window.
  const bool finalization = c.kind == kind_of(VoteKind::kFinalize);
  const bool wanted = finalization ? c.view > last_finalized_.view : in_window(c.view);
  if (!wanted) {
    ++counters_.ignored_out_of_window;
    return;
  }
  if (c.kind >= 1 && c.kind <= kVoteKindMax) {
    auto it = views_.find(c.view);
    if (it != views_.end() && it->second.certs[kind_index(c.kind)]) {
      ++counters_.ignored_duplicate;
      return;
    }
  }
  if (!verify_certificate(c)) return;
  add_certificate(c);
}

// ---- votes and certificates ----

void Core::add_vote(const SignedVote& v) {
  ViewState& vs = views_[v.vote.view];
  auto& seen = vs.votes[kind_index(v.vote.kind)];
  auto [it, inserted] = seen.emplace(v.validator, v);
  if (!inserted) {
    if (it->second.vote == v.vote) {
      ++counters_.ignored_duplicate;
      return;
    }
    // Two validly signed, different statements of one kind and view.
    if (vs.evidence_sent.emplace(v.vote.kind, v.validator).second) {
      ++counters_.evidence;
      out_.push_back(Equivocation{make_evidence(it->second, v)});
    }
    return;
  }
  maybe_form_certificate(v.vote.view, v.vote.kind, v.vote);
}

void Core::maybe_form_certificate(View view, std::uint8_t kind, const Vote& statement) {
  ViewState& vs = views_[view];
  const std::size_t k = kind_index(kind);
  if (vs.certs[k]) return;
  Certificate cert{kind, view, statement.height, statement.digest, {}};
  for (const auto& [index, sv] : vs.votes[k])  // map order: increasing index
    if (sv.vote == statement) cert.signatures.push_back({index, sv.signature});
  if (cert.signatures.size() < quorum_) return;
  add_certificate(cert);
}

void Core::add_certificate(const Certificate& c) {
  ViewState& vs = views_[c.view];
  const std::size_t k = kind_index(c.kind);
  EMLEDGER_ASSERT(!vs.certs[k]);
  vs.certs[k] = c;
  broadcast(c);  // once per certificate: lets validators that missed votes catch up
  switch (c.vote_kind()) {
    case VoteKind::kNotarize:
      // Rule 2: finalize a notarized block of a view we did not nullify
      // (views already final need no more votes).
      if (c.view > last_finalized_.view && !vs.my_votes[kNullify] && !vs.my_votes[kFinalize])
        cast(finalize_vote(c.view, c.height, c.digest));
      enter_view(c.view + 1, /*progress=*/true);
      break;
    case VoteKind::kNullify:
      enter_view(c.view + 1, /*progress=*/false);
      break;
    case VoteKind::kFinalize:
      if (!finalization_ || finalization_->view < c.view) finalization_ = c;
      if (!latest_finalization_ || latest_finalization_->view < c.view) latest_finalization_ = c;
      enter_view(c.view + 1, /*progress=*/true);
      advance_finality();
      break;
  }
  // A new certificate may complete a parent chain that waited for it.
  try_propose();
  try_notarize(current_view_);
}

// ---- views and timers ----

void Core::enter_view(View view, bool progress) {
  if (view <= current_view_) return;
  nullified_streak_ = progress ? 0 : nullified_streak_ + 1;
  current_view_ = view;
  own_proposal_.reset();
  timed_out_ = false;
  rebroadcasts_ = 0;
  deadline_ms_ = now_ms_ + backoff(config_.view_timeout_ms, nullified_streak_);
  try_propose();
  try_notarize(view);
}

void Core::timeout() {
  timed_out_ = true;
  ViewState& vs = views_[current_view_];
  // Rule 3: nullify only a view we did not finalize.
  if (!vs.my_votes[kNullify] && !vs.my_votes[kFinalize]) cast(nullify_vote(current_view_));
  rebroadcast();
  rebroadcasts_ = 0;
  rebroadcast_at_ms_ = now_ms_ + backoff(config_.rebroadcast_ms, 0);
}

// Everything a validator that lost messages could need to reach this view
// and vote in it (docs/consensus.md section 6). The simulator found
// standstills with less: a validator missing the notarization of a
// proposal's parent several views back, or every validator restarted into a
// different view with nobody sending the certificates that would bring them
// together. All of it is safe to send any number of times.
void Core::rebroadcast() {
  send_own_votes();
  std::set<CertificateKey> sent = certificates_in_output();
  // Every certificate above the last finalized view, and those of the view
  // before this one (what brought us here) even if it is final.
  const View from = std::min(last_finalized_.view + 1, current_view_ - 1);
  for (auto it = views_.lower_bound(from); it != views_.end(); ++it)
    for (const auto& c : it->second.certs)
      if (c) send_once(*c, sent);
  if (latest_finalization_) send_once(*latest_finalization_, sent);
  if (fetching_) out_.push_back(*fetching_);
}

// Own signed votes of every view since the last finalized one (after a
// restart, those the log held, once start() had them signed again); the
// leader's notarize vote of the current view as its proposal.
void Core::send_own_votes() {
  const View from = std::min(last_finalized_.view + 1, current_view_);
  for (auto it = views_.lower_bound(from); it != views_.end() && it->first <= current_view_; ++it) {
    for (const auto& mine : it->second.my_signed) {
      if (!mine) continue;
      if (own_proposal_ && mine->vote.vote_kind() == VoteKind::kNotarize &&
          own_proposal_->block.view == mine->vote.view &&
          own_proposal_->block.digest == mine->vote.digest)
        broadcast(*own_proposal_);
      else
        broadcast(*mine);
    }
  }
}

// What lets every validator accept `block`'s parent (rule 1), sent right
// after the leader's own proposal: the parent's notarization (or
// finalization), the nullification of every view it skips, and the highest
// finalization known. The leader cannot count on timing out to rebroadcast
// them: the simulator found a leader, the one validator still holding
// them, whose views the others' nullify votes always ended first.
void Core::send_justification(const BlockRef& block) {
  std::set<CertificateKey> sent = certificates_in_output();
  if (auto parent = block_certificate(block.parent_view, block.parent)) send_once(*parent, sent);
  for (auto it = views_.upper_bound(block.parent_view);
       it != views_.end() && it->first < block.view; ++it)
    if (const auto& c = it->second.certs[kNullify]) send_once(*c, sent);
  if (latest_finalization_) send_once(*latest_finalization_, sent);
}

std::set<Core::CertificateKey> Core::certificates_in_output() const {
  std::set<CertificateKey> sent;
  for (const Action& a : out_)
    if (const auto* b = std::get_if<Broadcast>(&a))
      if (const auto* c = std::get_if<Certificate>(&b->message)) sent.emplace(c->view, c->kind);
  return sent;
}

void Core::send_once(const Certificate& c, std::set<CertificateKey>& sent) {
  if (sent.emplace(c.view, c.kind).second) broadcast(c);
}

void Core::cast(const Vote& vote) {
  ViewState& vs = views_[vote.view];
  auto& mine = vs.my_votes[kind_index(vote.kind)];
  EMLEDGER_ASSERT(!mine);
  mine = vote;
  awaiting_signature_.insert(vote);
  out_.push_back(PersistVote{vote});
}

// ---- proposing and notarizing ----

std::optional<Certificate> Core::block_certificate(View view, const Hash& digest) const {
  auto it = views_.find(view);
  if (it == views_.end()) return std::nullopt;
  for (std::size_t k : {kNotarize, kFinalize}) {
    const auto& c = it->second.certs[k];
    if (c && c->digest == digest) return c;
  }
  return std::nullopt;
}

void Core::try_propose() {
  const View v = current_view_;
  if (leader(v) != config_.self || timed_out_) return;
  ViewState& vs = views_[v];
  if (vs.build || vs.my_votes[kNullify] || vs.my_votes[kNotarize]) return;
  // The highest notarized block below v with every view after it nullified.
  BuildBlock build{v, last_finalized_.view, last_finalized_.height, last_finalized_.digest};
  for (View w = v - 1; w > last_finalized_.view; --w) {
    auto it = views_.find(w);
    if (it == views_.end()) return;  // nothing known of w yet: wait
    const auto& certs = it->second.certs;
    const auto& notarized = certs[kNotarize] ? certs[kNotarize] : certs[kFinalize];
    if (notarized) {
      build = BuildBlock{v, w, notarized->height, notarized->digest};
      break;
    }
    if (!certs[kNullify]) return;
  }
  vs.build = build;
  out_.push_back(build);
}

bool Core::parent_acceptable(const BlockRef& b) const {
  if (b.parent_view < last_finalized_.view) return false;
  if (b.parent_view == last_finalized_.view) {
    if (b.parent != last_finalized_.digest || b.height != last_finalized_.height + 1) return false;
  } else {
    auto cert = block_certificate(b.parent_view, b.parent);
    if (!cert || cert->height + 1 != b.height) return false;
  }
  for (View w = b.parent_view + 1; w < b.view; ++w) {
    auto it = views_.find(w);
    if (it == views_.end() || !it->second.certs[kNullify]) return false;
  }
  return true;
}

void Core::try_notarize(View view) {
  if (view != current_view_) return;
  auto it = views_.find(view);
  if (it == views_.end()) return;
  ViewState& vs = it->second;
  // Rule 1: one notarize per view, for the leader's checked proposal, on an
  // acceptable parent; and not once we gave up on the view.
  if (!vs.proposal || !vs.proposal_valid || vs.my_votes[kNotarize] || vs.my_votes[kNullify]) return;
  if (!parent_acceptable(*vs.proposal)) return;
  cast(notarize_vote(view, vs.proposal->height, vs.proposal->digest));
}

// ---- finality ----

// Walks the parent links from the finalization's block down to the last
// finalized block, then reports the chain bottom up. A missing link is
// fetched and the walk stops there; walk_ keeps what it found, so the next
// call resumes at the missing link instead of walking the chain again (a
// long unfinalized chain fetched one block at a time would otherwise cost
// quadratic time). A higher finalization walks down only until it meets
// walk_'s top.
void Core::advance_finality() {
  if (!finalization_ || finalization_->view <= last_finalized_.view) {
    walk_.clear();
    return;
  }
  // The adapter may have synced past the bottom of the walk (on_synced):
  // those blocks are final already. Views and heights fall along a chain.
  while (!walk_.empty() && (walk_.back().view <= last_finalized_.view ||
                            walk_.back().height <= last_finalized_.height))
    walk_.pop_back();
  std::vector<BlockRef> above;  // from the finalization's block down to walk_'s top
  bool joined = walk_.empty();  // found blocks go straight into walk_
  Hash digest = finalization_->digest;
  View view = finalization_->view;
  Height height = finalization_->height;
  while (digest != last_finalized_.digest) {
    if (!joined && digest == walk_.front().digest) {
      walk_.insert(walk_.begin(), above.begin(), above.end());
      above.clear();
      joined = true;
      const BlockRef& bottom = walk_.back();
      digest = bottom.parent;
      view = bottom.parent_view;
      height = bottom.height - 1;
      continue;
    }
    ++counters_.finality_walk_steps;
    auto it = blocks_.find(digest);
    if (it == blocks_.end()) {
      if (!fetching_ || fetching_->digest != digest) {
        fetching_ = FetchBlock{view, height, digest};
        out_.push_back(*fetching_);
      }
      return;  // `above` is dropped: short, walked again next time
    }
    const BlockRef& b = it->second;
    if (b.view <= last_finalized_.view || b.height <= last_finalized_.height) {
      ++counters_.safety_faults;  // needs more than f faulty validators
      finalization_.reset();
      walk_.clear();
      return;
    }
    if (joined)
      walk_.push_back(b);
    else
      above.push_back(b);
    digest = b.parent;
    view = b.parent_view;
    height = b.height - 1;
  }
  // Complete: walk_ if the walk joined it, else `above` (reached the last
  // finalized block without meeting walk_, which then led nowhere).
  std::deque<BlockRef> chain =
      joined ? std::exchange(walk_, {}) : std::deque<BlockRef>(above.begin(), above.end());
  walk_.clear();
  for (auto b = chain.rbegin(); b != chain.rend(); ++b) {
    auto own = views_.find(b->view);
    const Certificate* cert = own != views_.end() && own->second.certs[kFinalize]
                                  ? &*own->second.certs[kFinalize]
                                  : nullptr;
    const bool direct = cert != nullptr && cert->digest == b->digest;
    out_.push_back(Finalized{*b, direct ? *cert : *finalization_, !direct});
    last_finalized_ = *b;
  }
  nullified_streak_ = 0;
  prune();
}

void Core::prune() {
  const View floor = last_finalized_.view > kViewsRetainedBelowFinalized
                         ? last_finalized_.view - kViewsRetainedBelowFinalized
                         : 0;
  if (floor <= floor_view_) return;
  floor_view_ = floor;
  views_.erase(views_.begin(), views_.lower_bound(floor));
  std::erase_if(blocks_, [&](const auto& e) { return e.second.view < floor; });
  std::erase_if(awaiting_signature_, [&](const Vote& v) { return v.view < floor; });
}

// ---- plumbing ----

void Core::observe_time(std::uint64_t now_ms) {
  EMLEDGER_ASSERT(started_);
  now_ms_ = std::max(now_ms_, now_ms);
}

std::vector<Action> Core::finish() {
  const std::uint64_t wake = timed_out_ ? rebroadcast_at_ms_ : deadline_ms_;
  if (wake != wake_sent_ms_) {
    wake_sent_ms_ = wake;
    out_.push_back(WakeAt{wake});
  }
  return std::exchange(out_, {});
}

}  // namespace emledger::consensus
