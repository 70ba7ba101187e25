// Holder references (docs/formats/holder-ref.md): normalization, the check
// characters of GB 11643-1999 and GB 32100-2015 against the standards' worked
// examples and an independent computation, the HMAC layout against values
// computed outside this code (Python hmac), and the pseudonym key file.
#include "emledger/crypto/holder_ref.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "emledger/crypto/hex.hpp"

using namespace emledger;
using namespace emledger::crypto;

namespace {

// Independent derivations of the check characters: weights computed from
// their definitions rather than copied tables.
char resident_check_for_test(const std::string& first17) {
  int sum = 0;
  for (int i = 0; i < 17; ++i) {
    int weight = 1;
    for (int j = 0; j < 17 - i; ++j) weight = weight * 2 % 11;  // 2^(17-i) mod 11
    sum += (first17[static_cast<std::size_t>(i)] - '0') * weight;
  }
  int c = (12 - sum % 11) % 11;  // makes sum + c == 1 (mod 11)
  return c == 10 ? 'X' : static_cast<char>('0' + c);
}

const std::string kUsccSet = "0123456789ABCDEFGHJKLMNPQRTUWXY";

char uscc_check_for_test(const std::string& first17) {
  int sum = 0;
  for (int i = 0; i < 17; ++i) {
    int weight = 1;
    for (int j = 0; j < i; ++j) weight = weight * 3 % 31;  // 3^(i-1) mod 31, i 1-based
    sum += static_cast<int>(kUsccSet.find(first17[static_cast<std::size_t>(i)])) * weight;
  }
  return kUsccSet[static_cast<std::size_t>((31 - sum % 31) % 31)];
}

PseudonymKey test_key() {
  std::array<std::uint8_t, kPseudonymKeySize> b{};
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<std::uint8_t>(i);
  return PseudonymKey::from_bytes(b);
}

std::string code_of(IdentityKind kind, std::string_view raw) {
  auto r = normalize_identity_number(kind, raw);
  return r.is_ok() ? "OK" : r.status().code();
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "emledger-holderref-XXXXXX").string();
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

void write_file(const std::string& path, const std::string& text, mode_t mode) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    REQUIRE(out.good());
  }
  REQUIRE(::chmod(path.c_str(), mode) == 0);
}

}  // namespace

TEST_CASE("GB 11643-1999 worked examples (Annex A) validate") {
  // 11010519491231002X (Beijing, Chaoyang) and 440524188001010014 (Shantou).
  CHECK(cn_resident_id_check_char("11010519491231002") == 'X');
  CHECK(cn_resident_id_check_char("44052418800101001") == '4');
  CHECK(normalize_identity_number(IdentityKind::kCnResidentId, "11010519491231002X").value() ==
        "11010519491231002X");
  CHECK(normalize_identity_number(IdentityKind::kCnResidentId, " 11010519491231002x\t").value() ==
        "11010519491231002X");
  CHECK(code_of(IdentityKind::kCnResidentId, "440524188001010014") == "OK");
}

TEST_CASE("GB 32100-2015 worked example: 91350100M000100Y4? has check character 3") {
  // The standard's example computes sum 1640, 1640 mod 31 = 28, check 31 - 28 = 3,
  // and rejects the input ending in Z.
  CHECK(uscc_check_char("91350100M000100Y4") == '3');
  CHECK(code_of(IdentityKind::kUscc, "91350100M000100Y43") == "OK");
  CHECK(code_of(IdentityKind::kUscc, "91350100M000100Y4Z") == "IDENTITY_CHECKSUM");
  CHECK(code_of(IdentityKind::kUscc, "91350100m000100y43") == "OK");
}

TEST_CASE("check characters agree with an independent computation") {
  std::uint64_t x = 0x9e3779b97f4a7c15ull;  // deterministic pseudo-random bodies
  auto next = [&] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  for (int round = 0; round < 2000; ++round) {
    std::string id, code;
    for (int i = 0; i < 17; ++i) id.push_back(static_cast<char>('0' + next() % 10));
    for (int i = 0; i < 17; ++i)
      code.push_back(i >= 2 && i < 8 ? static_cast<char>('0' + next() % 10)
                                     : kUsccSet[next() % kUsccSet.size()]);
    REQUIRE(cn_resident_id_check_char(id) == resident_check_for_test(id));
    REQUIRE(uscc_check_char(code) == uscc_check_for_test(code));
    std::string full_id = id + resident_check_for_test(id);
    std::string full_code = code + uscc_check_for_test(code);
    REQUIRE(code_of(IdentityKind::kCnResidentId, full_id) == "OK");
    REQUIRE(code_of(IdentityKind::kUscc, full_code) == "OK");
    // Any other last character is a checksum error.
    char wrong_id = full_id.back() == '0' ? '1' : '0';
    char wrong_code = full_code.back() == 'A' ? 'B' : 'A';
    REQUIRE(code_of(IdentityKind::kCnResidentId, id + wrong_id) == "IDENTITY_CHECKSUM");
    REQUIRE(code_of(IdentityKind::kUscc, code + wrong_code) == "IDENTITY_CHECKSUM");
  }
}

TEST_CASE("a single-digit typo or a swap of adjacent digits fails the resident id check") {
  const std::string good = "11010519491231002X";
  for (std::size_t i = 0; i < 17; ++i) {
    std::string typo = good;
    typo[i] = typo[i] == '9' ? '0' : static_cast<char>(typo[i] + 1);
    CHECK_MESSAGE(code_of(IdentityKind::kCnResidentId, typo) == "IDENTITY_CHECKSUM", typo);
    if (i < 16 && good[i] != good[i + 1]) {
      std::string swapped = good;
      std::swap(swapped[i], swapped[i + 1]);
      CHECK_MESSAGE(code_of(IdentityKind::kCnResidentId, swapped) == "IDENTITY_CHECKSUM", swapped);
    }
  }
}

TEST_CASE("malformed identity numbers") {
  const std::vector<std::pair<IdentityKind, std::string>> bad = {
      {IdentityKind::kCnResidentId, ""},
      {IdentityKind::kCnResidentId, "   \t "},
      {IdentityKind::kCnResidentId, "110105194912310"},      // legacy 15-digit form
      {IdentityKind::kCnResidentId, "11010519491231002X1"},  // 19
      {IdentityKind::kCnResidentId, "1101051949123100X2"},   // X not last
      {IdentityKind::kCnResidentId, "110105-1949-1231-002X"},
      {IdentityKind::kCnResidentId, "11010519491231002Ｘ"},  // full-width X
      {IdentityKind::kCnResidentId, "11010519491231 002X"},
      {IdentityKind::kUscc, "91350100M000100Y4"},   // 17
      {IdentityKind::kUscc, "91350100I000100Y43"},  // I is not in the set
      {IdentityKind::kUscc, "91350100O000100Y43"},  // O
      {IdentityKind::kUscc, "913501A0M000100Y43"},  // letter in the division code
      {IdentityKind::kPassport, "E12345678"},       // no issuing state
      {IdentityKind::kPassport, "CHN"},
      {IdentityKind::kPassport, "C1NE12345678"},
      {IdentityKind::kPassport, "CHN" + std::string(kPassportNumberCharsMax + 1, '1')},
      {IdentityKind::kPassport, "CHN E1234567"},
      {IdentityKind::kPassport, std::string(kIdentityRawBytesMax + 1, ' ') + "CHNE1"},
  };
  for (const auto& [kind, raw] : bad)
    CHECK_MESSAGE(code_of(kind, raw) == "IDENTITY_MALFORMED", raw);
  CHECK(code_of(IdentityKind::kPassport, " chne12345678 ") == "OK");
  CHECK(parse_identity_kind("uscc").value() == IdentityKind::kUscc);
  CHECK(parse_identity_kind("cn-resident-id").value() == IdentityKind::kCnResidentId);
  CHECK(parse_identity_kind("passport").value() == IdentityKind::kPassport);
  CHECK(parse_identity_kind("Passport").status().code() == "IDENTITY_MALFORMED");
  CHECK(parse_identity_kind("").status().code() == "IDENTITY_MALFORMED");
}

TEST_CASE("holder_ref: known answers (HMAC-SHA-256 computed with Python's hmac module)") {
  // key = 00 01 02 ... 1f; message = "emledger.holder-ref.v1" 00 kind 00 number.
  const PseudonymKey key = test_key();
  CHECK(to_hex(holder_ref(key, IdentityKind::kCnResidentId, "11010519491231002x").value()) ==
        "6e74338f13a975da2fdb4dbf226d9b8d3a596a6f19dfb7cbe59dcc814ca373ee");
  CHECK(to_hex(holder_ref(key, IdentityKind::kUscc, "91350100M000100Y43").value()) ==
        "b157454c422a9e729825987c15b57ee9991e9e476d228e841e35692e87a8c46a");
  CHECK(to_hex(holder_ref(key, IdentityKind::kPassport, "CHNE12345678").value()) ==
        "2c6b2b7658082205a797898c1128bcf80cc638b2682349c867dd64e69dc8049c");
}

TEST_CASE("holder_ref: normalization, kind and key all matter; errors pass through") {
  const PseudonymKey key = test_key();
  auto a = holder_ref(key, IdentityKind::kCnResidentId, "11010519491231002X").value();
  CHECK(holder_ref(key, IdentityKind::kCnResidentId, "  11010519491231002x ").value() == a);
  CHECK(holder_ref(PseudonymKey::generate(), IdentityKind::kCnResidentId, "11010519491231002X")
            .value() != a);
  // The same characters under two kinds give unrelated references.
  auto p1 = holder_ref(key, IdentityKind::kPassport, "CHN110105194912").value();
  CHECK(p1 != holder_ref(key, IdentityKind::kPassport, "CHN110105194913").value());
  CHECK(holder_ref(key, IdentityKind::kCnResidentId, "11010519491231002").status().code() ==
        "IDENTITY_MALFORMED");
  CHECK(holder_ref(key, IdentityKind::kCnResidentId, "110105194912310020").status().code() ==
        "IDENTITY_CHECKSUM");
}

TEST_CASE("pseudonym key file: create 0600, read back, refuse overwrite, permissions, malformed") {
  TempDir dir;
  const std::string path = dir.file("pseudonym.key");
  auto created = create_pseudonym_key_file(path);
  REQUIRE(created.is_ok());
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(std::filesystem::file_size(path) == 65);
  auto read = read_pseudonym_key_file(path);
  REQUIRE(read.is_ok());
  CHECK(read->bytes() == created->bytes());
  CHECK(create_pseudonym_key_file(path).status().code() == "KEY_EXISTS");
  CHECK(read_pseudonym_key_file(path).value().bytes() == created->bytes());  // untouched

  const std::string hex = to_hex(ByteView(created->bytes()));
  REQUIRE(::chmod(path.c_str(), 0640) == 0);
  CHECK(read_pseudonym_key_file(path).status().code() == "PSEUDONYM_KEY_PERMISSIONS");
  REQUIRE(::chmod(path.c_str(), 0604) == 0);
  CHECK(read_pseudonym_key_file(path).status().code() == "PSEUDONYM_KEY_PERMISSIONS");

  const std::string other = dir.file("other.key");
  write_file(other, hex, 0600);  // no final newline: accepted
  CHECK(read_pseudonym_key_file(other).value().bytes() == created->bytes());
  std::string upper = hex;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const std::string& bad :
       {hex + "\n\n", hex.substr(2) + "\n", hex + "00\n", " " + hex, hex + " ", std::string(),
        hex.substr(0, 63) + "g\n", upper == hex ? hex.substr(1) : upper + "\n"}) {
    write_file(other, bad, 0600);
    CHECK_MESSAGE(read_pseudonym_key_file(other).status().code() == "PSEUDONYM_KEY_MALFORMED", bad);
  }
  CHECK(read_pseudonym_key_file(dir.file("absent.key")).status().code() == "IO_ERROR");
  CHECK(create_pseudonym_key_file(dir.file("no/such/dir.key")).status().code() == "IO_ERROR");
}
