// A TCP link proxy for end-to-end tests: it listens on a free loopback port
// and forwards every accepted connection to a target loopback port, byte for
// byte, until the test cuts the link. Used to partition real node processes
// (support/network.hpp puts one in front of each validator's peer port).
#pragma once

#include <netinet/in.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace emledger::e2e {

// 127.0.0.1:port as a socket address (port 0: any free port, for bind).
sockaddr_in loopback(int port);

// At most this many forwarded connections at once; more are closed at
// accept. A validator has one link per other validator, so a proxy in front
// of one sees a handful; the bound only keeps a runaway redial loop from
// spawning threads without end.
inline constexpr std::size_t kProxyLinksMax = 64;
// Bytes read from one side before they are written to the other.
inline constexpr std::size_t kProxyChunkBytes = 64 * 1024;
// How often the accept loop looks at its stop flag and reaps finished links.
inline constexpr int kProxyPollMs = 50;

class TcpProxy {
 public:
  // Listens on 127.0.0.1 on a free port and forwards to 127.0.0.1:target_port.
  // Throws std::runtime_error when it cannot listen (test setup, not an
  // operational error).
  explicit TcpProxy(int target_port);
  // Closes every link and joins every thread.
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  // The port it listens on.
  int port() const { return port_; }
  int target_port() const { return target_port_; }

  // Closes every current connection in both directions (both peers see the
  // TCP connection end) and, until heal(), closes each new connection as soon
  // as it is accepted, before a byte is forwarded. Returns once the closed
  // links' threads are joined. Thread safe.
  void cut();
  // Forwards new connections again. Thread safe.
  void heal();
  bool is_cut() const { return cut_.load(); }

  // Connections accepted and forwarded since construction (not the ones
  // closed at accept because the proxy was cut or full).
  std::uint64_t links_forwarded() const { return forwarded_.load(); }
  // Connections closed at accept: cut, kProxyLinksMax reached, or nothing
  // listening at the target (a stopped node).
  std::uint64_t links_refused() const { return refused_.load(); }

 private:
  struct Link;

  void accept_loop();
  void on_accept(int client_fd);
  void reap(bool all);

  const int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> cut_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> forwarded_{0};
  std::atomic<std::uint64_t> refused_{0};
  std::mutex mu_;  // guards links_
  std::vector<std::unique_ptr<Link>> links_;
  std::thread acceptor_;
};

}  // namespace emledger::e2e
