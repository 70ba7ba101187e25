// The node runs on tcmalloc (ADR 041): the build links it into emledger-node
// with nothing calling it by name, so a linker that drops unused libraries
// would silently give the node glibc's malloc back, and about a tenth of its
// throughput with it. The running process must map the library.
#include <fstream>
#include <string>

#include "e2e_support.hpp"

using namespace emledger;
using namespace emledger::e2e;

namespace {

// The file names process `pid` maps, one line of /proc/PID/maps each.
std::string mapped_files(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/maps");
  std::string out;
  for (std::string line; std::getline(in, line);)
    if (auto slash = line.find('/'); slash != std::string::npos) out += line.substr(slash) + "\n";
  return out;
}

}  // namespace

TEST_CASE("e2e: the node process allocates through tcmalloc") {
  Scratch s("allocator");
  testing::NodeProcess node(EMLEDGER_NODE_BIN, s.path("node"));
  REQUIRE_MESSAGE(node.start({"--dev", "--data", s.path("node"), "--listen", "127.0.0.1:0"}),
                  node.log());
  const std::string maps = mapped_files(node.pid());
  REQUIRE_FALSE(maps.empty());
  CHECK_MESSAGE(maps.find("/libtcmalloc_minimal.so") != std::string::npos, maps);
  // And serves on it.
  CHECK(http_json(node, "GET", "/v1/health").status == 200);
}
