// Ed25519 against the test vectors of RFC 8032 section 7.1 (TEST 1, 2, 3 and
// TEST SHA(abc)). TEST 1024 is left out: its 1023-byte message adds no path
// that the 64-byte one does not already cover in libsodium's code.
#include "emledger/crypto/ed25519.hpp"

#include <doctest/doctest.h>

#include <string>

#include "emledger/crypto/hex.hpp"

using namespace emledger;
using namespace emledger::crypto;

namespace {

struct Vector {
  const char* name;
  const char* secret;  // the 32-byte seed, called SECRET KEY in the RFC
  const char* public_key;
  const char* message;
  const char* signature;
};

// Hex strings as printed in RFC 8032 section 7.1.
const Vector kRfc8032[] = {
    {"TEST 1", "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
     "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
    {"TEST 2", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
     "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"TEST 3", "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
     "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"},
    {"TEST SHA(abc)", "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
     "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
     "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
     "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
     "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b589"
     "09351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704"},
};

template <std::size_t N>
std::array<std::uint8_t, N> fixed_from_hex(const char* hex) {
  auto b = from_hex(hex);
  REQUIRE(b);
  REQUIRE(b->size() == N);
  std::array<std::uint8_t, N> out;
  std::copy(b->begin(), b->end(), out.begin());
  return out;
}

}  // namespace

TEST_CASE("ed25519: RFC 8032 section 7.1 vectors derive the key and reproduce the signature") {
  for (const auto& v : kRfc8032) {
    CAPTURE(v.name);
    auto kp = KeyPair::from_seed(fixed_from_hex<kSeedSize>(v.secret));
    CHECK(to_hex(ByteView(kp.public_key())) == v.public_key);
    auto msg = from_hex(v.message);
    REQUIRE(msg);
    Signature sig = kp.sign(ByteView(*msg));
    CHECK(to_hex(ByteView(sig)) == v.signature);
    CHECK(verify(kp.public_key(), ByteView(*msg), sig));
    CHECK(kp.seed() == fixed_from_hex<kSeedSize>(v.secret));
  }
}

TEST_CASE("ed25519: verify rejects a flipped bit in the signature, message or public key") {
  for (const auto& v : kRfc8032) {
    CAPTURE(v.name);
    const auto pk = fixed_from_hex<kPublicKeySize>(v.public_key);
    const auto sig = fixed_from_hex<kSignatureSize>(v.signature);
    const Bytes msg = *from_hex(v.message);
    REQUIRE(verify(pk, ByteView(msg), sig));
    for (std::size_t i = 0; i < sig.size(); ++i) {
      for (std::uint8_t bit : {0x01, 0x80}) {
        auto bad = sig;
        bad[i] ^= bit;
        CAPTURE(i);
        CHECK_FALSE(verify(pk, ByteView(msg), bad));
      }
    }
    for (std::size_t i = 0; i < msg.size(); ++i) {
      auto bad = msg;
      bad[i] ^= 0x01;
      CHECK_FALSE(verify(pk, ByteView(bad), sig));
    }
    for (std::size_t i = 0; i < pk.size(); ++i) {
      auto bad = pk;
      bad[i] ^= 0x01;
      CHECK_FALSE(verify(bad, ByteView(msg), sig));
    }
    // A message one byte longer is another message.
    Bytes longer = msg;
    longer.push_back(0);
    CHECK_FALSE(verify(pk, ByteView(longer), sig));
  }
}

TEST_CASE("ed25519: generated keys sign and verify, and differ from each other") {
  auto a = KeyPair::generate();
  auto b = KeyPair::generate();
  CHECK(a.public_key() != b.public_key());
  const std::string text = "emledger";
  Signature sig = a.sign(as_bytes(text));
  CHECK(verify(a.public_key(), as_bytes(text), sig));
  CHECK_FALSE(verify(b.public_key(), as_bytes(text), sig));
  // Re-deriving from the seed gives the same key pair.
  auto again = KeyPair::from_seed(a.seed());
  CHECK(again.public_key() == a.public_key());
  CHECK(again.sign(as_bytes(text)) == sig);
}
