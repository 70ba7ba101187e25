// HTTP Message Signatures (RFC 9421) with Ed25519, and the Content-Digest
// field (RFC 9530, sha-256), as emledger profiles them for requests: an org
// (or a holder) proves who sends a request that reads holder-linked data.
// Format and profile: docs/formats/http-signatures.md.
//
// Pure functions over plain structs: no I/O, no clock (callers pass now_s, unix
// seconds), no randomness (nonces come from crypto::random_nonce_hex()). The node verifies, the
// client SDK signs; both use this one implementation.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "emledger/crypto/bytes.hpp"
#include "emledger/crypto/ed25519.hpp"
#include "emledger/crypto/result.hpp"

namespace emledger::ledger {

// --- Profile constants -------------------------------------------------------

inline constexpr std::string_view kSignatureLabel = "sig1";
inline constexpr std::string_view kSignatureAlg = "ed25519";
// A signature may be valid for at most this long (expires - created).
inline constexpr std::int64_t kSignatureValidityMax_s = 300;
// How far the signer's clock may run ahead of the verifier's.
inline constexpr std::int64_t kClockSkewMax_s = 30;
// Nonce: [A-Za-z0-9_-], enough characters to be unique per key and window.
inline constexpr std::size_t kNonceCharsMin = 16;
inline constexpr std::size_t kNonceCharsMax = 128;
// Bounds on what the parser accepts (untrusted input).
inline constexpr std::size_t kSignatureFieldBytesMax =
    8192;  // Signature-Input, Signature, Content-Digest
inline constexpr std::size_t kDictionaryMembersMax = 16;
inline constexpr std::size_t kCoveredComponentsMax = 32;
inline constexpr std::size_t kParametersMax = 16;
inline constexpr std::size_t kKeyIdBytesMax = 160;
inline constexpr std::size_t kNonceCacheEntriesMax = 1 << 20;

static_assert(kClockSkewMax_s < kSignatureValidityMax_s);
static_assert(kNonceCharsMin <= kNonceCharsMax);

// --- Messages ------------------------------------------------------------------

// One request as the signer sends it / the verifier received it.
struct HttpRequest {
  std::string method;     // "GET", "POST" (case-sensitive, as sent)
  std::string scheme;     // "https"; needed only for "@target-uri" and "@scheme"
  std::string authority;  // the Host: "node.example.gov" or "node.example.gov:8443"
  std::string target;     // origin-form request target: "/v1/records/ab?x=1" (path, then ?query)
  // Header fields in arrival order, one entry per field line; names match
  // case-insensitively. Values must not contain CR or LF.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // the exact body bytes
};

// --- Signature parameters (RFC 9421 section 2.3) -----------------------------

// A parameter value: an Integer or a String (the only types the signature
// parameters use).
using SignatureParamValue = std::variant<std::int64_t, std::string>;

// The covered components and the parameters of one signature, in their order
// (the order is part of what is signed).
struct SignatureParams {
  std::vector<std::string> components;  // component identifiers, e.g. "@method", "content-digest"
  std::vector<std::pair<std::string, SignatureParamValue>> params;

  std::optional<std::int64_t> int_param(std::string_view name) const;
  std::optional<std::string> string_param(std::string_view name) const;
};

// The "@signature-params" value: ("c1" "c2");name=value... (RFC 8941 form).
std::string serialize_signature_params(const SignatureParams& sp);

// The signature base (RFC 9421 section 2.5) of `req` for `sp`. Supported
// components: "@method", "@target-uri", "@authority", "@scheme", "@path",
// "@query", and any header field by its lowercase name (without parameters).
// Errors: SIGNATURE_MALFORMED (an unsupported, repeated or badly formed
// component identifier; a parameter that cannot be serialized),
// SIGNATURE_INVALID (a covered header is absent, or a value is not printable
// ASCII).
Result<std::string> signature_base(const HttpRequest& req, const SignatureParams& sp);

// Field values for one signature under `label`.
std::string signature_input_field(std::string_view label, const SignatureParams& sp);
std::string signature_field(std::string_view label, const crypto::Signature& sig);

// The RFC 9530 Content-Digest field value of `body`: sha-256=:<base64>:
std::string content_digest_field(std::string_view body);

// --- Key ids -------------------------------------------------------------------

// keyid forms: "<org id>/<key id>" for org keys and
// "holder/<64 lowercase hex holder_ref>/<key seq>" for holder keys.
struct KeyId {
  enum class Kind { kOrg, kHolder };
  Kind kind = Kind::kOrg;
  std::string org_id;     // kOrg only: [a-z0-9._-]{1,64}
  Hash holder_ref{};      // kHolder only
  std::uint32_t key = 0;  // the org's key id, or the holder key's sequence number
};
std::string org_keyid(std::string_view org_id, std::uint32_t key_id);
std::string holder_keyid(const Hash& holder_ref, std::uint32_t key_seq);
// Errors: SIGNATURE_MALFORMED.
Result<KeyId> parse_keyid(std::string_view keyid);

// --- Signing (client) ----------------------------------------------------------

struct SignOptions {
  std::string keyid;  // org_keyid(...) or holder_keyid(...)
  std::int64_t created_s = 0;
  std::int64_t expires_s = 0;  // created_s < expires_s <= created_s + kSignatureValidityMax_s
  std::string nonce;  // crypto::random_nonce_hex(), or any kNonceChars* string of [A-Za-z0-9_-]
};

// The header fields to add to the request. content_digest is empty when the
// body is empty (then no Content-Digest field is sent or covered).
struct SignatureHeaders {
  std::string content_digest;   // "Content-Digest"
  std::string signature_input;  // "Signature-Input"
  std::string signature;        // "Signature"
};

// Covers "@method" "@authority" "@path" "@query" (+ "content-digest" when the
// body is not empty) with created, expires, keyid, alg="ed25519", nonce, under
// label "sig1". The Content-Digest it covers is computed from req.body, not
// read from req.headers: the caller sends the returned value. Errors:
// SIGNATURE_MALFORMED (options outside the profile, a request that cannot be
// represented). Thread safe.
Result<SignatureHeaders> sign_request(const HttpRequest& req, const crypto::KeyPair& key,
                                      const SignOptions& opt);

// --- Verification (node) -------------------------------------------------------

// One signature as parsed from the Signature-Input and Signature fields.
struct ParsedSignature {
  SignatureParams params;
  crypto::Signature signature{};
};

// Strictly parses the request's Signature-Input and Signature fields (each may
// hold several members; all must be well formed) and returns member `label`.
// Errors: SIGNATURE_MISSING (either field absent, or neither holds `label`),
// SIGNATURE_MALFORMED (anything else not as RFC 8941 / RFC 9421 define, an
// unknown signature parameter, a signature that is not 64 bytes, a label in
// only one of the two fields).
Result<ParsedSignature> parse_signature(const HttpRequest& req,
                                        std::string_view label = kSignatureLabel);

// What a verified signature says; the caller rejects a reused (keyid, nonce),
// e.g. with NonceCache.
struct VerifiedSignature {
  std::string keyid;
  std::string nonce;
  std::int64_t created_s = 0;
  std::int64_t expires_s = 0;
};

// Resolves a keyid to its current Ed25519 public key; nullopt when the keyid
// names no key (or a revoked one). Called at most once per verification.
using PublicKeyLookup = std::function<std::optional<crypto::PublicKey>(const std::string& keyid)>;

// Verifies the "sig1" signature of `req` against the profile above at time
// now_s. Errors, in the order checked:
//   SIGNATURE_MISSING, SIGNATURE_MALFORMED (parse, or: alg is not ed25519; a
//     missing created/expires/keyid/nonce; a required component not covered;
//     a validity window over kSignatureValidityMax_s),
//   CONTENT_DIGEST_MISMATCH (a non-empty body the signature does not cover),
//   SIGNATURE_STALE (created more than kClockSkewMax_s in the future, or at
//     least kSignatureValidityMax_s ago), SIGNATURE_EXPIRED (expires <= now_s),
//   SIGNATURE_UNKNOWN_KEY, SIGNATURE_INVALID (a covered field absent, or the
//     Ed25519 check fails), CONTENT_DIGEST_MISMATCH (the covered Content-Digest
//     has no well-formed sha-256 member, or it differs from SHA-256(body)).
// Thread safe if `lookup` is.
Result<VerifiedSignature> verify_request(const HttpRequest& req, const PublicKeyLookup& lookup,
                                         std::int64_t now_s);

// Remembers (keyid, nonce) of verified signatures until they can no longer
// verify (created + kSignatureValidityMax_s), so a captured request cannot be
// replayed. Bounded: when full of live entries it forgets the oldest and from
// then on refuses every signature created at or before that entry's created
// time (fails closed). Thread safe.
class NonceCache {
 public:
  explicit NonceCache(std::size_t entries_max = kNonceCacheEntriesMax);
  // Records the nonce. Errors: SIGNATURE_REPLAYED (seen before, or created
  // too early to tell after an eviction).
  // Errors also SIGNATURE_PREDATES_START for a signature created at or
  // before the second passed to refuse_signed_at_or_before.
  Status check_and_remember(const VerifiedSignature& sig, std::int64_t now_s);
  // Refuses every signature created at or before `start_s`: called once when
  // the node starts, because the nonces remembered before a restart are
  // gone and such a signature may already have been used.
  void refuse_signed_at_or_before(std::int64_t start_s);
  std::size_t size() const;

 private:
  void expire_locked(std::int64_t now_s);

  const std::size_t entries_max_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::int64_t> created_by_key_;  // keyid '\n' nonce -> created_s
  std::set<std::pair<std::int64_t, std::string>> by_created_;
  std::optional<std::int64_t> refuse_at_or_before_s_;  // set by an eviction
  std::optional<std::int64_t> start_s_;                // set at startup
};

}  // namespace emledger::ledger
