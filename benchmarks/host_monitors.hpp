// The host's memory monitors a latency figure depends on (ADR 038): a DAMON
// monitor that samples physical memory slows the node in bursts at each of
// its samples, whatever the node maps. The benchmarks name every running
// monitor beside their figures, read from DAMON's sysfs interface. Nothing
// here needs privilege or changes the host; without DAMON the list is empty.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "emledger/ledger/json.hpp"

namespace emledger::bench {

inline const char* const kDamonAdminDir = "/sys/kernel/mm/damon/admin/kdamonds";

// One monitoring context of a running kdamond.
struct MemoryMonitor {
  std::string kdamond;     // its index under kdamonds/
  std::string operations;  // "paddr" (physical memory), "vaddr", "fvaddr"
  std::uint64_t sample_us = 0;
  std::uint64_t aggr_us = 0;
  std::uint64_t min_regions = 0;
  std::uint64_t max_regions = 0;
  std::vector<std::string> actions;  // its schemes' actions, in index order
};

namespace host_detail {

// The first word of a sysfs file, or "" when it cannot be read.
inline std::string first_word(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::string w;
  in >> w;
  return w;
}

inline std::uint64_t number(const std::filesystem::path& p) {
  const std::string w = first_word(p);
  if (w.empty() || w.size() > 19 || w.find_first_not_of("0123456789") != std::string::npos)
    return 0;
  return std::stoull(w);
}

// The numbered subdirectories of p (DAMON's lists: kdamonds/0, schemes/1, ...)
// in numeric order; sysfs gives them in no promised order.
inline std::vector<std::filesystem::path> numbered(const std::filesystem::path& p) {
  std::vector<std::pair<std::uint64_t, std::filesystem::path>> found;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(p, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name.size() > 9 ||
        name.find_first_not_of("0123456789") != std::string::npos)
      continue;
    found.emplace_back(std::stoull(name), it->path());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::filesystem::path> out;
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

}  // namespace host_detail

// Every context of every kdamond whose state is "on", under root (DAMON's
// sysfs admin directory; a test passes a tree of its own).
inline std::vector<MemoryMonitor> running_memory_monitors(
    const std::filesystem::path& root = kDamonAdminDir) {
  using namespace host_detail;
  std::vector<MemoryMonitor> out;
  for (const auto& kd : numbered(root)) {
    if (first_word(kd / "state") != "on") continue;
    for (const auto& ctx : numbered(kd / "contexts")) {
      MemoryMonitor m;
      m.kdamond = kd.filename().string();
      m.operations = first_word(ctx / "operations");
      const auto attrs = ctx / "monitoring_attrs";
      m.sample_us = number(attrs / "intervals" / "sample_us");
      m.aggr_us = number(attrs / "intervals" / "aggr_us");
      m.min_regions = number(attrs / "nr_regions" / "min");
      m.max_regions = number(attrs / "nr_regions" / "max");
      for (const auto& scheme : numbered(ctx / "schemes"))
        m.actions.push_back(first_word(scheme / "action"));
      out.push_back(std::move(m));
    }
  }
  return out;
}

// "DAMON kdamond 0 on paddr: samples every 500 ms, 1024-8192 regions,
// schemes: pageout".
inline std::string describe(const MemoryMonitor& m) {
  std::string s = "DAMON kdamond " + m.kdamond + " on " +
                  (m.operations.empty() ? std::string("?") : m.operations) + ": samples every " +
                  (m.sample_us % 1000 == 0 ? std::to_string(m.sample_us / 1000) + " ms, "
                                           : std::to_string(m.sample_us) + " us, ") +
                  std::to_string(m.min_regions) + "-" + std::to_string(m.max_regions) +
                  " regions, schemes:";
  if (m.actions.empty()) s += " none";
  for (std::size_t i = 0; i < m.actions.size(); ++i) s += (i ? ", " : " ") + m.actions[i];
  return s;
}

// The monitors as JSON, for the benchmarks' result files.
inline ledger::Json memory_monitors_json(const std::vector<MemoryMonitor>& monitors) {
  ledger::Json out = ledger::Json::array();
  for (const auto& m : monitors)
    out.push_back({{"kdamond", m.kdamond},
                   {"operations", m.operations},
                   {"sample_us", m.sample_us},
                   {"aggr_us", m.aggr_us},
                   {"nr_regions", {{"min", m.min_regions}, {"max", m.max_regions}}},
                   {"scheme_actions", m.actions},
                   {"description", describe(m)}});
  return out;
}

// One line for a report: what runs, or that nothing does.
inline std::string memory_monitors_line(const std::vector<MemoryMonitor>& monitors) {
  if (monitors.empty()) return "host memory monitors: none running";
  std::string s = "host memory monitors (their samples slow the node in bursts, ADR 038):";
  for (std::size_t i = 0; i < monitors.size(); ++i) s += (i ? "; " : " ") + describe(monitors[i]);
  return s;
}

}  // namespace emledger::bench
