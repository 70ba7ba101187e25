// Runs a real emledger-node (or emledger CLI) process for end-to-end tests and
// benchmarks: fork/exec, output to a log file, readiness by the node's
// "listening on http://HOST:PORT" line, SIGKILL or SIGTERM on demand.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace emledger::testing {

struct RunResult {
  int exit_code = -1;
  std::string out;  // stdout and stderr, interleaved
};

// With `nofile`, the child's RLIMIT_NOFILE is set to it before the exec.
inline pid_t spawn(const std::vector<std::string>& argv, const std::string& log_path,
                   bool append = true, const rlimit* nofile = nullptr) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (nofile && ::setrlimit(RLIMIT_NOFILE, nofile) != 0) ::_exit(126);
    int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs a command to completion (bounded by timeout_s) and returns its output.
inline RunResult run(const std::vector<std::string>& argv, const std::string& scratch_log,
                     int timeout_s = 120) {
  pid_t pid = spawn(argv, scratch_log, /*append=*/false);
  RunResult r;
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  for (;;) {
    pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      r.out = read_file(scratch_log) + "\n[timed out]";
      return r;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_file(scratch_log);
  return r;
}

class NodeProcess {
 public:
  NodeProcess(std::string binary, std::string data_dir)
      : binary_(std::move(binary)), data_(std::move(data_dir)) {}
  ~NodeProcess() { stop(SIGKILL); }

  // Starts the node with `args` (after the binary) and waits until it serves.
  // Returns false (with the log) when it did not come up within timeout_s.
  bool start(const std::vector<std::string>& args, int timeout_s = 30) {
    std::vector<std::string> argv{binary_};
    argv.insert(argv.end(), args.begin(), args.end());
    log_ = data_ + ".log";
    std::size_t offset = read_file(log_).size();
    pid_ = spawn(argv, log_, /*append=*/true, nofile_ ? &*nofile_ : nullptr);
    static const std::regex kReady("listening on http://([0-9.]+):([0-9]+)");
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    while (std::chrono::steady_clock::now() < deadline) {
      std::string text = read_file(log_);
      if (text.size() > offset)
        text = text.substr(offset);
      else
        text.clear();
      std::smatch m;
      if (std::regex_search(text, m, kReady)) {
        host_ = m[1];
        port_ = std::stoi(m[2]);
        return true;
      }
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  // Sends `sig` and reaps the process.
  void stop(int sig = SIGTERM) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // The open-files limit (RLIMIT_NOFILE) the next start gives the node.
  void set_open_files_limit(rlim_t soft, rlim_t hard) { nofile_ = rlimit{soft, hard}; }
  std::string url() const { return "http://" + host_ + ":" + std::to_string(port_); }
  const std::string& host() const { return host_; }
  int port() const { return port_; }
  std::string log() const { return read_file(log_); }
  const std::string& data_dir() const { return data_; }

 private:
  std::string binary_;
  std::string data_;
  std::string log_;
  pid_t pid_ = -1;
  std::optional<rlimit> nofile_;
  std::string host_;
  int port_ = 0;
};

}  // namespace emledger::testing
