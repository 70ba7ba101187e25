#include "edwards25519.hpp"

#include <algorithm>
#include <cstring>

namespace emledger::crypto::ed {

namespace {

using u64 = std::uint64_t;
using u128 = unsigned __int128;
constexpr u64 kMask51 = (u64{1} << 51) - 1;

u64 load64(const std::uint8_t* p) {
  u64 x;
  std::memcpy(&x, p, 8);  // x86-64 and the other targets of Debian's g++ here are little endian
  return x;
}

// Five 128-bit column sums to carried limbs.
Fe carry_wide(u128 t0, u128 t1, u128 t2, u128 t3, u128 t4) {
  t1 += static_cast<u64>(t0 >> 51);
  t2 += static_cast<u64>(t1 >> 51);
  t3 += static_cast<u64>(t2 >> 51);
  t4 += static_cast<u64>(t3 >> 51);
  const u128 r0 = (static_cast<u64>(t0) & kMask51) + static_cast<u128>(t4 >> 51) * 19;
  Fe r;
  r.v[0] = static_cast<u64>(r0) & kMask51;
  r.v[1] = (static_cast<u64>(t1) & kMask51) + static_cast<u64>(r0 >> 51);
  r.v[2] = static_cast<u64>(t2) & kMask51;
  r.v[3] = static_cast<u64>(t3) & kMask51;
  r.v[4] = static_cast<u64>(t4) & kMask51;
  return r;
}

// Moves each limb's bits above 51 into the next, from limb 0 to limb 4;
// returns what leaves limb 4 (multiples of 2^255).
[[gnu::always_inline]] inline u64 propagate(Fe& a) {
  a.v[1] += a.v[0] >> 51;
  a.v[0] &= kMask51;
  a.v[2] += a.v[1] >> 51;
  a.v[1] &= kMask51;
  a.v[3] += a.v[2] >> 51;
  a.v[2] &= kMask51;
  a.v[4] += a.v[3] >> 51;
  a.v[3] &= kMask51;
  const u64 out = a.v[4] >> 51;
  a.v[4] &= kMask51;
  return out;
}

// Limbs below 2^64 to carried limbs (2^255 = 19 mod p).
[[gnu::always_inline]] inline Fe carry(Fe a) {
  a.v[0] += propagate(a) * 19;
  return a;
}

Fe fe_small(u64 x) { return Fe{{x, 0, 0, 0, 0}}; }

Fe fe_neg(const Fe& a) { return fe_sub(fe_small(0), a); }

Fe fe_sq_times(Fe a, int n) {
  for (int i = 0; i < n; ++i) a = fe_sq(a);
  return a;
}

// a^(2^250 - 1), with a^11 on the side: the common trunk of inversion and
// of the square root's exponent (p - 5) / 8.
Fe pow_2_250_minus_1(const Fe& a, Fe& a11) {
  const Fe a2 = fe_sq(a);
  const Fe a9 = fe_mul(fe_sq_times(a2, 2), a);
  a11 = fe_mul(a9, a2);
  const Fe e5 = fe_mul(fe_sq(a11), a9);  // 2^5 - 1
  const Fe e10 = fe_mul(fe_sq_times(e5, 5), e5);
  const Fe e20 = fe_mul(fe_sq_times(e10, 10), e10);
  const Fe e40 = fe_mul(fe_sq_times(e20, 20), e20);
  const Fe e50 = fe_mul(fe_sq_times(e40, 10), e10);
  const Fe e100 = fe_mul(fe_sq_times(e50, 50), e50);
  const Fe e200 = fe_mul(fe_sq_times(e100, 100), e100);
  return fe_mul(fe_sq_times(e200, 50), e50);
}

Fe fe_invert(const Fe& a) {  // a^(p - 2) = a^(2^255 - 21)
  Fe a11;
  const Fe e250 = pow_2_250_minus_1(a, a11);
  return fe_mul(fe_sq_times(e250, 5), a11);
}

Fe fe_pow_p58(const Fe& a) {  // a^((p - 5) / 8) = a^(2^252 - 3)
  Fe a11;
  const Fe e250 = pow_2_250_minus_1(a, a11);
  return fe_mul(fe_sq_times(e250, 2), a);
}

bool fe_equal(const Fe& a, const Fe& b) { return fe_is_zero(fe_sub(a, b)); }

struct Constants {
  Fe d, d2, sqrt_m1;
  Point base;
};

const Constants& constants() {
  static const Constants k = [] {
    Constants c;
    // d = -121665 / 121666 (RFC 8032 section 5.1).
    c.d = fe_mul(fe_neg(fe_small(121665)), fe_invert(fe_small(121666)));
    c.d2 = carry(fe_add(c.d, c.d));
    // 2 is not a square mod p (p = 5 mod 8), so 2^((p - 1) / 4) squares to -1;
    // (p - 1) / 4 = 2 (2^252 - 3) + 1.
    c.sqrt_m1 = fe_mul(fe_sq(fe_pow_p58(fe_small(2))), fe_small(2));
    return c;
  }();
  return k;
}

}  // namespace

Fe fe_from_bytes(const std::uint8_t in[32]) {
  Fe r;
  r.v[0] = load64(in) & kMask51;
  r.v[1] = (load64(in + 6) >> 3) & kMask51;
  r.v[2] = (load64(in + 12) >> 6) & kMask51;
  r.v[3] = (load64(in + 19) >> 1) & kMask51;
  r.v[4] = (load64(in + 24) >> 12) & kMask51;
  return r;
}

void fe_to_bytes(std::uint8_t out[32], Fe a) {
  a = carry(carry(a));
  // Now a < 2^255 + 2^13. Subtract p once if a >= p: q is 1 exactly then.
  u64 q = (a.v[0] + 19) >> 51;
  q = (a.v[1] + q) >> 51;
  q = (a.v[2] + q) >> 51;
  q = (a.v[3] + q) >> 51;
  q = (a.v[4] + q) >> 51;
  a.v[0] += 19 * q;
  propagate(a);  // what leaves limb 4 is 2^255, completing the subtraction of p
  const u64 w0 = a.v[0] | (a.v[1] << 51);
  const u64 w1 = (a.v[1] >> 13) | (a.v[2] << 38);
  const u64 w2 = (a.v[2] >> 26) | (a.v[3] << 25);
  const u64 w3 = (a.v[3] >> 39) | (a.v[4] << 12);
  std::memcpy(out, &w0, 8);
  std::memcpy(out + 8, &w1, 8);
  std::memcpy(out + 16, &w2, 8);
  std::memcpy(out + 24, &w3, 8);
}

Fe fe_mul(const Fe& a, const Fe& b) {
  const u64 b1_19 = b.v[1] * 19, b2_19 = b.v[2] * 19, b3_19 = b.v[3] * 19, b4_19 = b.v[4] * 19;
  const u128 t0 = static_cast<u128>(a.v[0]) * b.v[0] + static_cast<u128>(a.v[1]) * b4_19 +
                  static_cast<u128>(a.v[2]) * b3_19 + static_cast<u128>(a.v[3]) * b2_19 +
                  static_cast<u128>(a.v[4]) * b1_19;
  const u128 t1 = static_cast<u128>(a.v[0]) * b.v[1] + static_cast<u128>(a.v[1]) * b.v[0] +
                  static_cast<u128>(a.v[2]) * b4_19 + static_cast<u128>(a.v[3]) * b3_19 +
                  static_cast<u128>(a.v[4]) * b2_19;
  const u128 t2 = static_cast<u128>(a.v[0]) * b.v[2] + static_cast<u128>(a.v[1]) * b.v[1] +
                  static_cast<u128>(a.v[2]) * b.v[0] + static_cast<u128>(a.v[3]) * b4_19 +
                  static_cast<u128>(a.v[4]) * b3_19;
  const u128 t3 = static_cast<u128>(a.v[0]) * b.v[3] + static_cast<u128>(a.v[1]) * b.v[2] +
                  static_cast<u128>(a.v[2]) * b.v[1] + static_cast<u128>(a.v[3]) * b.v[0] +
                  static_cast<u128>(a.v[4]) * b4_19;
  const u128 t4 = static_cast<u128>(a.v[0]) * b.v[4] + static_cast<u128>(a.v[1]) * b.v[3] +
                  static_cast<u128>(a.v[2]) * b.v[2] + static_cast<u128>(a.v[3]) * b.v[1] +
                  static_cast<u128>(a.v[4]) * b.v[0];
  return carry_wide(t0, t1, t2, t3, t4);
}

Fe fe_sq(const Fe& a) {
  const u64 d0 = a.v[0] * 2, d1 = a.v[1] * 2;
  const u64 a3_19 = a.v[3] * 19, a4_19 = a.v[4] * 19;
  const u128 t0 = static_cast<u128>(a.v[0]) * a.v[0] + static_cast<u128>(d1) * a4_19 +
                  static_cast<u128>(a.v[2] * 2) * a3_19;
  const u128 t1 = static_cast<u128>(d0) * a.v[1] + static_cast<u128>(a.v[2] * 2) * a4_19 +
                  static_cast<u128>(a.v[3]) * a3_19;
  const u128 t2 = static_cast<u128>(d0) * a.v[2] + static_cast<u128>(a.v[1]) * a.v[1] +
                  static_cast<u128>(a.v[3] * 2) * a4_19;
  const u128 t3 = static_cast<u128>(d0) * a.v[3] + static_cast<u128>(d1) * a.v[2] +
                  static_cast<u128>(a.v[4]) * a4_19;
  const u128 t4 = static_cast<u128>(d0) * a.v[4] + static_cast<u128>(d1) * a.v[3] +
                  static_cast<u128>(a.v[2]) * a.v[2];
  return carry_wide(t0, t1, t2, t3, t4);
}

Fe fe_add(const Fe& a, const Fe& b) {
  return Fe{{a.v[0] + b.v[0], a.v[1] + b.v[1], a.v[2] + b.v[2], a.v[3] + b.v[3], a.v[4] + b.v[4]}};
}

Fe fe_sub(const Fe& a, const Fe& b) {
  // a + 4p - b: 4p's limbs are 2^53 - 76 and 2^53 - 4, above any b allowed.
  constexpr u64 k4p0 = (u64{1} << 53) - 76, k4p = (u64{1} << 53) - 4;
  return carry(Fe{{a.v[0] + k4p0 - b.v[0], a.v[1] + k4p - b.v[1], a.v[2] + k4p - b.v[2],
                   a.v[3] + k4p - b.v[3], a.v[4] + k4p - b.v[4]}});
}

bool fe_is_zero(const Fe& a) {
  std::uint8_t b[32];
  fe_to_bytes(b, a);
  std::uint8_t acc = 0;
  for (std::uint8_t x : b) acc |= x;
  return acc == 0;
}

bool fe_is_negative(const Fe& a) {
  std::uint8_t b[32];
  fe_to_bytes(b, a);
  return (b[0] & 1) != 0;
}

Point identity() { return Point{fe_small(0), fe_small(1), fe_small(1), fe_small(0)}; }

Point base_point() {
  // B has y = 4/5 and a positive (even) x (RFC 8032 section 5.1).
  static const Point b = [] {
    std::uint8_t enc[32];
    fe_to_bytes(enc, fe_mul(fe_small(4), fe_invert(fe_small(5))));
    Point p;
    decode(p, enc);  // the sign bit is 0 in `enc`
    return p;
  }();
  return b;
}

bool decode(Point& out, const std::uint8_t in[32], bool negate) {
  const Constants& k = constants();
  const Fe y = fe_from_bytes(in);
  const bool sign = (in[31] >> 7) != 0;
  std::uint8_t canonical[32];
  fe_to_bytes(canonical, y);
  canonical[31] |= static_cast<std::uint8_t>(in[31] & 0x80);
  if (std::memcmp(canonical, in, 32) != 0) return false;  // y >= p
  // x^2 = u / v with u = y^2 - 1, v = d y^2 + 1; x = u v^3 (u v^7)^((p-5)/8).
  const Fe y2 = fe_sq(y);
  const Fe u = fe_sub(y2, fe_small(1));
  const Fe v = carry(fe_add(fe_mul(k.d, y2), fe_small(1)));
  const Fe v3 = fe_mul(fe_sq(v), v);
  const Fe v7 = fe_mul(fe_sq(v3), v);
  Fe x = fe_mul(fe_mul(u, v3), fe_pow_p58(fe_mul(u, v7)));
  const Fe vx2 = fe_mul(v, fe_sq(x));
  if (!fe_equal(vx2, u)) {
    if (!fe_is_zero(carry(fe_add(vx2, u)))) return false;  // u / v is not a square
    x = fe_mul(x, k.sqrt_m1);
  }
  const bool x_zero = fe_is_zero(x);
  if (x_zero && sign) return false;
  if (fe_is_negative(x) != sign) x = fe_neg(x);
  if (negate) x = fe_neg(x);
  out.X = x;
  out.Y = y;
  out.Z = fe_small(1);
  out.T = fe_mul(x, y);
  return true;
}

void encode(std::uint8_t out[32], const Point& p) {
  const Fe zi = fe_invert(p.Z);
  const Fe x = fe_mul(p.X, zi);
  fe_to_bytes(out, fe_mul(p.Y, zi));
  if (fe_is_negative(x)) out[31] |= 0x80;
}

Cached to_cached(const Point& p) {
  return Cached{fe_add(p.Y, p.X), fe_sub(p.Y, p.X), fe_add(p.Z, p.Z), fe_mul(p.T, constants().d2)};
}

// "add-2008-hwcd-3" of Hisil, Wong, Carter and Dawson (a = -1, k = 2d):
// complete on this curve, so it also adds a point to itself or the identity.
Point add(const Point& p, const Cached& q) {
  const Fe a = fe_mul(fe_sub(p.Y, p.X), q.YmX);
  const Fe b = fe_mul(fe_add(p.Y, p.X), q.YpX);
  const Fe c = fe_mul(p.T, q.T2d);
  const Fe d = fe_mul(p.Z, q.Z2);
  const Fe e = fe_sub(b, a), f = fe_sub(d, c), g = fe_add(d, c), h = fe_add(b, a);
  return Point{fe_mul(e, f), fe_mul(g, h), fe_mul(f, g), fe_mul(e, h)};
}

// "dbl-2008-hwcd" (a = -1) with every output coordinate negated, which is
// the same projective point and spares two negations.
Point dbl(const Point& p) {
  const Fe a = fe_sq(p.X), b = fe_sq(p.Y), zz = fe_sq(p.Z);
  const Fe c = fe_add(zz, zz);
  const Fe h = fe_add(a, b);                        // -(D - B)
  const Fe e = fe_sub(fe_sq(fe_add(p.X, p.Y)), h);  // (X+Y)^2 - A - B
  const Fe g = fe_sub(b, a);                        // D + B
  const Fe f = fe_sub(c, g);                        // -(G - C)
  return Point{fe_mul(e, f), fe_mul(g, h), fe_mul(f, g), fe_mul(e, h)};
}

bool is_identity(const Point& p) { return fe_is_zero(p.X) && fe_equal(p.Y, p.Z); }

bool has_small_order(const Point& p) { return is_identity(dbl(dbl(dbl(p)))); }

namespace {

unsigned digit_at(const std::uint8_t* s, unsigned pos, unsigned width) {
  const unsigned byte = pos / 8, shift = pos % 8;
  std::uint32_t w = s[byte];
  if (byte + 1 < 32) w |= static_cast<std::uint32_t>(s[byte + 1]) << 8;
  if (byte + 2 < 32) w |= static_cast<std::uint32_t>(s[byte + 2]) << 16;
  return (w >> shift) & ((1u << width) - 1);
}

std::uint64_t straus_cost(std::uint64_t n, unsigned bits) { return n * (14 + (bits + 3) / 4); }

std::uint64_t pippenger_cost(std::uint64_t n, unsigned bits, unsigned c) {
  return static_cast<std::uint64_t>((bits + c - 1) / c) * (n + (std::uint64_t{2} << c));
}

Point straus(std::span<const Point> points, const std::uint8_t* scalars, unsigned bits) {
  const std::size_t n = points.size();
  std::vector<Cached> table(n * 15);  // table[15 i + k - 1] = k * points[i]
  for (std::size_t i = 0; i < n; ++i) {
    Point m = points[i];
    table[15 * i] = to_cached(m);
    for (unsigned k = 2; k <= 15; ++k) {
      m = add(m, table[15 * i]);
      table[15 * i + k - 1] = to_cached(m);
    }
  }
  Point acc = identity();
  bool started = false;
  for (int w = static_cast<int>((bits + 3) / 4) - 1; w >= 0; --w) {
    if (started)
      for (int j = 0; j < 4; ++j) acc = dbl(acc);
    for (std::size_t i = 0; i < n; ++i) {
      const unsigned d = digit_at(scalars + 32 * i, static_cast<unsigned>(w) * 4, 4);
      if (d == 0) continue;
      acc = add(acc, table[15 * i + d - 1]);
      started = true;
    }
  }
  return acc;
}

Point pippenger(std::span<const Point> points, const std::uint8_t* scalars, unsigned bits,
                unsigned c) {
  const std::size_t n = points.size();
  std::vector<Cached> cached(n);
  for (std::size_t i = 0; i < n; ++i) cached[i] = to_cached(points[i]);
  const std::size_t nb = (std::size_t{1} << c) - 1;
  std::vector<Point> bucket(nb);
  std::vector<std::uint8_t> filled(nb);
  Point acc = identity();
  bool started = false;
  for (int w = static_cast<int>((bits + c - 1) / c) - 1; w >= 0; --w) {
    if (started)
      for (unsigned j = 0; j < c; ++j) acc = dbl(acc);
    std::fill(filled.begin(), filled.end(), 0);
    const unsigned pos = static_cast<unsigned>(w) * c;
    const unsigned width = std::min(c, bits - pos);
    for (std::size_t i = 0; i < n; ++i) {
      const unsigned d = digit_at(scalars + 32 * i, pos, width);
      if (d == 0) continue;
      if (filled[d - 1]) {
        bucket[d - 1] = add(bucket[d - 1], cached[i]);
      } else {
        bucket[d - 1] = points[i];
        filled[d - 1] = 1;
      }
    }
    // sum over k of k * bucket[k-1], as the sum of the running sums.
    Point running{}, total{};
    bool have_running = false, have_total = false;
    for (std::size_t b = nb; b-- > 0;) {
      if (filled[b]) {
        running = have_running ? add(running, to_cached(bucket[b])) : bucket[b];
        have_running = true;
      }
      if (have_running) {
        total = have_total ? add(total, to_cached(running)) : running;
        have_total = true;
      }
    }
    if (have_total) {
      acc = add(acc, to_cached(total));
      started = true;
    }
  }
  return acc;
}

}  // namespace

Point multi_scalar_mul(std::span<const Point> points, std::span<const std::uint8_t> scalars,
                       unsigned bits) {
  if (points.empty()) return identity();
  const std::uint64_t n = points.size();
  unsigned best_c = 1;
  for (unsigned c = 2; c <= 16; ++c)
    if (pippenger_cost(n, bits, c) < pippenger_cost(n, bits, best_c)) best_c = c;
  if (straus_cost(n, bits) <= pippenger_cost(n, bits, best_c))
    return straus(points, scalars.data(), bits);
  return pippenger(points, scalars.data(), bits, best_c);
}

}  // namespace emledger::crypto::ed
