// Ed25519 verification under the cofactored equation, one signature or many
// (docs/adr/039). The curve arithmetic is edwards25519.cpp; scalars mod L and
// SHA-512 are libsodium's.
#include <sodium.h>

#include <cstring>
#include <map>

#include "edwards25519.hpp"
#include "emledger/crypto/ed25519.hpp"

namespace emledger::crypto {

namespace {

using Scalar = std::array<std::uint8_t, 32>;

// Fewer items than this are checked one by one: libsodium first.
constexpr std::size_t kBatchMin = 4;
// A failed combination of this many items or fewer is settled item by item.
constexpr std::size_t kSplitLeaf = 2;

bool scalar_is_canonical(const std::uint8_t s[32]) {
  std::uint8_t wide[64] = {};
  std::memcpy(wide, s, 32);
  std::uint8_t reduced[32];
  crypto_core_ed25519_scalar_reduce(reduced, wide);
  return std::memcmp(reduced, s, 32) == 0;
}

// k = SHA-512(R || A || M) mod L.
Scalar challenge(const Signature& sig, const PublicKey& pk, ByteView message) {
  crypto_hash_sha512_state st;
  crypto_hash_sha512_init(&st);
  crypto_hash_sha512_update(&st, sig.data(), 32);
  crypto_hash_sha512_update(&st, pk.data(), pk.size());
  crypto_hash_sha512_update(&st, message.data(), message.size());
  std::uint8_t digest[64];
  crypto_hash_sha512_final(&st, digest);
  Scalar k;
  crypto_core_ed25519_scalar_reduce(k.data(), digest);
  return k;
}

// A decoded, negated public key, or none when it is not acceptable.
bool decode_key(ed::Point& minus_a, const PublicKey& pk) {
  return ed::decode(minus_a, pk.data(), /*negate=*/true) && !ed::has_small_order(minus_a);
}

// One signature's terms of the equation, once its encodings passed.
struct Term {
  ed::Point minus_r;
  Scalar s;
  Scalar k;
  Scalar z;           // the coefficient, below 2^128 (batch_coefficients)
  std::uint32_t key;  // index into the batch's keys
};

bool make_term(Term& t, const SignedMessage& m) {
  const Signature& sig = *m.signature;
  if (!scalar_is_canonical(sig.data() + 32)) return false;
  if (!ed::decode(t.minus_r, sig.data(), /*negate=*/true) || ed::has_small_order(t.minus_r))
    return false;
  std::memcpy(t.s.data(), sig.data() + 32, 32);
  t.k = challenge(sig, *m.public_key, m.message);
  return true;
}

// Whether [8]( sum z_i (S_i B - R_i - k_i A_i) ) is the identity, z_i being
// each term's 128-bit coefficient. When any one equation fails, a
// combination passes with probability about 2^-127 over the coefficients,
// which come from a hash of every term (batch_coefficients) and so cannot be
// chosen by whoever wrote the items.
bool combination_holds(std::span<const Term> terms, std::span<const std::uint32_t> which,
                       std::span<const ed::Point> minus_keys) {
  const std::size_t m = which.size();
  std::vector<ed::Point> rs;
  rs.reserve(m);
  std::vector<std::uint8_t> zs(32 * m, 0);
  // Coefficients of B and of each key.
  std::vector<std::uint8_t> coef(32 * (1 + minus_keys.size()), 0);
  std::vector<std::uint8_t> key_used(minus_keys.size(), 0);
  Scalar t;
  for (std::size_t j = 0; j < m; ++j) {
    const Term& term = terms[which[j]];
    std::uint8_t* z = zs.data() + 32 * j;
    std::memcpy(z, term.z.data(), term.z.size());
    rs.push_back(term.minus_r);
    crypto_core_ed25519_scalar_mul(t.data(), z, term.s.data());
    crypto_core_ed25519_scalar_add(coef.data(), coef.data(), t.data());
    std::uint8_t* ck = coef.data() + 32 * (1 + term.key);
    crypto_core_ed25519_scalar_mul(t.data(), z, term.k.data());
    crypto_core_ed25519_scalar_add(ck, ck, t.data());
    key_used[term.key] = 1;
  }
  std::vector<ed::Point> fixed{ed::base_point()};
  std::vector<std::uint8_t> fixed_coef(coef.begin(), coef.begin() + 32);
  for (std::size_t k = 0; k < minus_keys.size(); ++k) {
    if (!key_used[k]) continue;
    fixed.push_back(minus_keys[k]);
    fixed_coef.insert(fixed_coef.end(), coef.begin() + 32 * (1 + k), coef.begin() + 32 * (2 + k));
  }
  const ed::Point q = ed::add(ed::multi_scalar_mul(rs, zs, 128),
                              ed::to_cached(ed::multi_scalar_mul(fixed, fixed_coef, 253)));
  return ed::has_small_order(q);  // [8]Q is the identity
}

// Each term's coefficient: 16 bytes of a ChaCha20 stream keyed by SHA-512 of
// every term's R, A, S and k, in order. Deterministic, so that every node
// reaches the same verdicts with no randomness (the kernel's rule), and
// unpredictable to whoever writes the items until they are all written.
void batch_coefficients(std::span<Term> terms, std::span<const std::uint32_t> which,
                        std::span<const SignedMessage> items) {
  crypto_hash_sha512_state st;
  crypto_hash_sha512_init(&st);
  static constexpr char kDomain[] = "emledger ed25519 batch coefficients v1";
  crypto_hash_sha512_update(&st, reinterpret_cast<const std::uint8_t*>(kDomain),
                            sizeof kDomain - 1);
  for (std::uint32_t i : which) {
    crypto_hash_sha512_update(&st, items[i].signature->data(), 64);  // R and S
    crypto_hash_sha512_update(&st, items[i].public_key->data(), 32);
    crypto_hash_sha512_update(&st, terms[i].k.data(), 32);
  }
  std::uint8_t digest[64];
  crypto_hash_sha512_final(&st, digest);
  std::vector<std::uint8_t> stream(16 * which.size());
  const std::uint8_t nonce[crypto_stream_chacha20_NONCEBYTES] = {};
  crypto_stream_chacha20(stream.data(), stream.size(), nonce, digest);
  for (std::size_t j = 0; j < which.size(); ++j) {
    Scalar& z = terms[which[j]].z;
    z.fill(0);
    std::memcpy(z.data(), stream.data() + 16 * j, 16);
    z[0] |= 1;  // never zero
  }
}

void settle_one_by_one(std::span<const Term> terms, std::span<const std::uint32_t> which,
                       std::span<const ed::Point> minus_keys, std::vector<std::uint8_t>& ok) {
  for (std::uint32_t i : which) ok[i] = combination_holds(terms, std::span(&i, 1), minus_keys);
}

// Sets ok[] for the items of `which`, whose combination failed. Halves are
// checked; the one that fails is split again, and when both fail (several
// invalid items) both are settled one by one. So one invalid item costs
// about two more combinations of the batch, and a batch of invalid items
// about one equation each beyond the first two checks: never much more
// than verifying one by one.
void settle_failed(std::span<const Term> terms, std::span<const std::uint32_t> which,
                   std::span<const ed::Point> minus_keys, std::vector<std::uint8_t>& ok) {
  if (which.size() <= kSplitLeaf) return settle_one_by_one(terms, which, minus_keys, ok);
  const auto a = which.first(which.size() / 2), b = which.subspan(which.size() / 2);
  const bool a_holds = combination_holds(terms, a, minus_keys);
  const bool b_holds = combination_holds(terms, b, minus_keys);
  for (std::uint32_t i : a) ok[i] = a_holds;
  for (std::uint32_t i : b) ok[i] = b_holds;
  if (!a_holds && !b_holds) {
    settle_one_by_one(terms, a, minus_keys, ok);
    settle_one_by_one(terms, b, minus_keys, ok);
  } else if (!a_holds) {
    settle_failed(terms, a, minus_keys, ok);
  } else if (!b_holds) {
    settle_failed(terms, b, minus_keys, ok);
  }
}

// The cofactored equation alone, for a signature libsodium refused.
bool verify_cofactored(const PublicKey& pk, ByteView message, const Signature& sig) {
  ed::Point minus_a;
  if (!decode_key(minus_a, pk)) return false;
  Term t;
  t.key = 0;
  if (!make_term(t, SignedMessage{&pk, message, &sig})) return false;
  t.z.fill(0);
  t.z[0] = 1;  // one equation needs no combining
  const std::uint32_t only = 0;
  return combination_holds(std::span(&t, 1), std::span(&only, 1), std::span(&minus_a, 1));
}

}  // namespace

bool verify(const PublicKey& pk, ByteView message, const Signature& sig) {
  ensure_sodium();
  // libsodium checks [S]B - [k]A = R exactly, which implies the cofactored
  // equation; only what it refuses needs the cofactored check.
  if (crypto_sign_verify_detached(sig.data(), message.data(), message.size(), pk.data()) == 0)
    return true;
  return verify_cofactored(pk, message, sig);
}

std::vector<std::uint8_t> verify_batch(std::span<const SignedMessage> items) {
  ensure_sodium();
  std::vector<std::uint8_t> ok(items.size(), 0);
  if (items.size() < kBatchMin) {
    for (std::size_t i = 0; i < items.size(); ++i)
      ok[i] = verify(*items[i].public_key, items[i].message, *items[i].signature);
    return ok;
  }
  // Each distinct key is decoded once; std::map keeps this deterministic.
  std::map<PublicKey, std::uint32_t> key_index;
  std::vector<ed::Point> minus_keys;
  std::vector<std::uint8_t> key_ok;
  std::vector<Term> terms(items.size());
  std::vector<std::uint32_t> which;
  which.reserve(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    const SignedMessage& m = items[i];
    auto [it, fresh] =
        key_index.emplace(*m.public_key, static_cast<std::uint32_t>(minus_keys.size()));
    if (fresh) {
      minus_keys.emplace_back();
      key_ok.push_back(decode_key(minus_keys.back(), *m.public_key) ? 1 : 0);
    }
    if (!key_ok[it->second]) continue;
    terms[i].key = it->second;
    if (make_term(terms[i], m)) which.push_back(static_cast<std::uint32_t>(i));
  }
  if (which.empty()) return ok;
  batch_coefficients(terms, which, items);
  if (combination_holds(terms, which, minus_keys)) {
    for (std::uint32_t i : which) ok[i] = 1;
  } else {
    settle_failed(terms, which, minus_keys, ok);
  }
  return ok;
}

}  // namespace emledger::crypto
