// The node runs on tcmalloc (ADR 041): the build links it into emledger-node
// with nothing calling it by name, so a linker that drops unused libraries
// would silently give the node glibc's malloc back, and about a tenth of its
// throughput with it. The running process must map the library, and its
// heap must come from mappings advised for huge pages (ADR 043).
#include <algorithm>
#include <cstdint>
#include <fstream>
#include <sstream>
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

// The largest mapping of process `pid` whose flags carry the huge-page
// advice (VmFlags "hg"), in KiB; 0 when there is none.
std::uint64_t largest_advised_mapping_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps");
  std::uint64_t size_kib = 0;
  std::uint64_t best = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Size:", 0) == 0) {
      std::istringstream(line.substr(5)) >> size_kib;
    } else if (line.rfind("VmFlags:", 0) == 0 && (line + " ").find(" hg ") != std::string::npos) {
      best = std::max(best, size_kib);
    }
  }
  return best;
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

TEST_CASE("e2e: the node's heap grows in mappings advised for huge pages") {
  if (!std::ifstream("/sys/kernel/mm/transparent_hugepage/enabled").good()) {
    MESSAGE("this kernel has no transparent huge pages: nothing to check");
    return;
  }
  Scratch s("allocator-thp");
  testing::NodeProcess node(EMLEDGER_NODE_BIN, s.path("node"));
  // A state cache of 1 MiB, so that the only large advised mappings are the
  // heap's regions (HugePageHeap::kRegionBytes, 64 MiB).
  REQUIRE_MESSAGE(node.start({"--dev", "--data", s.path("node"), "--listen", "127.0.0.1:0",
                              "--state-cache-mib", "1"}),
                  node.log());
  CHECK(http_json(node, "GET", "/v1/health").status == 200);
  CHECK(largest_advised_mapping_kib(node.pid()) >= 64 * 1024);
}
