#include "block_fetch.hpp"

namespace emledger::node {

std::string_view leading_domain(ByteView in) {
  if (in.empty() || in.size() < 1u + in[0]) return {};
  return {reinterpret_cast<const char*>(in.data() + 1), in[0]};
}

Result<FetchedBlock> check_block_response(const BlockResponse& resp) {
  auto block = ledger::decode<ledger::Block>(resp.block);
  if (!block) return block.status();
  FetchedBlock out;
  out.digest = block->header.hash();
  if (block->header.height > 1) {
    if (resp.parent_header.empty())
      return Status::error("FETCH_MISMATCH", "no parent header above height 1");
    auto parent = ledger::decode<ledger::BlockHeader>(resp.parent_header);
    if (!parent) return parent.status();
    if (parent->hash() != block->header.parent || parent->height + 1 != block->header.height)
      return Status::error("FETCH_MISMATCH", "the parent header is not the block's parent");
    out.parent_view = parent->view;
  } else if (block->header.height == 0) {
    return Status::error("FETCH_MISMATCH", "no block has height 0");
  }
  if (!resp.proof.empty()) {
    auto proof = ledger::decode_finality_proof(resp.proof);
    if (proof) out.proof = std::move(*proof);
  }
  out.block = std::move(*block);
  return out;
}

}  // namespace emledger::node
