// The node raises its open-files limit at start (ADR 028): a node started at
// a distribution's default soft limit of 1024 raises it toward its hard limit
// before it serves, and says so; one whose hard limit stops it short still
// starts, and says what it got.
#include <sys/resource.h>

#include <algorithm>
#include <fstream>
#include <limits>
#include <sstream>
#include <utility>

#include "e2e_support.hpp"
#include "emledger/ledger/store.hpp"

using namespace emledger;
using namespace emledger::e2e;

namespace {

std::uint64_t limit_count(rlim_t v) {
  return v == RLIM_INFINITY ? std::numeric_limits<std::uint64_t>::max()
                            : static_cast<std::uint64_t>(v);
}

// The soft and hard "Max open files" of process `pid`, from /proc.
std::pair<std::uint64_t, std::uint64_t> open_files_of(pid_t pid) {
  const std::string kField = "Max open files";
  std::ifstream in("/proc/" + std::to_string(pid) + "/limits");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(kField, 0) == 0) {
      std::istringstream fields(line.substr(kField.size()));
      std::string soft, hard;
      fields >> soft >> hard;
      const auto count = [](const std::string& v) {
        return v == "unlimited" ? std::numeric_limits<std::uint64_t>::max() : std::stoull(v);
      };
      return {count(soft), count(hard)};
    }
  FAIL("no \"" << kField << "\" line for pid " << pid);
  return {0, 0};
}

// This process's hard limit, which a node it starts may be given.
rlim_t own_hard_limit() {
  rlimit own{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &own) == 0);
  return own.rlim_max;
}

// Starts a dev node in `s` at the open-files limit (soft, hard); it serves.
void start_at(const Scratch& s, testing::NodeProcess& node, rlim_t soft, rlim_t hard) {
  node.set_open_files_limit(soft, hard);
  REQUIRE_MESSAGE(node.start({"--dev", "--data", s.path("node"), "--listen", "127.0.0.1:0"}),
                  node.log());
}

}  // namespace

TEST_CASE("e2e: a node started at a soft limit of 1024 open files raises it before it serves") {
  const rlim_t own_hard = own_hard_limit();
  REQUIRE(limit_count(own_hard) > 1024);
  Scratch s("open-files");
  testing::NodeProcess node(EMLEDGER_NODE_BIN, s.path("node"));
  start_at(s, node, 1024, own_hard);
  const auto [soft, hard] = open_files_of(node.pid());
  CHECK(hard == limit_count(own_hard));
  CHECK(soft == std::min(hard, ledger::kOpenFilesWanted));
  CHECK_MESSAGE(node.log().find("open files limit raised from 1024 to " + std::to_string(soft)) !=
                    std::string::npos,
                node.log());
  CHECK(http_json(node, "GET", "/v1/health").status == 200);
}

TEST_CASE("e2e: a node whose hard open-files limit is low still starts and says what it got") {
  REQUIRE(limit_count(own_hard_limit()) > 2048);
  Scratch s("open-files-low");
  testing::NodeProcess node(EMLEDGER_NODE_BIN, s.path("node"));
  start_at(s, node, 1024, 2048);
  const auto [soft, hard] = open_files_of(node.pid());
  CHECK(hard == 2048);
  CHECK(soft == 2048);
  const std::string log = node.log();
  CHECK_MESSAGE(log.find("open files limit raised from 1024 to 2048") != std::string::npos, log);
  CHECK_MESSAGE(log.find("the open files limit is 2048 (hard limit 2048)") != std::string::npos,
                log);
  CHECK(http_json(node, "GET", "/v1/health").status == 200);
}
