// HTTP Message Signatures (docs/formats/http-signatures.md): the RFC 9421
// Appendix B.2.6 Ed25519 example byte for byte, the Content-Digest of a
// published body, profile round trips, every tamper, time limits, key lookup,
// replay, and malformed fields.
#include "emledger/ledger/http_signature.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <functional>
#include <map>
#include <thread>
#include <tuple>

#include "emledger/crypto/hex.hpp"
#include "emledger/crypto/random.hpp"

using namespace emledger;
using namespace emledger::ledger;

namespace {

// RFC 9421 Appendix B.1.4 "test-key-ed25519", as its PKCS#8 / SPKI PEM bodies.
// The raw 32-byte seed and public key are the last 32 bytes of each DER.
constexpr std::string_view kRfcPrivatePem =
    "MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF";
constexpr std::string_view kRfcPublicPem =
    "MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=";

template <std::size_t N>
std::array<std::uint8_t, N> last_bytes(std::string_view b64) {
  auto der = from_base64(b64);
  REQUIRE(der.has_value());
  REQUIRE(der->size() >= N);
  std::array<std::uint8_t, N> out{};
  std::copy(der->end() - N, der->end(), out.begin());
  return out;
}

// RFC 9421 section 2 "test-request" (the fields B.2.6 covers).
HttpRequest rfc_test_request() {
  HttpRequest r;
  r.method = "POST";
  r.scheme = "https";
  r.authority = "example.com";
  r.target = "/foo?param=Value&Pet=dog";
  r.headers = {{"Host", "example.com"},
               {"Date", "Tue, 20 Apr 2021 02:07:55 GMT"},
               {"Content-Type", "application/json"},
               {"Content-Length", "18"}};
  r.body = R"({"hello": "world"})";
  return r;
}

constexpr std::int64_t kNow = 1'750'000'000;

crypto::KeyPair key_from_byte(std::uint8_t b) {
  crypto::Seed seed{};
  seed.fill(b);
  return crypto::KeyPair::from_seed(seed);
}

// Two orgs and one holder with known keys.
struct Keys {
  crypto::KeyPair org = key_from_byte(1);
  crypto::KeyPair other_org = key_from_byte(2);
  crypto::KeyPair holder = key_from_byte(3);
  Hash holder_ref = [] {
    Hash h{};
    h.fill(0xab);
    return h;
  }();
  std::string org_kid = org_keyid("sh.jiading.admin-center", 1);
  std::string other_kid = org_keyid("sh.minhang.market", 7);
  std::string holder_kid = holder_keyid(holder_ref, 0);

  PublicKeyLookup lookup() const {
    std::map<std::string, crypto::PublicKey> m = {{org_kid, org.public_key()},
                                                  {other_kid, other_org.public_key()},
                                                  {holder_kid, holder.public_key()}};
    return [m](const std::string& kid) -> std::optional<crypto::PublicKey> {
      auto it = m.find(kid);
      if (it == m.end()) return std::nullopt;
      return it->second;
    };
  }
};

HttpRequest get_request() {
  HttpRequest r;
  r.method = "GET";
  r.scheme = "https";
  r.authority = "node1.example.gov:8443";
  r.target = "/v1/records/00ff?case=SH-2025-001&purpose=permit";
  r.headers = {{"Host", "node1.example.gov:8443"}, {"Accept", "application/json"}};
  return r;
}

HttpRequest post_request() {
  HttpRequest r = get_request();
  r.method = "POST";
  r.target = "/v1/accesses";
  r.headers.emplace_back("Content-Type", "application/json");
  r.body = R"({"record":"00ff","grant":"11ee","case":"SH-2025-001"})";
  return r;
}

SignOptions options(const std::string& kid, std::int64_t created = kNow) {
  return {kid, created, created + 60, "n0nce-0123456789abcdef"};
}

// Signs `r` and adds the resulting fields to it.
HttpRequest signed_copy(HttpRequest r, const crypto::KeyPair& key, const SignOptions& opt) {
  auto h = sign_request(r, key, opt);
  REQUIRE_MESSAGE(h.is_ok(), h.status().to_string());
  if (!h->content_digest.empty()) r.headers.emplace_back("Content-Digest", h->content_digest);
  r.headers.emplace_back("Signature-Input", h->signature_input);
  r.headers.emplace_back("Signature", h->signature);
  return r;
}

std::string& header(HttpRequest& r, std::string_view name) {
  for (auto& [n, v] : r.headers)
    if (n == name) return v;
  FAIL("no header " << name);
  static std::string none;
  return none;
}

void remove_header(HttpRequest& r, std::string_view name) {
  r.headers.erase(std::remove_if(r.headers.begin(), r.headers.end(),
                                 [&](const auto& h) { return h.first == name; }),
                  r.headers.end());
}

std::string replace_once(std::string s, std::string_view from, std::string_view to) {
  auto at = s.find(from);
  REQUIRE(at != std::string::npos);
  return s.replace(at, from.size(), to);
}

std::string lowercase_for_test(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string code_of(const HttpRequest& r, const Keys& k, std::int64_t now = kNow) {
  auto v = verify_request(r, k.lookup(), now);
  return v.is_ok() ? "OK" : v.status().code();
}

}  // namespace

TEST_CASE("RFC 9421 B.2.6: signature base, Signature-Input and Ed25519 signature byte for byte") {
  auto kp = crypto::KeyPair::from_seed(last_bytes<32>(kRfcPrivatePem));
  CHECK(kp.public_key() == last_bytes<32>(kRfcPublicPem));

  HttpRequest r = rfc_test_request();
  r.headers.emplace_back("Signature-Input",
                         "sig-b26=(\"date\" \"@method\" \"@path\" \"@authority\" "
                         "\"content-type\" \"content-length\");created=1618884473"
                         ";keyid=\"test-key-ed25519\"");
  r.headers.emplace_back("Signature",
                         "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1"
                         "u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:");
  auto parsed = parse_signature(r, "sig-b26");
  REQUIRE_MESSAGE(parsed.is_ok(), parsed.status().to_string());

  const std::string expected_base =
      "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n"
      "\"@method\": POST\n"
      "\"@path\": /foo\n"
      "\"@authority\": example.com\n"
      "\"content-type\": application/json\n"
      "\"content-length\": 18\n"
      "\"@signature-params\": (\"date\" \"@method\" \"@path\" \"@authority\" "
      "\"content-type\" \"content-length\");created=1618884473;keyid=\"test-key-ed25519\"";
  auto base = signature_base(r, parsed->params);
  REQUIRE(base.is_ok());
  CHECK(*base == expected_base);
  CHECK(signature_input_field("sig-b26", parsed->params) == header(r, "Signature-Input"));

  // Ed25519 is deterministic: our signature equals the published one.
  CHECK(kp.sign(as_bytes(*base)) == parsed->signature);
  CHECK(signature_field("sig-b26", parsed->signature) == header(r, "Signature"));
  CHECK(crypto::verify(kp.public_key(), as_bytes(*base), parsed->signature));

  // The published example is outside our profile (no alg, expires, nonce;
  // label sig-b26), so the profile verifier refuses it without a crash.
  Keys k;
  CHECK(code_of(r, k) == "SIGNATURE_MISSING");
}

TEST_CASE("Content-Digest of a published body") {
  // {"hello": "world"} is the body of the HTTP-signatures test request; its
  // SHA-256 appears in the drafts' examples (and recomputes with any SHA-256).
  CHECK(content_digest_field(R"({"hello": "world"})") ==
        "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:");
  CHECK(content_digest_field("") == "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:");
}

TEST_CASE("derived components: @query, @path, @target-uri, @scheme, header combining") {
  HttpRequest r = get_request();
  r.target = "/v1/x";
  r.headers.emplace_back("X-Multi", "  a  ");
  r.headers.emplace_back("x-multi", "b\t");
  SignatureParams sp;
  sp.components = {"@query", "@path", "@target-uri", "@scheme", "@authority", "x-multi"};
  auto base = signature_base(r, sp);
  REQUIRE(base.is_ok());
  CHECK(*base ==
        "\"@query\": ?\n\"@path\": /v1/x\n\"@target-uri\": https://node1.example.gov:8443/v1/x\n"
        "\"@scheme\": https\n\"@authority\": node1.example.gov:8443\n\"x-multi\": a, b\n"
        "\"@signature-params\": (\"@query\" \"@path\" \"@target-uri\" \"@scheme\" \"@authority\" "
        "\"x-multi\")");

  r.target = "/v1/x?";
  sp.components = {"@query"};
  CHECK(signature_base(r, sp)->find("\"@query\": ?\n") == 0);

  for (const char* bad :
       {"@signature-params", "@status", "@request-target", "Content-Type", "", "a b"}) {
    sp.components = {bad};
    CHECK_MESSAGE(signature_base(r, sp).status().code() == "SIGNATURE_MALFORMED", bad);
  }
  sp.components = {"@method", "@method"};
  CHECK(signature_base(r, sp).status().code() == "SIGNATURE_MALFORMED");
  sp.components = {"absent-field"};
  CHECK(signature_base(r, sp).status().code() == "SIGNATURE_INVALID");
  r.headers.emplace_back("x-bin", "caf\xc3\xa9");
  sp.components = {"x-bin"};
  CHECK(signature_base(r, sp).status().code() == "SIGNATURE_INVALID");
}

TEST_CASE("round trips: org and holder keys, with and without a body") {
  Keys k;
  for (const auto& [req, key, kid] :
       {std::tuple{get_request(), &k.org, k.org_kid}, std::tuple{post_request(), &k.org, k.org_kid},
        std::tuple{post_request(), &k.holder, k.holder_kid}}) {
    HttpRequest r = signed_copy(req, *key, options(kid));
    auto v = verify_request(r, k.lookup(), kNow + 10);
    REQUIRE_MESSAGE(v.is_ok(), v.status().to_string());
    CHECK(v->keyid == kid);
    CHECK(v->nonce == "n0nce-0123456789abcdef");
    CHECK(v->created_s == kNow);
    CHECK(v->expires_s == kNow + 60);
  }
  // A GET carries no Content-Digest and the signature does not cover one.
  HttpRequest g = signed_copy(get_request(), k.org, options(k.org_kid));
  CHECK(header(g, "Signature-Input").find("content-digest") == std::string::npos);
  CHECK(header(g, "Signature-Input").find(";alg=\"ed25519\"") != std::string::npos);
}

TEST_CASE("the verifier tolerates what HTTP may change: name case, whitespace, other members") {
  Keys k;
  HttpRequest r = signed_copy(post_request(), k.org, options(k.org_kid));
  for (auto& [name, value] : r.headers) name = lowercase_for_test(name);
  CHECK(code_of(r, k) == "OK");
  // A second signature (e.g. added by a proxy) beside ours, OWS between members.
  header(r, "signature-input") = "proxy=(\"@method\");created=1 ,\t" + header(r, "signature-input");
  header(r, "signature") = header(r, "signature") + " , proxy=:AAAA:";
  CHECK(code_of(r, k) == "OK");
}

TEST_CASE("every tamper is refused") {
  Keys k;
  const HttpRequest good = signed_copy(post_request(), k.org, options(k.org_kid));
  REQUIRE(code_of(good, k) == "OK");
  struct Case {
    const char* name;
    std::function<void(HttpRequest&)> tamper;
    const char* code;
  };
  const std::vector<Case> cases = {
      {"method", [](HttpRequest& r) { r.method = "PUT"; }, "SIGNATURE_INVALID"},
      {"path", [](HttpRequest& r) { r.target = "/v1/accessez"; }, "SIGNATURE_INVALID"},
      {"query added", [](HttpRequest& r) { r.target += "?x=1"; }, "SIGNATURE_INVALID"},
      {"authority", [](HttpRequest& r) { r.authority = "node2.example.gov:8443"; },
       "SIGNATURE_INVALID"},
      {"body", [](HttpRequest& r) { r.body[2] ^= 1; }, "CONTENT_DIGEST_MISMATCH"},
      {"body removed", [](HttpRequest& r) { r.body.clear(); }, "CONTENT_DIGEST_MISMATCH"},
      {"content-digest value",
       [](HttpRequest& r) { header(r, "Content-Digest") = content_digest_field("other"); },
       "SIGNATURE_INVALID"},
      {"content-digest removed", [](HttpRequest& r) { remove_header(r, "Content-Digest"); },
       "SIGNATURE_INVALID"},
      {"content-digest duplicated",
       [](HttpRequest& r) { r.headers.emplace_back("Content-Digest", "sha-256=:AAAA:"); },
       "SIGNATURE_INVALID"},
      {"created",
       [](HttpRequest& r) {
         auto& si = header(r, "Signature-Input");
         si = replace_once(si, "created=" + std::to_string(kNow),
                           "created=" + std::to_string(kNow - 1));
       },
       "SIGNATURE_INVALID"},
      {"expires",
       [](HttpRequest& r) {
         auto& si = header(r, "Signature-Input");
         si = replace_once(si, "expires=" + std::to_string(kNow + 60),
                           "expires=" + std::to_string(kNow + 61));
       },
       "SIGNATURE_INVALID"},
      {"nonce",
       [](HttpRequest& r) {
         auto& si = header(r, "Signature-Input");
         si = replace_once(si, "n0nce-0123456789abcdef", "n0nce-0123456789abcdeg");
       },
       "SIGNATURE_INVALID"},
      {"keyid to another known key",
       [&](HttpRequest& r) {
         auto& si = header(r, "Signature-Input");
         si = replace_once(si, k.org_kid, k.other_kid);
       },
       "SIGNATURE_INVALID"},
      {"keyid to an unknown key",
       [&](HttpRequest& r) {
         auto& si = header(r, "Signature-Input");
         si = replace_once(si, k.org_kid, "sh.nobody/1");
       },
       "SIGNATURE_UNKNOWN_KEY"},
      {"alg",
       [](HttpRequest& r) {
         auto& si = header(r, "Signature-Input");
         si = replace_once(si, "alg=\"ed25519\"", "alg=\"hmac-sha256\"");
       },
       "SIGNATURE_MALFORMED"},
      {"component order",
       [](HttpRequest& r) {
         auto& si = header(r, "Signature-Input");
         si = replace_once(si, "(\"@method\" \"@authority\"", "(\"@authority\" \"@method\"");
       },
       "SIGNATURE_INVALID"},
      {"component dropped",
       [](HttpRequest& r) {
         auto& si = header(r, "Signature-Input");
         si = replace_once(si, " \"@query\"", "");
       },
       "SIGNATURE_MALFORMED"},
      {"extra component that the request lacks",
       [](HttpRequest& r) {
         auto& si = header(r, "Signature-Input");
         si = replace_once(si, "\"@method\"", "\"@method\" \"x-extra\"");
       },
       "SIGNATURE_INVALID"},
      {"signature byte",
       [](HttpRequest& r) {
         auto& s = header(r, "Signature");
         s[8] = s[8] == 'A' ? 'B' : 'A';
       },
       "SIGNATURE_INVALID"},
      {"signature from another key",
       [&](HttpRequest& r) {
         HttpRequest other = signed_copy(post_request(), k.other_org, options(k.org_kid));
         header(r, "Signature") = header(other, "Signature");
       },
       "SIGNATURE_INVALID"},
      {"label",
       [](HttpRequest& r) {
         header(r, "Signature") = replace_once(header(r, "Signature"), "sig1=", "sig2=");
       },
       "SIGNATURE_MALFORMED"},
  };
  for (const auto& c : cases) {
    HttpRequest r = good;
    c.tamper(r);
    CHECK_MESSAGE(code_of(r, k) == c.code, c.name);
  }
  // Headers the signature does not cover may change freely.
  HttpRequest r = good;
  header(r, "Accept") = "text/plain";
  CHECK(code_of(r, k) == "OK");
}

TEST_CASE("a body the signature does not cover is refused") {
  Keys k;
  HttpRequest r = signed_copy(get_request(), k.org, options(k.org_kid));
  r.body = "smuggled";
  CHECK(code_of(r, k) == "CONTENT_DIGEST_MISMATCH");
}

TEST_CASE("time: expired, stale (future and old), window too long") {
  Keys k;
  HttpRequest r = signed_copy(get_request(), k.org, options(k.org_kid));  // [kNow, kNow + 60)
  CHECK(code_of(r, k, kNow) == "OK");
  CHECK(code_of(r, k, kNow + 59) == "OK");
  CHECK(code_of(r, k, kNow + 60) == "SIGNATURE_EXPIRED");
  CHECK(code_of(r, k, kNow - kClockSkewMax_s) == "OK");
  CHECK(code_of(r, k, kNow - kClockSkewMax_s - 1) == "SIGNATURE_STALE");

  SignOptions wide = options(k.org_kid);
  wide.expires_s = wide.created_s + kSignatureValidityMax_s;
  HttpRequest w = signed_copy(get_request(), k.org, wide);
  CHECK(code_of(w, k, kNow + kSignatureValidityMax_s - 1) == "OK");
  CHECK(code_of(w, k, kNow + kSignatureValidityMax_s) == "SIGNATURE_STALE");
  CHECK(code_of(w, k, kNow + 3600) == "SIGNATURE_STALE");

  // The signer refuses a window over the limit; a hand-made one is malformed.
  wide.expires_s += 1;
  CHECK(sign_request(get_request(), k.org, wide).status().code() == "SIGNATURE_MALFORMED");
  HttpRequest m = w;
  auto& si = header(m, "Signature-Input");
  si = replace_once(si, "expires=" + std::to_string(kNow + kSignatureValidityMax_s),
                    "expires=" + std::to_string(kNow + kSignatureValidityMax_s + 1));
  CHECK(code_of(m, k) == "SIGNATURE_MALFORMED");
}

TEST_CASE("signer refuses options outside the profile") {
  Keys k;
  auto code = [&](SignOptions o) { return sign_request(get_request(), k.org, o).status().code(); };
  SignOptions o = options(k.org_kid);
  o.nonce = "short";
  CHECK(code(o) == "SIGNATURE_MALFORMED");
  o = options(k.org_kid);
  o.nonce = "has space 0123456789";
  CHECK(code(o) == "SIGNATURE_MALFORMED");
  o = options("Not An Org/1");
  CHECK(code(o) == "SIGNATURE_MALFORMED");
  o = options(k.org_kid);
  o.expires_s = o.created_s;
  CHECK(code(o) == "SIGNATURE_MALFORMED");
  HttpRequest bad = get_request();
  bad.target = "v1/no-leading-slash";
  CHECK(sign_request(bad, k.org, options(k.org_kid)).status().code() == "SIGNATURE_MALFORMED");
  CHECK(crypto::random_nonce_hex().size() == 32);
  CHECK(crypto::random_nonce_hex() != crypto::random_nonce_hex());
}

TEST_CASE("unknown key") {
  Keys k;
  crypto::KeyPair stranger = key_from_byte(9);
  HttpRequest r = signed_copy(get_request(), stranger, options("sh.stranger/3"));
  CHECK(code_of(r, k) == "SIGNATURE_UNKNOWN_KEY");
}

TEST_CASE("missing and malformed Signature-Input / Signature fields") {
  Keys k;
  const HttpRequest good = signed_copy(get_request(), k.org, options(k.org_kid));
  {
    HttpRequest r = good;
    remove_header(r, "Signature");
    CHECK(code_of(r, k) == "SIGNATURE_MISSING");
    r = good;
    remove_header(r, "Signature-Input");
    CHECK(code_of(r, k) == "SIGNATURE_MISSING");
    r = get_request();
    CHECK(code_of(r, k) == "SIGNATURE_MISSING");
  }
  const std::string si = header(const_cast<HttpRequest&>(good), "Signature-Input");
  const std::string sig = header(const_cast<HttpRequest&>(good), "Signature");
  const std::string params = si.substr(si.find(')') + 1);
  const std::vector<std::string> bad_inputs = {
      "",
      "sig1",
      "sig1=",
      "sig1=(",
      "SIG1=(\"@method\")" + params,
      "sig1=(\"@method\" \"@authority\" \"@path\" \"@query\")" + params + ",",
      "sig1=(\"@method\"  \"@authority\" \"@path\" \"@query\"" + params,
      "sig1=(\"@method\"\"@authority\" \"@path\" \"@query\")" + params,
      "sig1=(@method \"@authority\" \"@path\" \"@query\")" + params,
      "sig1=(\"@method\";sf \"@authority\" \"@path\" \"@query\")" + params,
      "sig1=(\"@method\" \"@authority\" \"@path\" \"@query\")" + params + ";created=1",
      "sig1=(\"@method\" \"@authority\" \"@path\" \"@query\")" + params + ";foo=1",
      "sig1=(\"@method\" \"@authority\" \"@path\" \"@query\")" + params + ";tag=1",
      "sig1=(\"@method\" \"@authority\" \"@path\" \"@query\");created=\"1\"",
      "sig1=(\"@method\" \"@authority\" \"@path\" \"@query\");created=1234567890123456",
      "sig1=(\"@method\" \"@authority\" \"@path\" \"@query\");keyid=\"a\\x\"",
      "sig1=(\"@method\" \"@authority\" \"@path\" \"@query\");keyid=\"unterminated",
      "sig1=\"@method\"" + params,
      "sig1=(\"@method\" \"@authority\" \"@path\" \"@query\")" + params + ", sig1=(\"@method\")",
      "sig1=(\"@method\" \"@authority\" \"@path\" \"@query\")" + params + " junk",
      "sig1=(\"@method\" \"@authority\" \"@path\" \"@query\" \"@method\")" + params,
      "sig1=(\"@method\" \"@authority\" \"@path\")" + params,
  };
  for (const auto& bad : bad_inputs) {
    HttpRequest r = good;
    header(r, "Signature-Input") = bad;
    CHECK_MESSAGE(code_of(r, k) == "SIGNATURE_MALFORMED", bad);
  }
  const std::string b64 = sig.substr(6, sig.size() - 7);
  const std::vector<std::string> bad_sigs = {
      "sig1=:" + b64,
      "sig1=" + b64,
      "sig1=:" + b64.substr(0, b64.size() - 2) + ":",  // unpadded
      "sig1=:" + b64.substr(4) + ":",                  // 61 bytes
      "sig1=:" + b64 + ":;x=1",
      "sig1=(:" + b64 + ":)",
      "sig1=\"" + b64 + "\"",
      "sig1=:" + b64.substr(0, 10) + "*" + b64.substr(11) + ":",
      "other=:" + b64 + ":",
  };
  for (const auto& bad : bad_sigs) {
    HttpRequest r = good;
    header(r, "Signature") = bad;
    CHECK_MESSAGE(code_of(r, k) == "SIGNATURE_MALFORMED", bad);
  }
  HttpRequest big = good;
  header(big, "Signature-Input") += ", x=" + std::string(kSignatureFieldBytesMax, 'a');
  CHECK(code_of(big, k) == "SIGNATURE_MALFORMED");
}

TEST_CASE("keyid forms") {
  Hash ref{};
  ref[0] = 0x12;
  auto h = parse_keyid(holder_keyid(ref, 4294967295u));
  REQUIRE(h.is_ok());
  CHECK(h->kind == KeyId::Kind::kHolder);
  CHECK(h->holder_ref == ref);
  CHECK(h->key == 4294967295u);
  auto o = parse_keyid("sh.jiading.admin-center/0");
  REQUIRE(o.is_ok());
  CHECK(o->kind == KeyId::Kind::kOrg);
  CHECK(o->org_id == "sh.jiading.admin-center");
  CHECK(o->key == 0);
  for (const std::string& bad :
       std::vector<std::string>{"", "/1", "org/", "org/01", "org/4294967296", "org/-1", "Org/1",
                                "org/1/2", "holder/" + to_hex(ref), "holder/" + to_hex(ref) + "/x",
                                "holder/" + std::string(64, 'A') + "/1", "holder/abcd/1", "org/1 ",
                                std::string(65, 'a') + "/1"}) {
    CHECK_MESSAGE(parse_keyid(bad).status().code() == "SIGNATURE_MALFORMED", bad);
  }
}

TEST_CASE("replay: a verified nonce is accepted once") {
  Keys k;
  NonceCache cache;
  HttpRequest r = signed_copy(get_request(), k.org, options(k.org_kid));
  auto v = verify_request(r, k.lookup(), kNow);
  REQUIRE(v.is_ok());
  CHECK(cache.check_and_remember(*v, kNow).is_ok());
  auto again = verify_request(r, k.lookup(), kNow + 1);
  REQUIRE(again.is_ok());
  CHECK(cache.check_and_remember(*again, kNow + 1).code() == "SIGNATURE_REPLAYED");
  // The same nonce under another key is another request.
  VerifiedSignature other = *v;
  other.keyid = k.other_kid;
  CHECK(cache.check_and_remember(other, kNow + 1).is_ok());
  CHECK(cache.size() == 2);
  // Forgotten once no signature with that created time can verify.
  CHECK(cache.check_and_remember(*v, kNow + kSignatureValidityMax_s - 1).code() ==
        "SIGNATURE_REPLAYED");
  CHECK(cache.check_and_remember(*v, kNow + kSignatureValidityMax_s).is_ok());
}

TEST_CASE("NonceCache is bounded and fails closed after an eviction") {
  NonceCache cache(3);
  auto sig = [](std::string nonce, std::int64_t created) {
    return VerifiedSignature{"org/1", std::move(nonce), created, created + 60};
  };
  CHECK(cache.check_and_remember(sig("a", kNow), kNow).is_ok());
  CHECK(cache.check_and_remember(sig("b", kNow + 1), kNow + 1).is_ok());
  CHECK(cache.check_and_remember(sig("c", kNow + 2), kNow + 2).is_ok());
  CHECK(cache.check_and_remember(sig("d", kNow + 3), kNow + 3).is_ok());  // evicts "a"
  CHECK(cache.size() == 3);
  // "a" is no longer remembered, but its created time is now refused.
  CHECK(cache.check_and_remember(sig("a", kNow), kNow + 3).code() == "SIGNATURE_REPLAYED");
  CHECK(cache.check_and_remember(sig("e", kNow), kNow + 3).code() == "SIGNATURE_REPLAYED");
  CHECK(cache.check_and_remember(sig("b", kNow + 1), kNow + 3).code() == "SIGNATURE_REPLAYED");
  CHECK(cache.check_and_remember(sig("f", kNow + 4), kNow + 4).is_ok());
}

TEST_CASE("NonceCache after a restart refuses every signature made at or before the start") {
  // What a node's previous process accepted is not remembered: a fresh cache
  // told the start second refuses all such signatures, new or replayed.
  NonceCache cache;
  cache.refuse_signed_at_or_before(kNow);
  auto sig = [](std::string nonce, std::int64_t created) {
    return VerifiedSignature{"org/1", std::move(nonce), created, created + 60};
  };
  CHECK(cache.check_and_remember(sig("used-before", kNow - 30), kNow).code() ==
        "SIGNATURE_PREDATES_START");
  CHECK(cache.check_and_remember(sig("same-second", kNow), kNow + 1).code() ==
        "SIGNATURE_PREDATES_START");
  CHECK(cache.size() == 0);
  CHECK(cache.check_and_remember(sig("after", kNow + 1), kNow + 1).is_ok());
  CHECK(cache.check_and_remember(sig("after", kNow + 1), kNow + 2).code() == "SIGNATURE_REPLAYED");
  // The floor only rises.
  cache.refuse_signed_at_or_before(kNow - 100);
  CHECK(cache.check_and_remember(sig("older", kNow), kNow + 2).code() ==
        "SIGNATURE_PREDATES_START");
}

TEST_CASE("NonceCache under concurrent use: each nonce accepted exactly once") {
  NonceCache cache(1 << 12);
  constexpr int kThreads = 4, kNonces = 500;
  std::atomic<int> accepted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < kNonces; ++i) {
        VerifiedSignature s{"org/1", "nonce-" + std::to_string(i), kNow, kNow + 60};
        if (cache.check_and_remember(s, kNow).is_ok()) accepted.fetch_add(1);
      }
    });
  for (auto& th : threads) th.join();
  CHECK(accepted.load() == kNonces);
  CHECK(cache.size() == static_cast<std::size_t>(kNonces));
}
