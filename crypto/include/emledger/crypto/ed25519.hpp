// Ed25519 (RFC 8032): keys and signatures through libsodium, verification
// under RFC 8032's cofactored equation, one signature at a time or many at
// once (docs/adr/039). Public keys are 32 bytes, secret keys are stored as
// the 32-byte seed, signatures are 64 bytes.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

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
//
// Valid means: S is below the group order L; R and A are canonical encodings
// of points that are not of small order; and [8][S]B = [8]R + [8][k]A with
// k = SHA-512(R || A || message) mod L (RFC 8032 section 5.1.7). Every
// signature that libsodium's crypto_sign_verify_detached accepts is valid;
// the only others are those whose R or A a key holder built with a component
// of small order (ADR 039).
bool verify(const PublicKey& pk, ByteView message, const Signature& sig);

struct SignedMessage {
  const PublicKey* public_key;
  ByteView message;
  const Signature* signature;
};

// verify() of each item, as one flag per item (1 valid), computed together:
// one multi-scalar multiplication checks a linear combination of the
// equations with 128-bit coefficients derived from a hash of all the items,
// and only a combination that fails is split to find the invalid ones. The
// flags are verify()'s, but for a chance of about 2^-127 per combination
// checked that an invalid item passes. No randomness: the same items give the
// same flags on every node. About 4 times faster than one by one when the
// items share a few keys (benchmarks/verify_bench.cpp). Thread safe.
std::vector<std::uint8_t> verify_batch(std::span<const SignedMessage> items);

}  // namespace emledger::crypto
