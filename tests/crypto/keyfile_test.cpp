// Key files (docs/formats/keyfile.md): clear and sealed round trips, 0600,
// refusal to overwrite, and rejection of wrong passphrases and tampering.
#include "emledger/crypto/keyfile.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "emledger/crypto/hex.hpp"

using namespace emledger;
using namespace emledger::crypto;

namespace {

// A fresh directory per test case, removed at the end.
class TempDir {
 public:
  TempDir() {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "emledger-keyfile-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  REQUIRE(out.good());
}

// Replaces the value of the line "field: value".
std::string with_field(const std::string& text, const std::string& field,
                       const std::string& value) {
  auto start = text.find("\n" + field + ": ");
  REQUIRE(start != std::string::npos);
  start += field.size() + 3;
  auto end = text.find('\n', start);
  return text.substr(0, start) + value + text.substr(end);
}

std::string field_of(const std::string& text, const std::string& field) {
  auto start = text.find("\n" + field + ": ");
  REQUIRE(start != std::string::npos);
  start += field.size() + 3;
  return text.substr(start, text.find('\n', start) - start);
}

std::string flip_hex_char(std::string hex, std::size_t i) {
  hex[i] = hex[i] == '0' ? '1' : '0';
  return hex;
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

}  // namespace

TEST_CASE("keyfile: clear (dev) key file round trip, mode 0600") {
  TempDir dir;
  const auto key = KeyPair::generate();
  const auto path = dir.file("clear.key");
  REQUIRE(write_key_file(path, key, std::nullopt).is_ok());
  CHECK(mode_of(path) == 0600);
  CHECK_FALSE(key_file_is_encrypted(path));
  auto back = read_key_file(path, std::nullopt);
  REQUIRE(back.is_ok());
  CHECK(back->public_key() == key.public_key());
  CHECK(back->seed() == key.seed());
  // A passphrase given for a clear file is not needed and does no harm.
  CHECK(read_key_file(path, std::string("unused")).is_ok());
}

TEST_CASE("keyfile: passphrase round trip, mode 0600, no seed in clear") {
  TempDir dir;
  const auto key = KeyPair::generate();
  const auto path = dir.file("sealed.key");
  REQUIRE(write_key_file(path, key, std::string("correct horse battery staple")).is_ok());
  CHECK(mode_of(path) == 0600);
  CHECK(key_file_is_encrypted(path));
  const std::string text = read_text(path);
  CHECK(text.find(to_hex(ByteView(key.seed()))) == std::string::npos);
  CHECK(text.find("seed:") == std::string::npos);
  auto back = read_key_file(path, std::string("correct horse battery staple"));
  REQUIRE(back.is_ok());
  CHECK(back->seed() == key.seed());
  CHECK(back->public_key() == key.public_key());
}

TEST_CASE("keyfile: a sealed file wants its passphrase") {
  TempDir dir;
  const auto path = dir.file("sealed.key");
  REQUIRE(write_key_file(path, KeyPair::generate(), std::string("right")).is_ok());
  auto none = read_key_file(path, std::nullopt);
  REQUIRE_FALSE(none.is_ok());
  CHECK(none.status().code() == "KEYFILE_PASSPHRASE_REQUIRED");
  auto wrong = read_key_file(path, std::string("wrong"));
  REQUIRE_FALSE(wrong.is_ok());
  CHECK(wrong.status().code() == "KEYFILE_BAD_PASSPHRASE");
  auto empty = read_key_file(path, std::string());
  REQUIRE_FALSE(empty.is_ok());
  CHECK(empty.status().code() == "KEYFILE_BAD_PASSPHRASE");
}

TEST_CASE("keyfile: tampering with a sealed file is detected") {
  TempDir dir;
  const auto path = dir.file("sealed.key");
  const auto key = KeyPair::generate();
  REQUIRE(write_key_file(path, key, std::string("pw")).is_ok());
  const std::string text = read_text(path);
  const auto tampered = dir.file("tampered.key");

  SUBCASE("sealed line") {
    const std::string sealed = field_of(text, "sealed");
    write_text(tampered, with_field(text, "sealed", flip_hex_char(sealed, 10)));
    auto r = read_key_file(tampered, std::string("pw"));
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().code() == "KEYFILE_BAD_PASSPHRASE");
  }
  SUBCASE("nonce line") {
    write_text(tampered, with_field(text, "nonce", flip_hex_char(field_of(text, "nonce"), 0)));
    auto r = read_key_file(tampered, std::string("pw"));
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().code() == "KEYFILE_BAD_PASSPHRASE");
  }
  SUBCASE("public line swapped for another key's") {
    // The public key is the AEAD's associated data, so the seal fails.
    const auto other = KeyPair::generate();
    write_text(tampered, with_field(text, "public", to_hex(ByteView(other.public_key()))));
    auto r = read_key_file(tampered, std::string("pw"));
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().code() == "KEYFILE_BAD_PASSPHRASE");
  }
  SUBCASE("sealed line of the wrong length") {
    write_text(tampered, with_field(text, "sealed", field_of(text, "sealed") + "00"));
    auto r = read_key_file(tampered, std::string("pw"));
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().code() == "KEYFILE_MALFORMED");
  }
}

TEST_CASE("keyfile: tampering with a clear file is detected") {
  TempDir dir;
  const auto path = dir.file("clear.key");
  REQUIRE(write_key_file(path, KeyPair::generate(), std::nullopt).is_ok());
  const std::string text = read_text(path);
  const auto tampered = dir.file("tampered.key");
  SUBCASE("public line that does not match the seed") {
    write_text(tampered, with_field(text, "public", flip_hex_char(field_of(text, "public"), 5)));
    auto r = read_key_file(tampered, std::nullopt);
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().code() == "KEYFILE_MALFORMED");
  }
  SUBCASE("seed that is not hex") {
    write_text(tampered, with_field(text, "seed", std::string(64, 'z')));
    auto r = read_key_file(tampered, std::nullopt);
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().code() == "KEYFILE_MALFORMED");
  }
  SUBCASE("not a key file") {
    write_text(tampered, "hello\n");
    auto r = read_key_file(tampered, std::nullopt);
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().code() == "KEYFILE_MALFORMED");
  }
  SUBCASE("unknown algorithm") {
    write_text(tampered, with_field(text, "algorithm", "rsa"));
    auto r = read_key_file(tampered, std::nullopt);
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().code() == "KEYFILE_MALFORMED");
  }
}

TEST_CASE("keyfile: refuses to overwrite an existing file") {
  TempDir dir;
  const auto path = dir.file("k.key");
  const auto first = KeyPair::generate();
  REQUIRE(write_key_file(path, first, std::nullopt).is_ok());
  auto st = write_key_file(path, KeyPair::generate(), std::nullopt);
  CHECK(st.code() == "KEY_EXISTS");
  auto sealed = write_key_file(path, KeyPair::generate(), std::string("pw"));
  CHECK(sealed.code() == "KEY_EXISTS");
  // The first key is still there.
  CHECK(read_key_file(path, std::nullopt)->public_key() == first.public_key());
}

TEST_CASE("keyfile: I/O errors") {
  auto missing = read_key_file("/nonexistent/emledger/k.key", std::nullopt);
  REQUIRE_FALSE(missing.is_ok());
  CHECK(missing.status().code() == "IO_ERROR");
  CHECK_FALSE(key_file_is_encrypted("/nonexistent/emledger/k.key"));
  auto st = write_key_file("/nonexistent/emledger/k.key", KeyPair::generate(), std::nullopt);
  CHECK(st.code() == "IO_ERROR");
}

TEST_CASE("keyfile: the reader is strict about the file's shape") {
  TempDir dir;
  const auto path = dir.file("clear.key");
  REQUIRE(write_key_file(path, KeyPair::generate(), std::nullopt).is_ok());
  const std::string text = read_text(path);
  const auto bad = dir.file("bad.key");
  auto expect_malformed = [&](const std::string& content) {
    write_text(bad, content);
    auto r = read_key_file(bad, std::nullopt);
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().code() == "KEYFILE_MALFORMED");
  };
  SUBCASE("a magic with a suffix") { expect_malformed("emledger-key v1x" + text.substr(text.find('\n'))); }
  SUBCASE("a repeated field") { expect_malformed(text + "seed: " + field_of(text, "seed") + "\n"); }
  SUBCASE("a stray line") { expect_malformed(text + "garbage\n"); }
  SUBCASE("both seed and sealed") { expect_malformed(text + "sealed: 00\n"); }
  SUBCASE("neither seed nor sealed") {
    auto start = text.find("seed: ");
    expect_malformed(text.substr(0, start));
  }
  SUBCASE("kdf limits with junk") {
    REQUIRE(::unlink(path.c_str()) == 0);
    REQUIRE(write_key_file(path, KeyPair::generate(), std::string("pw")).is_ok());
    const std::string sealed = read_text(path);
    write_text(bad, with_field(sealed, "opslimit", field_of(sealed, "opslimit") + "x"));
    auto r = read_key_file(bad, std::string("pw"));
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().code() == "KEYFILE_MALFORMED");
  }
}
