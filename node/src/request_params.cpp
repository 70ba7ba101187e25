#include "request_params.hpp"

#include <charconv>

#include "emledger/crypto/hex.hpp"
#include "errors.hpp"

namespace emledger::node {

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  for (char c : s)
    if (c < '0' || c > '9') return std::nullopt;
  std::uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<Hash> parse_hash(std::string_view s) {
  if (s.size() != 2 * kHashSize) return std::nullopt;
  return hash_from_hex(s);
}

const std::string* query_param(const HttpRequest& req, const std::string& name) {
  auto it = req.query.find(name);
  return it == req.query.end() ? nullptr : &it->second;
}

HttpResponse bad_parameter(const std::string& name, const std::string& why) {
  return error_response(400, "BAD_PARAMETER", name + ": " + why, {{"parameter", name}});
}

}  // namespace emledger::node
