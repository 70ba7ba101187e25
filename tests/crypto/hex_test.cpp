// Hex and base64, the API's forms of bytes.
#include "emledger/crypto/hex.hpp"

#include <doctest/doctest.h>

#include <utility>

using namespace emledger;

TEST_CASE("hex: round trip of every byte value, lowercase out") {
  Bytes all(256);
  for (int i = 0; i < 256; ++i) all[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(i);
  const std::string hex = to_hex(ByteView(all));
  CHECK(hex.size() == 512);
  CHECK(hex.substr(0, 8) == "00010203");
  CHECK(hex.substr(504) == "fcfdfeff");
  for (char ch : hex) CHECK(((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')));
  auto back = from_hex(hex);
  REQUIRE(back);
  CHECK(*back == all);
  CHECK(to_hex(ByteView()) == "");
  CHECK(from_hex("")->empty());
}

TEST_CASE("hex: uppercase is accepted, odd length and non-hex characters are not") {
  CHECK(*from_hex("ABCDEF") == Bytes{0xab, 0xcd, 0xef});
  CHECK(*from_hex("aBcD") == Bytes{0xab, 0xcd});
  CHECK_FALSE(from_hex("abc"));
  CHECK_FALSE(from_hex("0g"));
  CHECK_FALSE(from_hex("g0"));
  CHECK_FALSE(from_hex(" 0"));
  CHECK_FALSE(from_hex("0x00"));
  CHECK_FALSE(from_hex(std::string_view("0\0", 2)));
}

TEST_CASE("hex: hash_from_hex wants exactly 64 hex characters") {
  const std::string h64(64, 'a');
  auto h = hash_from_hex(h64);
  REQUIRE(h);
  for (auto b : *h) CHECK(b == 0xaa);
  CHECK_FALSE(hash_from_hex(std::string(62, 'a')));
  CHECK_FALSE(hash_from_hex(std::string(66, 'a')));
  CHECK_FALSE(hash_from_hex(std::string(63, 'a') + "z"));
}

TEST_CASE("base64: RFC 4648 section 10 test vectors") {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (auto [plain, encoded] : vectors) {
    CAPTURE(plain);
    CHECK(to_base64(as_bytes(plain)) == encoded);
    auto back = from_base64(encoded);
    REQUIRE(back);
    CHECK(std::string(back->begin(), back->end()) == plain);
  }
}

TEST_CASE("base64: strict decoding") {
  CHECK_FALSE(from_base64("Zg"));      // padding required
  CHECK_FALSE(from_base64("Zg="));     // incomplete padding
  CHECK_FALSE(from_base64("Zm9v\n"));  // no whitespace
  CHECK_FALSE(from_base64(" Zm9v"));
  CHECK_FALSE(from_base64("Zm9v===="));  // trailing padding
  CHECK_FALSE(from_base64("Zm-v"));      // url-safe alphabet is not this form
  CHECK_FALSE(from_base64("Zm_v"));
  CHECK_FALSE(from_base64("Z!9v"));
  // Non-zero bits in the unused low bits of the last character: one
  // canonical spelling per byte string.
  CHECK_FALSE(from_base64("Zh=="));
  CHECK_FALSE(from_base64("Zm9="));
}
