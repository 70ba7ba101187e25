// The benchmarks' reading of the host's CPU time (benchmarks/host_cpu.hpp),
// which ingest_bench reports beside each paced phase: which fields count as
// busy, and that a malformed or backwards reading gives no share rather than
// an invented one.
#include "../../benchmarks/host_cpu.hpp"

#include <doctest/doctest.h>

#include <string>

using emledger::bench::busy_share;
using emledger::bench::host_cpu;
using emledger::bench::HostCpu;
using emledger::bench::parse_host_cpu;

TEST_CASE("bench: the cpu line's busy fields are user, nice, system, irq and softirq") {
  // user nice system idle iowait irq softirq steal guest guest_nice
  const HostCpu h =
      parse_host_cpu("cpu  100 20 30 400 50 6 4 1000 70 0\ncpu0 50 10 15 200 25 3 2 500 35 0\n");
  CHECK(h.busy == 160);         // 100 + 20 + 30 + 6 + 4: guest is within user, steal is out
  CHECK(h.total == 160 + 450);  // idle and iowait added
}

TEST_CASE("bench: busy_share is the busy part of the time between two readings") {
  const HostCpu a = parse_host_cpu("cpu 100 0 0 100 0 0 0 0 0 0");
  const HostCpu b = parse_host_cpu("cpu 250 0 50 150 0 0 0 0 0 0");
  CHECK(busy_share(a, b) == doctest::Approx(0.8));  // 200 busy of 250
  CHECK(busy_share(a, a) == 0);                     // no time passed
  CHECK(busy_share(b, a) == 0);                     // backwards
}

TEST_CASE("bench: a malformed cpu line reads as zeros and gives no share") {
  for (const std::string bad : {"", "cpu0 1 2 3 4 5 6 7", "cpu 1 2 3", "cpu 1 2 x 4 5 6 7",
                                "intr 1 2 3 4 5 6 7", "cpu 1 2 3 -4 5 6 7"}) {
    CAPTURE(bad);
    const HostCpu h = parse_host_cpu(bad);
    CHECK(h.busy == 0);
    CHECK(h.total == 0);
    CHECK(busy_share(h, parse_host_cpu("cpu 10 0 0 10 0 0 0")) == 0);
  }
}

TEST_CASE("bench: this host's own reading moves forward") {
  const HostCpu a = host_cpu();
  REQUIRE(a.total > 0);
  volatile double x = 0;
  for (int i = 0; i < 20'000'000; ++i) x = x + 1;  // some busy time on this core
  const HostCpu b = host_cpu();
  CHECK(b.total >= a.total);
  CHECK(b.busy >= a.busy);
  const double share = busy_share(a, b);
  CHECK(share >= 0);
  CHECK(share <= 1);
}
