// bench_all's child processes: children.hpp.
#include "children.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <iostream>
#include <thread>

#include "../bench_run.hpp"

namespace emledger::bench::all {

using ledger::Json;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

constexpr auto kChildPoll = std::chrono::milliseconds(100);
constexpr auto kChildStopGrace = std::chrono::seconds(60);

}  // namespace

// Runs argv (argv[0] a path) with this process's stdout and stderr, in a
// process group of its own (a terminal's Ctrl-C reaches only this driver,
// which then stops the child once, with SIGTERM, so that it stops its own
// servers), with SIGTERM as its parent-death signal. Returns its exit status
// (128 + signal if killed); -1 if it could not be started. With `log`, the
// child's stdout and stderr go to that file instead.
int run_child(const std::vector<std::string>& argv, const fs::path& log) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const int log_fd =
      log.empty() ? -1 : ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (!log.empty() && log_fd < 0) return -1;
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    if (log_fd >= 0) {
      ::dup2(log_fd, STDOUT_FILENO);
      ::dup2(log_fd, STDERR_FILENO);
    }
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(125);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  if (log_fd >= 0) ::close(log_fd);
  bool stopping = false;
  auto stop_at = Clock::now();
  for (;;) {
    int st = 0;
    const pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (r < 0 && errno != EINTR) return -1;
    if (g_interrupted.load() && !stopping) {
      stopping = true;
      stop_at = Clock::now();
      ::kill(pid, SIGTERM);
    }
    if (stopping && Clock::now() - stop_at > kChildStopGrace) ::kill(-pid, SIGKILL);
    std::this_thread::sleep_for(kChildPoll);
  }
}

void run_part(ChildRun& c, const fs::path& json_path) {
  if (!fs::exists(c.argv[0])) {
    c.note = c.argv[0] + " is not built";
    std::cout << "[" << c.name << "] skipped: " << c.note << std::endl;
    return;
  }
  fs::remove(json_path);
  c.argv.push_back("--json");
  c.argv.push_back(json_path.string());
  std::cout << "\n[" << c.name << "] running:";
  for (const auto& a : c.argv) std::cout << " " << a;
  std::cout << std::endl;
  const auto t0 = Clock::now();
  c.exit_code = run_child(c.argv);
  c.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  std::ifstream in(json_path);
  if (in) c.json = Json::parse(in, nullptr, false);
  if (c.json.is_discarded()) c.json = nullptr;
  if (*c.exit_code != 0)
    c.note = "exited with status " + std::to_string(*c.exit_code) +
             (c.json.is_null() ? ", no JSON" : ", JSON written (some loads failed)");
}

}  // namespace emledger::bench::all
