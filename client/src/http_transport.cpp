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

class HttpTransport final : public Transport {
 public:
  HttpTransport(std::string base_url, TransportOptions options)
      : base_url_(std::move(base_url)), options_(options) {
    while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
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
  TransportOptions options_;
};

}  // namespace

std::unique_ptr<Transport> make_http_transport(const std::string& base_url,
                                               const TransportOptions& options) {
  return std::make_unique<HttpTransport>(base_url, options);
}

}  // namespace emledger::client
