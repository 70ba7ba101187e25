// The hand-written request checks against the schemas they mirror, and the
// error table against schemas/errors.json.
#include "validate.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "errors.hpp"

using namespace emledger::node;
using nlohmann::json;

namespace {

json load_schema(const std::string& name) {
  auto dir = std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "schemas";
  std::ifstream in(dir / name);
  REQUIRE_MESSAGE(in, "cannot open schemas/" << name);
  return json::parse(in);
}

}  // namespace

TEST_CASE("submit_tx: checks agree with schemas/submit_tx.json") {
  auto s = load_schema("submit_tx.json");
  CHECK(s["$schema"] == "https://json-schema.org/draft/2020-12/schema");
  CHECK(s["required"] == json::array({"tx"}));
  CHECK(s["additionalProperties"] == false);
  CHECK(s["properties"]["tx"]["maxLength"] == kTxHexCharsMax);
  CHECK(s["properties"]["tx"]["pattern"] == "^([0-9a-f]{2})+$");

  CHECK_FALSE(validate_submit_tx(json{{"tx", "00ff"}}).has_value());
  CHECK(validate_submit_tx(json::array())->field == "");
  CHECK(validate_submit_tx(json{{"nope", 1}})->field == "");
  CHECK(validate_submit_tx(json{{"tx", "00"}, {"extra", 1}})->field == "/extra");
  CHECK(validate_submit_tx(json{{"tx", 5}})->field == "/tx");
  CHECK(validate_submit_tx(json{{"tx", ""}})->field == "/tx");
  CHECK(validate_submit_tx(json{{"tx", "abc"}})->field == "/tx");
  CHECK(validate_submit_tx(json{{"tx", "ABCD"}})->field == "/tx");
  CHECK(validate_submit_tx(json{{"tx", "zz"}})->field == "/tx");
  CHECK_FALSE(validate_submit_tx(json{{"tx", std::string(kTxHexCharsMax, 'a')}}).has_value());
  CHECK(validate_submit_tx(json{{"tx", std::string(kTxHexCharsMax + 2, 'a')}})->field == "/tx");
}

TEST_CASE("submit_batch: checks agree with schemas/submit_batch.json") {
  auto s = load_schema("submit_batch.json");
  const auto& txs = s["properties"]["txs"];
  CHECK(s["additionalProperties"] == false);
  CHECK(txs["maxItems"] == kBatchTxsMax);
  CHECK(txs["minItems"] == 1);
  CHECK(txs["items"]["maxLength"] == kTxHexCharsMax);

  CHECK_FALSE(validate_submit_batch(json{{"txs", {"00", "11"}}}).has_value());
  CHECK(validate_submit_batch(json{{"txs", json::array()}})->field == "/txs");
  CHECK(validate_submit_batch(json{{"txs", "00"}})->field == "/txs");
  CHECK(validate_submit_batch(json{{"txs", {"00", "x"}}})->field == "/txs/1");
  json many = json::array();
  for (std::size_t i = 0; i <= kBatchTxsMax; ++i) many.push_back("00");
  CHECK(validate_submit_batch(json{{"txs", many}})->field == "/txs");
  many.erase(many.size() - 1);
  CHECK_FALSE(validate_submit_batch(json{{"txs", many}}).has_value());
}

TEST_CASE("every error code the node knows is in schemas/errors.json with the same status") {
  auto s = load_schema("errors.json");
  std::map<std::string, int> listed;
  for (const auto& c : s["x-codes"]) listed[c["code"].get<std::string>()] = c["status"].get<int>();
  std::set<std::string> enumerated;
  for (const auto& c : s["properties"]["error"]["properties"]["code"]["enum"])
    enumerated.insert(c.get<std::string>());
  CHECK(listed.size() == known_error_codes().size());
  for (const auto& c : known_error_codes()) {
    CAPTURE(c.code);
    REQUIRE(listed.count(std::string(c.code)) == 1);
    CHECK(listed[std::string(c.code)] == c.status);
    CHECK(enumerated.count(std::string(c.code)) == 1);
    CHECK(http_status_for(c.code) == c.status);
  }
  CHECK(http_status_for("RECORD_NOT_FOUND", ErrorContext::kRead) == 404);
  CHECK(http_status_for("RECORD_NOT_FOUND", ErrorContext::kTransaction) == 422);
  CHECK(http_status_for("SOMETHING_NEW") == 500);
}

TEST_CASE("error bodies have the documented form") {
  auto r = error_response(409, "DUPLICATE_TX", "again", {{"id", "ab"}});
  CHECK(r.status == 409);
  CHECK(r.content_type == "application/json");
  auto j = json::parse(r.body);
  CHECK(j["error"]["code"] == "DUPLICATE_TX");
  CHECK(j["error"]["message"] == "again");
  CHECK(j["error"]["details"]["id"] == "ab");
}

TEST_CASE("openapi.json is OpenAPI 3.0 and covers every documented endpoint") {
  auto o = load_schema("openapi.json");
  CHECK(o["openapi"].get<std::string>().rfind("3.0", 0) == 0);
  const std::vector<std::pair<std::string, std::string>> endpoints = {
      {"/v1/health", "get"},
      {"/v1/genesis", "get"},
      {"/v1/openapi.json", "get"},
      {"/v1/transactions", "post"},
      {"/v1/transactions/batch", "post"},
      {"/v1/transactions/{id}", "get"},
      {"/v1/records/{id}", "get"},
      {"/v1/records", "get"},
      {"/v1/headers/latest", "get"},
      {"/v1/headers/{height}", "get"},
      {"/v1/headers", "get"},
      {"/v1/blocks/{height}", "get"},
      {"/v1/proofs/inclusion", "get"},
      {"/v1/proofs/consistency", "get"},
      {"/v1/proofs/frontier", "get"},
      {"/v1/proofs/state", "get"},
      {"/v1/bundles", "get"},
      {"/v1/checkpoint", "get"},
      {"/v1/evidence", "get"},
      {"/v1/evidence/{validator}", "get"},
      {"/v1/validators", "get"},
      {"/v1/holders/{holder_ref}", "get"},
      {"/v1/holders/{holder_ref}/records", "get"},
      {"/v1/holders/{holder_ref}/grants", "get"},
      {"/v1/holders/{holder_ref}/accesses", "get"},
      {"/v1/grants/{id}", "get"},
      {"/v1/grants/{id}/records", "get"},
      {"/v1/accesses/{id}", "get"},
      {"/v1/audit/accesses", "get"},
      {"/v1/materials/{content_hash}", "put"},
      {"/v1/materials/{content_hash}", "get"}};
  std::set<std::string> paths;
  for (const auto& e : endpoints) paths.insert(e.first);
  CHECK(o["paths"].size() == paths.size());
  for (const auto& [path, method] : endpoints) {
    CAPTURE(path);
    REQUIRE(o["paths"].contains(path));
    CHECK(o["paths"][path].contains(method));
  }
  // Before a quorum of validators cosigned a checkpoint (CHECKPOINT_PENDING).
  CHECK(o["paths"]["/v1/checkpoint"]["get"]["responses"].contains("503"));
}
