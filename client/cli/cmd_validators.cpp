// emledger validators show, approve, submit: an operator's view of the
// validator set in force and the three steps of changing it
// (docs/validator-set-changes.md section 2; docs/cli.md "Operators: changing
// the validator set").
//
// A proposal file is JSON, written by people and passed between operators:
//   {"chain_id": "...", "epoch": E,
//    "validators": [{"org_id", "public_key" (hex), "address"}, ...],
//    "approvals": [{"validator": i, "org_id", "signature" (hex)}, ...]}
// "validators" is the proposed next set in index order; "chain_id", "epoch"
// and "approvals" are optional on input (the epoch then is the one in
// force) and written by `approve --out`.
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "cli.hpp"
#include "emledger/crypto/hex.hpp"
#include "emledger/ledger/validator_set.hpp"

namespace emledger::cli {
namespace {

// A proposal file is a short list of validators; anything far larger is not one.
constexpr std::size_t kProposalFileBytesMax = 1u << 20;

Status bad_proposal(const std::string& path, const std::string& why) {
  return Status::error(std::string(client::kBadArgument), "proposal " + path + ": " + why);
}

// The validator set in force, verified from the trusted genesis through the
// node's succession.
Result<ledger::ValidatorSet> set_in_force(const client::Client& c) {
  auto sets = c.validator_sets();
  if (!sets) return sets.status();
  return sets->current();
}

Result<Json> read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::error("IO_ERROR", "cannot open " + path);
  std::string text;
  char buf[1 << 14];
  while (in) {
    in.read(buf, sizeof buf);
    text.append(buf, static_cast<std::size_t>(in.gcount()));
    if (text.size() > kProposalFileBytesMax) return bad_proposal(path, "too large");
  }
  if (in.bad()) return Status::error("IO_ERROR", "cannot read " + path);
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return bad_proposal(path, "not a JSON object");
  return j;
}

const std::string* string_field(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get_ptr<const std::string*>() : nullptr;
}

// The proposed members, checked as the kernel will (verify_validator_change
// and the org rule) before anything is encoded: the encoder asserts on
// over-long fields.
Result<std::vector<ledger::Validator>> parse_members(const std::string& path, const Json& j,
                                                     const ledger::Genesis& genesis) {
  auto it = j.find("validators");
  if (it == j.end() || !it->is_array() || it->empty() || it->size() > ledger::kValidatorsMax)
    return bad_proposal(path, "\"validators\" must list 1 to " +
                                  std::to_string(ledger::kValidatorsMax) + " validators");
  std::vector<ledger::Validator> out;
  std::set<crypto::PublicKey> keys;
  for (const Json& item : *it) {
    const std::string where = "validator " + std::to_string(out.size());
    if (!item.is_object()) return bad_proposal(path, where + " is not an object");
    const std::string* org = string_field(item, "org_id");
    const std::string* key = string_field(item, "public_key");
    const std::string* address = string_field(item, "address");
    if (!org || !key || !address)
      return bad_proposal(path, where + " needs \"org_id\", \"public_key\" and \"address\"");
    auto pk = hash_from_hex(*key);
    if (!pk) return bad_proposal(path, where + ": the public key must be 64 hex digits");
    if (address->empty() || address->size() > ledger::kAddressBytesMax)
      return bad_proposal(path, where + ": the address must be 1 to " +
                                    std::to_string(ledger::kAddressBytesMax) + " bytes");
    const ledger::Org* o = org->size() <= ledger::kOrgIdBytesMax ? genesis.find_org(*org) : nullptr;
    if (!o || (o->roles & ledger::kRoleValidator) == 0)
      return bad_proposal(path, where + ": " + *org + " is not an org with the validator role");
    if (!keys.insert(*pk).second) return bad_proposal(path, where + " repeats a key");
    out.push_back(ledger::Validator{*org, *pk, *address});
  }
  return out;
}

// The approvals listed in the file (none when absent).
Result<std::vector<ledger::ValidatorApproval>> parse_approvals(const std::string& path,
                                                               const Json& j) {
  std::vector<ledger::ValidatorApproval> out;
  auto it = j.find("approvals");
  if (it == j.end()) return out;
  if (!it->is_array() || it->size() > ledger::kValidatorsMax)
    return bad_proposal(path, "\"approvals\" must be a list");
  for (const Json& item : *it) {
    auto idx = item.is_object() ? item.find("validator") : item.end();
    const std::string* sig = item.is_object() ? string_field(item, "signature") : nullptr;
    if (idx == item.end() || !idx->is_number_unsigned() || idx->get<std::uint64_t>() >= 0xFFFF ||
        !sig)
      return bad_proposal(path, "an approval needs \"validator\" (an index) and \"signature\"");
    auto raw = from_hex(*sig);
    ledger::ValidatorApproval a;
    if (!raw || raw->size() != a.signature.size())
      return bad_proposal(path, "an approval's signature must be 128 hex digits");
    a.validator = static_cast<std::uint16_t>(idx->get<std::uint64_t>());
    std::copy(raw->begin(), raw->end(), a.signature.begin());
    out.push_back(a);
  }
  return out;
}

// Reads a proposal into the change it describes, for the chain and the set
// in force (its epoch unless the file names one, which must be it).
Result<ledger::ChangeValidators> read_proposal(const std::string& path,
                                               const ledger::Genesis& genesis,
                                               const ledger::ValidatorSet& in_force) {
  auto j = read_json_file(path);
  if (!j) return j.status();
  if (const std::string* id = string_field(*j, "chain_id"); id && *id != genesis.chain_id)
    return bad_proposal(path, "it is for chain '" + *id + "', not '" + genesis.chain_id + "'");
  ledger::ChangeValidators change;
  change.epoch = in_force.epoch;
  if (auto e = j->find("epoch"); e != j->end()) {
    if (!e->is_number_unsigned()) return bad_proposal(path, "\"epoch\" must be a number");
    if (e->get<std::uint64_t>() != in_force.epoch)
      return Status::error("VALIDATORS_EPOCH_MISMATCH",
                           "proposal " + path + " ends epoch " +
                               std::to_string(e->get<std::uint64_t>()) + ", but epoch " +
                               std::to_string(in_force.epoch) + " is in force");
  }
  auto members = parse_members(path, *j, genesis);
  if (!members) return members.status();
  change.validators = std::move(members).value();
  auto approvals = parse_approvals(path, *j);
  if (!approvals) return approvals.status();
  change.approvals = std::move(approvals).value();
  return change;
}

Json member_json(const ledger::Validator& v) {
  return {
      {"org_id", v.org_id}, {"public_key", to_hex(ByteView(v.public_key))}, {"address", v.address}};
}

Json approval_json(const ledger::ValidatorSet& in_force, const ledger::ValidatorApproval& a) {
  Json j = {{"validator", a.validator}, {"signature", to_hex(ByteView(a.signature))}};
  if (a.validator < in_force.validators.size())
    j["org_id"] = in_force.validators[a.validator].org_id;
  return j;
}

Json proposal_json(const std::string& chain_id, const ledger::ValidatorSet& in_force,
                   const ledger::ChangeValidators& change) {
  Json members = Json::array();
  for (const auto& v : change.validators) members.push_back(member_json(v));
  Json approvals = Json::array();
  for (const auto& a : change.approvals) approvals.push_back(approval_json(in_force, a));
  return {{"chain_id", chain_id},
          {"epoch", change.epoch},
          {"validators", std::move(members)},
          {"approvals", std::move(approvals)}};
}

// Keeps, for each approver, one approval whose signature verifies (files
// passed around may repeat one, or hold a stale one). Increasing index.
std::vector<ledger::ValidatorApproval> valid_approvals(const std::string& chain_id,
                                                       const ledger::ValidatorSet& in_force,
                                                       const ledger::ChangeValidators& change) {
  const Bytes msg = ledger::validator_change_message(chain_id, change.epoch, change.validators);
  std::map<std::uint16_t, ledger::ValidatorApproval> by_index;
  for (const auto& a : change.approvals)
    if (a.validator < in_force.validators.size() && !by_index.count(a.validator) &&
        crypto::verify(in_force.validators[a.validator].public_key, msg, a.signature))
      by_index.emplace(a.validator, a);
  std::vector<ledger::ValidatorApproval> out;
  for (const auto& [i, a] : by_index) out.push_back(a);
  return out;
}

void print_members(const ledger::ValidatorSet& set, const std::string& indent) {
  for (std::size_t i = 0; i < set.validators.size(); ++i) {
    const auto& v = set.validators[i];
    std::cout << indent << i << "  " << v.org_id << "  " << to_hex(ByteView(v.public_key)) << "  "
              << v.address << "\n";
  }
}

// ---- show ----

struct ShowOptions {
  Common common;
  std::string node;
  std::string trust;
};

int run_show(const ShowOptions& o) {
  auto trusted = load_trust(o.trust);
  if (!trusted) return fail(o.common, trusted.status());
  client::Client c(o.node, std::move(trusted).value());
  auto sets = c.validator_sets();
  if (!sets) return fail(o.common, sets.status());
  const ledger::ValidatorSet& cur = sets->current();
  if (o.common.json) {
    Json members = Json::array();
    for (std::size_t i = 0; i < cur.validators.size(); ++i) {
      Json m = member_json(cur.validators[i]);
      m["index"] = i;
      members.push_back(std::move(m));
    }
    print_json({{"epoch", cur.epoch},
                {"since_height", cur.since_height},
                {"quorum", cur.quorum()},
                {"fault_tolerance", cur.fault_tolerance()},
                {"changes", sets->succession.changes.size()},
                {"validators", std::move(members)}});
  } else {
    std::cout << "epoch       " << cur.epoch << " (judges heights from " << cur.since_height
              << ")\n"
              << "proven      "
              << (cur.epoch == ledger::kGenesisEpoch
                      ? std::string("the genesis set; no change since")
                      : std::to_string(sets->succession.changes.size()) +
                            " change(s) from the trusted genesis, each final and state-proven")
              << "\n"
              << "quorum      " << cur.quorum() << " of " << cur.validators.size() << " (tolerates "
              << cur.fault_tolerance() << " faulty)\n"
              << "validators\n";
    print_members(cur, "  ");
    std::cout << std::flush;
  }
  return kExitOk;
}

// ---- approve ----

struct ApproveOptions {
  Common common;
  std::string proposal;
  std::string node;
  std::string trust;
  KeyOptions key;
  std::string out;
};

int run_approve(const ApproveOptions& o) {
  auto trusted = load_trust(o.trust);
  if (!trusted) return fail(o.common, trusted.status());
  auto key = load_key(o.key);
  if (!key) return fail(o.common, key.status());
  const std::string chain_id = trusted->chain_id;
  const ledger::Genesis genesis = *trusted;
  client::Client c(o.node, std::move(trusted).value());
  auto in_force = set_in_force(c);
  if (!in_force) return fail(o.common, in_force.status());
  auto change = read_proposal(o.proposal, genesis, *in_force);
  if (!change) return fail(o.common, change.status());
  const auto index = in_force->index_of(key->public_key());
  if (!index)
    return fail(o.common, Status::error("NOT_A_VALIDATOR", "the key of " + o.key.key_path +
                                                               " is not a validator of epoch " +
                                                               std::to_string(in_force->epoch)));
  // Our own approval is made afresh; the others are kept if they verify.
  std::erase_if(change->approvals,
                [&](const ledger::ValidatorApproval& a) { return a.validator == *index; });
  change->approvals = valid_approvals(chain_id, *in_force, *change);
  ledger::approve_validator_change(chain_id, *in_force, *index, *key, *change);
  const ledger::ValidatorApproval& mine =
      *std::find_if(change->approvals.begin(), change->approvals.end(),
                    [&](const ledger::ValidatorApproval& a) { return a.validator == *index; });
  if (!o.out.empty()) {
    const std::string text = proposal_json(chain_id, *in_force, *change).dump(2) + "\n";
    if (Status st = client::write_bundle_file(o.out, as_bytes(text)); !st)
      return fail(o.common, st);
  }
  if (o.common.json) {
    Json j = {{"epoch", change->epoch},
              {"approval", approval_json(*in_force, mine)},
              {"approvals", change->approvals.size()},
              {"quorum", in_force->quorum()}};
    if (!o.out.empty()) j["out"] = o.out;
    print_json(j);
  } else {
    std::cout << "approved    the change ending epoch " << change->epoch << ", to the "
              << change->validators.size() << " validator(s):\n";
    for (std::size_t i = 0; i < change->validators.size(); ++i) {
      const auto& v = change->validators[i];
      std::cout << "  " << i << "  " << v.org_id << "  " << to_hex(ByteView(v.public_key)) << "  "
                << v.address << "\n";
    }
    std::cout << "as          validator " << *index << " (" << in_force->validators[*index].org_id
              << ") of epoch " << in_force->epoch << "\n"
              << "approvals   " << change->approvals.size() << " of the " << in_force->quorum()
              << " needed\n";
    if (o.out.empty())
      std::cout << "approval    " << approval_json(*in_force, mine).dump() << "\n";
    else
      std::cout << "wrote       " << o.out << "\n";
    std::cout << std::flush;
  }
  return kExitOk;
}

// ---- submit ----

struct SubmitOptions {
  Common common;
  std::vector<std::string> proposals;
  std::string node;
  std::string trust;
  KeyOptions key;
};

// The change of every proposal file: one set and epoch, the approvals of all.
Result<ledger::ChangeValidators> merge_proposals(const std::vector<std::string>& paths,
                                                 const ledger::Genesis& genesis,
                                                 const ledger::ValidatorSet& in_force) {
  ledger::ChangeValidators merged;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    auto p = read_proposal(paths[i], genesis, in_force);
    if (!p) return p.status();
    if (i == 0) {
      merged = std::move(*p);
      continue;
    }
    if (ledger::validator_list_hash(p->validators) !=
        ledger::validator_list_hash(merged.validators))
      return bad_proposal(paths[i], "it proposes another set than " + paths[0]);
    merged.approvals.insert(merged.approvals.end(), p->approvals.begin(), p->approvals.end());
  }
  merged.approvals = valid_approvals(genesis.chain_id, in_force, merged);
  return merged;
}

int run_submit(const SubmitOptions& o) {
  auto key = load_key(o.key);
  if (!key) return fail(o.common, key.status());
  auto genesis =
      o.trust.empty() ? client::Client::fetch_untrusted_genesis(o.node) : load_trust(o.trust);
  if (!genesis) return fail(o.common, genesis.status());
  auto signer = client::signer_for_key(*genesis, *key);
  if (!signer) return fail(o.common, signer.status());
  client::Client c(o.node, *genesis);
  auto in_force = set_in_force(c);
  if (!in_force) return fail(o.common, in_force.status());
  auto change = merge_proposals(o.proposals, *genesis, *in_force);
  if (!change) return fail(o.common, change.status());
  // The kernel's own check first: a change short of a quorum is never sent.
  if (Status st = ledger::verify_validator_change(genesis->chain_id, *in_force, *change); !st)
    return fail(o.common, st);
  auto tx = c.make_tx(*signer, ledger::TxType::kChangeValidators, ledger::encode(*change));
  if (!tx) return fail(o.common, tx.status());
  auto r = c.submit(*tx, /*wait_commit=*/true);
  if (!r) return fail(o.common, r.status());
  if (r->status == "rejected") return fail(o.common, r->error);
  const bool committed = r->status == "committed";
  if (o.common.json) {
    Json j = {{"tx_id", to_hex(tx->id())},
              {"status", r->status},
              {"signer_org", signer->org_id},
              {"key_id", signer->key_id},
              {"approvals", change->approvals.size()},
              {"epoch", change->epoch + 1}};
    if (committed) {
      j["height"] = r->height;
      j["log_index"] = r->log_index;
      j["since_height"] = r->height + 1;
    }
    print_json(j);
  } else {
    std::cout << "tx id       " << to_hex(tx->id()) << "\n"
              << "signed by   " << signer->org_id << " key " << signer->key_id << "\n"
              << "approvals   " << change->approvals.size() << " of the " << in_force->quorum()
              << " needed, of epoch " << in_force->epoch << "\n";
    if (committed)
      std::cout << "committed   at height " << r->height << ": epoch " << change->epoch + 1 << " ("
                << change->validators.size() << " validators) judges heights from " << r->height + 1
                << "\n";
    else
      std::cout << "status      " << r->status << "\n";
    std::cout << std::flush;
  }
  return kExitOk;
}

}  // namespace

void add_validators_commands(CLI::App& app, Action& action) {
  auto* group = add_command(app, "validators",
                            "The validator set: show it, approve and submit a change of it");
  group->require_subcommand(1);

  auto so = std::make_shared<ShowOptions>();
  auto* cmd = add_command(
      *group, "show",
      "Print the validator set in force, proven from the trusted genesis. Fetches the node's "
      "succession (GET /v1/validators) and verifies every change in it: the change block final "
      "under the set before it, the next set proven by a state proof of that block. Prints the "
      "epoch, the first height it judges, the quorum and the members.\n"
      "Exit 0 when the set is proven; 1 when the succession does not verify; 3 when the node "
      "cannot be reached.");
  cmd->add_option("--node", so->node, kNodeHelp)->required();
  cmd->add_option("--trust", so->trust, kTrustHelp)->required();
  add_json_flag(cmd, so->common);
  cmd->callback([so, &action] { action = [so] { return run_show(*so); }; });

  auto ao = std::make_shared<ApproveOptions>();
  cmd = add_command(
      *group, "approve",
      "Approve a proposed next validator set with your validator key. PROPOSAL is a JSON file "
      "with \"validators\": [{\"org_id\", \"public_key\" (hex), \"address\"}, ...] in index "
      "order (docs/cli.md). Signs the change of the epoch in force (proven from --trust through "
      "the node) to that set, and prints the approval, or with --out writes the proposal with "
      "every approval so far (yours added) to a file, which may be PROPOSAL itself.\n"
      "Exit 0 once signed; 2 for a bad proposal, a key that is not a validator of the epoch in "
      "force, or a proposal of another epoch.");
  cmd->add_option("PROPOSAL", ao->proposal, "Proposal file (JSON)")->required();
  cmd->add_option("--node", ao->node, kNodeHelp)->required();
  cmd->add_option("--trust", ao->trust, kTrustHelp)->required();
  cmd->add_option("--key", ao->key.key_path, "Key file of your validator (its consensus key)")
      ->required();
  cmd->add_option("--passphrase-file", ao->key.passphrase_file,
                  std::string("File whose first line is the key file's passphrase (otherwise ") +
                      kPassphraseEnv + " is used; clear key files need none)");
  cmd->add_option("--out", ao->out,
                  "Write the proposal with its approvals here (PROPOSAL itself to append)");
  add_json_flag(cmd, ao->common);
  cmd->callback([ao, &action] { action = [ao] { return run_approve(*ao); }; });

  auto sb = std::make_shared<SubmitOptions>();
  cmd = add_command(
      *group, "submit",
      "Submit the change of the validator set once a quorum approved it. Merges the approvals "
      "of every PROPOSAL file (all of one set), keeps those that verify, checks that they are "
      "a quorum of the set in force, then signs the ChangeValidators transaction with your org "
      "key and waits until it is committed. The next height on is judged by the new set.\n"
      "Exit 0 once committed; 2 when the approvals fall short (VALIDATORS_NO_QUORUM) or the "
      "node refuses the transaction.");
  cmd->add_option("PROPOSAL", sb->proposals, "Proposal file(s) with approvals (JSON)")->required();
  cmd->add_option("--node", sb->node, kNodeHelp)->required();
  add_key_options(cmd, sb->key, /*required=*/true);
  cmd->add_option("--trust", sb->trust,
                  "Genesis file of the network. Optional here: without it the node's genesis is "
                  "used to find your org and chain id; the set in force is proven from it either "
                  "way, and the node judges the transaction");
  add_json_flag(cmd, sb->common);
  cmd->callback([sb, &action] { action = [sb] { return run_submit(*sb); }; });
}

}  // namespace emledger::cli
