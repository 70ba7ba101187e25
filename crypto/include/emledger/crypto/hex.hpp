// Lowercase hex and base64 (standard and url-safe), the API's forms of bytes.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "emledger/crypto/bytes.hpp"

namespace emledger {

std::string to_hex(ByteView data);
inline std::string to_hex(const Hash& h) { return to_hex(ByteView(h)); }
// Accepts lowercase or uppercase hex; nullopt on odd length or a non-hex char.
std::optional<Bytes> from_hex(std::string_view hex);
// Exactly 64 hex chars -> Hash.
std::optional<Hash> hash_from_hex(std::string_view hex);

std::string to_base64(ByteView data);                 // RFC 4648 section 4, padded
std::optional<Bytes> from_base64(std::string_view s);  // strict, padded

}  // namespace emledger
