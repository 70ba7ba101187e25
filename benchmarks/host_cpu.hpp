// The host's CPU time, busy and in all, from the first line of /proc/stat:
// what share of the machine was busy while a benchmark phase ran. A latency
// measured while "half load" left the host nearly saturated is read
// differently from one measured with cores to spare (docs/benchmarks.md,
// "what half load costs").
#pragma once

#include <fstream>
#include <sstream>
#include <string>

namespace emledger::bench {

// Clock ticks since boot, summed over all cores. Idle and iowait are not
// busy; steal (time the hypervisor gave to other guests) is in neither, so a
// share of the two is of the time this host had.
struct HostCpu {
  double busy = 0;
  double total = 0;
};

// Reads the aggregate "cpu" line that /proc/stat starts with: user, nice,
// system, idle, iowait, irq, softirq and then fields this does not need
// (guest time is already counted in user). Anything else reads as zeros.
inline HostCpu parse_host_cpu(const std::string& proc_stat) {
  std::istringstream line(proc_stat.substr(0, proc_stat.find('\n')));
  std::string cpu;
  line >> cpu;
  if (cpu != "cpu") return {};
  double v[7] = {};
  for (double& x : v)
    if (!(line >> x) || x < 0) return {};
  HostCpu h;
  h.busy = v[0] + v[1] + v[2] + v[5] + v[6];
  h.total = h.busy + v[3] + v[4];
  return h;
}

inline HostCpu host_cpu() {
  std::ifstream in("/proc/stat");
  std::string first;
  std::getline(in, first);
  return parse_host_cpu(first);
}

// The share of the host's CPU time that was busy between readings a and b
// (a first); 0 when no time passed or a reading failed.
inline double busy_share(const HostCpu& a, const HostCpu& b) {
  // A failed reading is all zeros: against it the other would give the share
  // since boot.
  if (!(a.total > 0) || !(b.total > 0)) return 0;
  const double total = b.total - a.total;
  const double busy = b.busy - a.busy;
  if (!(total > 0) || busy < 0 || busy > total) return 0;
  return busy / total;
}

}  // namespace emledger::bench
