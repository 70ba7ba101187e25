// The routes of docs/api.md on top of the kernel, the mempool and the node's
// validator key. Beast-free: it sees only HttpRequest/HttpResponse.
#pragma once

#include <string>
#include <string_view>

#include "emledger/crypto/ed25519.hpp"
#include "emledger/ledger/ledger.hpp"
#include "http_server.hpp"
#include "mempool.hpp"
#include "router.hpp"

namespace emledger::node {

class AuthzApi;
class CheckpointBook;

// Most headers one GET /v1/headers?from&to answers with.
inline constexpr std::uint64_t kHeadersPerRequestMax = 1000;
// Most evidence records one GET /v1/evidence answers with, and the default.
inline constexpr std::uint64_t kEvidencePerRequestMax = 1000;
inline constexpr std::uint64_t kEvidencePerRequestDefault = 100;
static_assert(kEvidencePerRequestDefault <= kEvidencePerRequestMax);

struct ApiContext {
  ledger::Ledger* ledger = nullptr;
  Mempool* mempool = nullptr;
  // Signs checkpoints (one validator); null on a node that is not a
  // validator of the set in force (it serves no checkpoint).
  const crypto::KeyPair* validator_key = nullptr;
  std::string validator_org;  // the checkpoint signer name
  // Several validators: GET /v1/checkpoint serves this book's newest quorate
  // note (503 CHECKPOINT_PENDING before there is one). Null with one
  // validator, whose own signature of its head is a quorum.
  const CheckpointBook* checkpoints = nullptr;
  std::string_view openapi_json;  // served at /v1/openapi.json
  AuthzApi* authz = nullptr;      // the authorization layer's routes (api_authz.hpp), if any
};

// Thread safe: handle() runs on every I/O thread at once.
class Api final : public HttpHandler {
 public:
  explicit Api(ApiContext ctx);

  void handle(HttpRequest request, Responder respond) override;
  HttpResponse error_response(int status, const std::string& code,
                              const std::string& message) override;
  // Defined in api_authz.cpp: the material store's upload limit.
  std::size_t body_bytes_max(std::string_view method, std::string_view target) override;

 private:
  struct Admission;
  // `tx` is a transaction's canonical encoding, as submitted.
  Admission admit(ByteView tx, TxWaiter waiter);
  // The rest of admission for a transaction decoded and checked already
  // (`checked`: its check_tx_stateless status) whose id is `id`.
  // `encoding`: the bytes `tx` was decoded from (its canonical encoding).
  Admission admit_checked(const Hash& id, ledger::Tx tx, ByteView encoding, Status checked,
                          TxWaiter waiter);

  void health(const HttpRequest&, const PathParams&, Responder);
  void genesis(const HttpRequest&, const PathParams&, Responder);
  void openapi(const HttpRequest&, const PathParams&, Responder);
  void submit(const HttpRequest&, const PathParams&, Responder);
  void submit_batch(const HttpRequest&, const PathParams&, Responder);
  void get_transaction(const HttpRequest&, const PathParams&, Responder);
  void get_record(const HttpRequest&, const PathParams&, Responder);
  void find_records(const HttpRequest&, const PathParams&, Responder);
  void latest_header(const HttpRequest&, const PathParams&, Responder);
  void header_at(const HttpRequest&, const PathParams&, Responder);
  void header_range(const HttpRequest&, const PathParams&, Responder);
  void block_at(const HttpRequest&, const PathParams&, Responder);
  void inclusion_proof(const HttpRequest&, const PathParams&, Responder);
  void consistency_proof(const HttpRequest&, const PathParams&, Responder);
  void log_frontier(const HttpRequest&, const PathParams&, Responder);
  void state_proof(const HttpRequest&, const PathParams&, Responder);
  void bundle(const HttpRequest&, const PathParams&, Responder);
  void checkpoint(const HttpRequest&, const PathParams&, Responder);
  void evidence(const HttpRequest&, const PathParams&, Responder);
  void validators(const HttpRequest&, const PathParams&, Responder);

  ApiContext ctx_;
  Router router_;
};

}  // namespace emledger::node
