// A validator's block fetch (block_fetch.hpp): asking peers for a block its
// replica needs and does not hold, retrying on silence, answering the same
// requests from peers, and handing a fetched block to the replica once its
// digest matches. Kept apart from validator.cpp, where blocks are built and
// checked; range sync, for a validator far behind, is validator_sync.cpp.
#include <string>

#include "peer_transport.hpp"
#include "validator.hpp"

namespace emledger::node {

using consensus::BlockRef;

void Validator::start_fetch(const consensus::FetchBlock& f) {
  note_final_height(f.height);
  const ledger::ChainHead head = ledger_.head();
  if (f.height >= 1 && f.height <= head.height) {
    auto h = ledger_.header(f.height);
    if (h && h->has_value() && (*h)->hash() == f.digest) {
      consensus::View parent_view = 0;
      if (f.height > 1) {
        auto ph = ledger_.header(f.height - 1);
        if (!ph || !ph->has_value()) return;
        parent_view = (*ph)->view;
      }
      handle(replica_->on_block_fetched(
          now_ms(), BlockRef{(*h)->view, f.height, parent_view, (*h)->parent, f.digest}));
      return;
    }
  }
  if (auto it = known_.find(f.digest); it != known_.end()) {
    const auto& hd = it->second.block.header;
    handle(replica_->on_block_fetched(
        now_ms(), BlockRef{hd.view, hd.height, it->second.parent_view, hd.parent, f.digest}));
    return;
  }
  fetches_[f.digest] = {f, now_ms()};
  send_all(ledger::encode(BlockRequest{f.height, f.digest}));
}

void Validator::retry_fetches() {
  const std::uint64_t now = now_ms();
  for (auto& [digest, fetch] : fetches_) {
    if (now < fetch.second + kFetchRetryMs) continue;
    fetch.second = now;
    send_all(ledger::encode(BlockRequest{fetch.first.height, digest}));
  }
}

void Validator::serve_block_request(std::size_t peer, const BlockRequest& req) {
  BlockResponse resp;
  std::optional<ledger::BlockHeader> parent;
  const ledger::ChainHead head = ledger_.head();
  if (req.height >= 1 && req.height <= head.height) {
    auto b = ledger_.block(req.height);
    if (!b || !b->has_value() || (*b)->header.hash() != req.digest) return;
    resp.block = ledger::encode(**b);
    auto proof = ledger_.finality_proof(req.height);
    if (proof && proof->has_value()) resp.proof = ledger::encode_finality_proof(**proof);
  } else if (auto it = known_.find(req.digest); it != known_.end()) {
    resp.block = ledger::encode(it->second.block);
    if (auto p = known_.find(it->second.block.header.parent); p != known_.end())
      parent = p->second.block.header;
  } else {
    return;  // not ours to give; the asker tries the others
  }
  if (req.height > 1 && !parent) {
    auto ph = ledger_.header(req.height - 1);
    if (!ph || !ph->has_value()) return;
    parent = **ph;
  }
  if (parent) resp.parent_header = ledger::encode(*parent);
  (void)transport_->send(peer, ledger::encode(resp));
}

void Validator::on_block_response(const BlockResponse& resp) {
  auto fetched = check_block_response(resp);
  if (!fetched) return;
  if (auto k = known_.find(fetched->digest); k != known_.end()) {
    // A block we hold: only a peer's proof for it can be new.
    if (!k->second.peer_proof && fetched->proof) {
      k->second.peer_proof = std::move(fetched->proof);
      pump_finals();
    }
  }
  auto want = fetches_.find(fetched->digest);
  if (want == fetches_.end() || want->second.first.height != fetched->block.header.height)
    return;  // not asked for, or answered already
  fetches_.erase(want);
  const ledger::BlockHeader hd = fetched->block.header;
  Known k;
  k.block = std::move(fetched->block);
  k.parent_view = fetched->parent_view;
  k.peer_proof = std::move(fetched->proof);
  remember(fetched->digest, std::move(k));
  {
    std::lock_guard lock(mu_);
    ++stats_.blocks_fetched;
  }
  handle(replica_->on_block_fetched(
      now_ms(), BlockRef{hd.view, hd.height, fetched->parent_view, hd.parent, fetched->digest}));
}

}  // namespace emledger::node
