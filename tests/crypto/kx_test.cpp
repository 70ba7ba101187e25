// Key exchange and session AEAD wrappers (crypto/kx.hpp).
#include "emledger/crypto/kx.hpp"

#include <doctest/doctest.h>

using namespace emledger;
using namespace emledger::crypto;

TEST_CASE("kx: client and server derive crossed session keys") {
  auto client = KxKeyPair::generate();
  auto server = KxKeyPair::generate();
  auto ck = client.client_session_keys(server.public_key());
  auto sk = server.server_session_keys(client.public_key());
  REQUIRE(ck.is_ok());
  REQUIRE(sk.is_ok());
  CHECK(ck->tx == sk->rx);
  CHECK(ck->rx == sk->tx);
  CHECK(ck->rx != ck->tx);
  // A third party's keys differ.
  auto other = KxKeyPair::generate();
  auto ok = other.client_session_keys(server.public_key());
  REQUIRE(ok.is_ok());
  CHECK(ok->tx != ck->tx);
}

TEST_CASE("kx: a small-order peer key is refused") {
  auto client = KxKeyPair::generate();
  KxPublicKey zero{};  // the identity point: shared secret all zeros
  auto k = client.client_session_keys(zero);
  REQUIRE_FALSE(k.is_ok());
  CHECK(k.status().code() == "KX_BAD_PUBLIC_KEY");
}

TEST_CASE("kx: aead round trip; tampering, wrong nonce, wrong aad are refused") {
  SessionKey key{};
  key[0] = 7;
  AeadNonce nonce{};
  nonce[23] = 1;
  Bytes aad = {1, 2, 3};
  Bytes msg = {'h', 'e', 'l', 'l', 'o'};
  Bytes out = {9};  // sealing appends
  aead_seal(key, nonce, aad, msg, out);
  REQUIRE(out.size() == 1 + msg.size() + kAeadTagSize);
  ByteView ct(out.data() + 1, out.size() - 1);
  auto plain = aead_open(key, nonce, aad, ct);
  REQUIRE(plain.has_value());
  CHECK(*plain == msg);

  Bytes tampered(ct.begin(), ct.end());
  tampered[2] ^= 1;
  CHECK_FALSE(aead_open(key, nonce, aad, tampered).has_value());
  AeadNonce other = nonce;
  other[23] = 2;
  CHECK_FALSE(aead_open(key, other, aad, ct).has_value());
  Bytes other_aad = {1, 2, 4};
  CHECK_FALSE(aead_open(key, nonce, other_aad, ct).has_value());
  CHECK_FALSE(aead_open(key, nonce, aad, ByteView(ct.data(), kAeadTagSize - 1)).has_value());
}
