// The authorization layer's routes (docs/api.md, "Authorization layer"):
// holder view, grants, accesses, audit listing and the material store. Every
// route but GET /v1/holders/{ref} needs an RFC 9421 request signature
// (request_auth.hpp) and is written to the read log.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "clock.hpp"
#include "emledger/ledger/ledger.hpp"
#include "material_store.hpp"
#include "request_auth.hpp"
#include "router.hpp"

namespace emledger::node {

// Items one holder or audit listing answers with, by default and at most.
inline constexpr std::size_t kAuthzItemsDefault = 100;
inline constexpr std::size_t kAuthzItemsMax = 1000;
// Index entries one grantee listing reads before it answers with a cursor:
// a holder's records outside the grant's scope cost a scan, bounded here.
inline constexpr std::size_t kGrantScanEntriesMax = 10 * kAuthzItemsMax;

class GenesisState;

// Thread safe once its routes are added.
class AuthzApi {
 public:
  ~AuthzApi();
  // Opens DATA/read-log.jsonl and DATA/materials/. Errors: IO_ERROR.
  static Result<std::unique_ptr<AuthzApi>> open(const ledger::Ledger& ledger, Clock clock,
                                                const std::string& data_dir);

  void add_routes(Router& router);
  // kRouteBodyBytesMax-bounded body limit: PUT /v1/materials/... takes a
  // whole file, everything else the server's default.
  std::size_t body_bytes_max(std::string_view method, std::string_view target) const;

 private:
  AuthzApi(const ledger::Ledger& ledger, std::unique_ptr<RequestAuth> auth,
           std::unique_ptr<MaterialStore> materials, std::unique_ptr<GenesisState> genesis_state);

  using SignedFn = void (AuthzApi::*)(const HttpRequest&, const PathParams&, const Signer&,
                                      Responder);
  RouteFn signed_route(SignedFn fn);

  void holder(const HttpRequest&, const PathParams&, Responder);
  void holder_records(const HttpRequest&, const PathParams&, const Signer&, Responder);
  void holder_grants(const HttpRequest&, const PathParams&, const Signer&, Responder);
  void holder_accesses(const HttpRequest&, const PathParams&, const Signer&, Responder);
  void holder_list(ledger::Ledger::HolderList list, const HttpRequest&, const PathParams&,
                   const Signer&, Responder);
  void grant(const HttpRequest&, const PathParams&, const Signer&, Responder);
  void grant_records(const HttpRequest&, const PathParams&, const Signer&, Responder);
  // Items with their proofs at the head, and the certified head.
  Result<nlohmann::json> proven_page(ledger::Ledger::HolderList list,
                                     const std::vector<Hash>& ids) const;
  // Errors: GRANT_REVOKED, GRANT_NOT_YET_VALID, GRANT_EXPIRED, GRANT_EXHAUSTED.
  static Status grant_live(const ledger::Grant& g, std::uint64_t time_ms);
  struct ScopeScan {
    std::vector<Hash> ids;
    std::optional<ledger::ChainPos> next;  // where to resume; none at the end
  };
  Result<ScopeScan> scan_scope(const ledger::Grant& g, std::size_t limit,
                               std::optional<ledger::ChainPos> after) const;
  void access(const HttpRequest&, const PathParams&, const Signer&, Responder);
  void audit_accesses(const HttpRequest&, const PathParams&, const Signer&, Responder);
  class CertifiedCache;
  Result<nlohmann::json> audit_item(const Hash& id, const ledger::ChainHead& head,
                                    CertifiedCache& certified) const;
  void put_material(const HttpRequest&, const PathParams&, const Signer&, Responder);
  void get_material(const HttpRequest&, const PathParams&, const Signer&, Responder);

  const ledger::Ledger& ledger_;
  std::unique_ptr<RequestAuth> auth_;
  std::unique_ptr<MaterialStore> materials_;
  std::unique_ptr<GenesisState> genesis_state_;  // proves what block 1 was judged against
};

}  // namespace emledger::node
