#include "emledger/client/request_signing.hpp"

#include <chrono>

#include "emledger/client/errors.hpp"
#include "emledger/crypto/random.hpp"

namespace emledger::client {

RequestKey org_request_key(const Signer& signer) {
  return RequestKey{ledger::org_keyid(signer.org_id, signer.key_id), signer.key};
}

RequestKey holder_request_key(const Hash& holder_ref, std::uint32_t key_seq,
                              const crypto::KeyPair& key) {
  return RequestKey{ledger::holder_keyid(holder_ref, key_seq), key};
}

ledger::SignOptions sign_options(const RequestKey& key, std::int64_t now_s) {
  ledger::SignOptions o;
  o.keyid = key.keyid;
  o.created_s = now_s;
  o.expires_s = now_s + kRequestSignatureValidity_s;
  o.nonce = crypto::random_nonce_hex();
  return o;
}

Status sign_call(HttpCall& call, const std::string& authority, const RequestKey& key,
                 const ledger::SignOptions& options) {
  if (authority.empty())
    return Status::error(std::string(kBadArgument),
                         "the transport does not know the node's authority; cannot sign");
  ledger::HttpRequest req;
  req.method = call.method;
  req.scheme = "http";
  req.authority = authority;
  req.target = call.target;
  req.headers = call.headers;
  req.body = call.body;
  auto sig = ledger::sign_request(req, key.key, options);
  if (!sig) return sig.status();
  if (!sig->content_digest.empty())
    call.headers.emplace_back("Content-Digest", sig->content_digest);
  call.headers.emplace_back("Signature-Input", sig->signature_input);
  call.headers.emplace_back("Signature", sig->signature);
  return Status::ok();
}

std::int64_t unix_now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace emledger::client
