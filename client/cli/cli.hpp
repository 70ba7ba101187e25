// Internal to the `emledger` executable: shared options, output and exit
// codes (design.md section 9; docs/cli.md).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <optional>
#include <string>

#include "emledger/client/errors.hpp"
#include "emledger/client/sdk.hpp"
#include "emledger/crypto/ed25519.hpp"
#include "emledger/ledger/json.hpp"

namespace emledger::cli {

using ledger::Json;

inline constexpr int kExitOk = 0;           // valid, or done
inline constexpr int kExitFalse = 1;        // verified false
inline constexpr int kExitBadInput = 2;     // bad usage or input, or the node refused
inline constexpr int kExitUnavailable = 3;  // node unreachable, I/O error

// Options every command has.
struct Common {
  bool json = false;
};

// Commands set this during parsing; main() runs it once parsing succeeded.
using Action = std::function<int()>;

void add_json_flag(CLI::App* cmd, Common& common);
// Adds a subcommand whose first sentence of `text` is its one-line summary
// (in the parent's list) and the rest its help footer.
CLI::App* add_command(CLI::App& parent, const std::string& name, const std::string& text);

// Prints `st` (stderr in text mode; {"error": {...}} on stdout with --json)
// and returns the exit code of its class.
int fail(const Common& common, const Status& st);
// A usage error found after parsing (exit 2).
int usage(const Common& common, const std::string& message);
// Prints a JSON document on stdout.
void print_json(const Json& j);

// Where a key file's passphrase comes from: --passphrase-file, else the
// environment variable EMLEDGER_KEY_PASSPHRASE, else none.
struct KeyOptions {
  std::string key_path;
  std::string passphrase_file;
};
inline constexpr const char* kPassphraseEnv = "EMLEDGER_KEY_PASSPHRASE";
void add_key_options(CLI::App* cmd, KeyOptions& key, bool required);
// The passphrase if one was supplied. Errors: IO_ERROR (unreadable file),
// BAD_ARGUMENT (empty passphrase).
Result<std::optional<std::string>> passphrase(const KeyOptions& key);
// Reads the key file, asking for a passphrase only when it is encrypted.
// Errors: BAD_ARGUMENT (encrypted and no passphrase), KEYFILE_*, IO_ERROR.
Result<crypto::KeyPair> load_key(const KeyOptions& key);

// The trusted genesis file. Errors: IO_ERROR, GENESIS_MALFORMED.
Result<ledger::Genesis> load_trust(const std::string& path);
// A 64-hex-digit argument. Errors: BAD_ARGUMENT naming `what`.
Result<Hash> parse_hash(const std::string& what, const std::string& text);

// A record as indented text lines (kind, type, issuer, anchor, validity, status).
void print_record(std::ostream& out, const ledger::Record& r, const std::string& indent);
// "2027-01-31T00:00:00Z", or "-" for 0 (no bound).
std::string time_or_dash(std::uint64_t ms);

// Progress on stderr when it is a terminal; silent otherwise.
client::ChainProgress stderr_progress(const std::string& label);

// Help text shared by commands that talk to a node.
inline constexpr const char* kNodeHelp = "Node base URL, e.g. http://127.0.0.1:7700";
inline constexpr const char* kTrustHelp =
    "Trusted genesis file of the network (obtained out of band, never from the node being "
    "checked). Every answer is verified against its validator set.";

// Command groups (one file each).
void add_key_commands(CLI::App& app, Action& action);      // keygen, hash
void add_write_commands(CLI::App& app, Action& action);    // register, change, renew, revoke
void add_verify_commands(CLI::App& app, Action& action);   // verify, proof
void add_query_commands(CLI::App& app, Action& action);    // chain verify, record, tx
void add_genesis_commands(CLI::App& app, Action& action);  // genesis new/add-org/add-validator
// holder-ref, pseudonym-key, holder, grant, access, material, objection, archive
void add_authz_commands(CLI::App& app, Action& action);
void add_audit_commands(CLI::App& app, Action& action);       // audit
void add_validators_commands(CLI::App& app, Action& action);  // validators show/approve/submit

}  // namespace emledger::cli
