// Holder references and the pseudonym key file: docs/formats/holder-ref.md.
#include "emledger/crypto/holder_ref.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "emledger/crypto/ed25519.hpp"
#include "emledger/crypto/hex.hpp"
#include "fs_sync.hpp"

namespace emledger::crypto {
namespace {

// GB 32100-2015 character set: digits and capitals without I, O, S, V, Z.
constexpr std::string_view kUsccCharset = "0123456789ABCDEFGHJKLMNPQRTUWXY";
static_assert(kUsccCharset.size() == 31);
constexpr std::size_t kKeyFileBytes = 2 * kPseudonymKeySize + 1;

Status malformed(std::string message) {
  return Status::error("IDENTITY_MALFORMED", std::move(message));
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

Status check_cn_resident_id(const std::string& n) {
  if (n.size() != kCnResidentIdChars || !std::all_of(n.begin(), n.end() - 1, is_digit) ||
      !(is_digit(n.back()) || n.back() == 'X'))
    return malformed("a resident id is 17 digits and a digit or X");
  if (cn_resident_id_check_char(std::string_view(n).substr(0, 17)) != n.back())
    return Status::error("IDENTITY_CHECKSUM", "resident id check digit is wrong");
  return Status::ok();
}

Status check_uscc(const std::string& n) {
  auto in_set = [](char c) { return kUsccCharset.find(c) != std::string_view::npos; };
  // Positions 3-8 are the registering authority's administrative division code.
  if (n.size() != kUsccChars || !std::all_of(n.begin(), n.end() - 1, in_set) ||
      !std::all_of(n.begin() + 2, n.begin() + 8, is_digit))
    return malformed("a USCC is 18 characters of [0-9A-HJ-NPQRTUWXY] with digits at 3-8");
  if (uscc_check_char(std::string_view(n).substr(0, 17)) != n.back())
    return Status::error("IDENTITY_CHECKSUM", "USCC check character is wrong");
  return Status::ok();
}

Status check_passport(const std::string& n) {
  if (n.size() < 4 || n.size() > 3 + kPassportNumberCharsMax ||
      !std::all_of(n.begin(), n.begin() + 3, is_upper))
    return malformed("a passport is the issuing state's 3 letters and 1-" +
                     std::to_string(kPassportNumberCharsMax) + " characters");
  return Status::ok();
}

}  // namespace

std::string_view identity_kind_name(IdentityKind kind) {
  switch (kind) {
    case IdentityKind::kCnResidentId:
      return "cn-resident-id";
    case IdentityKind::kUscc:
      return "uscc";
    case IdentityKind::kPassport:
      return "passport";
  }
  EMLEDGER_ASSERT(false);
  return {};
}

Result<IdentityKind> parse_identity_kind(std::string_view name) {
  for (auto k : {IdentityKind::kCnResidentId, IdentityKind::kUscc, IdentityKind::kPassport})
    if (identity_kind_name(k) == name) return k;
  return malformed("unknown identity kind '" + std::string(name.substr(0, 32)) + "'");
}

char cn_resident_id_check_char(std::string_view first17) {
  EMLEDGER_ASSERT(first17.size() == 17);
  // ISO 7064 MOD 11-2: weight of position i (1-based from the left) is 2^(18-i) mod 11.
  static constexpr int kWeights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  int sum = 0;
  for (std::size_t i = 0; i < 17; ++i) {
    EMLEDGER_ASSERT(is_digit(first17[i]));
    sum += (first17[i] - '0') * kWeights[i];
  }
  static constexpr std::string_view kCheck = "10X98765432";  // indexed by sum mod 11
  return kCheck[static_cast<std::size_t>(sum % 11)];
}

char uscc_check_char(std::string_view first17) {
  EMLEDGER_ASSERT(first17.size() == 17);
  // GB 32100-2015: weight of position i (1-based) is 3^(i-1) mod 31.
  int sum = 0;
  int weight = 1;
  for (char c : first17) {
    auto value = kUsccCharset.find(c);
    EMLEDGER_ASSERT(value != std::string_view::npos);
    sum += static_cast<int>(value) * weight;
    weight = weight * 3 % 31;
  }
  return kUsccCharset[static_cast<std::size_t>((31 - sum % 31) % 31)];
}

Result<std::string> normalize_identity_number(IdentityKind kind, std::string_view raw) {
  if (raw.size() > kIdentityRawBytesMax) return malformed("identity number input too long");
  std::size_t b = 0, e = raw.size();
  while (b < e && is_space(raw[b])) ++b;
  while (e > b && is_space(raw[e - 1])) --e;
  std::string n(raw.substr(b, e - b));
  if (n.empty()) return malformed("identity number is empty");
  if (n.size() > kIdentityNumberCharsMax) return malformed("identity number too long");
  for (char& c : n) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (!is_digit(c) && !is_upper(c))
      return malformed("identity number may hold only [0-9A-Z] (after uppercasing)");
  }
  switch (kind) {
    case IdentityKind::kCnResidentId:
      EMLEDGER_TRY(check_cn_resident_id(n));
      break;
    case IdentityKind::kUscc:
      EMLEDGER_TRY(check_uscc(n));
      break;
    case IdentityKind::kPassport:
      EMLEDGER_TRY(check_passport(n));
      break;
  }
  return n;
}

PseudonymKey PseudonymKey::generate() {
  ensure_sodium();
  PseudonymKey k;
  randombytes_buf(k.bytes_.data(), k.bytes_.size());
  return k;
}

PseudonymKey PseudonymKey::from_bytes(const std::array<std::uint8_t, kPseudonymKeySize>& bytes) {
  PseudonymKey k;
  k.bytes_ = bytes;
  return k;
}

PseudonymKey::~PseudonymKey() { sodium_memzero(bytes_.data(), bytes_.size()); }

Result<Hash> holder_ref(const PseudonymKey& key, IdentityKind kind, std::string_view raw_number) {
  auto number = normalize_identity_number(kind, raw_number);
  if (!number) return number.status();
  ensure_sodium();
  static_assert(crypto_auth_hmacsha256_KEYBYTES == kPseudonymKeySize);
  static_assert(crypto_auth_hmacsha256_BYTES == kHashSize);
  // Both separators are 0x00, which none of the three parts can contain.
  std::string message(kHolderRefDomain);
  message += '\0';
  message += identity_kind_name(kind);
  message += '\0';
  message += *number;
  Hash out{};
  crypto_auth_hmacsha256(out.data(), reinterpret_cast<const unsigned char*>(message.data()),
                         message.size(), key.bytes().data());
  sodium_memzero(message.data(), message.size());
  sodium_memzero(number->data(), number->size());
  return out;
}

Result<PseudonymKey> create_pseudonym_key_file(const std::string& path) {
  PseudonymKey key = PseudonymKey::generate();
  std::string text = to_hex(ByteView(key.bytes())) + "\n";
  EMLEDGER_ASSERT(text.size() == kKeyFileBytes);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    sodium_memzero(text.data(), text.size());
    if (errno == EEXIST) return Status::error("KEY_EXISTS", path + " already exists");
    return Status::error("IO_ERROR", "cannot create " + path);
  }
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  sodium_memzero(text.data(), text.size());
  ok = ::fsync(fd) == 0 && ok;
  ok = ::close(fd) == 0 && ok;
  ok = ok && detail::fsync_parent_dir(path);
  if (!ok) return Status::error("IO_ERROR", "cannot write " + path);
  return key;
}

Result<PseudonymKey> read_pseudonym_key_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::error("IO_ERROR", "cannot open " + path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return Status::error("IO_ERROR", "cannot stat " + path);
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    return Status::error("PSEUDONYM_KEY_PERMISSIONS",
                         path + " must not be accessible to group or others (chmod 600)");
  }
  std::array<char, kKeyFileBytes + 1> buf{};  // one spare byte detects a longer file
  ssize_t n = ::read(fd, buf.data(), buf.size());
  ::close(fd);
  if (n < 0) return Status::error("IO_ERROR", "cannot read " + path);
  std::string_view text(buf.data(), static_cast<std::size_t>(n));
  if (text.size() == kKeyFileBytes && text.back() == '\n') text.remove_suffix(1);
  auto bytes = text.size() == 2 * kPseudonymKeySize ? from_hex(text) : std::nullopt;
  bool lower = std::none_of(text.begin(), text.end(), [](char c) { return c >= 'A' && c <= 'F'; });
  if (!bytes || !lower) {
    sodium_memzero(buf.data(), buf.size());
    return Status::error("PSEUDONYM_KEY_MALFORMED",
                         path + " must hold 64 lowercase hex characters");
  }
  std::array<std::uint8_t, kPseudonymKeySize> raw{};
  std::copy(bytes->begin(), bytes->end(), raw.begin());
  PseudonymKey key = PseudonymKey::from_bytes(raw);
  sodium_memzero(raw.data(), raw.size());
  sodium_memzero(bytes->data(), bytes->size());
  sodium_memzero(buf.data(), buf.size());
  return key;
}

}  // namespace emledger::crypto
