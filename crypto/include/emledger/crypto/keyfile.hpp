// Key files (docs/formats/keyfile.md). A key file holds one Ed25519 seed.
// Written with mode 0600. In dev mode the seed is stored in clear; otherwise it
// is sealed with XChaCha20-Poly1305 under a key derived from a passphrase with
// Argon2id (libsodium crypto_pwhash, MODERATE limits).
#pragma once

#include <optional>
#include <string>

#include "emledger/crypto/ed25519.hpp"
#include "emledger/crypto/result.hpp"

namespace emledger::crypto {

// passphrase nullopt: clear (dev) key file. Errors: IO_ERROR, KEY_EXISTS.
Status write_key_file(const std::string& path, const KeyPair& key,
                      const std::optional<std::string>& passphrase);

// Errors: IO_ERROR, KEYFILE_MALFORMED, KEYFILE_PASSPHRASE_REQUIRED,
// KEYFILE_BAD_PASSPHRASE (wrong passphrase or tampered file).
Result<KeyPair> read_key_file(const std::string& path,
                              const std::optional<std::string>& passphrase);

// True when the file exists and is passphrase-protected.
bool key_file_is_encrypted(const std::string& path);

}  // namespace emledger::crypto
