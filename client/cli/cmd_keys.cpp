// emledger keygen, emledger hash.
#include <iostream>
#include <memory>

#include "cli.hpp"
#include "emledger/crypto/hex.hpp"
#include "emledger/crypto/keyfile.hpp"
#include "emledger/crypto/sha256.hpp"

namespace emledger::cli {
namespace {

struct KeygenOptions {
  Common common;
  std::string out;
  bool no_passphrase = false;
  std::string passphrase_file;
};

int run_keygen(const KeygenOptions& o) {
  std::optional<std::string> pass;
  if (o.no_passphrase) {
    if (!o.passphrase_file.empty())
      return usage(o.common, "--no-passphrase and --passphrase-file contradict each other");
  } else {
    auto p = passphrase(KeyOptions{o.out, o.passphrase_file});
    if (!p) return fail(o.common, p.status());
    if (!p->has_value())
      return usage(o.common, std::string("no passphrase to encrypt the key file with: set ") +
                                 kPassphraseEnv +
                                 " or pass --passphrase-file F, or pass --no-passphrase to "
                                 "store the key in clear (development only)");
    pass = std::move(*p);
  }
  const auto key = crypto::KeyPair::generate();
  if (Status st = crypto::write_key_file(o.out, key, pass); !st) return fail(o.common, st);
  const std::string pk = to_hex(ByteView(key.public_key()));
  if (o.common.json) {
    print_json({{"key_file", o.out}, {"public_key", pk}, {"encrypted", pass.has_value()}});
  } else {
    std::cout << "public key " << pk << "\n"
              << "key file   " << o.out << (pass ? " (encrypted)" : " (CLEAR, not encrypted)")
              << std::endl;
  }
  return kExitOk;
}

struct HashOptions {
  Common common;
  std::string file;
};

int run_hash(const HashOptions& o) {
  auto d = crypto::sha256_file(o.file);
  if (!d) return fail(o.common, d.status());
  if (o.common.json) {
    print_json(
        {{"file", o.file}, {"content_hash", to_hex(d->hash)}, {"size_bytes", d->size_bytes}});
  } else {
    std::cout << "content hash " << to_hex(d->hash) << "\n"
              << "size         " << d->size_bytes << " bytes" << std::endl;
  }
  return kExitOk;
}

}  // namespace

void add_key_commands(CLI::App& app, Action& action) {
  auto kg = std::make_shared<KeygenOptions>();
  auto* cmd = add_command(
      app, "keygen",
      "Create a new Ed25519 signing key file (mode 0600) and print its public key.\n"
      "The key file is encrypted with a passphrase (Argon2id + XChaCha20-Poly1305) taken from "
      "--passphrase-file or the EMLEDGER_KEY_PASSPHRASE environment variable; without one, "
      "pass --no-passphrase to store it in clear (development networks only). The public key "
      "is what an operator lists in the genesis (genesis add-org / add-validator).");
  cmd->add_option("--out", kg->out, "Key file to create (refused if it exists)")->required();
  cmd->add_flag("--no-passphrase", kg->no_passphrase,
                "Store the key unencrypted (development only)");
  cmd->add_option("--passphrase-file", kg->passphrase_file,
                  "File whose first line is the passphrase to encrypt the key with");
  add_json_flag(cmd, kg->common);
  cmd->callback([kg, &action] { action = [kg] { return run_keygen(*kg); }; });

  auto h = std::make_shared<HashOptions>();
  cmd = add_command(
      app, "hash",
      "Print a file's content hash (SHA-256 of its exact bytes, the value the ledger anchors) "
      "and its size. Reads the file in chunks; any size works.");
  cmd->add_option("FILE", h->file, "The file")->required();
  add_json_flag(cmd, h->common);
  cmd->callback([h, &action] { action = [h] { return run_hash(*h); }; });
}

}  // namespace emledger::cli
