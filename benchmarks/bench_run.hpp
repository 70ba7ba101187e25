// The plumbing every benchmark driver that starts servers shares: a flag the
// signals SIGINT, SIGTERM and SIGHUP raise so that the load stops and the
// servers' owners stop them, the temp dir of one run, and number formatting.
#pragma once

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <string>

namespace emledger::bench {

// Raised by the first SIGINT, SIGTERM or SIGHUP; a second one has the default
// effect (SA_RESETHAND).
inline std::atomic<bool> g_interrupted{false};
static_assert(std::atomic<bool>::is_always_lock_free, "stored from a signal handler");

extern "C" inline void bench_on_signal(int) { g_interrupted.store(true); }

inline void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = bench_on_signal;
  sa.sa_flags = SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
  // cpp-httplib writes without MSG_NOSIGNAL: a server that dies mid-request
  // must cost that request, not the benchmark (which would leave the other
  // servers running). The nodes ignore SIGPIPE themselves (node/src/main.cpp).
  ::signal(SIGPIPE, SIG_IGN);
}

// The temp dir of one run ("<prefix>-<pid>" in the system temp dir): removed
// on every way out but a crash; kept, and named with what it holds, when
// `keep`.
class ScratchDir {
 public:
  ScratchDir(const std::string& prefix, std::string holds, bool keep)
      : keep_(keep),
        holds_(std::move(holds)),
        path_(std::filesystem::temp_directory_path() /
              (prefix + "-" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    if (keep_)
      std::cerr << "kept " << path_.string() << " (" << holds_ << ")\n";
    else
      std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  bool keep_;
  std::string holds_;
  std::filesystem::path path_;
};

inline std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// CPU microseconds per item of `n` (at least 1).
inline double cpu_us_per(double cpu_s, std::size_t n) {
  return 1e6 * cpu_s / static_cast<double>(std::max<std::size_t>(1, n));
}

// Walks a benchmark's command line: `flag` alone (calls on_flag), every other
// option as `--key value` (calls on_value, which returns false for a key it
// does not know and may throw on a bad value). Prints why and returns false
// on the first bad option.
// --help or -h prints `usage` and exits with status 0.
inline bool walk_options(
    int argc, char** argv, const char* usage, const std::string& flag,
    const std::function<void()>& on_flag,
    const std::function<bool(const std::string&, const std::string&)>& on_value) {
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--help" || k == "-h") {
      std::cout << usage;
      std::exit(0);
    }
    if (k == flag) {
      on_flag();
      continue;
    }
    if (i + 1 >= argc) {
      std::cerr << "option " << k << " needs a value\n";
      return false;
    }
    const std::string v = argv[++i];
    try {
      if (!on_value(k, v)) {
        std::cerr << "unknown option " << k << "\n";
        return false;
      }
    } catch (const std::exception&) {
      std::cerr << "bad value for " << k << ": " << v << "\n";
      return false;
    }
  }
  return true;
}

// A benchmark's main: parse (nullopt: bad usage, exit 2), install the signal
// handlers, run. An exception is caught here, so that the stack unwinds (the
// destructors kill the processes the run started and remove its files), and
// reported with the program's name (exit 3).
template <class Parse, class Run>
int bench_main(const char* name, int argc, char** argv, Parse parse, Run run) {
  auto o = parse(argc, argv);
  if (!o) return 2;
  install_signal_handlers();
  try {
    return run(*o);
  } catch (const std::exception& e) {
    std::cerr << name << ": " << e.what() << "\n";
    return 3;
  }
}

}  // namespace emledger::bench
