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

TEST_CASE(
    "node config: the state cache defaults to an eighth of the usable memory, within bounds") {
  constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
  // Unknown memory: the library's default.
  CHECK(default_state_cache_mib(std::nullopt) == ledger::kStateCacheMibDefault);
  // Small machines get no less than that; large ones no more than the cap.
  CHECK(default_state_cache_mib(512 * kMiB) == ledger::kStateCacheMibDefault);
  CHECK(default_state_cache_mib(0) == ledger::kStateCacheMibDefault);
  CHECK(default_state_cache_mib(1024 * kMiB) == 128);
  CHECK(default_state_cache_mib(24 * 1024 * kMiB) == 3072);
  CHECK(default_state_cache_mib(24 * 1024 * kMiB + 7) == 3072);
  CHECK(default_state_cache_mib(kStateCacheMibDefaultMax * kStateCacheMemoryShare * kMiB) ==
        kStateCacheMibDefaultMax);
  CHECK(default_state_cache_mib(std::uint64_t{1} << 50) == kStateCacheMibDefaultMax);
  CHECK(kStateCacheMibDefaultMax <= ledger::kStateCacheMibMax);

  // This machine's memory is known, and the command line's default is its share.
  const auto memory = usable_memory_bytes();
  REQUIRE(memory);
  CHECK(*memory >= 64 * kMiB);
  int code = 0;
  auto d = parse({"--dev", "--data", "/tmp/x"}, code);
  REQUIRE(d);
  CHECK(d->state_cache_mib == default_state_cache_mib(memory));
  // An explicit size wins, within the library's bounds.
  auto c = parse({"--dev", "--data", "/tmp/x", "--state-cache-mib", "64"}, code);
  REQUIRE(c);
  CHECK(c->state_cache_mib == 64);
  CHECK_FALSE(parse({"--dev", "--data", "/tmp/x", "--state-cache-mib", "0"}, code));
  CHECK(code == 2);
}
