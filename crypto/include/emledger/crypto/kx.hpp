// Session key exchange and session encryption through libsodium, for the peer
// transport (docs/formats/peer-wire.md).
//
// Key exchange: X25519 ephemeral key pairs and libsodium's crypto_kx, which
// derives two 32-byte keys from the shared point and both public keys
// (BLAKE2b-512(q || client_pk || server_pk), split in two): the client's tx
// key is the server's rx key and the other way round, so each direction has
// its own key.
//
// Session encryption: XChaCha20-Poly1305 (IETF construction) with a 24-byte
// nonce the caller builds from a per-direction counter.
//
// Header-only: these are thin wrappers, and keeping them here leaves the crypto
// library's source list unchanged.
#pragma once

#include <sodium.h>

#include <array>
#include <optional>

#include "emledger/crypto/bytes.hpp"
#include "emledger/crypto/ed25519.hpp"
#include "emledger/crypto/result.hpp"

namespace emledger::crypto {

inline constexpr std::size_t kKxPublicKeySize = crypto_kx_PUBLICKEYBYTES;
inline constexpr std::size_t kKxSecretKeySize = crypto_kx_SECRETKEYBYTES;
inline constexpr std::size_t kSessionKeySize = crypto_kx_SESSIONKEYBYTES;
inline constexpr std::size_t kAeadNonceSize = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
inline constexpr std::size_t kAeadTagSize = crypto_aead_xchacha20poly1305_ietf_ABYTES;
static_assert(kKxPublicKeySize == 32 && kSessionKeySize == 32);
static_assert(kSessionKeySize == crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
static_assert(kAeadNonceSize == 24 && kAeadTagSize == 16);

using KxPublicKey = std::array<std::uint8_t, kKxPublicKeySize>;
using SessionKey = std::array<std::uint8_t, kSessionKeySize>;
using AeadNonce = std::array<std::uint8_t, kAeadNonceSize>;

// One side's pair of session keys; wiped on destruction.
struct SessionKeys {
  SessionKey rx{};  // decrypts what the other side sends
  SessionKey tx{};  // encrypts what this side sends
  SessionKeys() = default;
  SessionKeys(const SessionKeys&) = default;
  SessionKeys& operator=(const SessionKeys&) = default;
  ~SessionKeys() {
    sodium_memzero(rx.data(), rx.size());
    sodium_memzero(tx.data(), tx.size());
  }
};

// An ephemeral X25519 key pair, made fresh for every connection; the secret
// key is wiped on destruction. Not copyable: one handshake owns it.
class KxKeyPair {
 public:
  static KxKeyPair generate() {
    ensure_sodium();
    KxKeyPair kp;
    EMLEDGER_ASSERT(crypto_kx_keypair(kp.pk_.data(), kp.sk_.data()) == 0);
    return kp;
  }
  KxKeyPair(KxKeyPair&& other) noexcept : pk_(other.pk_), sk_(other.sk_) {
    sodium_memzero(other.sk_.data(), other.sk_.size());
  }
  KxKeyPair(const KxKeyPair&) = delete;
  KxKeyPair& operator=(const KxKeyPair&) = delete;
  ~KxKeyPair() { sodium_memzero(sk_.data(), sk_.size()); }

  const KxPublicKey& public_key() const { return pk_; }

  // Session keys of the side that opened the connection (client) or accepted
  // it (server). Errors: KX_BAD_PUBLIC_KEY when the peer's key is a point of
  // small order (the shared secret would be all zeros).
  Result<SessionKeys> client_session_keys(const KxPublicKey& server_pk) const {
    SessionKeys k;
    if (crypto_kx_client_session_keys(k.rx.data(), k.tx.data(), pk_.data(), sk_.data(),
                                      server_pk.data()) != 0)
      return Status::error("KX_BAD_PUBLIC_KEY", "server ephemeral key is unusable");
    return k;
  }
  Result<SessionKeys> server_session_keys(const KxPublicKey& client_pk) const {
    SessionKeys k;
    if (crypto_kx_server_session_keys(k.rx.data(), k.tx.data(), pk_.data(), sk_.data(),
                                      client_pk.data()) != 0)
      return Status::error("KX_BAD_PUBLIC_KEY", "client ephemeral key is unusable");
    return k;
  }

 private:
  KxKeyPair() = default;
  KxPublicKey pk_{};
  std::array<std::uint8_t, kKxSecretKeySize> sk_{};
};

// Appends XChaCha20-Poly1305 (IETF) of `plaintext` with `aad` to `out`:
// plaintext.size() + kAeadTagSize bytes. A (key, nonce) pair must never be
// used twice; the caller's counter guarantees it. Thread safe.
inline void aead_seal(const SessionKey& key, const AeadNonce& nonce, ByteView aad,
                      ByteView plaintext, Bytes& out) {
  ensure_sodium();
  std::size_t at = out.size();
  out.resize(at + plaintext.size() + kAeadTagSize);
  unsigned long long written = 0;
  EMLEDGER_ASSERT(crypto_aead_xchacha20poly1305_ietf_encrypt(
                      out.data() + at, &written, plaintext.data(), plaintext.size(), aad.data(),
                      aad.size(), nullptr, nonce.data(), key.data()) == 0);
  EMLEDGER_ASSERT(written == plaintext.size() + kAeadTagSize);
}

// The plaintext, or nullopt when the ciphertext, its tag, the nonce or the
// aad do not match (tampered, replayed under another nonce, wrong key).
inline std::optional<Bytes> aead_open(const SessionKey& key, const AeadNonce& nonce, ByteView aad,
                                      ByteView ciphertext) {
  ensure_sodium();
  if (ciphertext.size() < kAeadTagSize) return std::nullopt;
  Bytes plain(ciphertext.size() - kAeadTagSize);
  unsigned long long n = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain.data(), &n, nullptr, ciphertext.data(),
                                                 ciphertext.size(), aad.data(), aad.size(),
                                                 nonce.data(), key.data()) != 0)
    return std::nullopt;
  EMLEDGER_ASSERT(n == plain.size());
  return plain;
}

}  // namespace emledger::crypto
