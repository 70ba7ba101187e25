// Key file format: docs/formats/keyfile.md.
#include "emledger/crypto/keyfile.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>

#include "emledger/crypto/hex.hpp"
#include "fs_sync.hpp"

namespace emledger::crypto {
namespace {

constexpr std::string_view kMagic = "emledger-key v1";
constexpr std::size_t kKeyFileBytesMax = 4096;

Status write_all_0600(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return Status::error("KEY_EXISTS", path + " already exists");
    return Status::error("IO_ERROR", "cannot create " + path);
  }
  std::size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n <= 0) {
      ::close(fd);
      return Status::error("IO_ERROR", "cannot write " + path);
    }
    off += static_cast<std::size_t>(n);
  }
  bool ok = ::fsync(fd) == 0;
  ok = ::close(fd) == 0 && ok;
  ok = ok && detail::fsync_parent_dir(path);
  if (!ok) return Status::error("IO_ERROR", "cannot sync " + path);
  return Status::ok();
}

// Strict: the first line is the magic, every other line is "name: value",
// and no name repeats. nullopt on anything else.
std::optional<std::map<std::string, std::string>> parse_fields(const std::string& text) {
  std::map<std::string, std::string> fields;
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || line != kMagic) return std::nullopt;
  while (std::getline(in, line)) {
    auto colon = line.find(": ");
    if (colon == std::string::npos || colon == 0) return std::nullopt;
    if (!fields.emplace(line.substr(0, colon), line.substr(colon + 2)).second) return std::nullopt;
  }
  return fields;
}

// Decimal digits only, no sign, no junk, fits in 64 bits.
std::optional<std::uint64_t> parse_decimal(const std::string& s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

}  // namespace

Status write_key_file(const std::string& path, const KeyPair& key,
                      const std::optional<std::string>& passphrase) {
  ensure_sodium();
  std::ostringstream out;
  out << kMagic << "\n";
  out << "algorithm: ed25519\n";
  out << "public: " << to_hex(ByteView(key.public_key())) << "\n";
  if (!passphrase) {
    out << "seed: " << to_hex(ByteView(key.seed())) << "\n";
    return write_all_0600(path, out.str());
  }
  std::array<std::uint8_t, crypto_pwhash_SALTBYTES> salt;
  randombytes_buf(salt.data(), salt.size());
  const unsigned long long ops = crypto_pwhash_OPSLIMIT_MODERATE;
  const std::size_t mem = crypto_pwhash_MEMLIMIT_MODERATE;
  std::array<std::uint8_t, crypto_aead_xchacha20poly1305_ietf_KEYBYTES> k;
  if (crypto_pwhash(k.data(), k.size(), passphrase->data(), passphrase->size(), salt.data(), ops,
                    mem, crypto_pwhash_ALG_ARGON2ID13) != 0)
    return Status::error("IO_ERROR", "out of memory deriving the key-file key");
  std::array<std::uint8_t, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES> nonce;
  randombytes_buf(nonce.data(), nonce.size());
  Bytes sealed(key.seed().size() + crypto_aead_xchacha20poly1305_ietf_ABYTES);
  unsigned long long sealed_len = 0;
  // The public key is bound as associated data, so a swapped public line fails.
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      sealed.data(), &sealed_len, key.seed().data(), key.seed().size(), key.public_key().data(),
      key.public_key().size(), nullptr, nonce.data(), k.data());
  sodium_memzero(k.data(), k.size());
  out << "kdf: argon2id\n";
  out << "opslimit: " << ops << "\n";
  out << "memlimit: " << mem << "\n";
  out << "salt: " << to_hex(ByteView(salt)) << "\n";
  out << "nonce: " << to_hex(ByteView(nonce)) << "\n";
  out << "sealed: " << to_hex(ByteView(sealed.data(), sealed_len)) << "\n";
  return write_all_0600(path, out.str());
}

static Result<std::string> read_small(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::error("IO_ERROR", "cannot open key file " + path);
  std::string text(kKeyFileBytesMax + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kKeyFileBytesMax)
    return Status::error("KEYFILE_MALFORMED", "key file too large: " + path);
  return text;
}

bool key_file_is_encrypted(const std::string& path) {
  auto text = read_small(path);
  if (!text) return false;
  auto f = parse_fields(*text);
  return f && f->count("sealed") == 1;
}

Result<KeyPair> read_key_file(const std::string& path,
                              const std::optional<std::string>& passphrase) {
  ensure_sodium();
  auto text = read_small(path);
  if (!text) return text.status();
  auto fields = parse_fields(*text);
  if (!fields)
    return Status::error("KEYFILE_MALFORMED", "not a well-formed emledger key file: " + path);
  auto& f = *fields;
  if (f.count("seed") + f.count("sealed") != 1)
    return Status::error("KEYFILE_MALFORMED",
                         "key file must hold exactly one of seed or sealed: " + path);
  auto pk = f.count("public") ? hash_from_hex(f["public"]) : std::nullopt;
  if (f["algorithm"] != "ed25519" || !pk)
    return Status::error("KEYFILE_MALFORMED", "bad algorithm or public key in " + path);
  Seed seed{};
  if (f.count("seed")) {
    auto s = hash_from_hex(f["seed"]);
    if (!s) return Status::error("KEYFILE_MALFORMED", "bad seed in " + path);
    seed = *s;
  } else {
    if (!passphrase)
      return Status::error("KEYFILE_PASSPHRASE_REQUIRED", path + " is passphrase-protected");
    auto salt = from_hex(f["salt"]);
    auto nonce = from_hex(f["nonce"]);
    auto sealed = from_hex(f["sealed"]);
    auto ops_v = parse_decimal(f["opslimit"]);
    auto mem_v = parse_decimal(f["memlimit"]);
    if (!ops_v || !mem_v) return Status::error("KEYFILE_MALFORMED", "bad kdf limits in " + path);
    const unsigned long long ops = *ops_v;
    const std::size_t mem = static_cast<std::size_t>(*mem_v);
    if (f["kdf"] != "argon2id" || !salt || salt->size() != crypto_pwhash_SALTBYTES || !nonce ||
        nonce->size() != crypto_aead_xchacha20poly1305_ietf_NPUBBYTES || !sealed ||
        sealed->size() != seed.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES ||
        ops > crypto_pwhash_OPSLIMIT_SENSITIVE || mem > crypto_pwhash_MEMLIMIT_SENSITIVE)
      return Status::error("KEYFILE_MALFORMED", "bad sealed key in " + path);
    std::array<std::uint8_t, crypto_aead_xchacha20poly1305_ietf_KEYBYTES> k;
    if (crypto_pwhash(k.data(), k.size(), passphrase->data(), passphrase->size(), salt->data(), ops,
                      mem, crypto_pwhash_ALG_ARGON2ID13) != 0)
      return Status::error("IO_ERROR", "out of memory deriving the key-file key");
    unsigned long long seed_len = 0;
    int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(seed.data(), &seed_len, nullptr,
                                                        sealed->data(), sealed->size(), pk->data(),
                                                        pk->size(), nonce->data(), k.data());
    sodium_memzero(k.data(), k.size());
    if (rc != 0 || seed_len != seed.size())
      return Status::error("KEYFILE_BAD_PASSPHRASE", "wrong passphrase or tampered " + path);
  }
  KeyPair kp = KeyPair::from_seed(seed);
  sodium_memzero(seed.data(), seed.size());
  if (kp.public_key() != *pk)
    return Status::error("KEYFILE_MALFORMED", "seed does not match public key in " + path);
  return kp;
}

}  // namespace emledger::crypto
