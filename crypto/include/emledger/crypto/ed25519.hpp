// Ed25519 (RFC 8032) through libsodium. Public keys are 32 bytes, secret
// keys are stored as the 32-byte seed, signatures are 64 bytes.
#pragma once

#include <array>

#include "emledger/crypto/bytes.hpp"

namespace emledger::crypto {

inline constexpr std::size_t kPublicKeySize = 32;
inline constexpr std::size_t kSeedSize = 32;
inline constexpr std::size_t kSignatureSize = 64;
using PublicKey = std::array<std::uint8_t, kPublicKeySize>;
using Seed = std::array<std::uint8_t, kSeedSize>;
using Signature = std::array<std::uint8_t, kSignatureSize>;

// libsodium must be initialised once; every entry point here calls this.
void ensure_sodium();

class KeyPair {
 public:
  static KeyPair generate();                   // from the OS CSPRNG
  static KeyPair from_seed(const Seed& seed);  // deterministic (RFC 8032 vectors)
  KeyPair(const KeyPair&) = default;
  KeyPair& operator=(const KeyPair&) = default;
  ~KeyPair();  // wipes the secret key

  const PublicKey& public_key() const { return pk_; }
  const Seed& seed() const { return seed_; }
  Signature sign(ByteView message) const;

 private:
  KeyPair() = default;
  PublicKey pk_{};
  Seed seed_{};
  std::array<std::uint8_t, 64> sk_{};
};

// True only for a valid signature of `message` under `pk`. Thread safe.
bool verify(const PublicKey& pk, ByteView message, const Signature& sig);

}  // namespace emledger::crypto
