// How the consensus core checks signatures. The core sees only this
// interface, so the simulator can swap in a cheap verifier and run thousands
// of seeds; the node uses Ed25519Verifier.
#pragma once

#include "emledger/crypto/bytes.hpp"
#include "emledger/crypto/ed25519.hpp"

namespace emledger::consensus {

class Verifier {
 public:
  virtual ~Verifier() = default;
  // True only if `signature` is `key`'s valid signature of `message`. Must be
  // deterministic; may be called from one thread at a time per instance.
  virtual bool verify(const crypto::PublicKey& key, ByteView message,
                      const crypto::Signature& signature) const = 0;
};

// Ed25519 (RFC 8032) through libsodium. Stateless and thread safe.
class Ed25519Verifier final : public Verifier {
 public:
  bool verify(const crypto::PublicKey& key, ByteView message,
              const crypto::Signature& signature) const override;
};

// A process-wide Ed25519Verifier, the core's default.
const Verifier& ed25519_verifier();

}  // namespace emledger::consensus
