// emledger genesis new / add-org / add-validator: build a network's genesis.
#include <sys/stat.h>

#include <chrono>
#include <iostream>
#include <memory>

#include "cli.hpp"
#include "emledger/client/genesis_edit.hpp"
#include "emledger/client/timefmt.hpp"
#include "emledger/crypto/hex.hpp"

namespace emledger::cli {
namespace {

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

struct NewOptions {
  Common common;
  std::string chain_id;
  std::string out;
  std::string time;
};

int run_new(const NewOptions& o) {
  if (exists(o.out)) return usage(o.common, o.out + " exists; refusing to overwrite a genesis");
  std::uint64_t time_ms =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  if (!o.time.empty()) {
    auto t = client::parse_time_ms(o.time);
    if (!t) return fail(o.common, t.status());
    time_ms = *t;
  }
  auto g = client::new_genesis(o.chain_id, time_ms);
  if (!g) return fail(o.common, g.status());
  if (Status st = client::write_genesis_json(o.out, *g); !st) return fail(o.common, st);
  if (o.common.json)
    print_json({{"genesis", o.out}, {"chain_id", o.chain_id}, {"time_ms", time_ms}});
  else
    std::cout << "wrote " << o.out << ": chain " << o.chain_id << ", time "
              << client::format_time_ms(time_ms) << "\n"
              << "next: emledger genesis add-org " << o.out << " ... and add-validator"
              << std::endl;
  return kExitOk;
}

struct AddOrgOptions {
  Common common;
  std::string file;
  std::string id;
  std::string region;
  std::string roles;
  KeyOptions key;
};

int run_add_org(const AddOrgOptions& o) {
  auto roles = client::parse_roles(o.roles);
  if (!roles) return fail(o.common, roles.status());
  auto key = load_key(o.key);
  if (!key) return fail(o.common, key.status());
  auto g = client::read_genesis_json(o.file);
  if (!g) return fail(o.common, g.status());
  auto key_id = client::add_org_key(*g, o.id, o.region, *roles, key->public_key());
  if (!key_id) return fail(o.common, key_id.status());
  if (Status st = client::write_genesis_json(o.file, *g); !st) return fail(o.common, st);
  const std::string pk = to_hex(ByteView(key->public_key()));
  if (o.common.json)
    print_json({{"genesis", o.file}, {"org", o.id}, {"key_id", *key_id}, {"public_key", pk}});
  else
    std::cout << "org " << o.id << " key " << *key_id << " = " << pk << " added to " << o.file
              << std::endl;
  return kExitOk;
}

struct AddValidatorOptions {
  Common common;
  std::string file;
  std::string org;
  std::string address;
  KeyOptions key;
};

int run_add_validator(const AddValidatorOptions& o) {
  auto key = load_key(o.key);
  if (!key) return fail(o.common, key.status());
  auto g = client::read_genesis_json(o.file);
  if (!g) return fail(o.common, g.status());
  if (Status st = client::add_validator(*g, o.org, key->public_key(), o.address); !st)
    return fail(o.common, st);
  if (Status st = client::write_genesis_json(o.file, *g); !st) return fail(o.common, st);
  auto complete = ledger::genesis_from_json(*g);
  EMLEDGER_ASSERT(complete.is_ok());  // add_validator() checked it
  const std::string hash = to_hex(complete->hash());
  if (o.common.json) {
    print_json({{"genesis", o.file},
                {"org", o.org},
                {"validators", complete->validators.size()},
                {"quorum", complete->quorum()},
                {"genesis_hash", hash}});
  } else {
    std::cout << "validator of " << o.org << " at " << o.address << " added to " << o.file << "\n"
              << "validators  " << complete->validators.size() << " (quorum " << complete->quorum()
              << ", tolerates " << complete->fault_tolerance() << " faulty)\n"
              << "genesis     " << hash << " (valid; pin this hash)" << std::endl;
  }
  return kExitOk;
}

}  // namespace

void add_genesis_commands(CLI::App& app, Action& action) {
  auto* genesis = add_command(
      app, "genesis",
      "Build a network's genesis file: the orgs with their roles and public keys, and the "
      "validators. Every node and every auditor pins the resulting file (its hash).");
  genesis->require_subcommand(1);

  auto n = std::make_shared<NewOptions>();
  auto* cmd = add_command(*genesis, "new", "Start an empty genesis file (no orgs yet)");
  cmd->add_option("--chain-id", n->chain_id, "Network name, [a-z0-9._-], at most 64 characters")
      ->required();
  cmd->add_option("--out", n->out, "Genesis file to create (refused if it exists)")->required();
  cmd->add_option("--time", n->time,
                  "Genesis time, RFC 3339 or unix milliseconds (default: now); no block may be "
                  "older");
  add_json_flag(cmd, n->common);
  cmd->callback([n, &action] { action = [n] { return run_new(*n); }; });

  auto a = std::make_shared<AddOrgOptions>();
  cmd = add_command(
      *genesis, "add-org",
      "Add an org with one public key, or another key (key id 2, 3, ...) to an org already in "
      "the file. Orgs are kept sorted by id.");
  cmd->add_option("FILE", a->file, "Genesis file to edit")->required();
  cmd->add_option("--id", a->id, "Org id, [a-z0-9._-], e.g. sh.jiading.admin-center")->required();
  cmd->add_option("--region", a->region, "Region of the org, e.g. sh.jiading")->required();
  cmd->add_option("--roles", a->roles,
                  "Comma-separated roles: validator, issuer, consumer, identity, auditor, admin")
      ->required();
  add_key_options(cmd, a->key, /*required=*/true);
  add_json_flag(cmd, a->common);
  cmd->callback([a, &action] { action = [a] { return run_add_org(*a); }; });

  auto v = std::make_shared<AddValidatorOptions>();
  cmd = add_command(
      *genesis, "add-validator",
      "Add a validator (a node's consensus key) for an org already in the file; the org gains "
      "the validator role. The completed genesis is then checked as a whole and its hash "
      "printed.");
  cmd->add_option("FILE", v->file, "Genesis file to edit")->required();
  cmd->add_option("--org", v->org, "Org id running the validator")->required();
  cmd->add_option("--address", v->address, "The validator's peer endpoint, HOST:PORT")->required();
  add_key_options(cmd, v->key, /*required=*/true);
  add_json_flag(cmd, v->common);
  cmd->callback([v, &action] { action = [v] { return run_add_validator(*v); }; });
}

}  // namespace emledger::cli
