// How the SDK reaches a node: a narrow request/response interface, so that the
// verification logic above it can be exercised in tests with no network (a
// fake transport answering from a local ledger) and so that cpp-httplib stays
// inside one translation unit.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "emledger/crypto/result.hpp"

namespace emledger::client {

struct HttpResponse {
  int status = 0;
  std::string body;
  std::string content_type;
};

struct TransportOptions {
  std::uint32_t connect_timeout_ms = 5000;
  // Reads that return at once (headers, proofs, bundles).
  std::uint32_t read_timeout_ms = 30000;
  // POSTs with ?wait=commit answer only once the block is durably committed.
  std::uint32_t commit_timeout_ms = 120000;
};

// A request with header fields and any body: what signed reads (RFC 9421,
// docs/formats/http-signatures.md) and the material store need. The body is
// bytes (std::string is binary safe), sent as `content_type`.
struct HttpCall {
  std::string method = "GET";  // "GET", "PUT" or "POST"
  std::string target;          // path with its query string
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string content_type;  // empty: no body
  bool long_wait = false;    // commit_timeout_ms instead of read_timeout_ms
};

// One request, one answer. Implementations must be safe to call from several
// threads at once. A response with any HTTP status is a value; only a failure
// to get a response at all (refused, reset, timed out, bad URL) is an error,
// NODE_UNREACHABLE.
class Transport {
 public:
  virtual ~Transport() = default;
  // `target` is the path with its query string, e.g. "/v1/headers?from=1&to=9".
  virtual Result<HttpResponse> get(const std::string& target) = 0;
  // Sends `json_body` with Content-Type application/json. `long_wait` selects
  // commit_timeout_ms instead of read_timeout_ms.
  virtual Result<HttpResponse> post(const std::string& target, const std::string& json_body,
                                    bool long_wait) = 0;
  // Sends `call` as given; the response body is returned byte for byte (file
  // contents for GET /v1/materials). The default supports only header-less
  // GET and JSON POST, through get() and post(); transports that can carry
  // headers override it. Errors: NODE_UNREACHABLE, NOT_SUPPORTED.
  virtual Result<HttpResponse> send(const HttpCall& call);
  // The authority ("host:port") requests are sent to, as the Host field
  // carries it: the "@authority" a request signature covers. Empty when
  // unknown (then signed requests cannot be made).
  virtual std::string authority() const { return {}; }
};

// A cpp-httplib transport for "http://host:port" (an https:// URL works too,
// with the system CA store). Every call uses its own connection, so a Client
// can be shared between threads without locking.
std::unique_ptr<Transport> make_http_transport(const std::string& base_url,
                                               const TransportOptions& options = {});

}  // namespace emledger::client
