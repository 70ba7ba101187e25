// What every benchmark driver measures or computes the same way: the cores it
// runs on, this machine's Ed25519 verification rate on all of them (the
// ceiling issue 5's ratios divide by), nearest-rank percentiles, and CPU
// clocks.
#pragma once

#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "emledger/crypto/bytes.hpp"
#include "emledger/crypto/ed25519.hpp"

namespace emledger::bench {

inline unsigned cores() { return std::max(1u, std::thread::hardware_concurrency()); }

// Seconds of the steady clock since `t0`.
inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Ed25519 verifications per second with one thread per core, over distinct
// messages of the size of a register transaction's signed bytes.
inline double ed25519_ceiling(double seconds) {
  using Clock = std::chrono::steady_clock;
  const unsigned threads = cores();
  constexpr std::size_t kMsgs = 256;
  auto key = crypto::KeyPair::generate();
  std::vector<Bytes> msgs;
  std::vector<crypto::Signature> sigs;
  for (std::size_t i = 0; i < kMsgs; ++i) {
    Bytes m(330, static_cast<std::uint8_t>(i));
    sigs.push_back(key.sign(m));
    msgs.push_back(std::move(m));
  }
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> total{0};
  std::vector<std::thread> pool;
  auto t0 = Clock::now();
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      std::uint64_t n = 0;
      for (std::size_t i = t; !stop.load(std::memory_order_relaxed); ++i, ++n)
        if (!crypto::verify(key.public_key(), msgs[i % kMsgs], sigs[i % kMsgs])) std::abort();
      total += n;
    });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& th : pool) th.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  return static_cast<double>(total.load()) / elapsed;
}

// User plus system CPU seconds of this process, every thread. Unlike wall
// time, CPU clocks do not grow while other work holds the cores.
inline double process_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

// CPU seconds the calling thread has run.
inline double thread_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// The nearest-rank q-quantile of v (0 for an empty v).
inline double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::clamp<std::size_t>(rank, 1, v.size()) - 1];
}

// "4,16,256": one or more unsigned decimal numbers, or none for anything
// else (an empty item, a sign, a letter, a number too large).
inline std::optional<std::vector<std::size_t>> parse_list(const std::string& v) {
  std::vector<std::size_t> out;
  std::stringstream ss(v);
  for (std::string item; std::getline(ss, item, ',');) {
    if (item.empty() || item.size() > 18 ||
        item.find_first_not_of("0123456789") != std::string::npos)
      return std::nullopt;
    out.push_back(std::stoul(item));
  }
  if (out.empty() || (!v.empty() && v.back() == ',')) return std::nullopt;
  return out;
}

}  // namespace emledger::bench
