#include "router.hpp"

#include "emledger/crypto/result.hpp"

namespace emledger::node {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    auto j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.push_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

bool is_capture(const std::string& seg) {
  return seg.size() >= 2 && seg.front() == '{' && seg.back() == '}';
}

}  // namespace

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 &&
               hex_value(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void split_target(std::string_view target, std::string& path,
                  std::map<std::string, std::string>& query) {
  auto q = target.find('?');
  path = std::string(target.substr(0, q));
  if (q == std::string_view::npos) return;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    std::string name = percent_decode(pair.substr(0, eq));
    std::string value =
        eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1));
    query[std::move(name)] = std::move(value);
  }
}

void Router::add(std::string method, std::string pattern, RouteFn fn) {
  EMLEDGER_ASSERT(!pattern.empty() && pattern[0] == '/');
  Route r;
  r.method = std::move(method);
  for (auto s : split_path(pattern)) r.segments.emplace_back(s);
  r.fn = std::move(fn);
  routes_.push_back(std::move(r));
}

bool Router::matches(const Route& r, const std::vector<std::string_view>& segs, PathParams* out) {
  if (r.segments.size() != segs.size()) return false;
  PathParams params;
  for (std::size_t i = 0; i < segs.size(); ++i) {
    if (is_capture(r.segments[i])) {
      params.emplace_back(segs[i]);
    } else if (r.segments[i] != segs[i]) {
      return false;
    }
  }
  if (out) *out = std::move(params);
  return true;
}

Router::Match Router::match(std::string_view method, std::string_view path) const {
  Match m;
  auto segs = split_path(path);
  // A trailing slash or doubled slashes are not the same resource.
  if (path.empty() || path.back() == '/' || path.find("//") != std::string_view::npos) return m;
  for (const auto& r : routes_) {
    if (r.method != method) continue;
    if (matches(r, segs, &m.params)) {
      m.outcome = Outcome::kFound;
      m.fn = &r.fn;
      return m;
    }
  }
  for (const auto& r : routes_) {
    if (matches(r, segs, nullptr)) {
      m.outcome = Outcome::kWrongMethod;
      m.allowed.push_back(r.method);
    }
  }
  return m;
}

}  // namespace emledger::node
