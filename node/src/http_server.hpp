// The node's HTTP/1.1 server. This header and http_server.cpp are the only
// translation units that see Boost.Beast/Asio: the rest of the node talks to
// the server through the plain types below, which keeps compile times low and
// lets the routes be unit-tested without sockets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "emledger/crypto/result.hpp"

namespace emledger::node {

// Largest request body accepted; larger bodies get 413 BODY_TOO_LARGE.
inline constexpr std::size_t kRequestBodyBytesMax = 8u << 20;
// The most any route may raise its own body limit to (HttpHandler::
// body_bytes_max): the material store takes files of up to 64 MiB.
inline constexpr std::size_t kRouteBodyBytesMax = 64u << 20;
static_assert(kRequestBodyBytesMax <= kRouteBodyBytesMax);
// Largest request header block (request line + fields).
inline constexpr std::size_t kRequestHeaderBytesMax = 16u << 10;
// An idle keep-alive connection, or a client that sends its header this
// slowly, is closed after this long.
inline constexpr std::uint64_t kHeaderTimeoutMs = 30'000;
// Time allowed for the whole body once the header is in.
inline constexpr std::uint64_t kBodyTimeoutMs = 60'000;
// Time allowed to write one response.
inline constexpr std::uint64_t kWriteTimeoutMs = 30'000;
// After an over-long body is refused, the rest the client still sends is read
// and discarded (up to this much) so that it sees the 413 rather than a reset.
inline constexpr std::size_t kDrainBytesMax = 64u << 20;

struct HttpRequest {
  std::string method;                          // "GET", "POST", ... as sent
  std::string path;                            // target before '?', percent-decoding not applied
  std::string target;                          // the request target exactly as sent (path?query)
  std::map<std::string, std::string> query;    // percent-decoded; last value wins
  std::map<std::string, std::string> headers;  // field names lower-cased
  std::string body;
  // False for a POST that carried neither Content-Length nor chunked
  // transfer coding (answered with 411 LENGTH_REQUIRED by the API).
  bool body_length_known = true;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

// Completes one request. May be called from any thread, exactly once; the
// write runs on the connection's own I/O thread: at once when called there
// (a handler answering before it returns), posted to it otherwise.
using Responder = std::function<void(HttpResponse)>;

// What the server calls for each request. Implementations must be thread
// safe: handle() runs concurrently on every I/O thread. A handler that needs
// to wait (for a block commit) keeps the Responder and returns at once, so
// that no I/O thread ever blocks: every connection on that thread would wait
// (ADR 035).
class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  virtual void handle(HttpRequest request, Responder respond) = 0;
  // The body of an error the server produces itself (413, 400 on an
  // unparsable request line), in the API's error form.
  virtual HttpResponse error_response(int status, const std::string& code,
                                      const std::string& message) = 0;
  // The body limit of a request, decided from its method and target once its
  // header is read; at most kRouteBodyBytesMax.
  virtual std::size_t body_bytes_max(std::string_view /*method*/, std::string_view /*target*/) {
    return kRequestBodyBytesMax;
  }
};

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  // 0: the OS picks a free port (see HttpServer::port())
  // I/O threads, each with an io_context of its own; a connection is served
  // by the one it was accepted onto, in turn (ADR 035). 0: the hardware's.
  unsigned threads = 0;
};

// Parses "host:port" (port may be 0). IPv6 as "[::1]:8080".
// Errors: BAD_LISTEN_ADDRESS.
Result<HttpServerOptions> parse_listen_address(const std::string& address);

class HttpServer {
 public:
  // Binds and listens. Errors: LISTEN_FAILED with the OS message.
  static Result<std::unique_ptr<HttpServer>> start(const HttpServerOptions& options,
                                                   HttpHandler& handler);
  ~HttpServer();  // stop()s

  std::uint16_t port() const;  // the bound port, also when 0 was asked for
  const std::string& host() const;

  // Stops accepting new connections; established ones keep being served.
  void stop_accepting();
  // Stops accepting, waits up to `grace_ms` for responses being produced to
  // be written, then closes every connection and joins the I/O threads.
  // Idempotent.
  void stop(std::uint64_t grace_ms = 2000);

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace emledger::node
