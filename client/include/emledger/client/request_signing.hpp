// Signing the SDK's requests (RFC 9421 with Ed25519, the profile of
// ledger/http_signature.hpp and docs/formats/http-signatures.md): reads of
// holder-linked data and the material store are signed by an org key or a
// holder key; the node checks the signature, the nonce and the window.
#pragma once

#include <cstdint>
#include <string>

#include "emledger/client/signer.hpp"
#include "emledger/client/transport.hpp"
#include "emledger/crypto/ed25519.hpp"
#include "emledger/ledger/http_signature.hpp"

namespace emledger::client {

// How long a request signature is valid: long enough for a slow upload,
// well under the profile's maximum so that a clock a little behind the
// node's still yields a live signature.
inline constexpr std::int64_t kRequestSignatureValidity_s = 120;
static_assert(kRequestSignatureValidity_s <= ledger::kSignatureValidityMax_s);

// A key that signs requests, and the keyid the node resolves it by.
struct RequestKey {
  std::string keyid;
  crypto::KeyPair key;
};

// An org key: keyid "<org id>/<key id>".
RequestKey org_request_key(const Signer& signer);
// A holder key: keyid "holder/<holder_ref hex>/<key seq>".
RequestKey holder_request_key(const Hash& holder_ref, std::uint32_t key_seq,
                              const crypto::KeyPair& key);

// The profile's options for a signature made at now_s: created = now_s,
// expires = now_s + kRequestSignatureValidity_s, a fresh nonce.
ledger::SignOptions sign_options(const RequestKey& key, std::int64_t now_s);

// Adds Signature-Input, Signature and (with a body) Content-Digest to `call`
// for the request as sent to `authority` ("host:port", the Host field).
// Errors: BAD_ARGUMENT (no authority), SIGNATURE_MALFORMED (a request the
// profile cannot represent).
Status sign_call(HttpCall& call, const std::string& authority, const RequestKey& key,
                 const ledger::SignOptions& options);

// The wall clock in unix seconds (the only clock the SDK reads for signing).
std::int64_t unix_now_s();

}  // namespace emledger::client
