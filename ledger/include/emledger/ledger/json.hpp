// The API's JSON form of ledger types (never what is signed or hashed).
// Bytes and hashes are lowercase hex. Schemas: schemas/*.json.
#pragma once

#include <nlohmann/json.hpp>

#include "emledger/ledger/bundle.hpp"
#include "emledger/ledger/types.hpp"
#include "emledger/ledger/votes.hpp"

namespace emledger::ledger {

using Json = nlohmann::json;

Json to_json(const Genesis& g);
// Errors: GENESIS_MALFORMED with the offending field.
Result<Genesis> genesis_from_json(const Json& j);
Result<Genesis> load_genesis_file(const std::string& path);

Json to_json(const Org& o);
Json to_json(const RecordBody& b);
Json to_json(const Record& r);
Json to_json(const BlockHeader& h);
Json to_json(const Certificate& c);
Json to_json(const Tx& tx);  // decoded fields, payload decoded by type when known
Json to_json(const InclusionProof& p);
Json to_json(const ConsistencyProof& p);
Json to_json(const StateProof& p);
Json to_json(const BundleVerdict& v);
Json to_json(const GrantTerms& t);
Json to_json(const Grant& g);
Json to_json(const Access& a);
Json to_json(const HolderBinding& b);
Json to_json(const Objection& o);
Json to_json(const Archive& a);
Json to_json(const EvidenceVote& v);  // one vote of a SubmitEvidence payload

// A list cursor in the API ("after=HEIGHT.INDEX"): the position of the last
// item of the previous page. parse_cursor accepts exactly what cursor_string
// writes: decimal digits without leading zeros, each part in range.
std::string cursor_string(ChainPos pos);
std::optional<ChainPos> parse_cursor(std::string_view s);

std::string_view record_kind_name(std::uint8_t kind);
std::string_view record_status_name(std::uint8_t status);
std::string_view tx_type_name(std::uint8_t type);
std::string_view vote_kind_name(std::uint8_t kind);  // "notarize", "nullify", "finalize"

}  // namespace emledger::ledger
