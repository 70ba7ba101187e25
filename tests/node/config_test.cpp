// emledger-node's command line (parse_command_line): the options that size
// and shape the ledger, accepted within their bounds, refused with exit code 2
// outside them.
#include "config.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "emledger/ledger/ledger.hpp"

using namespace emledger;
using namespace emledger::node;

namespace {

std::optional<Config> parse(std::vector<std::string> args, int& exit_code) {
  args.insert(args.begin(), "emledger-node");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  exit_code = -1;
  return parse_command_line(static_cast<int>(argv.size()), argv.data(), &exit_code);
}

}  // namespace

TEST_CASE("node config: --state-retention-blocks is 0 or a window of at least 16 heights") {
  int code = 0;
  auto d = parse({"--dev", "--data", "/tmp/x"}, code);
  REQUIRE(d);
  CHECK(d->state_retention_blocks == ledger::kStateRetentionKeepAll);
  for (std::uint64_t w : {std::uint64_t{0}, ledger::kStateRetentionBlocksMin, std::uint64_t{1000},
                          ledger::kStateRetentionBlocksMax}) {
    CAPTURE(w);
    auto c =
        parse({"--dev", "--data", "/tmp/x", "--state-retention-blocks", std::to_string(w)}, code);
    REQUIRE(c);
    CHECK(c->state_retention_blocks == w);
  }
  const std::vector<std::string> bads = {
      "1",   "15", std::to_string(ledger::kStateRetentionBlocksMax + 1), "-1", "abc", "16x",
      "1e3", ""};
  for (const std::string& bad : bads) {
    CAPTURE(bad);
    auto c = parse({"--dev", "--data", "/tmp/x", "--state-retention-blocks", bad}, code);
    CHECK_FALSE(c);
    CHECK(code == 2);
  }
}

TEST_CASE("node config: --state-threads is 0 (the hardware threads) to 16") {
  int code = 0;
  auto d = parse({"--dev", "--data", "/tmp/x"}, code);
  REQUIRE(d);
  CHECK(d->state_threads == 0);
  for (unsigned t : {0u, 1u, 2u, ledger::kStateUpdateThreadsMax}) {
    CAPTURE(t);
    auto c = parse({"--dev", "--data", "/tmp/x", "--state-threads", std::to_string(t)}, code);
    REQUIRE(c);
    CHECK(c->state_threads == t);
  }
  const std::vector<std::string> bads = {std::to_string(ledger::kStateUpdateThreadsMax + 1), "-1",
                                         "abc", "2x", ""};
  for (const std::string& bad : bads) {
    CAPTURE(bad);
    auto c = parse({"--dev", "--data", "/tmp/x", "--state-threads", bad}, code);
    CHECK_FALSE(c);
    CHECK(code == 2);
  }
}
