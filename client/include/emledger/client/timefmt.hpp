// Times as users type and read them. The ledger counts unix milliseconds (UTC).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "emledger/crypto/result.hpp"

namespace emledger::client {

// Accepts either
//   - unix milliseconds: decimal digits only, e.g. "1801353600000";
//   - RFC 3339 date-time: "2027-01-31T00:00:00Z", "2027-01-31T08:00:00+08:00",
//     "2027-01-31T00:00:00.250Z" (fraction to milliseconds; 't'/'z' allowed);
// and nothing else (no bare dates, no local time without an offset).
// Errors: BAD_TIME naming what is wrong.
Result<std::uint64_t> parse_time_ms(std::string_view text);

// RFC 3339 in UTC: "2027-01-31T00:00:00Z", or "...00.250Z" when the
// milliseconds are not zero.
std::string format_time_ms(std::uint64_t ms);

}  // namespace emledger::client
