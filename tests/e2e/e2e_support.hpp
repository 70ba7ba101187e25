// Shared helpers of the end-to-end tests: temp dirs, the CLI, HTTP JSON calls.
#pragma once

#include <doctest/doctest.h>
#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "../support/node_process.hpp"
#include "emledger/crypto/hex.hpp"
#include "emledger/crypto/keyfile.hpp"
#include "emledger/crypto/sha256.hpp"
#include "emledger/ledger/json.hpp"

namespace emledger::e2e {

namespace fs = std::filesystem;
using emledger::ledger::Json;

class Scratch {
 public:
  explicit Scratch(const std::string& name) {
    dir_ = fs::temp_directory_path() / ("emledger-e2e-" + name + "-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  ~Scratch() {
    if (!std::getenv("EMLEDGER_KEEP_TEST_DIRS")) fs::remove_all(dir_);
  }
  std::string path(const std::string& rel) const { return (dir_ / rel).string(); }
  std::string write(const std::string& rel, const std::string& content) const {
    std::ofstream(path(rel), std::ios::binary) << content;
    return path(rel);
  }

 private:
  fs::path dir_;
};

// Runs the emledger CLI with `args`; output goes through a scratch log file.
inline testing::RunResult cli(const Scratch& s, std::vector<std::string> args) {
  args.insert(args.begin(), EMLEDGER_CLI_BIN);
  auto r = testing::run(args, s.path("cli.out"));
  return r;
}

inline std::string flip_byte(const std::string& content, std::size_t pos) {
  std::string out = content;
  out[pos % out.size()] = static_cast<char>(out[pos % out.size()] ^ 0x01);
  return out;
}

struct HttpReply {
  int status = 0;
  Json body;
};

inline HttpReply http_json(const testing::NodeProcess& node, const std::string& method,
                           const std::string& path, const std::string& body = "") {
  httplib::Client c(node.host(), node.port());
  c.set_read_timeout(60, 0);
  httplib::Result r = method == "GET" ? c.Get(path.c_str())
                                      : c.Post(path.c_str(), body, "application/json");
  HttpReply out;
  if (!r) return out;
  out.status = r->status;
  out.body = Json::parse(r->body, nullptr, false);
  return out;
}

inline std::uint64_t height_of(const testing::NodeProcess& node) {
  auto h = http_json(node, "GET", "/v1/health");
  REQUIRE(h.status == 200);
  return h.body.at("height").get<std::uint64_t>();
}

inline std::string error_code(const HttpReply& r) {
  if (!r.body.is_object() || !r.body.contains("error")) return "";
  return r.body["error"].value("code", "");
}

}  // namespace emledger::e2e
