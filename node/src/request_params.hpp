// Parsing of path segments and query parameters shared by the API's routes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "emledger/crypto/bytes.hpp"
#include "http_server.hpp"

namespace emledger::node {

// Decimal digits only, no sign, fits in 64 bits.
std::optional<std::uint64_t> parse_u64(std::string_view s);
// A required 64-hex-character hash, from a path segment or query value.
std::optional<Hash> parse_hash(std::string_view s);
// The value of query parameter `name`, or null.
const std::string* query_param(const HttpRequest& req, const std::string& name);
// 400 BAD_PARAMETER naming the parameter.
HttpResponse bad_parameter(const std::string& name, const std::string& why);

}  // namespace emledger::node
