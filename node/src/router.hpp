// Request routing on plain types (no Beast): method + path patterns with
// "{name}" segments, and the target/query parsing the server uses.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "http_server.hpp"

namespace emledger::node {

// Splits "/a/b?x=1&y=%41" into path "/a/b" and query {x:"1", y:"A"}.
// Query names and values are percent-decoded ('+' is a space); a malformed
// escape is kept literally. A repeated name keeps its last value.
void split_target(std::string_view target, std::string& path,
                  std::map<std::string, std::string>& query);
std::string percent_decode(std::string_view s);

// Segments captured by "{...}" in a pattern, in order.
using PathParams = std::vector<std::string>;
using RouteFn = std::function<void(const HttpRequest&, const PathParams&, Responder)>;

// Not thread safe to add() to; match() is const and thread safe once built.
class Router {
 public:
  // Routes are tried in the order added, so add literal paths
  // ("/v1/headers/latest") before patterns that would also match them.
  void add(std::string method, std::string pattern, RouteFn fn);

  enum class Outcome { kFound, kNoSuchPath, kWrongMethod };
  struct Match {
    Outcome outcome = Outcome::kNoSuchPath;
    const RouteFn* fn = nullptr;  // set when kFound
    PathParams params;
    std::vector<std::string> allowed;  // methods of that path, when kWrongMethod
  };
  Match match(std::string_view method, std::string_view path) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;  // "{x}" marks a capture
    RouteFn fn;
  };
  static bool matches(const Route& r, const std::vector<std::string_view>& segs, PathParams* out);
  std::vector<Route> routes_;
};

}  // namespace emledger::node
