// A server process the baselines start and must always stop: PostgreSQL's
// postmaster, an etcd member. It runs in a process group of its own (so that
// a terminal's Ctrl-C reaches only the benchmark, which then stops it in
// order; PostgreSQL's backends start sessions of their own, and end once the
// postmaster has ended, by its shutdown or by noticing its death), with stdout
// and stderr in a log file, optionally as another user (PostgreSQL refuses to
// run as root), and with SIGKILL as its parent-death signal, so that even a
// benchmark killed by SIGKILL leaves no server behind.
#pragma once

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "emledger/crypto/result.hpp"

namespace emledger::bench {

// Who a child runs as: the uid, gid and name of an unprivileged account, or
// nobody in particular (this process's own identity).
struct RunAs {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;
};

// The account a server must run as: none when this process is not root;
// as root, `preferred` if it exists, else `nobody`. Errors: NO_USER.
inline Result<std::optional<RunAs>> unprivileged_user(const std::string& preferred) {
  if (::geteuid() != 0) return std::optional<RunAs>{};
  for (const std::string& name : {preferred, std::string("nobody")}) {
    const passwd* pw = ::getpwnam(name.c_str());
    if (pw != nullptr) return std::optional<RunAs>{RunAs{pw->pw_uid, pw->pw_gid, name}};
  }
  return Status::error("NO_USER",
                       "running as root and neither " + preferred + " nor nobody exists");
}

// The last `bytes` of a log file, for error messages.
inline std::string log_tail(const std::filesystem::path& log, std::size_t bytes = 2000) {
  std::ifstream in(log, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string s = ss.str();
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

// One child process. Not thread safe. The destructor kills its whole group
// (SIGKILL) and reaps it if stop() has not.
class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() { kill_now(); }

  // Starts argv[0] (a path) with argv, output appended to `log`. Errors:
  // IO_ERROR (the log), SPAWN_FAILED (fork). A failed exec shows as an exit
  // with status 127 and a line in the log.
  Status start(const std::vector<std::string>& argv, const std::filesystem::path& log,
               const std::optional<RunAs>& as) {
    EMLEDGER_ASSERT(pid_ <= 0 && !argv.empty());
    // Everything the child needs is prepared here: between fork and exec a
    // multithreaded parent's child may only make async-signal-safe calls.
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return Status::error("IO_ERROR", "cannot open " + log.string());
    if (as && ::fchown(fd, as->uid, as->gid) != 0) {
      ::close(fd);
      return Status::error("IO_ERROR", "cannot chown " + log.string());
    }
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
      ::close(fd);
      return Status::error("SPAWN_FAILED", "fork failed for " + argv[0]);
    }
    if (pid == 0) exec_child(args, fd, as, parent);
    ::setpgid(pid, pid);  // also here, so that a stop() right away reaches the group
    ::close(fd);
    pid_ = pid;
    log_ = log;
    return Status::ok();
  }

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  const std::filesystem::path& log() const { return log_; }

  // The exit status once the child has ended, without waiting; nullopt while
  // it runs. Reaps it.
  std::optional<int> exited() {
    if (pid_ <= 0) return exit_status_;
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) != pid_) return std::nullopt;
    reaped(st);
    return exit_status_;
  }

  // Sends `sig` to the group, waits up to `grace` for the child to end, then
  // kills the group. Returns its exit status (128 + signal if killed).
  int stop(int sig, std::chrono::milliseconds grace) {
    if (pid_ <= 0) return exit_status_.value_or(0);
    ::kill(-pid_, sig);
    const auto deadline = std::chrono::steady_clock::now() + grace;
    while (std::chrono::steady_clock::now() < deadline) {
      if (exited()) return *exit_status_;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill_now();
    return exit_status_.value_or(0);
  }

  // Waits for the child to end by itself (a command such as initdb).
  int wait() {
    if (pid_ <= 0) return exit_status_.value_or(0);
    int st = 0;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
    reaped(st);
    return *exit_status_;
  }

 private:
  [[noreturn]] static void exec_child(std::vector<char*>& args, int fd,
                                      const std::optional<RunAs>& as, pid_t parent) {
    ::setpgid(0, 0);
    ::dup2(fd, STDOUT_FILENO);
    ::dup2(fd, STDERR_FILENO);
    const int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, STDIN_FILENO);
    if (as && (::setgroups(0, nullptr) != 0 || ::setgid(as->gid) != 0 || ::setuid(as->uid) != 0)) {
      static constexpr char kMsg[] = "child_process: cannot switch user\n";
      (void)!::write(STDERR_FILENO, kMsg, sizeof kMsg - 1);
      ::_exit(126);
    }
    // After the switch of user, which clears the parent-death signal.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(125);  // the parent died before prctl
    ::execv(args[0], args.data());
    static constexpr char kMsg[] = "child_process: exec failed\n";
    (void)!::write(STDERR_FILENO, kMsg, sizeof kMsg - 1);
    ::_exit(127);
  }

  void reaped(int st) {
    exit_status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    pid_ = -1;
  }

  void kill_now() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);  // in case it had not yet made its group
    int st = 0;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
    reaped(st);
  }

  pid_t pid_ = -1;
  std::optional<int> exit_status_;
  std::filesystem::path log_;
};

}  // namespace emledger::bench
