// Client::verify_chain: the auditor's full walk from genesis to head.
#include <algorithm>

#include "emledger/client/sdk.hpp"
#include "emledger/crypto/hex.hpp"
#include "emledger/ledger/ledger.hpp"
#include "json_util.hpp"

namespace emledger::client {
namespace {

// The raw answer of GET /v1/headers?from&to for one height; compared byte for
// byte with the block's header, which ChainVerifier checks.
struct RawHeader {
  Bytes encoded;
  Bytes certificate;
};

bool is_verification_failure(const Status& st) {
  return classify(st) == ErrorClass::kVerifiedFalse;
}

ChainReport& failed(ChainReport& report, Status failure, std::uint64_t height) {
  report.valid = false;
  report.failure = std::move(failure);
  report.failed_height = height;
  return report;
}

}  // namespace

Result<ledger::ConsistencyProof> Client::consistency_proof(std::uint64_t first,
                                                           std::uint64_t second) const {
  auto res = get_ok("/v1/proofs/consistency?first=" + std::to_string(first) +
                    "&second=" + std::to_string(second));
  if (!res) return res.status();
  auto j = parse_json(*res);
  if (!j) return j.status();
  Fields f(*j, "consistency proof");
  Bytes raw = f.hex("proof");
  EMLEDGER_TRY(f.status());
  auto proof = ledger::decode<ledger::ConsistencyProof>(raw);
  if (!proof) return Status::error(std::string(kNodeBadResponse), "undecodable consistency proof");
  return proof;
}

Result<std::vector<Hash>> Client::log_frontier(std::uint64_t size) const {
  auto res = get_ok("/v1/proofs/frontier?size=" + std::to_string(size));
  if (!res) return res.status();
  auto j = parse_json(*res);
  if (!j) return j.status();
  if (!j->contains("subtrees") || !(*j)["subtrees"].is_array() || (*j)["subtrees"].size() > 64)
    return Status::error(std::string(kNodeBadResponse), "expected the log's subtrees");
  std::vector<Hash> out;
  for (const auto& item : (*j)["subtrees"]) {
    auto raw = item.is_string() ? from_hex(item.get<std::string>()) : std::nullopt;
    if (!raw || raw->size() != kHashSize)
      return Status::error(std::string(kNodeBadResponse), "a log subtree is not 64 hex digits");
    Hash h;
    std::copy(raw->begin(), raw->end(), h.begin());
    out.push_back(h);
  }
  return out;
}

Result<std::optional<ledger::HolderBinding>> Client::holder_binding(const Hash& holder_ref,
                                                                    std::uint64_t height,
                                                                    const Hash& state_root) const {
  if (height == 0) return std::optional<ledger::HolderBinding>();  // genesis binds no holder
  const Bytes key = ledger::holder_state_key(holder_ref);
  auto proof = state_proof(key, height);
  if (!proof) return proof.status();
  const std::string where = "holder " + to_hex(holder_ref) + " at height " + std::to_string(height);
  if (proof->key != key || !ledger::verify_state_proof(*proof, state_root))
    return Status::error(std::string(kProofInvalid),
                         "the state proof of " + where + " does not verify");
  if (!proof->present) return std::optional<ledger::HolderBinding>();
  auto b = ledger::decode<ledger::HolderBinding>(proof->value);
  if (!b || b->holder_ref != holder_ref)
    return Status::error(std::string(kProofInvalid),
                         "the proven binding of " + where + " is not a binding of that holder");
  return std::optional<ledger::HolderBinding>(std::move(*b));
}

// Proves that the log (second_size, second_root) extends (first_size,
// first_root), fetching a proof when the sizes differ. Sizes in either order.
Status Client::check_consistency(std::uint64_t a_size, const Hash& a_root, std::uint64_t b_size,
                                 const Hash& b_root) const {
  if (a_size > b_size) return check_consistency(b_size, b_root, a_size, a_root);
  if (a_size == 0) return Status::ok();  // the empty log is a prefix of every log
  ledger::ConsistencyProof proof;
  if (a_size < b_size) {
    auto p = consistency_proof(a_size, b_size);
    if (!p) return p.status();
    proof = std::move(p).value();
  }
  return verify_log_consistency(a_size, a_root, b_size, b_root, proof);
}

Status Client::walk_page(ChainVerifier& walk, std::uint64_t from, std::uint64_t to,
                         std::uint64_t head, const ChainProgress& progress,
                         ChainReport& report) const {
  auto res = get_ok("/v1/headers?from=" + std::to_string(from) + "&to=" + std::to_string(to));
  if (!res) return res.status();
  auto j = parse_json(*res);
  if (!j) return j.status();
  if (!j->contains("headers") || !(*j)["headers"].is_array() ||
      (*j)["headers"].size() != to - from + 1)
    return Status::error(std::string(kNodeBadResponse),
                         "expected headers " + std::to_string(from) + ".." + std::to_string(to));
  for (std::uint64_t h = from; h <= to; ++h) {
    Fields hf((*j)["headers"][h - from], "header " + std::to_string(h));
    RawHeader listed{hf.hex("encoded"), hf.hex("certificate")};
    EMLEDGER_TRY(hf.status());

    auto bres = get_ok("/v1/blocks/" + std::to_string(h));
    if (!bres) return bres.status();
    auto bj = parse_json(*bres);
    if (!bj) return bj.status();
    Fields bf(*bj, "block " + std::to_string(h));
    Bytes block_bytes = bf.hex("block");
    Bytes cert_bytes = bf.hex("certificate");
    EMLEDGER_TRY(bf.status());
    auto block = ledger::decode<ledger::Block>(block_bytes);
    auto cert = ledger::decode_finality_proof(cert_bytes);
    if (!block || !cert) {
      failed(report,
             Status::error("CHAIN_BLOCK_MALFORMED",
                           "height " + std::to_string(h) + ": undecodable " +
                               (!block ? block.status() : cert.status()).message()),
             h);
      return Status::ok();
    }
    if (ledger::encode(block->header) != listed.encoded || cert_bytes != listed.certificate) {
      failed(report,
             Status::error("CHAIN_HEADER_MISMATCH", "height " + std::to_string(h) +
                                                        ": the header list and the block disagree"),
             h);
      return Status::ok();
    }
    if (Status st = walk.add_block(*block, *cert); !st) {
      if (!is_verification_failure(st)) return st;  // the holder lookup could not reach the node
      failed(report, std::move(st), h);
      return Status::ok();
    }
    report.tx_count += block->txs.size();
    if (progress) progress(h, head);
  }
  return Status::ok();
}

Status Client::check_validators_at_tip(const ChainVerifier& walk) const {
  auto proof = state_proof(ledger::validators_state_key(), walk.height());
  if (!proof) return proof.status();
  return walk.check_validators_state(*proof);
}

Result<ChainReport> Client::verify_chain(const ChainProgress& progress) const {
  ChainReport report;
  // The node's succession, fetched afresh for an audit: it judges the head
  // and the base, and the walk compares it with every change it finds.
  auto sets = kept_sets(/*refresh=*/true);
  if (!sets) {
    if (is_verification_failure(sets.status())) return failed(report, sets.status(), 0);
    return sets.status();
  }
  auto head = latest_header();
  if (!head) {
    if (head.status().code() == "NOT_FOUND") {  // no block yet: genesis alone is the chain
      report.valid = true;
      report.head_hash = trusted_hash_;
      report.log_root = ledger::log_empty_root();
      return report;
    }
    if (is_verification_failure(head.status())) return failed(report, head.status(), 0);
    return head.status();
  }
  const std::uint64_t tip = head->header.height;
  ChainVerifier walk(trusted_, [this](const Hash& ref, std::uint64_t height, const Hash& root) {
    return holder_binding(ref, height, root);
  });
  walk.expect_sets(**sets);
  // A node restored from a snapshot holds blocks from its base only: start
  // there, from a header proven final and the log's subtrees at its size.
  auto node = health();
  if (!node) return node.status();
  if (node->base_height > 0) {
    if (node->base_height > tip)
      return failed(report,
                    Status::error("CHAIN_HEIGHT_GAP", "the node's base height " +
                                                          std::to_string(node->base_height) +
                                                          " is above its head"),
                    0);
    auto base = header(node->base_height);
    if (!base) {
      if (is_verification_failure(base.status()))
        return failed(report, base.status(), node->base_height);
      return base.status();
    }
    auto subtrees = log_frontier(base->header.log_size);
    if (!subtrees) return subtrees.status();
    if (Status st = walk.resume(base->header, base->finality, std::move(*subtrees)); !st)
      return failed(report, std::move(st), node->base_height);
    // The changes below the base are the succession's word: the base's own
    // state must name the same set.
    if (Status st = check_validators_at_tip(walk); !st) {
      if (!is_verification_failure(st)) return st;
      return failed(report, std::move(st), node->base_height);
    }
    report.base_height = node->base_height;
  }
  for (std::uint64_t from = walk.height() + 1; from <= tip; from += options_.chain_page_headers) {
    const std::uint64_t to = std::min(tip, from + options_.chain_page_headers - 1);
    EMLEDGER_TRY(walk_page(walk, from, to, tip, progress, report));
    if (report.failure.code().size()) return report;
  }
  report.height = walk.height();
  report.head_hash = walk.tip_hash();
  report.head_time_ms = walk.tip_time_ms();
  report.log_size = walk.log_size();
  report.log_root = walk.log_root();
  if (walk.tip_hash() != head->hash)
    return failed(report,
                  Status::error("CHAIN_HEAD_MISMATCH",
                                "height " + std::to_string(tip) +
                                    ": the walked chain does not end at the certified head"),
                  tip);
  // The head's state names the set the walk ended with, and the node's
  // succession holds no change the walk did not find.
  if (Status st = check_validators_at_tip(walk); !st) {
    if (!is_verification_failure(st)) return st;
    return failed(report, std::move(st), tip);
  }
  if (Status st = walk.check_expected_sets_reached(); !st)
    return failed(report, std::move(st), tip);
  report.epoch = walk.sets().back().epoch;
  report.changes_seen = walk.changes_seen();

  // The log only ever grew: one proof from the first non-empty size to the last.
  if (walk.first_log_size() > 0 && walk.first_log_size() < walk.log_size()) {
    Status st = check_consistency(walk.first_log_size(), walk.first_log_root(), walk.log_size(),
                                  walk.log_root());
    if (!st) {
      if (!is_verification_failure(st)) return st;
      return failed(report, Status::error("CHAIN_CONSISTENCY_INVALID", st.message()), 0);
    }
    report.consistency_checked = true;
  }

  // The signed checkpoint must describe this same log (at its size, which
  // may be behind or ahead of our walk while blocks keep coming).
  auto cp = checkpoint();
  if (!cp) {
    if (!is_verification_failure(cp.status())) return cp.status();
    return failed(report, cp.status(), 0);
  }
  Status st = cp->size == 0
                  ? (cp->root == ledger::log_empty_root()
                         ? Status::ok()
                         : Status::error(std::string(kProofInvalid),
                                         "empty checkpoint with a non-empty root"))
                  : check_consistency(cp->size, cp->root, walk.log_size(), walk.log_root());
  if (!st) {
    if (!is_verification_failure(st)) return st;
    return failed(report,
                  Status::error("CHAIN_CHECKPOINT_INVALID",
                                "signed checkpoint (size " + std::to_string(cp->size) +
                                    ") does not match the walked log: " + st.message()),
                  0);
  }
  report.checkpoint = std::move(cp).value();
  report.valid = true;
  return report;
}

}  // namespace emledger::client
