// Ed25519 verification under the cofactored equation, one by one and in
// batches (ADR 039), checked against libsodium's own arithmetic and verifier.
#include <doctest/doctest.h>
#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>

#include "../../crypto/src/edwards25519.hpp"
#include "emledger/crypto/ed25519.hpp"
#include "emledger/crypto/hex.hpp"

using namespace emledger;
using namespace emledger::crypto;

namespace {

using Bytes32 = std::array<std::uint8_t, 32>;

Bytes32 encoded(const ed::Point& p) {
  Bytes32 out;
  ed::encode(out.data(), p);
  return out;
}

Bytes32 random_point() {
  Bytes32 p;
  crypto_core_ed25519_random(p.data());
  return p;
}

Bytes32 random_scalar() {
  Bytes32 s;
  crypto_core_ed25519_scalar_random(s.data());
  return s;
}

bool libsodium_verify(const PublicKey& pk, ByteView msg, const Signature& sig) {
  return crypto_sign_verify_detached(sig.data(), msg.data(), msg.size(), pk.data()) == 0;
}

// The secret scalar a (mod L) of a seed, as RFC 8032 section 5.1.5 derives it.
Bytes32 secret_scalar(const Seed& seed) {
  std::uint8_t h[64];
  crypto_hash_sha512(h, seed.data(), seed.size());
  h[0] &= 248;
  h[31] &= 127;
  h[31] |= 64;
  std::uint8_t wide[64] = {};
  std::memcpy(wide, h, 32);
  Bytes32 a;
  crypto_core_ed25519_scalar_reduce(a.data(), wide);
  return a;
}

// A signature with the given R, made by whoever knows the key: S = r + k a,
// where [r]B is R's component in the prime-order group (r = 0 if none).
// `as_key` is the public key the signature claims (kp's own by default).
// k = H(R || A || M) mod L, RFC 8032's challenge.
Bytes32 challenge(const Bytes32& r_enc, const PublicKey& pk, ByteView msg) {
  crypto_hash_sha512_state st;
  crypto_hash_sha512_init(&st);
  crypto_hash_sha512_update(&st, r_enc.data(), 32);
  crypto_hash_sha512_update(&st, pk.data(), 32);
  crypto_hash_sha512_update(&st, msg.data(), msg.size());
  std::uint8_t digest[64];
  crypto_hash_sha512_final(&st, digest);
  Bytes32 k;
  crypto_core_ed25519_scalar_reduce(k.data(), digest);
  return k;
}

Signature sign_with_r(const KeyPair& kp, ByteView msg, const Bytes32& r_enc, const Bytes32& r,
                      const PublicKey* as_key = nullptr) {
  const PublicKey& pk = as_key ? *as_key : kp.public_key();
  const Bytes32 k = challenge(r_enc, pk, msg);
  Bytes32 ka, s;
  const Bytes32 a = secret_scalar(kp.seed());
  crypto_core_ed25519_scalar_mul(ka.data(), k.data(), a.data());
  crypto_core_ed25519_scalar_add(s.data(), r.data(), ka.data());
  Signature sig;
  std::memcpy(sig.data(), r_enc.data(), 32);
  std::memcpy(sig.data() + 32, s.data(), 32);
  return sig;
}

// (x, 0) with x a square root of -1: a point of order 4. Its encoding is all
// zero bytes.
const Bytes32 kOrder4{};

struct Signed {
  std::size_t key;
  Bytes msg;
  Signature sig;
};

std::vector<SignedMessage> views(const std::vector<KeyPair>& keys, const std::vector<Signed>& s) {
  std::vector<SignedMessage> out;
  for (const auto& x : s) out.push_back({&keys[x.key].public_key(), ByteView(x.msg), &x.sig});
  return out;
}

std::vector<Signed> sign_many(const std::vector<KeyPair>& keys, std::size_t n, std::mt19937& rng) {
  std::vector<Signed> out;
  for (std::size_t i = 0; i < n; ++i) {
    Signed s;
    s.key = rng() % keys.size();
    s.msg.resize(100 + rng() % 300);
    for (auto& b : s.msg) b = static_cast<std::uint8_t>(rng());
    s.sig = keys[s.key].sign(ByteView(s.msg));
    out.push_back(std::move(s));
  }
  return out;
}

// R = [r]B for a fresh random r, with its encoding.
std::pair<Bytes32, Bytes32> fresh_nonce() {
  const Bytes32 r = random_scalar();
  Bytes32 enc;
  REQUIRE(crypto_scalarmult_ed25519_base_noclamp(enc.data(), r.data()) == 0);
  return {r, enc};
}

// P + the order-4 point, encoded.
Bytes32 plus_torsion(const Bytes32& p) {
  ed::Point pp, t;
  REQUIRE(ed::decode(pp, p.data()));
  REQUIRE(ed::decode(t, kOrder4.data()));
  return encoded(ed::add(pp, ed::to_cached(t)));
}

// verify_batch's verdicts on `odd` (last) behind `honest` fresh signatures of
// `msg` by kp.
std::vector<std::uint8_t> behind_honest(const KeyPair& kp, ByteView msg, const Signature& odd,
                                        int honest) {
  std::vector<Signature> sigs;
  for (int i = 0; i < honest; ++i) sigs.push_back(kp.sign(msg));
  sigs.push_back(odd);
  std::vector<SignedMessage> items;
  for (const auto& s : sigs) items.push_back({&kp.public_key(), msg, &s});
  return verify_batch(items);
}
}  // namespace

TEST_CASE("edwards25519: decoding, addition and scalar multiplication agree with libsodium") {
  ensure_sodium();
  for (int i = 0; i < 50; ++i) {
    const Bytes32 p = random_point(), q = random_point();
    ed::Point pp, qp;
    REQUIRE(ed::decode(pp, p.data()));
    REQUIRE(ed::decode(qp, q.data()));
    CHECK(encoded(pp) == p);
    Bytes32 sum;
    REQUIRE(crypto_core_ed25519_add(sum.data(), p.data(), q.data()) == 0);
    CHECK(encoded(ed::add(pp, ed::to_cached(qp))) == sum);
    Bytes32 twice;
    REQUIRE(crypto_core_ed25519_add(twice.data(), p.data(), p.data()) == 0);
    CHECK(encoded(ed::dbl(pp)) == twice);
    ed::Point minus;
    REQUIRE(ed::decode(minus, p.data(), /*negate=*/true));
    CHECK(ed::is_identity(ed::add(pp, ed::to_cached(minus))));
    CHECK_FALSE(ed::has_small_order(pp));
  }
  // Sums of many multiples, through both of multi_scalar_mul's methods.
  for (std::size_t n : {1, 3, 40, 300}) {
    for (unsigned bits : {128u, 253u}) {
      CAPTURE(n);
      CAPTURE(bits);
      std::vector<ed::Point> points;
      std::vector<std::uint8_t> scalars;
      Bytes32 expect{};
      bool have = false;
      for (std::size_t i = 0; i < n; ++i) {
        const Bytes32 p = random_point();
        Bytes32 s = random_scalar();
        if (bits == 128) std::fill(s.begin() + 16, s.end(), 0);
        ed::Point pp;
        REQUIRE(ed::decode(pp, p.data()));
        points.push_back(pp);
        scalars.insert(scalars.end(), s.begin(), s.end());
        Bytes32 term;
        REQUIRE(crypto_scalarmult_ed25519_noclamp(term.data(), s.data(), p.data()) == 0);
        if (have) {
          REQUIRE(crypto_core_ed25519_add(expect.data(), expect.data(), term.data()) == 0);
        } else {
          expect = term;
          have = true;
        }
      }
      CHECK(encoded(ed::multi_scalar_mul(points, scalars, bits)) == expect);
    }
  }
  // The base point is libsodium's [1]B.
  Bytes32 one{};
  one[0] = 1;
  Bytes32 b;
  REQUIRE(crypto_scalarmult_ed25519_base_noclamp(b.data(), one.data()) == 0);
  CHECK(encoded(ed::base_point()) == b);
}

TEST_CASE("edwards25519: decoding refuses what is not a canonical point") {
  ed::Point p;
  // y = p (2^255 - 19) and y = p + 1: encodings of 0 and 1 above the field.
  Bytes32 y_is_p{};
  y_is_p.fill(0xff);
  y_is_p[0] = 0xed;
  y_is_p[31] = 0x7f;
  CHECK_FALSE(ed::decode(p, y_is_p.data()));
  Bytes32 y_is_p1 = y_is_p;
  y_is_p1[0] = 0xee;
  CHECK_FALSE(ed::decode(p, y_is_p1.data()));
  // y = 1 is the identity; with the sign bit set its x (zero) has no sign.
  Bytes32 id{};
  id[0] = 1;
  REQUIRE(ed::decode(p, id.data()));
  CHECK(ed::is_identity(p));
  CHECK(ed::has_small_order(p));
  id[31] = 0x80;
  CHECK_FALSE(ed::decode(p, id.data()));
  // y = 2: (y^2 - 1) / (d y^2 + 1) is not a square, so no point has it.
  Bytes32 two{};
  two[0] = 2;
  CHECK_FALSE(ed::decode(p, two.data()));
  // The order-4 point decodes, and is of small order.
  REQUIRE(ed::decode(p, kOrder4.data()));
  CHECK(ed::has_small_order(p));
  CHECK_FALSE(ed::is_identity(ed::dbl(p)));
  CHECK(ed::is_identity(ed::dbl(ed::dbl(p))));
}

TEST_CASE("ed25519 batch: valid signatures pass and each invalid one is found, as libsodium says") {
  std::mt19937 rng(20261201);
  std::vector<KeyPair> keys;
  for (int i = 0; i < 3; ++i) keys.push_back(KeyPair::generate());
  auto signed_ = sign_many(keys, 300, rng);
  auto ok = verify_batch(views(keys, signed_));
  REQUIRE(ok.size() == 300);
  CHECK(std::count(ok.begin(), ok.end(), 1) == 300);

  // Spoil some in different ways: a message bit, R, S, the key, S + L.
  const std::size_t bad[] = {0, 17, 150, 151, 299};
  signed_[0].msg[5] ^= 1;
  signed_[17].sig[3] ^= 0x10;
  signed_[150].sig[40] ^= 0x01;
  signed_[151].key = (signed_[151].key + 1) % keys.size();
  {
    // S + L: the same residue, not canonical.
    Bytes32 s;
    std::memcpy(s.data(), signed_[299].sig.data() + 32, 32);
    static const std::uint8_t kL[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,
                                        0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
                                        0,    0,    0,    0,    0,    0,    0,    0,
                                        0,    0,    0,    0,    0,    0,    0,    0x10};
    unsigned carry = 0;
    for (int i = 0; i < 32; ++i) {
      unsigned v = s[i] + kL[i] + carry;
      signed_[299].sig[32 + i] = static_cast<std::uint8_t>(v);
      carry = v >> 8;
    }
  }
  ok = verify_batch(views(keys, signed_));
  for (std::size_t i = 0; i < signed_.size(); ++i) {
    CAPTURE(i);
    const bool expect_bad = std::find(std::begin(bad), std::end(bad), i) != std::end(bad);
    CHECK(ok[i] == (expect_bad ? 0 : 1));
    const auto& s = signed_[i];
    CHECK(static_cast<bool>(ok[i]) ==
          libsodium_verify(keys[s.key].public_key(), ByteView(s.msg), s.sig));
    CHECK(static_cast<bool>(ok[i]) == verify(keys[s.key].public_key(), ByteView(s.msg), s.sig));
  }
}

TEST_CASE("ed25519 batch: many keys, small batches and the empty batch") {
  std::mt19937 rng(7);
  std::vector<KeyPair> keys;
  for (int i = 0; i < 64; ++i) keys.push_back(KeyPair::generate());
  for (std::size_t n : {0, 1, 3, 4, 5, 64, 200}) {
    CAPTURE(n);
    auto signed_ = sign_many(keys, n, rng);
    auto ok = verify_batch(views(keys, signed_));
    CHECK(ok.size() == n);
    CHECK(static_cast<std::size_t>(std::count(ok.begin(), ok.end(), 1)) == n);
    if (n == 0) continue;
    signed_[n - 1].sig[0] ^= 0x04;
    ok = verify_batch(views(keys, signed_));
    CHECK(ok[n - 1] == 0);
    CHECK(static_cast<std::size_t>(std::count(ok.begin(), ok.end(), 1)) == n - 1);
  }
}

TEST_CASE("ed25519: an R with a component of order 4 meets the cofactored equation only") {
  // RFC 8032 section 5.1.7 checks [8][S]B = [8]R + [8][k]A; libsodium checks
  // the stronger [S]B = R + [k]A. A key holder can write an R that meets the
  // first and not the second; nobody else can (ADR 039).
  auto kp = KeyPair::generate();
  const std::string text = "order four";
  const ByteView msg = as_bytes(text);
  const auto [r, rb] = fresh_nonce();
  const Signature sig = sign_with_r(kp, msg, plus_torsion(rb), r);
  CHECK_FALSE(libsodium_verify(kp.public_key(), msg, sig));
  CHECK(verify(kp.public_key(), msg, sig));
  // Alone in a batch of honest ones, it passes there too.
  auto ok = behind_honest(kp, msg, sig, 9);
  CHECK(std::count(ok.begin(), ok.end(), 1) == 10);
  // Another key does not verify it.
  auto other = KeyPair::generate();
  CHECK_FALSE(verify(other.public_key(), msg, sig));
}

TEST_CASE("ed25519: an R of small order is refused, though [8] of the equation holds") {
  // With R of order 4 and S = k a, [S]B - [k]A is the identity and
  // [8]R is too: only the small-order check refuses it.
  auto kp = KeyPair::generate();
  const std::string text = "small R";
  const ByteView msg = as_bytes(text);
  const Signature sig = sign_with_r(kp, msg, kOrder4, Bytes32{});
  CHECK_FALSE(libsodium_verify(kp.public_key(), msg, sig));
  CHECK_FALSE(verify(kp.public_key(), msg, sig));
  auto ok = behind_honest(kp, msg, sig, 5);
  CHECK(std::count(ok.begin(), ok.end(), 1) == 5);
  CHECK(ok[5] == 0);
}

TEST_CASE("ed25519: a public key of small order is refused") {
  // A = the order-4 point, R = the identity, S = 0: [8] of the equation holds
  // for every message.
  PublicKey pk{};
  Signature sig{};
  sig[0] = 1;
  const std::string text = "any";
  CHECK_FALSE(verify(pk, as_bytes(text), sig));
  std::vector<SignedMessage> items(5, SignedMessage{&pk, as_bytes(text), &sig});
  auto ok = verify_batch(items);
  CHECK(std::count(ok.begin(), ok.end(), 0) == 5);
}

TEST_CASE("ed25519: a public key with a component of order 4 signs under the cofactored equation") {
  // A' = A + T: its holder (who knows a) signs with k = H(R || A' || M) and
  // S = r + k a; [8] of the equation holds, libsodium's stronger one not
  // (unless 4 divides k). Without a, nobody signs under A'.
  auto kp = KeyPair::generate();
  PublicKey mixed;
  const Bytes32 m = plus_torsion(kp.public_key());
  std::copy(m.begin(), m.end(), mixed.begin());
  int libsodium_refused = 0;
  for (int i = 0; i < 16; ++i) {
    const std::string text = "mixed key " + std::to_string(i);
    const auto [r, r_enc] = fresh_nonce();
    const Signature sig = sign_with_r(kp, as_bytes(text), r_enc, r, &mixed);
    CHECK(verify(mixed, as_bytes(text), sig));
    // [k]A' = [k]A + [k]T, and T has order 4: libsodium's equation holds
    // exactly when 4 divides k (k below L, little-endian).
    const bool four_divides_k = (challenge(r_enc, mixed, as_bytes(text))[0] & 3) == 0;
    const bool libsodium_accepts = libsodium_verify(mixed, as_bytes(text), sig);
    CHECK(libsodium_accepts == four_divides_k);
    libsodium_refused += !libsodium_accepts;
    // The honest key does not verify it, nor does A' verify kp's own signature.
    CHECK_FALSE(verify(kp.public_key(), as_bytes(text), sig));
    CHECK_FALSE(verify(mixed, as_bytes(text), kp.sign(as_bytes(text))));
  }
  // Some refused (3 in 4 on average): P(none of 16) is 4^-16.
  CHECK(libsodium_refused > 0);
}

TEST_CASE("ed25519 batch: every verdict is verify()'s, whatever the items are") {
  // Honest signatures mixed with every kind of spoiled, hostile and random
  // one, in batches of several sizes: item by item, verify_batch must say
  // what verify says, and both must agree with libsodium wherever libsodium
  // accepts (libsodium's yes implies ours).
  std::mt19937 rng(99);
  std::vector<KeyPair> keys;
  for (int i = 0; i < 3; ++i) keys.push_back(KeyPair::generate());
  struct Item {
    PublicKey pk;
    Bytes msg;
    Signature sig;
  };
  std::vector<Item> items;
  for (int i = 0; i < 600; ++i) {
    const KeyPair& kp = keys[rng() % keys.size()];
    Item it{kp.public_key(), Bytes(50 + rng() % 200), {}};
    for (auto& b : it.msg) b = static_cast<std::uint8_t>(rng());
    it.sig = kp.sign(ByteView(it.msg));
    switch (rng() % 12) {
      case 0:  // random bytes throughout
        for (auto& b : it.sig) b = static_cast<std::uint8_t>(rng());
        for (auto& b : it.pk) b = static_cast<std::uint8_t>(rng());
        break;
      case 1: {  // R another valid point
        const Bytes32 p = random_point();
        std::copy(p.begin(), p.end(), it.sig.begin());
        break;
      }
      case 2: {  // R plus the order-4 point, S as the key's holder computes it
        const auto [r, r_enc] = fresh_nonce();
        it.sig = sign_with_r(kp, ByteView(it.msg), plus_torsion(r_enc), r);
        break;
      }
      case 3:  // R of small order with S = k a
        it.sig = sign_with_r(kp, ByteView(it.msg), kOrder4, Bytes32{});
        break;
      case 4:  // the key plus the order-4 point
      {
        const Bytes32 m = plus_torsion(kp.public_key());
        std::copy(m.begin(), m.end(), it.pk.begin());
        break;
      }
      case 5:  // S's top bits set: not canonical
        it.sig[63] |= 0xf0;
        break;
      case 6:  // the message changed
        it.msg[rng() % it.msg.size()] ^= 1;
        break;
      case 7:  // R's sign bit flipped: -R's x
        it.sig[31] ^= 0x80;
        break;
      default:  // honest
        break;
    }
    items.push_back(std::move(it));
  }
  std::size_t accepted = 0, beyond_libsodium = 0;
  for (std::size_t size : {4, 7, 64, 600}) {
    for (std::size_t begin = 0; begin + size <= items.size(); begin += size) {
      std::vector<SignedMessage> views;
      for (std::size_t i = begin; i < begin + size; ++i)
        views.push_back({&items[i].pk, ByteView(items[i].msg), &items[i].sig});
      const auto ok = verify_batch(views);
      CHECK(ok == verify_batch(views));  // the same items, the same verdicts
      for (std::size_t i = 0; i < size; ++i) {
        const Item& it = items[begin + i];
        const bool one = verify(it.pk, ByteView(it.msg), it.sig);
        const bool sodium = libsodium_verify(it.pk, ByteView(it.msg), it.sig);
        CAPTURE(begin + i);
        CHECK(static_cast<bool>(ok[i]) == one);
        if (sodium) CHECK(one);
        if (size == 600) {
          accepted += one;
          beyond_libsodium += one && !sodium;
        }
      }
    }
  }
  // The mix holds honest items, refused ones and ones only the cofactored
  // equation accepts.
  CHECK(accepted > 200);
  CHECK(accepted < 500);
  CHECK(beyond_libsodium > 20);
}
