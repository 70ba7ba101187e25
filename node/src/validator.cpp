#include "validator.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <unordered_set>

#include "emledger/crypto/hex.hpp"
#include "emledger/crypto/sha256.hpp"

namespace emledger::node {

namespace fs = std::filesystem;
using consensus::BlockRef;

void validator_log(const std::string& line) {
  std::fprintf(stderr, "emledger-node: validator: %s\n", line.c_str());
}

std::string short_hex(const Hash& h) { return to_hex(h).substr(0, 16); }

Validator::Validator(ledger::Ledger& ledger, Mempool& mempool, const crypto::KeyPair& key,
                     ledger::ValidatorSet set, std::uint16_t index, ValidatorConfig config,
                     Clock wall_clock)
    : ledger_(ledger),
      mempool_(mempool),
      key_(key),
      set_(std::move(set)),
      index_(index),
      config_(std::move(config)),
      wall_clock_(std::move(wall_clock)) {
  EMLEDGER_ASSERT(index_ < set_.validators.size());
  EMLEDGER_ASSERT(set_.validators[index_].public_key == key_.public_key());
  checkpoint_replied_ms_.assign(set_.validators.size(), 0);
  conflict_logged_.assign(set_.validators.size(), false);
  epoch_shown_ = set_.epoch;
  index_shown_ = index_;
}

Validator::~Validator() { stop(); }

std::uint64_t Validator::now_ms() const {
  using namespace std::chrono;
  return static_cast<std::uint64_t>(
      duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count());
}

Result<std::unique_ptr<Validator>> Validator::start(ledger::Ledger& ledger, Mempool& mempool,
                                                    const crypto::KeyPair& key,
                                                    ValidatorConfig config, Clock wall_clock) {
  auto set = ledger.validators();
  if (!set) return set.status();
  const auto index = set->index_of(key.public_key());
  if (!index)
    return Status::error("NOT_A_VALIDATOR", "the key is not in the validator set of epoch " +
                                                std::to_string(set->epoch));
  std::unique_ptr<Validator> v(new Validator(ledger, mempool, key, std::move(*set), *index,
                                             std::move(config), std::move(wall_clock)));
  if (v->config_.sync_blocks_per_request == 0 ||
      v->config_.sync_blocks_per_request > kSyncBlocksPerRequestMax)
    return Status::error("CONFIG_INVALID", "sync_blocks_per_request must be 1.." +
                                               std::to_string(kSyncBlocksPerRequestMax));
  EMLEDGER_TRY(v->open_replica());
  EMLEDGER_TRY(v->open_checkpoints());
  EMLEDGER_TRY(v->open_pending_blocks());
  EMLEDGER_TRY(v->start_transport());
  v->start_gossip();
  Validator* self = v.get();
  v->thread_ = std::thread([self] { self->run(); });
  return v;
}

// The peers are the set's validators, by index (none alone). Messages from
// the previous epoch's transport still queued carry its peer indexes: the
// caller drops them before this starts a new one.
Status Validator::start_transport() {
  if (alone()) return Status::ok();
  PeerTransportConfig tc;
  tc.chain_id = ledger_.genesis().chain_id;
  tc.key = key_;
  tc.validators = peers_from_set(set_);
  tc.listen = config_.peer_listen;
  tc.threads = config_.peer_threads;
  tc.on_message = [this](std::size_t peer, Bytes message) {
    std::lock_guard lock(mu_);
    if (inbox_.size() >= kValidatorInboxMax) {
      ++stats_.messages_dropped;
      return;
    }
    inbox_.push_back(Inbound{peer, std::move(message)});
    cv_.notify_one();
  };
  auto transport = PeerTransport::start(std::move(tc));
  if (!transport) return transport.status();
  transport_ = std::move(*transport);
  std::lock_guard lock(mu_);
  port_shown_ = transport_->port();
  return Status::ok();
}

// The anchor is the ledger's head: the last block it holds as final, durably.
// The core votes on the heights above it, so it signs in the epoch of set_,
// the set in force there.
Status Validator::open_replica() {
  const ledger::Genesis& g = ledger_.genesis();
  const ledger::ChainHead head = ledger_.head();
  consensus::ReplicaConfig rc;
  rc.core.chain_id = g.chain_id;
  rc.core.epoch = set_.epoch;
  for (const auto& val : set_.validators) rc.core.validators.push_back(val.public_key);
  rc.core.self = index_;
  rc.core.view_timeout_ms = config_.view_timeout_ms;
  rc.core.view_timeout_max_ms = config_.view_timeout_max_ms;
  rc.core.rebroadcast_ms = config_.rebroadcast_ms;
  rc.core.anchor = BlockRef{0, 0, 0, Hash{}, ledger_.genesis_hash()};
  if (head.height > 0) {
    auto hdr = ledger_.header(head.height);
    if (!hdr) return hdr.status();
    if (!hdr->has_value()) return Status::error("STORAGE_CORRUPT", "no header at the head");
    consensus::View parent_view = 0;
    if (head.height > 1) {
      auto ph = ledger_.header(head.height - 1);
      if (!ph) return ph.status();
      // A ledger restored from a snapshot (docs/node.md, "Snapshots") holds
      // no header below its base, only that header's view.
      if (ph->has_value())
        parent_view = (*ph)->view;
      else if (head.height == ledger_.base_height())
        parent_view = ledger_.base_parent_view();
      else
        return Status::error("STORAGE_CORRUPT", "no header below the head");
    }
    rc.core.anchor =
        BlockRef{(*hdr)->view, head.height, parent_view, (*hdr)->parent, head.header_hash};
    auto proof = ledger_.finality_proof(head.height);
    if (!proof) return proof.status();
    // The head's proof is signed in the head's epoch: when the head is the
    // change block that ended the previous one, no validator of this epoch
    // could verify it (lagging ones catch up by range sync instead).
    if (proof->has_value() && head.height >= set_.since_height) {
      const ledger::Certificate& c = (*proof)->certificate;
      // Rebroadcast by the replica so that validators left behind can follow.
      rc.anchor_proof =
          consensus::Certificate{static_cast<std::uint8_t>(consensus::VoteKind::kFinalize), c.view,
                                 c.height, c.header_hash, c.signatures};
    }
  }
  const fs::path dir = fs::path(config_.data_dir) / "consensus";
  std::error_code ec;
  const bool created = fs::create_directories(dir, ec);
  if (ec) return Status::error("IO_ERROR", "cannot create " + dir.string() + ": " + ec.message());
  if (created) EMLEDGER_TRY(fs_.sync_dir(config_.data_dir));
  rc.wal_path = (dir / "votes.wal").string();
  auto replica = consensus::Replica::open(fs_, std::move(rc), key_);
  if (!replica) return replica.status();
  replica_.emplace(std::move(*replica));
  return Status::ok();
}

// DATA/consensus/blocks beside the WAL (open_replica made the directory):
// the blocks this validator voted for before it stopped, not committed, are
// held again, so that certificates its logged votes form can be followed.
Status Validator::open_pending_blocks() {
  auto pb =
      PendingBlocks::open(fs_, (fs::path(config_.data_dir) / "consensus" / "blocks").string());
  if (!pb) return pb.status();
  pending_blocks_.emplace(std::move(*pb));
  const std::uint64_t head = ledger_.head().height;
  pending_blocks_->prune_through(head);
  auto held = pending_blocks_->load_above(head);
  if (!held) return held.status();
  for (auto& e : *held) {
    Known k;
    k.block = std::move(e.block);
    k.parent_view = e.parent_view;
    remember(e.digest, std::move(k));
  }
  if (!held->empty())
    validator_log("holding " + std::to_string(held->size()) + " voted blocks above height " +
                  std::to_string(head) + " again");
  return Status::ok();
}

// Held blocks not executed yet (held again after a restart) on the chain
// from `digest` down to the head or to an executed block: execute them, lowest
// first, each on its parent (base_for), so they can be built or checked on.
void Validator::execute_known(const Hash& digest) {
  std::vector<Hash> todo;
  for (Hash at = digest; at != ledger_.head().header_hash;) {
    auto it = known_.find(at);
    if (it == known_.end() || todo.size() >= known_.size()) return;
    if (it->second.prepared) break;
    todo.push_back(at);
    at = it->second.block.header.parent;
  }
  for (auto d = todo.rbegin(); d != todo.rend(); ++d) {
    Known& k = known_.find(*d)->second;
    const ledger::PreparedBlock* base = nullptr;
    if (!base_for(k.block.header.parent, base)) return;
    if (!base) {
      auto executed = ledger_.execute(k.block);
      if (!executed) return;
      k.prepared.emplace(std::move(*executed));
      continue;
    }
    // On an uncommitted parent: what Ledger::execute does, on `base`.
    const ledger::BlockHeader& h = k.block.header;
    std::vector<ledger::Tx> txs;
    txs.reserve(k.block.txs.size());
    for (const auto& raw : k.block.txs) {
      auto tx = ledger::parse_tx(raw);
      if (!tx) return;
      txs.push_back(std::move(*tx));
    }
    std::vector<ledger::TxOutcome> outcomes;
    auto prepared = ledger_.prepare(txs, h.time_ms, h.view, h.proposer,
                                    /*signatures_checked=*/false, outcomes, base);
    if (!prepared || prepared->block.txs.size() != k.block.txs.size() ||
        ledger::encode(prepared->block.header) != ledger::encode(h))
      return;
    k.prepared.emplace(std::move(*prepared));
  }
}

// DATA/consensus/checkpoint.note beside the WAL (open_replica made the
// directory); the book starts at the ledger's head, with the set in force.
Status Validator::open_checkpoints() {
  const ledger::ChainHead head = ledger_.head();
  const std::string path = (fs::path(config_.data_dir) / "consensus" / "checkpoint.note").string();
  ledger::Ledger* l = &ledger_;
  auto book = CheckpointBook::open(fs_, ledger_.genesis(), set_, path, head.log_size, head.log_root,
                                   [l](std::uint64_t size) { return l->log_root(size); });
  if (!book) return book.status();
  checkpoints_ = std::move(*book);
  return Status::ok();
}

void Validator::stop() {
  stop_gossip();
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  if (checkpoints_) {
    // The thread is gone: the newest quorate note is written now.
    Status st = checkpoints_->persist();
    if (!st.is_ok()) validator_log("cannot persist the checkpoint: " + st.to_string());
  }
  if (transport_) transport_->stop();
  // Our proposals' transactions that were not committed: their waiters must
  // hear something before the node goes.
  const Status down = Status::error("SHUTTING_DOWN", "the node is shutting down");
  for (auto& [digest, p] : proposed_) {
    for (auto& r : p.results) r.status = down;
    mempool_.complete(p.results);
  }
  proposed_.clear();
}

std::uint16_t Validator::peer_port() const {
  std::lock_guard lock(mu_);
  return port_shown_;
}

ValidatorStats Validator::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

ledger::Epoch Validator::epoch() const {
  std::lock_guard lock(mu_);
  return epoch_shown_;
}

std::optional<std::uint16_t> Validator::index() const {
  std::lock_guard lock(mu_);
  return index_shown_;
}

// ---- the loop ----

void Validator::run() {
  last_commit_ms_ = now_ms();
  handle(replica_->start(now_ms()));
  for (;;) {
    std::deque<Inbound> batch;
    std::deque<Bytes> gossip;
    {
      std::unique_lock lock(mu_);
      std::uint64_t wait_ms = 1000;
      const std::uint64_t now = now_ms();
      if (wake_at_ms_) wait_ms = *wake_at_ms_ > now ? std::min(wait_ms, *wake_at_ms_ - now) : 0;
      // A build waiting for work polls the mempool, except alone: then an
      // admission wakes the loop (and nothing else could give it work).
      if ((build_ && !alone()) || !fetches_.empty() || !finals_.empty())
        wait_ms = std::min(wait_ms, kBuildPollMs);
      wait_ms = std::min(wait_ms, checkpoint_wait_ms(now));
      if (retired_) wait_ms = 1000;
      cv_.wait_for(lock, std::chrono::milliseconds(wait_ms),
                   [&] { return stopping_ || !inbox_.empty() || !gossip_out_.empty(); });
      if (stopping_) return;
      batch.swap(inbox_);
      gossip.swap(gossip_out_);
    }
    flush_gossip(std::move(gossip));
    if (failed_ || retired_) continue;  // drain and drop: the node must be restarted
    // After the commit that ends the epoch the rest of the batch came
    // through the old transport, by its peer indexes: dropped (consensus
    // retransmits).
    for (auto& in : batch) {
      if (epoch_ended_) break;
      on_peer(std::move(in));
    }
    if (epoch_ended_) {
      switch_epoch();
      continue;
    }
    if (wake_at_ms_ && now_ms() >= *wake_at_ms_) {
      wake_at_ms_.reset();
      handle(replica_->on_tick(now_ms()));
    }
    if (build_ && try_build(build_->first)) build_.reset();
    retry_fetches();
    sync_step();
    pump_finals();
    if (epoch_ended_) {
      switch_epoch();
      continue;
    }
    if (!replica_->halted().is_ok()) {
      // The WAL failed (I/O error or full): what was signed is durable; start
      // over from what the WAL and the ledger hold.
      validator_log("replica halted (" + replica_->halted().to_string() + "); reopening");
      replica_.reset();
      build_.reset();
      deferred_checks_.clear();
      Status st = open_replica();
      if (!st.is_ok()) {
        validator_log("cannot reopen the replica: " + st.to_string() + "; consensus stopped");
        failed_ = true;
        continue;
      }
      handle(replica_->start(now_ms()));
    }
    checkpoint_turn();
  }
}

// Outputs are handled one after the other, in the order the replica gave
// them, even when handling one leads to another (a commit retries a deferred
// check, a build answers the replica): nested calls only queue, so final
// blocks always reach the ledger in the replica's order.
void Validator::handle(consensus::ReplicaOutput first) {
  outputs_.push_back(std::move(first));
  if (handling_) return;
  handling_ = true;
  // Once the epoch ended, what the old replica asked for is moot.
  while (!outputs_.empty() && !failed_ && !epoch_ended_) {
    consensus::ReplicaOutput out = std::move(outputs_.front());
    outputs_.pop_front();
    handle_one(out);
  }
  outputs_.clear();
  handling_ = false;
}

void Validator::handle_one(consensus::ReplicaOutput& out) {
  // Votes are durable before they appear here: send first, commit after.
  for (const auto& m : out.broadcasts) send_all(consensus::encode_message(m));
  for (auto& f : out.finalized) finals_.push_back(std::move(f));
  pump_finals();
  if (!out.evidence.empty()) {
    std::lock_guard lock(mu_);
    stats_.evidence += out.evidence.size();
  }
  for (const auto& e : out.evidence) {
    validator_log("equivocation by validator " + std::to_string(e.first.validator) + " in view " +
                  std::to_string(e.first.vote.view));
    submit_evidence(e);
  }
  for (const auto& f : out.fetches) start_fetch(f);
  if (out.wake_at_ms) wake_at_ms_ = out.wake_at_ms;
  for (auto& c : out.checks) {
    auto valid = try_check(c);
    if (!valid) {
      if (deferred_checks_.size() >= kDeferredMax) deferred_checks_.pop_front();
      deferred_checks_.push_back(std::move(c));
      continue;
    }
    handle(replica_->on_block_checked(now_ms(), c.block, *valid));
  }
  for (const auto& b : out.builds) build_.emplace(b, now_ms());
  if (build_ && try_build(build_->first)) build_.reset();
}

void Validator::send_all(const Bytes& bytes) {
  if (transport_) transport_->broadcast(bytes);
}

void Validator::on_peer(Inbound in) {
  const std::string_view domain = leading_domain(in.bytes);
  if (domain == CheckpointSignature::kDomain) {
    auto sig = ledger::decode<CheckpointSignature>(in.bytes);
    if (sig) return on_checkpoint_signature(in.peer, *sig);
    std::lock_guard lock(mu_);
    ++stats_.messages_dropped;
    return;
  }
  if (domain == BlockRequest::kDomain) {
    auto req = ledger::decode<BlockRequest>(in.bytes);
    if (req) serve_block_request(in.peer, *req);
    return;
  }
  if (domain == BlockResponse::kDomain) {
    auto resp = ledger::decode<BlockResponse>(in.bytes);
    if (resp) on_block_response(*resp);
    return;
  }
  if (domain == TxGossip::kDomain) {
    auto msg = ledger::decode<TxGossip>(in.bytes);
    if (msg) on_gossip(*msg);
    return;
  }
  if (domain == RangeRequest::kDomain) {
    auto req = ledger::decode<RangeRequest>(in.bytes);
    if (req) serve_range_request(in.peer, *req);
    return;
  }
  if (domain == RangeResponse::kDomain) {
    auto resp = ledger::decode<RangeResponse>(in.bytes);
    if (resp) on_range_response(in.peer, *resp);
    return;
  }
  if (domain == SnapshotRequest::kDomain) {
    auto req = ledger::decode<SnapshotRequest>(in.bytes);
    if (!req || !config_.snapshots) return;
    auto chunk = config_.snapshots->serve(in.peer, *req, now_ms());
    if (chunk) (void)transport_->send(in.peer, ledger::encode(*chunk));
    return;
  }
  if (domain == SnapshotChunk::kDomain) return;  // a joiner's late answer: not ours
  auto m = consensus::decode_message(in.bytes);
  if (!m) {
    std::lock_guard lock(mu_);
    ++stats_.messages_dropped;
    return;
  }
  handle(replica_->on_message(now_ms(), *m));
}

// ---- application: build, check ----

bool Validator::base_for(const Hash& digest, const ledger::PreparedBlock*& base) {
  const Hash head = ledger_.head().header_hash;
  if (digest == head) {
    base = nullptr;
    return true;
  }
  // The uncommitted chain from `digest` down to the committed head, newest
  // first; every block on it executed (prepared) on its own parent.
  std::vector<const ledger::PreparedBlock*> chain;
  for (Hash at = digest; at != head;) {
    auto it = known_.find(at);
    if (it == known_.end() || !it->second.prepared || chain.size() >= known_.size()) return false;
    chain.push_back(&*it->second.prepared);
    at = it->second.block.header.parent;
  }
  if (chain.size() == 1) {  // the parent sits directly on committed data
    base = chain.front();
    return true;
  }
  // Deeper: a notarized chain got more than one block ahead of the committed
  // head (views notarized after their validators had nullified them are
  // never finalized on their own, only through a descendant). Execute on the
  // writes of the whole chain, oldest first so newer values win; the result
  // is committed only after every block below it, each a parent of the next.
  if (!stacked_ || stacked_->tip != digest || stacked_->head != head) {
    Stacked s{digest, head, {}};
    s.prepared.new_head = chain.front()->new_head;
    for (auto b = chain.rbegin(); b != chain.rend(); ++b) {
      for (const auto& [key, value] : (*b)->writes.entries()) s.prepared.writes.put(key, value);
      s.prepared.tx_ids.insert(s.prepared.tx_ids.end(), (*b)->tx_ids.begin(), (*b)->tx_ids.end());
      s.prepared.state_paths.insert(s.prepared.state_paths.end(), (*b)->state_paths.begin(),
                                    (*b)->state_paths.end());
    }
    s.prepared.block = chain.front()->block;
    // Pruning as the newest block leaves it, with every node the chain
    // revived: a block on top must not erase those (ADR 021).
    s.prepared.prune_next = chain.front()->prune_next;
    s.prepared.pruned_through = chain.front()->pruned_through;
    for (auto b = chain.rbegin(); b != chain.rend(); ++b)
      s.prepared.revived.insert(s.prepared.revived.end(), (*b)->revived.begin(),
                                (*b)->revived.end());
    stacked_ = std::move(s);
  }
  base = &stacked_->prepared;
  return true;
}

std::optional<consensus::View> Validator::view_of_parent(const Hash& digest) const {
  const ledger::ChainHead head = ledger_.head();
  if (digest == head.header_hash) {
    if (head.height == 0) return consensus::View{0};
    auto h = ledger_.header(head.height);
    if (!h || !h->has_value()) return std::nullopt;
    return (*h)->view;
  }
  auto it = known_.find(digest);
  if (it == known_.end()) return std::nullopt;
  return it->second.block.header.view;
}

bool Validator::try_build(const consensus::BuildBlock b) {
  if (b.view < replica_->core().current_view()) return true;  // too late: drop it
  const ledger::PreparedBlock* base = nullptr;
  execute_known(b.parent);
  if (!base_for(b.parent, base)) return false;  // wait for commits, or the timeout
  // Above a change of set only an empty block, at once: it serves to make
  // the change final, and nobody waits for transactions in it.
  const bool tail = builds_tail(base);
  if (!tail && mempool_.pending_count() == 0 && build_ &&
      (alone() || now_ms() < build_->second + config_.empty_block_delay_ms))
    return false;
  const ledger::ChainHead parent = base ? base->new_head : ledger_.head();
  EMLEDGER_ASSERT(parent.height == b.parent_height && parent.header_hash == b.parent);

  std::vector<Candidate> candidates;
  if (!tail) candidates = mempool_.try_take(ledger::kBlockTxsMax);
  std::vector<ledger::Tx> txs;
  std::vector<ledger::CandidateFacts> facts;  // the admission stamps (ADR 022)
  txs.reserve(candidates.size());
  facts.reserve(candidates.size());
  for (auto& c : candidates) {
    txs.push_back(std::move(c.tx));
    // Admission's bytes, id and log leaf: prepare neither encodes nor hashes
    // again.
    facts.push_back(ledger::CandidateFacts{c.encoding, c.encoding.empty() ? Hash{} : c.id,
                                           c.absent_at, c.leaf});
  }
  const std::uint64_t time_ms = std::max(wall_clock_(), parent.time_ms);
  std::vector<ledger::TxOutcome> outcomes;
  auto prepared = ledger_.prepare(txs, time_ms, b.view, key_.public_key(),
                                  /*signatures_checked=*/true, outcomes, base, facts);
  std::vector<TxResult> rejected;
  Proposed mine;
  if (!prepared) {
    validator_log("block execution failed: " + prepared.status().to_string());
    for (const auto& c : candidates) rejected.push_back(TxResult{c.id, prepared.status(), 0, 0});
    mempool_.complete(rejected);
    txs.clear();
    prepared = ledger_.prepare(txs, time_ms, b.view, key_.public_key(), true, outcomes, base);
    if (!prepared) return true;  // nothing to propose: the view times out
  } else {
    EMLEDGER_ASSERT(outcomes.size() == candidates.size());
    // A transaction the uncommitted parent holds already (another validator
    // proposed it after gossip) is not refused: it goes back to pending, and
    // the parent's commit completes it (complete_committed).
    std::unordered_set<Hash, HashHasher> in_parent;
    if (base) in_parent.insert(base->tx_ids.begin(), base->tx_ids.end());
    std::vector<Candidate> held;
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      if (!outcomes[i].status.is_ok() && in_parent.count(candidates[i].id)) {
        held.push_back(Candidate{candidates[i].id, std::move(txs[i]),
                                 ledger::CandidateFacts::kUnknown,
                                 std::move(candidates[i].encoding), candidates[i].leaf});
        continue;
      }
      if (!outcomes[i].status.is_ok()) {
        rejected.push_back(TxResult{candidates[i].id, outcomes[i].status, 0, 0});
        continue;
      }
      mine.results.push_back(TxResult{candidates[i].id, Status::ok(), 0, 0});
      mine.candidates.push_back(Candidate{candidates[i].id, std::move(txs[i]),
                                          ledger::CandidateFacts::kUnknown,
                                          std::move(candidates[i].encoding), candidates[i].leaf});
    }
    if (!rejected.empty()) mempool_.complete(rejected);
    mempool_.return_to_pending(std::move(held));
  }
  // Alone, an empty block helps nobody (no other validator waits on views
  // ending): wait for a transaction instead.
  if (alone() && prepared->tx_ids.empty()) return false;
  EMLEDGER_ASSERT(!tail || prepared->tx_ids.empty());
  const ledger::BlockHeader& header = prepared->block.header;
  EMLEDGER_ASSERT(header.height == b.parent_height + 1 && header.parent == b.parent);
  const Hash digest = header.hash();
  // Encoded once: the payload the replica sends is what is stored.
  Bytes payload = ledger::encode(prepared->block);
  // Durable before the replica votes for it (pending_blocks.hpp).
  if (Status st = pending_blocks_->put(digest, header.height, b.parent_view, payload);
      !st.is_ok()) {
    validator_log("cannot store the block built, not proposing: " + st.to_string());
    mempool_.return_to_pending(std::move(mine.candidates));
    return true;
  }
  mine.height = header.height;
  if (!mine.candidates.empty()) proposed_.emplace(digest, std::move(mine));
  Known k;
  k.block = prepared->block;
  k.parent_view = b.parent_view;
  k.prepared.emplace(std::move(*prepared));
  remember(digest, std::move(k));
  {
    std::lock_guard lock(mu_);
    ++stats_.blocks_built;
    if (tail) ++stats_.tail_blocks_built;
  }
  const BlockRef ref{b.view, b.parent_height + 1, b.parent_view, b.parent, digest};
  build_.reset();  // answered; what on_block_built asks for is queued behind
  handle(replica_->on_block_built(now_ms(), ref, std::move(payload)));
  return !build_.has_value();
}

std::optional<bool> Validator::try_check(const consensus::CheckBlock& c) {
  auto count = [this](bool valid) {
    std::lock_guard lock(mu_);
    ++(valid ? stats_.blocks_checked_valid : stats_.blocks_checked_invalid);
    return valid;
  };
  auto block = ledger::decode<ledger::Block>(c.payload);
  if (!block) return count(false);
  const ledger::BlockHeader& h = block->header;
  const ledger::Genesis& g = ledger_.genesis();
  const auto& leader = set_.validators[c.block.view % set_.validators.size()].public_key;
  if (h.hash() != c.block.digest || h.height != c.block.height || h.view != c.block.view ||
      h.parent != c.block.parent || h.chain_id != g.chain_id || h.proposer != leader ||
      h.time_ms > wall_clock_() + kBlockTimeAheadMaxMs)
    return count(false);
  const ledger::ChainHead head = ledger_.head();
  if (h.height <= head.height) {
    // Already committed here (caught up through a fetch): valid only if it
    // is the very block we hold.
    auto committed = ledger_.header(h.height);
    return count(committed && committed->has_value() && (*committed)->hash() == c.block.digest);
  }
  const ledger::PreparedBlock* base = nullptr;
  execute_known(h.parent);
  if (!base_for(h.parent, base)) return std::nullopt;
  auto parent_view = view_of_parent(h.parent);
  if (!parent_view || *parent_view != c.block.parent_view) return count(false);
  // A tail block (above a change of set this epoch has not reached) must be
  // empty: it is never committed, so transactions in it would be lost.
  if (!block->txs.empty() && builds_tail(base)) {
    {
      std::lock_guard lock(mu_);
      ++stats_.tail_blocks_refused;
    }
    return count(false);
  }
  // Each signature is verified once per node: a transaction this node's
  // mempool holds (pending or in flight) passed check_tx_stateless when it
  // was admitted, from a client or by gossip, and its id is the hash of
  // these very bytes. Only the others are checked here.
  //
  // prepare is told each one's bytes and id, and, from the mempool, the
  // height at which this node found the id uncommitted (ADR 022).
  std::vector<ledger::Tx> txs;
  std::vector<ledger::CandidateFacts> facts;
  txs.reserve(block->txs.size());
  facts.reserve(block->txs.size());
  for (const auto& raw : block->txs) {
    auto tx = ledger::parse_tx(raw);  // canonical: raw is encode(*tx)
    if (!tx) return count(false);
    const Hash id = crypto::sha256(raw);
    const Mempool::Lookup held = mempool_.lookup(id);
    if (held.where != Mempool::Where::kPending && !ledger_.check_tx_stateless(*tx).is_ok())
      return count(false);
    txs.push_back(std::move(*tx));
    facts.push_back(ledger::CandidateFacts{raw, id, held.absent_at, std::nullopt});
  }
  std::vector<ledger::TxOutcome> outcomes;
  auto prepared = ledger_.prepare(txs, h.time_ms, h.view, h.proposer,
                                  /*signatures_checked=*/true, outcomes, base, facts);
  if (!prepared) return count(false);
  for (const auto& oc : outcomes)
    if (!oc.status.is_ok()) return count(false);
  if (ledger::encode(prepared->block.header) != ledger::encode(h)) return count(false);
  // Durable before the replica votes for it (pending_blocks.hpp).
  // c.payload is encode(*block): decode accepts canonical encodings only.
  if (Status st = pending_blocks_->put(c.block.digest, h.height, c.block.parent_view, c.payload);
      !st.is_ok()) {
    validator_log("cannot store block " + short_hex(c.block.digest) +
                  ", not voting: " + st.to_string());
    return count(false);
  }
  Known k;
  k.block = std::move(*block);
  k.parent_view = c.block.parent_view;
  k.prepared.emplace(std::move(*prepared));
  remember(c.block.digest, std::move(k));
  return count(true);
}

void Validator::remember(const Hash& digest, Known k) {
  if (known_.count(digest)) {
    // Keep what we have, but take an execution or a certificate we lacked.
    Known& have = known_[digest];
    if (!have.prepared && k.prepared) have.prepared = std::move(k.prepared);
    if (!have.peer_proof && k.peer_proof) have.peer_proof = std::move(k.peer_proof);
    return;
  }
  if (known_.size() >= kKnownBlocksMax) {
    validator_log("too many uncommitted blocks held; dropping block " + short_hex(digest));
    return;
  }
  known_.emplace(digest, std::move(k));
}

void Validator::retry_deferred() {
  if (build_ && try_build(build_->first)) build_.reset();
  std::deque<consensus::CheckBlock> pending;
  pending.swap(deferred_checks_);
  const consensus::View current = replica_->core().current_view();
  for (auto& c : pending) {
    if (c.block.view < current) continue;  // its view is over: no vote can follow
    auto valid = try_check(c);
    if (!valid) {
      deferred_checks_.push_back(std::move(c));
      continue;
    }
    handle(replica_->on_block_checked(now_ms(), c.block, *valid));
  }
}

}  // namespace emledger::node
