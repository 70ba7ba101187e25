// The benchmarks' reading of DAMON's sysfs tree (benchmarks/host_monitors.hpp),
// on trees of files the test writes: which monitors count as running, and
// what is read of each.
#include "../../benchmarks/host_monitors.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "../consensus/temp_dir.hpp"

namespace fs = std::filesystem;
using emledger::bench::describe;
using emledger::bench::memory_monitors_json;
using emledger::bench::memory_monitors_line;
using emledger::bench::running_memory_monitors;

namespace {

class Tree {
 public:
  // Writes `value` and a newline, as sysfs shows it, at root/rel.
  void put(const std::string& rel, const std::string& value) {
    const fs::path p = root() / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << value << "\n";
  }
  // A kdamond with one context of the given operations and intervals.
  void kdamond(const std::string& n, const std::string& state, const std::string& ops,
               const std::string& sample_us) {
    const std::string kd = n + "/";
    put(kd + "state", state);
    put(kd + "contexts/nr_contexts", "1");
    put(kd + "contexts/0/operations", ops);
    put(kd + "contexts/0/monitoring_attrs/intervals/sample_us", sample_us);
    put(kd + "contexts/0/monitoring_attrs/intervals/aggr_us", "5000000");
    put(kd + "contexts/0/monitoring_attrs/nr_regions/min", "1024");
    put(kd + "contexts/0/monitoring_attrs/nr_regions/max", "8192");
  }
  fs::path root() const { return dir_.path(); }

 private:
  emledger::consensus::test::TempDir dir_;
};

}  // namespace

TEST_CASE("a running DAMON monitor is read with its intervals, regions and schemes") {
  Tree t;
  t.put("nr_kdamonds", "1");
  t.kdamond("0", "on", "paddr", "500000");
  t.put("0/contexts/0/schemes/nr_schemes", "2");
  t.put("0/contexts/0/schemes/0/action", "pageout");
  t.put("0/contexts/0/schemes/1/action", "stat");

  const auto monitors = running_memory_monitors(t.root());
  REQUIRE(monitors.size() == 1);
  const auto& m = monitors[0];
  CHECK(m.kdamond == "0");
  CHECK(m.operations == "paddr");
  CHECK(m.sample_us == 500000);
  CHECK(m.aggr_us == 5000000);
  CHECK(m.min_regions == 1024);
  CHECK(m.max_regions == 8192);
  CHECK(m.actions == std::vector<std::string>{"pageout", "stat"});
  CHECK(
      describe(m) ==
      "DAMON kdamond 0 on paddr: samples every 500 ms, 1024-8192 regions, schemes: pageout, stat");

  const auto j = memory_monitors_json(monitors);
  REQUIRE(j.size() == 1);
  CHECK(j[0]["sample_us"] == 500000);
  CHECK(j[0]["nr_regions"]["max"] == 8192);
  CHECK(j[0]["scheme_actions"][0] == "pageout");
  CHECK(memory_monitors_line(monitors).find("kdamond 0 on paddr") != std::string::npos);
}

TEST_CASE("monitors that are off are left out, and the rest come in numeric order") {
  Tree t;
  t.kdamond("10", "on", "vaddr", "5000");
  t.kdamond("2", "on", "fvaddr", "100000");
  t.kdamond("1", "off", "paddr", "500000");
  t.put("nr_kdamonds", "3");

  for (const char* n : {"21", "3", "100", "7"}) t.kdamond(n, "on", "paddr", "500000");

  // Numeric order, not the directory's nor the names' ("10" before "2").
  const auto monitors = running_memory_monitors(t.root());
  std::vector<std::string> order;
  for (const auto& m : monitors) order.push_back(m.kdamond);
  CHECK(order == std::vector<std::string>{"2", "3", "7", "10", "21", "100"});
  REQUIRE(monitors.size() == 6);
  CHECK(monitors[0].operations == "fvaddr");
  CHECK(monitors[0].sample_us == 100000);
  CHECK(monitors[0].actions.empty());
  CHECK(describe(monitors[0]).ends_with("schemes: none"));
  CHECK(monitors[3].operations == "vaddr");
  CHECK(monitors[3].sample_us == 5000);
  CHECK(describe(monitors[3]).find("samples every 5 ms,") != std::string::npos);
}

TEST_CASE("without DAMON, or with unreadable values, nothing is invented") {
  Tree t;
  CHECK(running_memory_monitors(t.root() / "absent").empty());
  CHECK(memory_monitors_line({}) == "host memory monitors: none running");

  t.kdamond("0", "on", "paddr", "not-a-number");
  t.put("0/contexts/0/monitoring_attrs/intervals/aggr_us", "99999999999999999999999");
  t.kdamond("1", "on", "paddr", "2500");
  const auto monitors = running_memory_monitors(t.root());
  REQUIRE(monitors.size() == 2);
  CHECK(monitors[0].sample_us == 0);
  CHECK(monitors[0].aggr_us == 0);
  CHECK(monitors[0].max_regions == 8192);
  // An interval that is not whole milliseconds is given in microseconds.
  CHECK(describe(monitors[1]).find("samples every 2500 us,") != std::string::npos);
}
