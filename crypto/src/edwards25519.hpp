// The field GF(2^255 - 19) and the twisted Edwards curve of Ed25519
// (RFC 8032 section 5.1), for verifying many signatures at once
// (ed25519_batch.cpp, docs/adr/039). Variable time: it handles public values
// only (keys, signatures, verifier-chosen coefficients), never a secret.
//
// Field elements are five limbs of 51 bits. Functions say what they accept:
// "carried" limbs are below 2^51 + 2^13; sums of two carried values are
// below 2^52.1, and `mul`, `sq` take limbs below 2^54.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace emledger::crypto::ed {

struct Fe {
  std::uint64_t v[5];
};

Fe fe_from_bytes(const std::uint8_t in[32]);   // bit 255 ignored; carried
void fe_to_bytes(std::uint8_t out[32], Fe a);  // the canonical encoding, < p
Fe fe_mul(const Fe& a, const Fe& b);           // carried
Fe fe_sq(const Fe& a);                         // carried
Fe fe_add(const Fe& a, const Fe& b);           // not carried
Fe fe_sub(const Fe& a, const Fe& b);           // b below 2^53; carried
bool fe_is_zero(const Fe& a);
bool fe_is_negative(const Fe& a);  // the low bit of the canonical encoding

// Extended coordinates (X:Y:Z:T) with x = X/Z, y = Y/Z, xy = T/Z.
struct Point {
  Fe X, Y, Z, T;
};
// A point ready to be added: Y+X, Y-X, 2Z, 2dT.
struct Cached {
  Fe YpX, YmX, Z2, T2d;
};

Point identity();
Point base_point();
// RFC 8032 section 5.1.3 decoding, refusing encodings of y >= p and of x = 0
// with the sign bit set. `negate` yields -P instead of P.
bool decode(Point& out, const std::uint8_t in[32], bool negate = false);
void encode(std::uint8_t out[32], const Point& p);
Cached to_cached(const Point& p);
Point add(const Point& p, const Cached& q);
Point dbl(const Point& p);
bool is_identity(const Point& p);
// [8]P is the identity: P is one of the eight points of small order. Also
// the cofactored equation's test, of its left side minus its right.
bool has_small_order(const Point& p);

// Sum of scalars[i] * points[i]; scalars are 32 bytes little endian, below
// 2^bits. Straus with 4-bit windows for a few points, Pippenger's buckets for
// many.
Point multi_scalar_mul(std::span<const Point> points, std::span<const std::uint8_t> scalars,
                       unsigned bits);

}  // namespace emledger::crypto::ed
