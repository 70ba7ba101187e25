// SHA-256 against the FIPS 180-4 examples (NIST CSRC "SHA256.pdf" and the
// long-message vector), and sha256_file against the one-shot digest.
#include "emledger/crypto/sha256.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "emledger/crypto/hex.hpp"

using namespace emledger;
using namespace emledger::crypto;

namespace {

std::string hex_of(const std::string& s) { return to_hex(sha256(as_bytes(s))); }

// A file in the temp directory, removed when the test ends.
class TempFile {
 public:
  explicit TempFile(const Bytes& content) {
    path_ = (std::filesystem::temp_directory_path() /
             ("emledger-sha256-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++)))
                .string();
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(content.data()),
              static_cast<std::streamsize>(content.size()));
    REQUIRE(out.good());
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  std::string path_;
};

Bytes pattern(std::size_t n) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(i * 131 + 7);
  return b;
}

}  // namespace

TEST_CASE("sha256: FIPS 180-4 example vectors") {
  CHECK(hex_of("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(hex_of("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(hex_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(hex_of(std::string(1000000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("sha256: incremental hashing equals one-shot at every split of a few blocks") {
  const Bytes data = pattern(200);
  const Hash want = sha256(ByteView(data));
  for (std::size_t split = 0; split <= data.size(); ++split) {
    Sha256 h;
    h.update(ByteView(data.data(), split));
    h.update(ByteView(data.data() + split, data.size() - split));
    CHECK(h.finish() == want);
  }
  // One million 'a' fed a thousand at a time.
  Sha256 h;
  const std::string chunk(1000, 'a');
  for (int i = 0; i < 1000; ++i) h.update(as_bytes(chunk));
  CHECK(to_hex(h.finish()) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("sha256_file: streaming equals one-shot around the chunk boundary") {
  const std::size_t c = kFileChunkBytes;
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{55}, std::size_t{64}, c - 1, c,
                        c + 1, 2 * c - 1, 2 * c, 2 * c + 1, 3 * c + 12345}) {
    CAPTURE(n);
    const Bytes data = pattern(n);
    TempFile f(data);
    auto d = sha256_file(f.path());
    REQUIRE(d.is_ok());
    CHECK(d->size_bytes == n);
    CHECK(d->hash == sha256(ByteView(data)));
  }
}

TEST_CASE("sha256_file: a missing file is IO_ERROR") {
  auto d = sha256_file("/nonexistent/emledger/no-such-file");
  REQUIRE_FALSE(d.is_ok());
  CHECK(d.status().code() == "IO_ERROR");
}

TEST_CASE(
    "sha256: the incremental hasher agrees with one-shot hashing on both sides of its inline "
    "buffer") {
  // Sha256 buffers up to kInlineBytes and hashes them in one call, then
  // moves the buffer into a streaming context of its own: both paths must
  // give one function (the FIPS vectors above pin the function itself).
  std::vector<std::uint8_t> data(3 * emledger::crypto::Sha256::kInlineBytes + 7);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 131 + 7);
  for (std::size_t total : {std::size_t{0}, std::size_t{1}, std::size_t{255}, std::size_t{256},
                            std::size_t{257}, std::size_t{600}, data.size()}) {
    for (std::size_t piece :
         {std::size_t{1}, std::size_t{33}, std::size_t{256}, std::size_t{1000}}) {
      emledger::crypto::Sha256 h;
      for (std::size_t off = 0; off < total; off += piece)
        h.update(emledger::ByteView(data.data() + off, std::min(piece, total - off)));
      INFO("total " << total << " piece " << piece);
      CHECK(h.finish() == emledger::crypto::sha256(emledger::ByteView(data.data(), total)));
    }
  }
}
