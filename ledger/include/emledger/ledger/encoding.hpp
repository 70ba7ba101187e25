// Canonical binary encoding (docs/formats/encoding.md).
//
// One description per type drives both directions: each serializable type has
//   template <class V> void describe(V& v)
// listing its fields in order through v.u8/u16/u32/u64/fixed/bytes/str/list/object.
// Encoder reads the fields, Decoder fills them. Integers are fixed-width
// big-endian; byte strings, strings and lists carry a u32 length prefix and a
// stated maximum. A top-level encoding starts with the type's domain tag
// (u8 length + ASCII) and a u8 version.
//
// decode<T>() rejects: a wrong tag, an unknown version, an over-long field, a
// truncated input, trailing bytes, invalid UTF-8, and anything that would not
// re-encode to the same bytes (T::check() may reject out-of-range enums).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "emledger/crypto/bytes.hpp"
#include "emledger/crypto/result.hpp"

namespace emledger::ledger {

class Encoder {
 public:
  static constexpr bool kDecoding = false;
  void u8(const std::uint8_t& v) { out_.push_back(v); }
  void u16(const std::uint16_t& v) { put_be(v, 2); }
  void u32(const std::uint32_t& v) { put_be(v, 4); }
  void u64(const std::uint64_t& v) { put_be(v, 8); }
  void boolean(const bool& v) { out_.push_back(v ? 1 : 0); }
  template <std::size_t N>
  void fixed(const std::array<std::uint8_t, N>& v) {
    out_.insert(out_.end(), v.begin(), v.end());
  }
  void bytes(const Bytes& v, std::size_t max) {
    EMLEDGER_ASSERT(v.size() <= max);
    u32(static_cast<std::uint32_t>(v.size()));
    out_.insert(out_.end(), v.begin(), v.end());
  }
  void str(const std::string& v, std::size_t max) {
    EMLEDGER_ASSERT(v.size() <= max);
    u32(static_cast<std::uint32_t>(v.size()));
    out_.insert(out_.end(), v.begin(), v.end());
  }
  template <class T>
  void object(const T& v) {
    const_cast<T&>(v).describe(*this);  // Encoder never writes through it.
  }
  template <class T>
  void list(const std::vector<T>& v, std::size_t max) {
    EMLEDGER_ASSERT(v.size() <= max);
    u32(static_cast<std::uint32_t>(v.size()));
    for (const auto& e : v) object(e);
  }
  void hash_list(const std::vector<Hash>& v, std::size_t max) {
    EMLEDGER_ASSERT(v.size() <= max);
    u32(static_cast<std::uint32_t>(v.size()));
    for (const auto& e : v) fixed(e);
  }
  void bytes_list(const std::vector<Bytes>& v, std::size_t max_count, std::size_t max_each) {
    EMLEDGER_ASSERT(v.size() <= max_count);
    u32(static_cast<std::uint32_t>(v.size()));
    for (const auto& e : v) bytes(e, max_each);
  }
  void str_list(const std::vector<std::string>& v, std::size_t max_count, std::size_t max_each) {
    EMLEDGER_ASSERT(v.size() <= max_count);
    u32(static_cast<std::uint32_t>(v.size()));
    for (const auto& e : v) str(e, max_each);
  }
  void tag(std::string_view domain, std::uint8_t version) {
    EMLEDGER_ASSERT(domain.size() < 256);
    out_.push_back(static_cast<std::uint8_t>(domain.size()));
    out_.insert(out_.end(), domain.begin(), domain.end());
    out_.push_back(version);
  }
  Bytes& out() { return out_; }
  void reserve(std::size_t bytes) { out_.reserve(bytes); }

 private:
  void put_be(std::uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  Bytes out_;
};

// The composite fields of a description walked as Encoder writes them: a u32
// count, then each element through the walker's own u32/fixed/bytes/str/object.
// Maxima are not checked: the walkers built on it read values already held.
template <class Walker>
class UncheckedWalk {
 public:
  template <class T>
  void object(const T& v) {
    const_cast<T&>(v).describe(self());  // the walkers never write through it
  }
  template <class T>
  void list(const std::vector<T>& v, std::size_t) {
    count(v.size());
    for (const auto& e : v) self().object(e);
  }
  void hash_list(const std::vector<Hash>& v, std::size_t) {
    count(v.size());
    for (const auto& e : v) self().fixed(e);
  }
  void bytes_list(const std::vector<Bytes>& v, std::size_t, std::size_t) {
    count(v.size());
    for (const auto& e : v) self().bytes(e, 0);
  }
  void str_list(const std::vector<std::string>& v, std::size_t, std::size_t) {
    count(v.size());
    for (const auto& e : v) self().str(e, 0);
  }

 private:
  Walker& self() { return static_cast<Walker&>(*this); }
  void count(std::size_t n) { self().u32(static_cast<std::uint32_t>(n)); }
};

// Counts the bytes Encoder writes for the same description, writing nothing:
// encode() sizes its output with it and allocates once, where a growing
// vector was reallocated and copied several times per value.
class EncodedSize : public UncheckedWalk<EncodedSize> {
 public:
  static constexpr bool kDecoding = false;
  void u8(const std::uint8_t&) { n_ += 1; }
  void u16(const std::uint16_t&) { n_ += 2; }
  void u32(const std::uint32_t&) { n_ += 4; }
  void u64(const std::uint64_t&) { n_ += 8; }
  void boolean(const bool&) { n_ += 1; }
  template <std::size_t N>
  void fixed(const std::array<std::uint8_t, N>&) {
    n_ += N;
  }
  void bytes(const Bytes& v, std::size_t) { n_ += 4 + v.size(); }
  void str(const std::string& v, std::size_t) { n_ += 4 + v.size(); }
  void tag(std::string_view domain, std::uint8_t) { n_ += 2 + domain.size(); }
  std::size_t size() const { return n_; }

 private:
  std::size_t n_ = 0;
};

// Walks a description as Encoder does and compares each byte it would write
// with `expected`, allocating nothing: decode()'s check that its input is the
// canonical encoding of what it read.
class EncodingMatch : public UncheckedWalk<EncodingMatch> {
 public:
  static constexpr bool kDecoding = false;
  explicit EncodingMatch(ByteView expected) : in_(expected) {}
  void u8(const std::uint8_t& v) { put_be(v, 1); }
  void u16(const std::uint16_t& v) { put_be(v, 2); }
  void u32(const std::uint32_t& v) { put_be(v, 4); }
  void u64(const std::uint64_t& v) { put_be(v, 8); }
  void boolean(const bool& v) { put_be(v ? 1 : 0, 1); }
  template <std::size_t N>
  void fixed(const std::array<std::uint8_t, N>& v) {
    put(v.data(), N);
  }
  void bytes(const Bytes& v, std::size_t) {
    u32(static_cast<std::uint32_t>(v.size()));
    put(v.data(), v.size());
  }
  void str(const std::string& v, std::size_t) {
    u32(static_cast<std::uint32_t>(v.size()));
    put(reinterpret_cast<const std::uint8_t*>(v.data()), v.size());
  }
  template <class T>
  void object(const T& v) {
    if (same_) UncheckedWalk::object(v);  // stops at the first difference
  }
  void tag(std::string_view domain, std::uint8_t version) {
    u8(static_cast<std::uint8_t>(domain.size()));
    put(reinterpret_cast<const std::uint8_t*>(domain.data()), domain.size());
    u8(version);
  }
  // Every byte written matched, and the expected bytes are all used.
  bool matches() const { return same_ && pos_ == in_.size(); }

 private:
  void put_be(std::uint64_t v, int n) {
    std::uint8_t b[8];
    for (int i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(v >> (8 * (n - 1 - i)));
    put(b, static_cast<std::size_t>(n));
  }
  void put(const std::uint8_t* p, std::size_t n) {
    if (!same_ || in_.size() - pos_ < n || !std::equal(p, p + n, in_.begin() + pos_)) {
      same_ = false;
      return;
    }
    pos_ += n;
  }
  ByteView in_;
  std::size_t pos_ = 0;
  bool same_ = true;
};

class Decoder {
 public:
  static constexpr bool kDecoding = true;
  explicit Decoder(ByteView in) : in_(in) {}
  void u8(std::uint8_t& v) { v = static_cast<std::uint8_t>(get_be(1)); }
  void u16(std::uint16_t& v) { v = static_cast<std::uint16_t>(get_be(2)); }
  void u32(std::uint32_t& v) { v = static_cast<std::uint32_t>(get_be(4)); }
  void u64(std::uint64_t& v) { v = get_be(8); }
  void boolean(bool& v) {
    std::uint8_t b = static_cast<std::uint8_t>(get_be(1));
    if (b > 1) fail("boolean out of range");
    v = b == 1;
  }
  template <std::size_t N>
  void fixed(std::array<std::uint8_t, N>& v) {
    if (!take(N)) return;
    std::copy(in_.begin() + pos_ - N, in_.begin() + pos_, v.begin());
  }
  void bytes(Bytes& v, std::size_t max) {
    std::size_t n = length(max);
    if (!take(n)) return;
    v.assign(in_.begin() + pos_ - n, in_.begin() + pos_);
  }
  void str(std::string& v, std::size_t max);
  template <class T>
  void object(T& v) {
    if (ok()) v.describe(*this);
  }
  template <class T>
  void list(std::vector<T>& v, std::size_t max) {
    std::size_t n = length(max);
    v.clear();
    for (std::size_t i = 0; i < n && ok(); ++i) object(v.emplace_back());
  }
  void hash_list(std::vector<Hash>& v, std::size_t max) {
    std::size_t n = length(max);
    v.clear();
    for (std::size_t i = 0; i < n && ok(); ++i) fixed(v.emplace_back());
  }
  void bytes_list(std::vector<Bytes>& v, std::size_t max_count, std::size_t max_each) {
    std::size_t n = length(max_count);
    v.clear();
    for (std::size_t i = 0; i < n && ok(); ++i) bytes(v.emplace_back(), max_each);
  }
  void str_list(std::vector<std::string>& v, std::size_t max_count, std::size_t max_each) {
    std::size_t n = length(max_count);
    v.clear();
    for (std::size_t i = 0; i < n && ok(); ++i) str(v.emplace_back(), max_each);
  }
  void tag(std::string_view domain, std::uint8_t version);

  bool ok() const { return status_.is_ok(); }
  bool at_end() const { return pos_ == in_.size(); }
  const Status& status() const { return status_; }
  void fail(const std::string& why) {
    if (ok()) status_ = Status::error("MALFORMED_ENCODING", why);
  }

 private:
  bool take(std::size_t n) {
    if (!ok()) return false;
    if (in_.size() - pos_ < n) {
      fail("truncated input");
      return false;
    }
    pos_ += n;
    return true;
  }
  std::uint64_t get_be(int n) {
    if (!take(static_cast<std::size_t>(n))) return 0;
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) v = v << 8 | in_[pos_ - static_cast<std::size_t>(n) + i];
    return v;
  }
  std::size_t length(std::size_t max) {
    std::uint32_t n = 0;
    u32(n);
    if (ok() && n > max) fail("field longer than its maximum");
    return ok() ? n : 0;
  }
  ByteView in_;
  std::size_t pos_ = 0;
  Status status_;
};

// Types with a top-level encoding declare kDomain, kVersion, describe() and
// optionally `Status check() const` for semantic range checks.
template <class T>
concept HasCheck = requires(const T& t) {
  { t.check() } -> std::same_as<Status>;
};

template <class T>
Bytes encode(const T& v) {
  EncodedSize size;
  size.tag(T::kDomain, T::kVersion);
  size.object(v);
  Encoder e;
  e.reserve(size.size());
  e.tag(T::kDomain, T::kVersion);
  e.object(v);
  return std::move(e.out());
}

// True when `bytes` is exactly encode(v), computed without building it.
template <class T>
bool is_encoding_of(const T& v, ByteView bytes) {
  EncodingMatch m(bytes);
  m.tag(T::kDomain, T::kVersion);
  m.object(v);
  return m.matches();
}

template <class T>
Result<T> decode(ByteView in) {
  Decoder d(in);
  T v{};
  d.tag(T::kDomain, T::kVersion);
  d.object(v);
  if (d.ok() && !d.at_end()) d.fail("trailing bytes");
  if (!d.ok())
    return Status::error(d.status().code(), std::string(T::kDomain) + ": " + d.status().message());
  if constexpr (HasCheck<T>) {
    Status st = v.check();
    if (!st.is_ok()) return st;
  }
  // Canonical form: re-encoding must give the same bytes.
  if (!is_encoding_of(v, in))
    return Status::error("MALFORMED_ENCODING", std::string(T::kDomain) + ": not canonical");
  return v;
}

}  // namespace emledger::ledger
