// Holder references (docs/formats/holder-ref.md): the pseudonymous 32-byte
// reference the chain holds instead of an identity number.
//
//   holder_ref = HMAC-SHA-256(pseudonym key,
//                             "emledger.holder-ref.v1" 0x00 kind 0x00 normalized number)
//
// The pseudonym key is 32 random bytes shared by member orgs and never put on
// chain; without it a holder_ref cannot be linked to a person or a company.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "emledger/crypto/bytes.hpp"
#include "emledger/crypto/result.hpp"

namespace emledger::crypto {

inline constexpr std::string_view kHolderRefDomain = "emledger.holder-ref.v1";
inline constexpr std::size_t kPseudonymKeySize = 32;
inline constexpr std::size_t kIdentityRawBytesMax = 128;    // input, before trimming
inline constexpr std::size_t kIdentityNumberCharsMax = 32;  // normalized
inline constexpr std::size_t kCnResidentIdChars = 18;
inline constexpr std::size_t kUsccChars = 18;
inline constexpr std::size_t kPassportNumberCharsMax = 20;  // after the 3-letter issuing state
static_assert(3 + kPassportNumberCharsMax <= kIdentityNumberCharsMax);
static_assert(kCnResidentIdChars <= kIdentityNumberCharsMax &&
              kUsccChars <= kIdentityNumberCharsMax);

enum class IdentityKind : std::uint8_t {
  kCnResidentId,  // "cn-resident-id": GB 11643-1999 citizen identity number, 18 characters
  kUscc,          // "uscc": GB 32100-2015 unified social credit code, 18 characters
  kPassport,      // "passport": ISO 3166-1 alpha-3 issuing state + document number
};

std::string_view identity_kind_name(IdentityKind kind);
// Errors: IDENTITY_MALFORMED (not one of the names above).
Result<IdentityKind> parse_identity_kind(std::string_view name);

// Trims ASCII whitespace, uppercases ASCII letters, then checks the kind's
// form. Errors: IDENTITY_MALFORMED (empty, too long, a character outside
// [0-9A-Z], wrong length or layout for the kind), IDENTITY_CHECKSUM (a
// resident id or USCC whose check character is wrong).
Result<std::string> normalize_identity_number(IdentityKind kind, std::string_view raw);

// Check characters of the first 17 characters (caller ensures the charset):
// ISO 7064 MOD 11-2 as GB 11643-1999 uses it ('0'-'9' or 'X'), and the
// GB 32100-2015 MOD 31 check (a character of the USCC set).
char cn_resident_id_check_char(std::string_view first17);
char uscc_check_char(std::string_view first17);

// The network pseudonym key; wiped on destruction.
class PseudonymKey {
 public:
  static PseudonymKey generate();  // OS CSPRNG
  static PseudonymKey from_bytes(const std::array<std::uint8_t, kPseudonymKeySize>& bytes);
  PseudonymKey(const PseudonymKey&) = default;
  PseudonymKey& operator=(const PseudonymKey&) = default;
  ~PseudonymKey();
  const std::array<std::uint8_t, kPseudonymKeySize>& bytes() const { return bytes_; }

 private:
  PseudonymKey() = default;
  std::array<std::uint8_t, kPseudonymKeySize> bytes_{};
};

// holder_ref of an identity; the number is normalized first (same errors as
// normalize_identity_number). Thread safe.
Result<Hash> holder_ref(const PseudonymKey& key, IdentityKind kind, std::string_view raw_number);

// Pseudonym key file: 64 lowercase hex characters and "\n", mode 0600.
// create: generates a key and writes it with O_EXCL (never overwrites), fsyncs
// the file and its directory. Errors: KEY_EXISTS, IO_ERROR.
Result<PseudonymKey> create_pseudonym_key_file(const std::string& path);
// Errors: IO_ERROR (cannot open or read), PSEUDONYM_KEY_PERMISSIONS (group or
// others may access the file), PSEUDONYM_KEY_MALFORMED (anything but 64 hex
// characters with an optional final "\n").
Result<PseudonymKey> read_pseudonym_key_file(const std::string& path);

}  // namespace emledger::crypto
