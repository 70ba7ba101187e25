// Command line and on-disk identity of a node: which genesis, which validator
// key, where the data lives, where to listen. Dev mode creates a one-node
// network in the data directory on first start (docs/node.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "emledger/crypto/ed25519.hpp"
#include "emledger/crypto/result.hpp"
#include "emledger/ledger/ledger.hpp"
#include "emledger/ledger/types.hpp"
#include "mempool.hpp"

namespace emledger::node {

inline constexpr const char* kPassphraseEnv = "EMLEDGER_KEY_PASSPHRASE";
inline constexpr const char* kDevChainId = "emledger-dev";
inline constexpr const char* kDevIssuerOrg = "dev.issuer";
inline constexpr const char* kDevNodeOrg = "dev.node";
inline constexpr const char* kDevIdentityOrg = "dev.identity";
// A record type the dev genesis lets consumers read without a grant (the
// access is still recorded, as statutory).
inline constexpr const char* kDevStatuteTypeCode = "dev.public-license";

struct Config {
  bool dev = false;
  std::string data_dir;
  std::string listen = "127.0.0.1:8080";
  std::optional<std::string> genesis_file;
  std::optional<std::string> key_file;
  std::optional<std::string> passphrase_file;
  unsigned http_threads = 0;  // 0: one per hardware thread
  std::size_t mempool_txs_max = kMempoolTxsMax;
  // Memory for the state-page cache (ledger::LedgerOptions::state_cache_mib),
  // in MiB. parse_command_line's default is default_state_cache_mib() of
  // this machine's usable memory.
  std::uint64_t state_cache_mib = ledger::kStateCacheMibDefault;
  unsigned state_threads = 0;  // 0: one per hardware thread
  // State trees kept provable (ledger::LedgerOptions, ADR 021): 0 keeps every
  // tree (an archive node); W keeps the last W heights' trees.
  std::uint64_t state_retention_blocks = ledger::kStateRetentionKeepAll;
  // Multi-validator networks only (the genesis names more than one
  // validator; docs/node.md): where the peer transport listens ("host:port";
  // empty: this validator's address in the genesis) and the consensus view
  // timeout.
  std::string peer_listen;
  std::uint64_t view_timeout_ms = 2000;
  // Multi-validator networks only: a node whose DATA/db holds no ledger
  // first fetches a snapshot from a peer and restores it (snapshot_fetch.hpp),
  // giving up after join_timeout_ms. A node with a ledger starts as usual.
  bool join_snapshot = false;
  std::uint64_t join_timeout_ms = 600'000;
};

// The memory this process may use: the machine's physical memory, or less
// where a control group limits it (cgroup v2 memory.max, v1
// memory.limit_in_bytes, on this process's group and its ancestors).
// nullopt when even the physical memory cannot be read.
std::optional<std::uint64_t> usable_memory_bytes();

// The state cache's default, in MiB (ADR 047): an eighth of `memory_bytes`,
// no less than ledger::kStateCacheMibDefault and no more than
// kStateCacheMibDefaultMax; kStateCacheMibDefault when the memory is unknown.
// The cache takes its memory as it fills (SmtPageCache), so an idle node does
// not hold it all.
inline constexpr std::uint64_t kStateCacheMemoryShare = 8;
inline constexpr std::uint64_t kStateCacheMibDefaultMax = 4096;
std::uint64_t default_state_cache_mib(std::optional<std::uint64_t> memory_bytes);

// Parses argv. On --help or a usage error prints to stdout/stderr and returns
// nullopt with *exit_code set (0 for help, 2 for bad usage).
std::optional<Config> parse_command_line(int argc, char** argv, int* exit_code);

struct Identity {
  ledger::Genesis genesis;
  crypto::KeyPair validator_key;
  // The key's index among the genesis validators; nullopt for a key that a
  // later change of set added (or none did: the node then runs read-only).
  // Which set the node votes in comes from its ledger, not from here.
  std::optional<std::uint16_t> genesis_index;
};

// Paths of the dev-mode files inside the data directory.
std::string dev_keys_dir(const std::string& data_dir);
std::string dev_node_key_path(const std::string& data_dir);
std::string dev_issuer_key_path(const std::string& data_dir);
std::string dev_identity_key_path(const std::string& data_dir);
std::string dev_genesis_path(const std::string& data_dir);

// Creates (dev mode, first start) or loads the genesis and validator key the
// config names, and finds the key among the genesis validators (a key not
// among them is no error: a change of set may have added it).
// Errors: CONFIG_ERROR, GENESIS_MALFORMED, KEYFILE_* and IO_ERROR.
Result<Identity> load_identity(const Config& config);

}  // namespace emledger::node
