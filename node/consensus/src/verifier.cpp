#include "emledger/consensus/verifier.hpp"

namespace emledger::consensus {

bool Ed25519Verifier::verify(const crypto::PublicKey& key, ByteView message,
                             const crypto::Signature& signature) const {
  return crypto::verify(key, message, signature);
}

const Verifier& ed25519_verifier() {
  static const Ed25519Verifier verifier;
  return verifier;
}

}  // namespace emledger::consensus
