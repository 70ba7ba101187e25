// emledger chain verify, emledger record, emledger tx.
#include <iostream>
#include <memory>

#include "cli.hpp"
#include "emledger/client/timefmt.hpp"
#include "emledger/crypto/hex.hpp"

namespace emledger::cli {
namespace {

struct ChainOptions {
  Common common;
  std::string node;
  std::string trust;
};

int run_chain_verify(const ChainOptions& o) {
  auto trusted = load_trust(o.trust);
  if (!trusted) return fail(o.common, trusted.status());
  client::Client c(o.node, std::move(trusted).value());
  auto report =
      c.verify_chain(o.common.json ? client::ChainProgress{} : stderr_progress("verifying blocks"));
  if (!report) return fail(o.common, report.status());
  const auto& r = *report;
  if (o.common.json) {
    Json j = {{"valid", r.valid},
              {"base_height", r.base_height},
              {"height", r.height},
              {"head_hash", to_hex(r.head_hash)},
              {"head_time_ms", r.head_time_ms},
              {"log_size", r.log_size},
              {"log_root", to_hex(r.log_root)},
              {"tx_count", r.tx_count},
              {"epoch", r.epoch},
              {"validator_changes", r.changes_seen},
              {"consistency_checked", r.consistency_checked}};
    if (r.checkpoint)
      j["checkpoint"] = {{"size", r.checkpoint->size}, {"root", to_hex(r.checkpoint->root)}};
    if (!r.valid) {
      j["failed_height"] = r.failed_height;
      j["error"] = {{"code", r.failure.code()}, {"message", r.failure.message()}};
    }
    print_json(j);
  } else if (r.valid) {
    std::cout << "CHAIN VALID\n";
    if (r.base_height > 0)
      std::cout << "base        the node was restored from a snapshot of height " << r.base_height
                << " and holds no block below it; that header's finality and log subtrees "
                << "checked\n";
    std::cout << "blocks      " << r.base_height + 1 << ".." << r.height << " (" << r.tx_count
              << " transactions), every "
              << "certificate, parent link, payload digest and log root checked\n"
              << "validators  epoch " << r.epoch << " in force above the head"
              << (r.changes_seen ? "; " + std::to_string(r.changes_seen) +
                                       " change(s) re-checked from their blocks"
                                 : std::string())
              << ", matching the node's succession and the head's state\n"
              << "head        " << to_hex(r.head_hash) << " at " << time_or_dash(r.head_time_ms)
              << "\n"
              << "log         size " << r.log_size << ", root " << to_hex(r.log_root) << "\n"
              << "consistency "
              << (r.consistency_checked ? "first -> last log size proven"
                                        : "not needed (at most one non-empty log size)")
              << "\n";
    if (r.checkpoint)
      std::cout << "checkpoint  signed by a quorum, size " << r.checkpoint->size
                << ", matches the walked log\n";
    std::cout << std::flush;
  } else {
    std::cout << "CHAIN INVALID\n";
    if (r.failed_height) std::cout << "at height   " << r.failed_height << "\n";
    std::cout << "failure     " << r.failure.code() << ": " << r.failure.message() << "\n"
              << "verified    blocks before it are sound" << std::endl;
  }
  return r.valid ? kExitOk : kExitFalse;
}

struct RecordOptions {
  Common common;
  std::string record;
  std::string node;
  std::string trust;
};

int run_record(const RecordOptions& o) {
  auto id = parse_hash("RECORD_ID", o.record);
  if (!id) return fail(o.common, id.status());
  auto trusted = load_trust(o.trust);
  if (!trusted) return fail(o.common, trusted.status());
  client::Client c(o.node, std::move(trusted).value());
  auto rec = c.record(*id);
  if (!rec) return fail(o.common, rec.status());
  if (!rec->has_value()) {
    if (o.common.json)
      print_json({{"record_id", o.record}, {"found", false}});
    else
      std::cout << "NOT FOUND\nthe certified state proves there is no record " << o.record
                << std::endl;
    return kExitFalse;
  }
  const auto& vr = **rec;
  if (o.common.json) {
    print_json({{"record_id", o.record},
                {"found", true},
                {"record", ledger::to_json(vr.record)},
                {"height", vr.at.header.height},
                {"time_ms", vr.at.header.time_ms}});
  } else {
    print_record(std::cout, vr.record, "");
    std::cout << "as of       height " << vr.at.header.height << ", "
              << client::format_time_ms(vr.at.header.time_ms) << " (certified state proof)"
              << std::endl;
  }
  return kExitOk;
}

struct TxOptions {
  Common common;
  std::string tx;
  std::string node;
  std::string trust;
};

int run_tx(const TxOptions& o) {
  auto id = parse_hash("TX_ID", o.tx);
  if (!id) return fail(o.common, id.status());
  std::optional<ledger::Genesis> trusted;
  if (!o.trust.empty()) {
    auto g = load_trust(o.trust);
    if (!g) return fail(o.common, g.status());
    trusted = std::move(g).value();
  }
  // Without --trust, a placeholder genesis: tx_status() verifies nothing
  // against it (it checks only that the returned bytes hash to the id).
  client::Client c(o.node, trusted ? *trusted : ledger::Genesis{});
  auto t = c.tx_status(*id);
  if (!t) return fail(o.common, t.status());
  std::optional<client::CertifiedHeader> proven;
  if (trusted && t->tx) {
    auto h = c.verify_tx_committed(*t->tx);
    if (!h) return fail(o.common, h.status());
    proven = std::move(h).value();
  }
  if (o.common.json) {
    Json j = {{"id", o.tx}, {"status", t->status}};
    if (t->status == "committed") {
      j["height"] = t->height;
      j["index"] = t->index;
      j["log_index"] = t->log_index;
      j["decoded"] = ledger::to_json(*t->tx);
    }
    if (t->status == "rejected")
      j["error"] = {{"code", t->error.code()}, {"message", t->error.message()}};
    if (proven) j["inclusion_verified_at_height"] = proven->header.height;
    print_json(j);
  } else {
    std::cout << "tx          " << o.tx << "\n"
              << "status      " << t->status << "\n";
    if (t->status == "committed") {
      std::cout << "committed   height " << t->height << ", index " << t->index << ", log index "
                << t->log_index << "\n"
                << "signer      " << t->tx->body.signer_org << " key " << t->tx->body.key_id << "\n"
                << "type        " << ledger::tx_type_name(t->tx->body.type) << "\n";
      if (t->tx->body.type == static_cast<std::uint8_t>(ledger::TxType::kRegisterRecord) ||
          t->tx->body.type == static_cast<std::uint8_t>(ledger::TxType::kChangeLicense))
        std::cout << "record id   " << to_hex(ledger::record_id_for(*id)) << "\n";
    }
    if (t->status == "rejected")
      std::cout << "rejected    " << t->error.code() << ": " << t->error.message() << "\n";
    if (proven)
      std::cout << "inclusion   proven in the log of certified height " << proven->header.height
                << "\n";
    else if (t->status == "committed")
      std::cout << "inclusion   not checked (pass --trust GENESIS to prove it)\n";
    std::cout << std::flush;
  }
  return kExitOk;
}

}  // namespace

void add_query_commands(CLI::App& app, Action& action) {
  auto* chain = add_command(app, "chain", "Whole-chain audits");
  chain->require_subcommand(1);
  auto co = std::make_shared<ChainOptions>();
  auto* cmd = add_command(
      *chain, "verify",
      "Audit the whole chain from genesis to the node's head. Fetches every header and block "
      "and checks each finality certificate against the trusted validators, the parent hash "
      "links from the genesis hash, contiguous heights, non-decreasing times, the chain id, "
      "every transaction's signature and the payload digest, and recomputes the transaction "
      "log (RFC 9162) to match every header's log size and root. Then checks a consistency "
      "proof from the first to the last log size and the validators' signed checkpoint.\n"
      "Exit 0 when all holds; 1 naming the first height and check that failed; 3 when the node "
      "cannot be reached. Progress is shown on stderr when it is a terminal.");
  cmd->add_option("--node", co->node, kNodeHelp)->required();
  cmd->add_option("--trust", co->trust, kTrustHelp)->required();
  add_json_flag(cmd, co->common);
  cmd->callback([co, &action] { action = [co] { return run_chain_verify(*co); }; });

  auto ro = std::make_shared<RecordOptions>();
  cmd = add_command(
      app, "record",
      "Show one record (material or license index) as of the latest certified block, proven "
      "by a state proof. Exit 0 when it exists (whatever its status), 1 when the proof shows "
      "there is no such record.");
  cmd->add_option("RECORD_ID", ro->record, "Record id (64 hex)")->required();
  cmd->add_option("--node", ro->node, kNodeHelp)->required();
  cmd->add_option("--trust", ro->trust, kTrustHelp)->required();
  add_json_flag(cmd, ro->common);
  cmd->callback([ro, &action] { action = [ro] { return run_record(*ro); }; });

  auto to = std::make_shared<TxOptions>();
  cmd = add_command(
      app, "tx",
      "Show a transaction's status: committed (height, signer, type), pending or rejected "
      "(with the reason). With --trust, also proves a committed transaction's inclusion in the "
      "log of the latest certified block. Exit 0 whenever the node knows the transaction; 2 "
      "when it does not (TX_NOT_FOUND).");
  cmd->add_option("TX_ID", to->tx, "Transaction id (64 hex)")->required();
  cmd->add_option("--node", to->node, kNodeHelp)->required();
  cmd->add_option("--trust", to->trust, std::string("Optional. ") + kTrustHelp);
  add_json_flag(cmd, to->common);
  cmd->callback([to, &action] { action = [to] { return run_tx(*to); }; });
}

}  // namespace emledger::cli
