#include "router.hpp"

#include <doctest/doctest.h>

using namespace emledger::node;

TEST_CASE("split_target separates the path and percent-decodes the query") {
  std::string path;
  std::map<std::string, std::string> q;
  split_target("/v1/records?content_hash=ab%43d&x=1+2&empty=&flag&x=3", path, q);
  CHECK(path == "/v1/records");
  CHECK(q["content_hash"] == "abCd");
  CHECK(q["x"] == "3");  // last value wins
  CHECK(q["empty"].empty());
  CHECK(q.count("flag") == 1);

  std::map<std::string, std::string> none;
  split_target("/v1/health", path, none);
  CHECK(path == "/v1/health");
  CHECK(none.empty());
}

TEST_CASE("percent_decode keeps malformed escapes literally") {
  CHECK(percent_decode("%41%4a") == "AJ");
  CHECK(percent_decode("%4") == "%4");
  CHECK(percent_decode("%zz") == "%zz");
  CHECK(percent_decode("a+b") == "a b");
}

TEST_CASE("router: literal before pattern, captures, 404 and 405") {
  Router r;
  std::string hit;
  auto note = [&hit](std::string name) {
    return [&hit, name](const HttpRequest&, const PathParams& p, Responder) {
      hit = name + (p.empty() ? "" : ":" + p[0]);
    };
  };
  r.add("GET", "/v1/headers/latest", note("latest"));
  r.add("GET", "/v1/headers/{height}", note("at"));
  r.add("POST", "/v1/transactions", note("submit"));

  auto call = [&](const char* method, const char* path) {
    auto m = r.match(method, path);
    if (m.outcome == Router::Outcome::kFound) (*m.fn)(HttpRequest{}, m.params, [](HttpResponse) {});
    return m;
  };
  CHECK(call("GET", "/v1/headers/latest").outcome == Router::Outcome::kFound);
  CHECK(hit == "latest");
  CHECK(call("GET", "/v1/headers/17").outcome == Router::Outcome::kFound);
  CHECK(hit == "at:17");
  CHECK(call("POST", "/v1/transactions").outcome == Router::Outcome::kFound);
  CHECK(hit == "submit");

  auto wrong = r.match("GET", "/v1/transactions");
  CHECK(wrong.outcome == Router::Outcome::kWrongMethod);
  CHECK(wrong.allowed == std::vector<std::string>{"POST"});
  CHECK(r.match("GET", "/v1/nothing").outcome == Router::Outcome::kNoSuchPath);
  CHECK(r.match("GET", "/v1/headers/1/2").outcome == Router::Outcome::kNoSuchPath);
  CHECK(r.match("GET", "/v1/headers/latest/").outcome == Router::Outcome::kNoSuchPath);
  CHECK(r.match("GET", "//v1/headers/latest").outcome == Router::Outcome::kNoSuchPath);
}

TEST_CASE("parse_listen_address") {
  auto a = parse_listen_address("127.0.0.1:8080");
  REQUIRE(a.is_ok());
  CHECK(a->host == "127.0.0.1");
  CHECK(a->port == 8080);
  auto z = parse_listen_address("localhost:0");
  REQUIRE(z.is_ok());
  CHECK(z->host == "127.0.0.1");
  CHECK(z->port == 0);
  auto v6 = parse_listen_address("[::1]:9");
  REQUIRE(v6.is_ok());
  CHECK(v6->host == "::1");
  CHECK_FALSE(parse_listen_address("127.0.0.1").is_ok());
  CHECK_FALSE(parse_listen_address("127.0.0.1:65536").is_ok());
  CHECK_FALSE(parse_listen_address("127.0.0.1:http").is_ok());
  CHECK_FALSE(parse_listen_address("example.org:80").is_ok());
  CHECK_FALSE(parse_listen_address(":80").is_ok());
}
