// Range sync of a validator far behind (block_fetch.hpp, docs/node.md
// "Range sync"). Kept apart from validator.cpp: it runs beside consensus,
// not through it, and meets the replica only in on_synced().
//
// The consensus core alone would catch up one block per round trip: it asks
// for the block a finalization names, then for that block's parent, and so
// on down to its anchor. Here the validator instead asks one peer for up to
// kSyncBlocksPerRequestMax committed blocks upwards from its head, commits
// each after re-executing it and verifying its finality proof, and tells the
// replica where the ledger now stands, which ends the core's walk there.
#include <algorithm>
#include <cstdio>
#include <string>

#include "emledger/crypto/hex.hpp"
#include "peer_transport.hpp"
#include "validator.hpp"

namespace emledger::node {

// The largest response: blocks up to the target, or a single block of any
// size with its proof, plus the two list headers and the length prefixes.
static_assert(kSyncResponseBytesTarget + 2 * kSyncBlocksPerRequestMax * 8 + 64 <=
                  kPeerMessageBytesMax,
              "a response of blocks up to the target fits in one message");
// A single block always goes, unless it and its proof together exceed one
// message: possible only for a block near kProposalBytesMax whose proof is a
// long chain of links (kFinalityLinksMax headers). Then the answer is empty
// and the block comes through the core's one-block fetch instead.
inline constexpr std::size_t kSyncOneBlockBytesMax = kPeerMessageBytesMax - 4096;

namespace {

void sync_log(const std::string& line) {
  std::fprintf(stderr, "emledger-node: validator: sync: %s\n", line.c_str());
}

}  // namespace

// A finalization the core verified names `height`: the network is at least
// there.
void Validator::note_final_height(consensus::Height height) {
  sync_target_ = std::max(sync_target_, height);
}

// Also when nothing was committed for kSyncProbeIdleMs: the network may have
// moved to an epoch whose votes this node cannot check (it missed the
// change), so only committed blocks can tell. An empty answer costs one
// message per peer and idle period.
bool Validator::sync_wanted() const {
  return sync_target_ > ledger_.head().height + kSyncLagMin || sync_more_ ||
         now_ms() >= last_commit_ms_ + kSyncProbeIdleMs;
}

// Sends the next request if one is due: nothing outstanding, or the
// outstanding one timed out (then the next peer is asked).
void Validator::sync_step() {
  if (!transport_ || failed_) return;
  const std::uint64_t now = now_ms();
  if (sync_ask_) {
    if (now < sync_ask_->at_ms + kSyncRequestTimeoutMs) return;
    sync_log("peer " + std::to_string(sync_ask_->peer) + " did not answer; asking another");
    sync_ask_.reset();
    sync_next_peer_ = (sync_next_peer_ + 1) % set_.validators.size();
  }
  if (!sync_wanted()) return;
  const std::uint64_t head = ledger_.head().height;
  const std::size_t n = set_.validators.size();
  // Without a target above the head (a probe, or more after a full answer)
  // a whole request's worth.
  const auto count = static_cast<std::uint32_t>(
      sync_target_ > head && !sync_more_
          ? std::min<std::uint64_t>(config_.sync_blocks_per_request, sync_target_ - head)
          : config_.sync_blocks_per_request);
  // One connected peer, round robin, starting from the one after the last asked.
  for (std::size_t tried = 0; tried < n; ++tried) {
    const std::size_t peer = (sync_next_peer_ + tried) % n;
    if (peer == index_ || !transport_->connected(peer)) continue;
    if (!transport_->send(peer, ledger::encode(RangeRequest{head + 1, count})).is_ok()) continue;
    sync_next_peer_ = peer;
    sync_ask_ = SyncAsk{peer, head + 1, count, now};
    return;
  }
}

void Validator::serve_range_request(std::size_t peer, const RangeRequest& req) {
  if (req.from == 0 || req.count == 0 || req.count > kSyncBlocksPerRequestMax) return;
  // One request per peer per interval: an honest asker has one outstanding
  // at a time and waits for its answer, so this only slows a flood.
  const std::uint64_t now = now_ms();
  auto& last = sync_served_ms_[peer];
  if (last != 0 && now < last + kSyncServeIntervalMs) return;
  last = now;
  RangeResponse resp;
  resp.from = req.from;
  const std::uint64_t head = ledger_.head().height;
  const std::uint64_t last_height = std::min(head, req.from + req.count - 1);
  std::size_t bytes = 0;
  for (std::uint64_t h = req.from; h <= last_height; ++h) {
    auto block = ledger_.block(h);
    auto proof = ledger_.finality_proof(h);
    if (!block || !block->has_value() || !proof || !proof->has_value()) break;
    Bytes b = ledger::encode(**block);
    Bytes p = ledger::encode_finality_proof(**proof);
    if (!resp.blocks.empty() && bytes + b.size() + p.size() > kSyncResponseBytesTarget) break;
    if (b.size() + p.size() > kSyncOneBlockBytesMax) break;
    bytes += b.size() + p.size();
    resp.blocks.push_back(std::move(b));
    resp.proofs.push_back(std::move(p));
  }
  // Also when empty: the asker moves on to another peer at once.
  (void)transport_->send(peer, ledger::encode(resp));
}

void Validator::on_range_response(std::size_t peer, const RangeResponse& resp) {
  if (!sync_ask_ || sync_ask_->peer != peer || sync_ask_->from != resp.from) return;  // unasked
  const std::uint32_t asked = sync_ask_->count;
  sync_ask_.reset();
  const std::uint64_t before = ledger_.head().height;
  std::size_t committed = 0;
  Status st = resp.blocks.size() == resp.proofs.size()
                  ? Status::ok()
                  : Status::error("MALFORMED_ENCODING", "blocks and proofs differ in count");
  for (std::size_t i = 0; st.is_ok() && i < resp.blocks.size(); ++i) {
    st = commit_synced(resp.blocks[i], resp.proofs[i]);
    if (st.is_ok()) ++committed;
  }
  if (!st.is_ok() || committed == 0) {
    if (!st.is_ok())
      sync_log("peer " + std::to_string(peer) +
               " sent a block that does not commit: " + st.to_string());
    sync_next_peer_ = (peer + 1) % set_.validators.size();  // not this one again now
    // An idle probe that found nothing waits another idle period.
    last_commit_ms_ = std::max(last_commit_ms_, now_ms());
  }
  // A full answer suggests more (a probe's above all): asking goes on, a
  // request's worth at a time, until an answer comes back short.
  sync_more_ = committed > 0 && committed == asked;
  if (committed > 0) after_sync(before);
  if (!failed_) sync_step();
}

// One block of a response: the next one on our head, re-executed here, and
// final by the proof (Ledger::commit verifies it under the set of the
// block's height, so a range may run across changes of set).
Status Validator::commit_synced(const Bytes& block_bytes, const Bytes& proof_bytes) {
  auto block = ledger::decode<ledger::Block>(block_bytes);
  if (!block) return block.status();
  auto proof = ledger::decode_finality_proof(proof_bytes);
  if (!proof) return proof.status();
  const ledger::ChainHead head = ledger_.head();
  if (block->header.height != head.height + 1 || block->header.parent != head.header_hash)
    return Status::error("NOT_NEXT_BLOCK", "block " + std::to_string(block->header.height) +
                                               " does not extend head " +
                                               std::to_string(head.height));
  auto prepared = ledger_.execute(*block);
  if (!prepared) return prepared.status();
  Status st = ledger_.commit(*prepared, *proof);
  // A proof that does not verify, or a block that does not execute, is the
  // peer's fault; a storage error is ours: consensus stops as for any commit.
  if (!st.is_ok() && st.code().rfind("STORAGE_", 0) == 0) {
    sync_log("commit of block " + std::to_string(block->header.height) +
             " failed: " + st.to_string() + "; consensus stopped");
    failed_ = true;
  }
  if (!st.is_ok()) return st;
  complete_committed(*prepared);
  last_commit_ms_ = now_ms();
  std::lock_guard lock(mu_);
  ++stats_.blocks_committed;
  ++stats_.blocks_synced;
  return Status::ok();
}

// Blocks were committed by sync, from `before` + 1 up to the head: what was
// waiting on them is settled, and the replica's anchor moves up.
void Validator::after_sync(std::uint64_t before) {
  const ledger::ChainHead head = ledger_.head();
  auto top = ledger_.header(head.height);
  if (!top || !top->has_value()) return;
  consensus::View parent_view = 0;
  if (head.height > 1) {
    auto ph = ledger_.header(head.height - 1);
    if (!ph || !ph->has_value()) return;
    parent_view = (*ph)->view;
  }
  const ledger::BlockHeader& hd = **top;
  settle_proposals(head.height, head.header_hash);
  for (auto b = known_.begin(); b != known_.end();)
    b = b->second.block.header.height <= head.height ? known_.erase(b) : std::next(b);
  for (auto f = fetches_.begin(); f != fetches_.end();)
    f = f->second.first.height <= head.height ? fetches_.erase(f) : std::next(f);
  pending_blocks_->prune_through(head.height);
  sync_log("committed blocks " + std::to_string(before + 1) + ".." + std::to_string(head.height) +
           " (network at " + std::to_string(sync_target_) + ")");
  // Past a change of set: the run loop starts the next epoch's replica,
  // anchored at the head, instead of moving this one's anchor.
  note_epoch_end();
  if (epoch_ended_) return;
  handle(replica_->on_synced(
      now_ms(), consensus::BlockRef{hd.view, hd.height, parent_view, hd.parent, head.header_hash}));
  retry_deferred();
}

}  // namespace emledger::node
