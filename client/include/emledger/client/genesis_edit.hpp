// Building a network's genesis file step by step (`emledger genesis ...`).
//
// These edit the JSON form of ledger/json.hpp rather than a Genesis value,
// because a genesis under construction is not valid yet (no validators, so
// genesis_from_json() refuses it). Each edit checks what it adds; the whole
// is checked with Genesis::check() once a validator is added.
#pragma once

#include <string>
#include <string_view>

#include "emledger/crypto/ed25519.hpp"
#include "emledger/ledger/json.hpp"

namespace emledger::client {

// {"chain_id", "time_ms", "orgs": [], "validators": []}.
// Errors: GENESIS_MALFORMED for a chain id outside [a-z0-9._-]{1,64}.
Result<ledger::Json> new_genesis(const std::string& chain_id, std::uint64_t time_ms);

// "issuer,consumer" -> role bits. Errors: BAD_ARGUMENT naming the unknown role.
Result<std::uint32_t> parse_roles(std::string_view csv);

// Adds `public_key` to org `org_id`, creating the org (in id order) when it
// is new. A new org takes `region` and `roles`; an existing one must have the
// same region and gains `roles`. Key ids count 1, 2, ... per org. Returns the
// key id. Errors: GENESIS_MALFORMED (bad org id, too many keys, the key
// already in the genesis, region differs, a malformed file).
Result<std::uint32_t> add_org_key(ledger::Json& genesis, const std::string& org_id,
                                  const std::string& region, std::uint32_t roles,
                                  const crypto::PublicKey& public_key);

// Adds a validator of org `org_id` (which must exist; it gains the validator
// role) with its peer address, then requires the whole genesis to pass
// genesis_from_json() and Genesis::check(). On error `genesis` is unchanged.
// Errors: GENESIS_MALFORMED.
Status add_validator(ledger::Json& genesis, const std::string& org_id,
                     const crypto::PublicKey& public_key, const std::string& address);

// Adds a statute policy: orgs with any of `roles` may read records of
// `type_code` without the holder's grant (the access is still recorded, as
// statutory). An existing policy for the type gains the roles. Policies stay
// sorted by type code. When the genesis already has validators the whole is
// checked again. On error `genesis` is unchanged. Errors: GENESIS_MALFORMED
// (empty or over-long type code, no roles, too many policies, a malformed
// file). Defined in genesis_statute.cpp.
Status add_statute(ledger::Json& genesis, const std::string& type_code, std::uint32_t roles);

// Reads / writes a genesis file as JSON (writes via a temporary file and
// rename; pretty-printed, newline-terminated). Errors: IO_ERROR,
// GENESIS_MALFORMED (not JSON).
Result<ledger::Json> read_genesis_json(const std::string& path);
Status write_genesis_json(const std::string& path, const ledger::Json& genesis);

}  // namespace emledger::client
