#include "config.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "clock.hpp"
#include "emledger/crypto/keyfile.hpp"
#include "emledger/ledger/json.hpp"

namespace emledger::node {

namespace fs = std::filesystem;

namespace {

// The number a control group's limit file holds; nullopt for "max" (no
// limit), a missing file or anything else.
std::optional<std::uint64_t> read_limit(const fs::path& file) {
  std::ifstream in(file);
  std::string text;
  if (!(in >> text) || text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  try {
    return std::stoull(text);
  } catch (const std::exception&) {
    return std::nullopt;  // out of range: no limit worth the name
  }
}

// The lowest limit in `file` of the control group `group` and of each of its
// ancestors, under the hierarchy mounted at `root` (a limit on a parent group
// binds its children too).
std::optional<std::uint64_t> lowest_limit(const fs::path& root, const std::string& group,
                                          const char* file) {
  std::optional<std::uint64_t> lowest;
  fs::path rel = fs::path(group).relative_path();
  for (;;) {
    if (auto v = read_limit(root / rel / file)) lowest = lowest ? std::min(*lowest, *v) : *v;
    if (rel.empty()) break;
    rel = rel.parent_path();
  }
  return lowest;
}

}  // namespace

std::optional<std::uint64_t> usable_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_bytes = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_bytes <= 0) return std::nullopt;
  std::uint64_t usable = static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page_bytes);
  // /proc/self/cgroup: "0::PATH" for cgroup v2, "ID:memory:PATH" (among
  // other controllers) for v1.
  std::ifstream groups("/proc/self/cgroup");
  std::string line;
  while (std::getline(groups, line)) {
    const auto a = line.find(':');
    const auto b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1);
    const std::string group = line.substr(b + 1);
    std::optional<std::uint64_t> limit;
    if (controllers.empty())
      limit = lowest_limit("/sys/fs/cgroup", group, "memory.max");
    else if (("," + controllers + ",").find(",memory,") != std::string::npos)
      limit = lowest_limit("/sys/fs/cgroup/memory", group, "memory.limit_in_bytes");
    if (limit && *limit > 0) usable = std::min(usable, *limit);
  }
  return usable;
}

std::uint64_t default_state_cache_mib(std::optional<std::uint64_t> memory_bytes) {
  if (!memory_bytes) return ledger::kStateCacheMibDefault;
  const std::uint64_t share = *memory_bytes / kStateCacheMemoryShare >> 20;
  return std::clamp(share, ledger::kStateCacheMibDefault, kStateCacheMibDefaultMax);
}

std::optional<Config> parse_command_line(int argc, char** argv, int* exit_code) {
  Config c;
  c.state_cache_mib = default_state_cache_mib(usable_memory_bytes());
  CLI::App app{"emledger-node: a permissioned ledger node for government e-licenses"};
  app.add_flag("--dev", c.dev,
               "dev mode: on first start create DIR/keys and DIR/genesis.json for a one-node "
               "network; clear (unencrypted) key files are accepted");
  app.add_option("--data", c.data_dir, "data directory (LevelDB in DIR/db)")->required();
  app.add_option("--listen", c.listen, "HTTP listen address host:port (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--genesis", c.genesis_file, "genesis JSON file (required without --dev)");
  app.add_option("--key", c.key_file, "this validator's key file (required with --genesis)");
  app.add_option(
      "--passphrase-file", c.passphrase_file,
      std::string("file holding the key file passphrase (else env ") + kPassphraseEnv + ")");
  app.add_option("--http-threads", c.http_threads, "HTTP I/O threads (0: hardware threads)")
      ->capture_default_str();
  app.add_option("--mempool-max", c.mempool_txs_max, "pending transactions held at most")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{10'000'000}));
  app.add_option("--state-cache-mib", c.state_cache_mib,
                 "memory for the state-tree page cache, in MiB, taken as it fills; the default is "
                 "an eighth of this machine's usable memory, from " +
                     std::to_string(ledger::kStateCacheMibDefault) + " to " +
                     std::to_string(kStateCacheMibDefaultMax) +
                     " MiB. A chain's updates stay off the disk while the cache holds the "
                     "pages they wrote, about 3.4 KB per register transaction")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1}, ledger::kStateCacheMibMax));
  app.add_option("--state-threads", c.state_threads,
                 "threads a block's state-tree update may use (0: hardware threads, at most " +
                     std::to_string(ledger::kStateUpdateThreadsMax) + ")")
      ->capture_default_str()
      ->check(CLI::Range(0u, ledger::kStateUpdateThreadsMax));
  app.add_option("--state-retention-blocks", c.state_retention_blocks,
                 "state trees kept provable: 0 keeps every height's tree (an archive node, "
                 "which audits of old accesses and chain walks need); W (" +
                     std::to_string(ledger::kStateRetentionBlocksMin) +
                     " or more) keeps the last W heights' trees and erases state-tree nodes only "
                     "older trees held; proofs below answer 410 PRUNED")
      ->capture_default_str()
      ->check([](const std::string& v) -> std::string {
        std::uint64_t w = 0;
        try {
          std::size_t used = 0;
          w = std::stoull(v, &used);
          if (used != v.size()) return "not a whole number: " + v;
        } catch (const std::exception&) {
          return "not a whole number: " + v;
        }
        if (w != ledger::kStateRetentionKeepAll &&
            (w < ledger::kStateRetentionBlocksMin || w > ledger::kStateRetentionBlocksMax))
          return "0, or " + std::to_string(ledger::kStateRetentionBlocksMin) + " to " +
                 std::to_string(ledger::kStateRetentionBlocksMax);
        return "";
      });
  app.add_option("--peer-listen", c.peer_listen,
                 "peer (validator-to-validator) listen address host:port; default: this "
                 "validator's address in the genesis (multi-validator networks only)");
  app.add_option("--view-timeout-ms", c.view_timeout_ms,
                 "first timeout of a consensus view (multi-validator networks only)")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{50}, std::uint64_t{60'000}));
  app.add_flag("--join-snapshot", c.join_snapshot,
               "when DIR/db holds no ledger yet, first fetch a snapshot of the chain from a peer "
               "validator, verify and import it, then start (multi-validator networks only)");
  app.add_option("--join-timeout-ms", c.join_timeout_ms,
                 "how long --join-snapshot tries the peers before start-up fails")
      ->capture_default_str()
      ->check(CLI::Range(std::uint64_t{1'000}, std::uint64_t{86'400'000}));
  app.footer(
      "Snapshots of a stopped node: emledger-node snapshot create --data DIR --out FILE ..., "
      "emledger-node snapshot restore --data DIR --in FILE ... (see emledger-node snapshot "
      "--help).");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    *exit_code = rc == 0 ? 0 : 2;
    return std::nullopt;
  }
  if (!c.dev && !c.genesis_file) {
    std::cerr << "emledger-node: --genesis is required without --dev\n";
    *exit_code = 2;
    return std::nullopt;
  }
  if (c.genesis_file && !c.key_file) {
    std::cerr << "emledger-node: --genesis needs --key (this validator's key file)\n";
    *exit_code = 2;
    return std::nullopt;
  }
  return c;
}

std::string dev_keys_dir(const std::string& d) { return (fs::path(d) / "keys").string(); }
std::string dev_node_key_path(const std::string& d) {
  return (fs::path(d) / "keys" / "dev.node.key").string();
}
std::string dev_issuer_key_path(const std::string& d) {
  return (fs::path(d) / "keys" / "dev.issuer.key").string();
}
std::string dev_identity_key_path(const std::string& d) {
  return (fs::path(d) / "keys" / "dev.identity.key").string();
}
std::string dev_genesis_path(const std::string& d) {
  return (fs::path(d) / "genesis.json").string();
}

namespace {

Status config_error(const std::string& why) { return Status::error("CONFIG_ERROR", why); }

// Loads the key at `path`, or creates it in clear (dev only).
Result<crypto::KeyPair> dev_key(const std::string& path) {
  if (fs::exists(path)) return crypto::read_key_file(path, std::nullopt);
  auto key = crypto::KeyPair::generate();
  EMLEDGER_TRY(crypto::write_key_file(path, key, std::nullopt));
  return key;
}

Status write_text_file(const std::string& path, const std::string& text) {
  // Write then rename, so a crash never leaves half a genesis behind.
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) return Status::error("IO_ERROR", "cannot write " + tmp);
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return Status::error("IO_ERROR", "cannot rename " + tmp + ": " + ec.message());
  return Status::ok();
}

// First start in dev mode: keys and a one-validator genesis. Later starts
// reuse whatever is there.
Result<ledger::Genesis> ensure_dev_network(const Config& c, crypto::KeyPair& node_key) {
  std::error_code ec;
  fs::create_directories(dev_keys_dir(c.data_dir), ec);
  if (ec)
    return Status::error("IO_ERROR",
                         "cannot create " + dev_keys_dir(c.data_dir) + ": " + ec.message());
  ::chmod(dev_keys_dir(c.data_dir).c_str(), 0700);
  auto nk = dev_key(dev_node_key_path(c.data_dir));
  if (!nk.is_ok()) return nk.status();
  auto ik = dev_key(dev_issuer_key_path(c.data_dir));
  if (!ik.is_ok()) return ik.status();
  auto idk = dev_key(dev_identity_key_path(c.data_dir));
  if (!idk.is_ok()) return idk.status();
  node_key = *nk;

  const std::string gpath = dev_genesis_path(c.data_dir);
  if (fs::exists(gpath)) return ledger::load_genesis_file(gpath);

  ledger::Genesis g;
  g.chain_id = kDevChainId;
  g.time_ms = system_clock_ms();
  ledger::Org issuer;
  issuer.id = kDevIssuerOrg;
  issuer.region = "dev";
  issuer.roles = ledger::kRoleIssuer | ledger::kRoleConsumer | ledger::kRoleAuditor;
  issuer.keys.push_back(ledger::OrgKey{1, ik->public_key()});
  ledger::Org node;
  node.id = kDevNodeOrg;
  node.region = "dev";
  node.roles = ledger::kRoleValidator;
  node.keys.push_back(ledger::OrgKey{1, nk->public_key()});
  // Binds holder keys (BindHolder), so that a dev network can exercise the
  // authorization layer end to end.
  ledger::Org identity;
  identity.id = kDevIdentityOrg;
  identity.region = "dev";
  identity.roles = ledger::kRoleIdentity;
  identity.keys.push_back(ledger::OrgKey{1, idk->public_key()});
  g.orgs = {identity, issuer, node};  // sorted by id: "dev.identity" < "dev.issuer" < "dev.node"
  g.statutes.push_back(ledger::StatutePolicy{kDevStatuteTypeCode, ledger::kRoleConsumer});
  g.validators.push_back(ledger::Validator{kDevNodeOrg, nk->public_key(), c.listen});
  EMLEDGER_TRY(g.check());
  EMLEDGER_TRY(write_text_file(gpath, ledger::to_json(g).dump(2) + "\n"));
  return g;
}

Result<std::optional<std::string>> read_passphrase(const Config& c) {
  if (c.passphrase_file) {
    std::ifstream in(*c.passphrase_file, std::ios::binary);
    if (!in) return Status::error("IO_ERROR", "cannot read " + *c.passphrase_file);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string p = ss.str();
    while (!p.empty() && (p.back() == '\n' || p.back() == '\r')) p.pop_back();
    return std::optional<std::string>(p);
  }
  if (const char* env = std::getenv(kPassphraseEnv)) return std::optional<std::string>(env);
  return std::optional<std::string>();
}

Result<crypto::KeyPair> load_validator_key(const Config& c) {
  EMLEDGER_ASSERT(c.key_file.has_value());
  const std::string& path = *c.key_file;
  if (!fs::exists(path)) return config_error("key file " + path + " does not exist");
  if (!crypto::key_file_is_encrypted(path)) {
    if (!c.dev)
      return config_error("key file " + path +
                          " is not passphrase-protected; clear key files need --dev");
    return crypto::read_key_file(path, std::nullopt);
  }
  auto pass = read_passphrase(c);
  if (!pass.is_ok()) return pass.status();
  if (!pass->has_value())
    return config_error("key file " + path + " is encrypted: give --passphrase-file or set " +
                        kPassphraseEnv);
  return crypto::read_key_file(path, *pass);
}

}  // namespace

Result<Identity> load_identity(const Config& c) {
  std::error_code ec;
  fs::create_directories(c.data_dir, ec);
  if (ec) return Status::error("IO_ERROR", "cannot create " + c.data_dir + ": " + ec.message());

  std::optional<ledger::Genesis> genesis;
  std::optional<crypto::KeyPair> key;
  if (c.genesis_file) {
    auto g = ledger::load_genesis_file(*c.genesis_file);
    if (!g.is_ok()) return g.status();
    genesis = std::move(*g);
    auto k = load_validator_key(c);
    if (!k.is_ok()) return k.status();
    key = *k;
  } else {
    EMLEDGER_ASSERT(c.dev);
    auto k = crypto::KeyPair::generate();  // replaced by the stored node key
    auto g = ensure_dev_network(c, k);
    if (!g.is_ok()) return g.status();
    genesis = std::move(*g);
    key = k;
  }

  // Each node holds one validator's key and runs consensus with the others
  // of the set in force (alone with a one-validator set); Node::start finds
  // the key in that set.
  Identity id{std::move(*genesis), *key, std::nullopt};
  const auto& vs = id.genesis.validators;
  for (std::size_t i = 0; i < vs.size(); ++i)
    if (vs[i].public_key == key->public_key()) id.genesis_index = static_cast<std::uint16_t>(i);
  return id;
}

}  // namespace emledger::node
