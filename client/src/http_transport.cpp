// The only translation unit that includes cpp-httplib.
//
// Debian's libcpp-httplib is the "split" build: httplib.h only declares, the
// shared library defines, and it was compiled with OpenSSL, zlib and Brotli
// support (see cpp-httplib.pc Cflags). Those macros change class layouts
// (httplib::Client gains a member under CPPHTTPLIB_OPENSSL_SUPPORT), so we must
// see the same declarations the library was built with, or its constructors
// write past our objects. CMake adds the package's Cflags to every target that
// links PkgConfig::HTTPLIB; the check below makes a wrong build fail loudly.
#include <httplib.h>
#ifndef CPPHTTPLIB_OPENSSL_SUPPORT
#error "compile with the cpp-httplib pkg-config Cflags (PkgConfig::HTTPLIB)"
#endif

#include "emledger/client/transport.hpp"

namespace emledger::client {
namespace {

void set_timeout(httplib::Client& cli, std::uint32_t connect_ms, std::uint32_t read_ms) {
  cli.set_connection_timeout(std::chrono::milliseconds(connect_ms));
  cli.set_read_timeout(std::chrono::milliseconds(read_ms));
  cli.set_write_timeout(std::chrono::milliseconds(read_ms));
}

Status unreachable(const std::string& base_url, httplib::Error err) {
  return Status::error("NODE_UNREACHABLE", "cannot reach node at " + base_url + " (" +
                                               httplib::to_string(err) + " error)");
}

// "http://host:port/x" -> "host:port"; the port only when the URL has one.
std::string authority_of(const std::string& url) {
  std::string rest = url;
  const std::size_t scheme = rest.find("://");
  if (scheme != std::string::npos) rest = rest.substr(scheme + 3);
  const std::size_t slash = rest.find('/');
  if (slash != std::string::npos) rest = rest.substr(0, slash);
  return rest;
}

class HttpTransport final : public Transport {
 public:
  HttpTransport(std::string base_url, TransportOptions options)
      : base_url_(std::move(base_url)), options_(options) {
    while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
    authority_ = authority_of(base_url_);
  }

  std::string authority() const override { return authority_; }

  Result<HttpResponse> send(const HttpCall& call) override {
    httplib::Client cli(base_url_);
    if (!cli.is_valid()) return Status::error("NODE_UNREACHABLE", "invalid node URL: " + base_url_);
    set_timeout(cli, options_.connect_timeout_ms,
                call.long_wait ? options_.commit_timeout_ms : options_.read_timeout_ms);
    httplib::Headers headers;
    // The Host we send is the authority the signature covers, whatever
    // cpp-httplib would have derived (it omits default ports).
    if (!authority_.empty()) headers.emplace("Host", authority_);
    for (const auto& [name, value] : call.headers) headers.emplace(name, value);
    if (call.method != "GET" && call.method != "PUT" && call.method != "POST")
      return Status::error("NOT_SUPPORTED", "HTTP method " + call.method + " is not supported");
    auto res = [&] {
      if (call.method == "GET") return cli.Get(call.target, headers);
      if (call.method == "PUT") return cli.Put(call.target, headers, call.body, call.content_type);
      return cli.Post(call.target, headers, call.body, call.content_type);
    }();
    if (!res) return unreachable(base_url_, res.error());
    return HttpResponse{res->status, res->body, res->get_header_value("Content-Type")};
  }

  Result<HttpResponse> get(const std::string& target) override {
    httplib::Client cli(base_url_);
    if (!cli.is_valid()) return Status::error("NODE_UNREACHABLE", "invalid node URL: " + base_url_);
    set_timeout(cli, options_.connect_timeout_ms, options_.read_timeout_ms);
    auto res = cli.Get(target);
    if (!res) return unreachable(base_url_, res.error());
    return HttpResponse{res->status, res->body, res->get_header_value("Content-Type")};
  }

  Result<HttpResponse> post(const std::string& target, const std::string& json_body,
                            bool long_wait) override {
    httplib::Client cli(base_url_);
    if (!cli.is_valid()) return Status::error("NODE_UNREACHABLE", "invalid node URL: " + base_url_);
    set_timeout(cli, options_.connect_timeout_ms,
                long_wait ? options_.commit_timeout_ms : options_.read_timeout_ms);
    auto res = cli.Post(target, json_body, "application/json");
    if (!res) return unreachable(base_url_, res.error());
    return HttpResponse{res->status, res->body, res->get_header_value("Content-Type")};
  }

 private:
  std::string base_url_;
  std::string authority_;
  TransportOptions options_;
};

}  // namespace

Result<HttpResponse> Transport::send(const HttpCall& call) {
  if (call.headers.empty() && call.method == "GET") return get(call.target);
  if (call.headers.empty() && call.method == "POST" && call.content_type == "application/json")
    return post(call.target, call.body, call.long_wait);
  return Status::error("NOT_SUPPORTED",
                       "this transport cannot send " + call.method + " with header fields");
}

std::unique_ptr<Transport> make_http_transport(const std::string& base_url,
                                               const TransportOptions& options) {
  return std::make_unique<HttpTransport>(base_url, options);
}

}  // namespace emledger::client
