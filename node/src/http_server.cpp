// Boost.Beast HTTP/1.1 server (see http_server.hpp for why Beast stays here).
//
// Each I/O thread runs an io_context of its own, and a connection stays on the
// one it was accepted onto (round robin): every handler of a session runs on
// that thread, with no lock and no hand-off between threads on the way from a
// request to its response (ADR 035). A session serves one request at a time
// (no pipelining):
// it reads the header, enforces the body limit, reads the body, hands a plain
// HttpRequest to the handler and reads nothing more until the handler's
// Responder has been called and the response written.
#include "http_server.hpp"

#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <chrono>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "router.hpp"
#include "thread_slice.hpp"

namespace emledger::node {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

std::chrono::milliseconds ms(std::uint64_t v) { return std::chrono::milliseconds(v); }

bool method_has_body(http::verb v) {
  return v == http::verb::post || v == http::verb::put || v == http::verb::patch;
}

}  // namespace

struct HttpServer::Impl {
  explicit Impl(HttpHandler& h, unsigned thread_count) : handler(h) {
    EMLEDGER_ASSERT(thread_count > 0);
    for (unsigned i = 0; i < thread_count; ++i) {
      // One thread runs each context: asio may skip what only serves several.
      contexts.push_back(std::make_unique<net::io_context>(1));
      guards.push_back(net::make_work_guard(*contexts.back()));
    }
    acceptor.emplace(*contexts.front());
  }

  void accept();
  // The context the next connection goes to; called on the acceptor's thread only.
  net::io_context& next_context() { return *contexts[next_context_index++ % contexts.size()]; }

  HttpHandler& handler;
  std::vector<std::unique_ptr<net::io_context>> contexts;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards;
  std::optional<tcp::acceptor> acceptor;
  std::size_t next_context_index = 0;
  std::vector<std::thread> threads;
  std::string host;
  std::uint16_t port = 0;
  // Requests handed to the handler whose response is not yet written: what
  // stop() waits for.
  std::atomic<int> busy{0};
  std::atomic<bool> stopped{false};
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, HttpServer::Impl& server)
      : stream_(std::move(socket)), server_(server) {}

  void start() {
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&Session::read_header, shared_from_this()));
  }

 private:
  void read_header() {
    parser_.emplace();
    parser_->header_limit(kRequestHeaderBytesMax);
    // The route's own limit is applied once the header is in (on_header).
    parser_->body_limit(kRouteBodyBytesMax);
    body_max_ = kRouteBodyBytesMax;
    stream_.expires_after(ms(kHeaderTimeoutMs));
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::on_header, shared_from_this()));
  }

  void on_header(beast::error_code ec, std::size_t) {
    if (ec) return on_read_error(ec);
    auto& req = parser_->get();
    version_ = req.version();
    body_max_ = server_.handler.body_bytes_max(
        std::string_view(req.method_string().data(), req.method_string().size()),
        std::string_view(req.target().data(), req.target().size()));
    EMLEDGER_ASSERT(body_max_ <= kRouteBodyBytesMax);
    parser_->body_limit(body_max_);
    if (parser_->content_length() && *parser_->content_length() > body_max_)
      return on_read_error(http::error::body_limit);
    if (beast::iequals(req[http::field::expect], "100-continue")) {
      // The client waits for our go-ahead before sending the body.
      auto cont =
          std::make_shared<http::response<http::empty_body>>(http::status::continue_, version_);
      http::async_write(stream_, *cont,
                        [self = shared_from_this(), cont](beast::error_code wec, std::size_t) {
                          if (wec) return self->close();
                          self->read_body();
                        });
      return;
    }
    read_body();
  }

  void read_body() {
    stream_.expires_after(ms(kBodyTimeoutMs));
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::on_body, shared_from_this()));
  }

  void on_read_error(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == net::error::operation_aborted || ec == net::error::connection_reset ||
        ec == net::error::eof)
      return close();
    keep_alive_ = false;
    if (ec == http::error::body_limit) {
      refused_ = true;
      return write(server_.handler.error_response(
          413, "BODY_TOO_LARGE", "request body exceeds " + std::to_string(body_max_) + " bytes"));
    }
    if (ec == http::error::header_limit)
      return write(server_.handler.error_response(431, "HEADER_TOO_LARGE",
                                                  "request header block too large"));
    return write(server_.handler.error_response(400, "MALFORMED_REQUEST",
                                                "bad HTTP request: " + ec.message()));
  }

  void on_body(beast::error_code ec, std::size_t) {
    if (ec) return on_read_error(ec);
    auto& req = parser_->get();
    keep_alive_ = req.keep_alive();

    HttpRequest hr;
    hr.method = std::string(req.method_string());
    split_target(std::string_view(req.target().data(), req.target().size()), hr.path, hr.query);
    hr.target = std::string(req.target());
    for (const auto& f : req) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      hr.headers[name] = std::string(f.value());
    }
    if (method_has_body(req.method()))
      hr.body_length_known = parser_->content_length().has_value() || parser_->chunked();
    hr.body = std::move(req.body());

    server_.busy.fetch_add(1);
    in_handler_ = true;
    responded_ = false;
    auto self = shared_from_this();
    // From the session's own thread (a handler answering at once) the write
    // starts here; from another (a commit waiter) it is posted to that thread.
    Responder respond = [self](HttpResponse res) {
      net::dispatch(self->stream_.get_executor(),
                    [self, res = std::move(res)]() mutable { self->write(std::move(res)); });
    };
    try {
      server_.handler.handle(std::move(hr), std::move(respond));
    } catch (const std::exception& e) {
      // The handler owns its errors; this is the last line of defence.
      keep_alive_ = false;
      write(server_.handler.error_response(500, "INTERNAL", e.what()));
    }
  }

  void write(HttpResponse r) {
    if (responded_) return;  // a second answer to one request is a bug upstream
    responded_ = true;
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(version_);
    res->result(static_cast<unsigned>(r.status));
    res->set(http::field::server, "emledger-node");
    res->set(http::field::content_type, r.content_type);
    res->keep_alive(keep_alive_);
    res->body() = std::move(r.body);
    res->prepare_payload();
    stream_.expires_after(ms(kWriteTimeoutMs));
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
                        self->on_write(ec);
                      });
  }

  void on_write(beast::error_code ec) {
    if (in_handler_) {
      in_handler_ = false;
      server_.busy.fetch_sub(1);
    }
    if (ec) return close();
    if (refused_) return drain_start();
    if (!keep_alive_) return shutdown();
    read_header();
  }

  // Half-closes and discards whatever the client still sends, so that a
  // client that writes its whole body before reading sees our 413.
  void drain_start() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    drain_buf_.resize(1u << 16);
    drain_more();
  }
  void drain_more() {
    stream_.expires_after(ms(5000));
    stream_.async_read_some(net::buffer(drain_buf_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->drained_ += n;
                              if (ec || self->drained_ > kDrainBytesMax) return self->close();
                              self->drain_more();
                            });
  }

  void shutdown() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }
  void close() {
    beast::error_code ignored;
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  HttpServer::Impl& server_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool refused_ = false;
  bool responded_ = false;
  bool in_handler_ = false;  // counted in server_.busy until its response is written
  std::vector<char> drain_buf_;
  std::size_t drained_ = 0;
  std::size_t body_max_ = kRequestBodyBytesMax;  // this request's limit (on_header)
};

}  // namespace

void HttpServer::Impl::accept() {
  acceptor->async_accept(next_context(), [this](beast::error_code ec, tcp::socket socket) {
    if (stopped.load() || !acceptor->is_open()) return;
    if (!ec) {
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      std::make_shared<Session>(std::move(socket), *this)->start();
    }
    accept();
  });
}

Result<HttpServerOptions> parse_listen_address(const std::string& address) {
  auto bad = [&](const std::string& why) {
    return Status::error("BAD_LISTEN_ADDRESS", "'" + address + "': " + why);
  };
  HttpServerOptions o;
  std::string host, port;
  if (!address.empty() && address[0] == '[') {
    auto close = address.find(']');
    if (close == std::string::npos || close + 1 >= address.size() || address[close + 1] != ':')
      return bad("expected [v6-address]:port");
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    auto colon = address.rfind(':');
    if (colon == std::string::npos) return bad("expected host:port");
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
  }
  if (host.empty()) return bad("empty host");
  if (port.empty() || port.size() > 5) return bad("bad port");
  unsigned long p = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return bad("bad port");
    p = p * 10 + static_cast<unsigned long>(c - '0');
  }
  if (p > 65535) return bad("port out of range");
  if (host == "localhost") host = "127.0.0.1";
  beast::error_code ec;
  net::ip::make_address(host, ec);
  if (ec) return bad("host must be a numeric IP address");
  o.host = host;
  o.port = static_cast<std::uint16_t>(p);
  return o;
}

Result<std::unique_ptr<HttpServer>> HttpServer::start(const HttpServerOptions& options,
                                                      HttpHandler& handler) {
  unsigned n = options.threads ? options.threads : std::thread::hardware_concurrency();
  if (n == 0) n = 2;
  auto impl = std::make_unique<Impl>(handler, n);
  beast::error_code ec;
  auto addr = net::ip::make_address(options.host, ec);
  if (ec) return Status::error("LISTEN_FAILED", options.host + ": " + ec.message());
  tcp::endpoint ep(addr, options.port);
  auto fail = [&](const char* what) {
    return Status::error("LISTEN_FAILED", std::string(what) + " " + options.host + ":" +
                                              std::to_string(options.port) + ": " + ec.message());
  };
  tcp::acceptor& acceptor = *impl->acceptor;
  acceptor.open(ep.protocol(), ec);
  if (ec) return fail("open");
  acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (ec) return fail("setsockopt");
  acceptor.bind(ep, ec);
  if (ec) return fail("bind");
  acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen");
  impl->host = options.host;
  impl->port = acceptor.local_endpoint().port();
  impl->accept();
  for (auto& io : impl->contexts)
    impl->threads.emplace_back([io = io.get()] {
      // Short slices: a request that wakes this thread takes the CPU from
      // background work (a compaction) without waiting out its slice (ADR 037).
      request_thread_slice(kIoThreadSliceNs);
      io->run();
    });
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() { stop(0); }

std::uint16_t HttpServer::port() const { return impl_->port; }
const std::string& HttpServer::host() const { return impl_->host; }

void HttpServer::stop_accepting() {
  if (impl_->stopped.exchange(true)) return;
  net::post(impl_->acceptor->get_executor(), [i = impl_.get()] {
    beast::error_code ignored;
    i->acceptor->close(ignored);
  });
}

void HttpServer::stop(std::uint64_t grace_ms) {
  if (impl_->threads.empty()) return;
  stop_accepting();
  auto deadline = std::chrono::steady_clock::now() + ms(grace_ms);
  while (impl_->busy.load() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(ms(5));
  for (auto& g : impl_->guards) g.reset();
  for (auto& io : impl_->contexts) io->stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
}

}  // namespace emledger::node
