#include "emledger/crypto/ed25519.hpp"

#include <sodium.h>

#include <mutex>

#include "emledger/crypto/result.hpp"

namespace emledger::crypto {

void ensure_sodium() {
  static std::once_flag once;
  std::call_once(once, [] { EMLEDGER_ASSERT(sodium_init() >= 0); });
}

KeyPair KeyPair::generate() {
  ensure_sodium();
  Seed seed;
  randombytes_buf(seed.data(), seed.size());
  KeyPair kp = from_seed(seed);
  sodium_memzero(seed.data(), seed.size());
  return kp;
}

KeyPair KeyPair::from_seed(const Seed& seed) {
  ensure_sodium();
  KeyPair kp;
  kp.seed_ = seed;
  EMLEDGER_ASSERT(crypto_sign_seed_keypair(kp.pk_.data(), kp.sk_.data(), seed.data()) == 0);
  return kp;
}

KeyPair::~KeyPair() {
  sodium_memzero(sk_.data(), sk_.size());
  sodium_memzero(seed_.data(), seed_.size());
}

Signature KeyPair::sign(ByteView message) const {
  Signature sig;
  EMLEDGER_ASSERT(
      crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(), sk_.data()) == 0);
  return sig;
}

}  // namespace emledger::crypto
