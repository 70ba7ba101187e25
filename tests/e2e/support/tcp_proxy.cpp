// One thread accepts; each forwarded connection has two pump threads, one per
// direction, doing blocking reads and writes. Blocking is the simple choice
// here: a test proxy carries a few links, and shutdown() wakes a blocked pump
// (its read returns 0, its write fails), which is how a cut ends them.
#include "tcp_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <string>

namespace emledger::e2e {

sockaddr_in loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  return a;
}

namespace {

// A connected socket to 127.0.0.1:port, or -1 (nothing listens there).
int connect_loopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a = loopback(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, const char* data, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

}  // namespace

struct TcpProxy::Link {
  Link(int client, int server) : client_fd(client), server_fd(server) {}

  // Ends both directions; each pump then sees EOF or a failed write.
  void shut() {
    ::shutdown(client_fd, SHUT_RDWR);
    ::shutdown(server_fd, SHUT_RDWR);
  }
  // Copies `from` to `to` until either side ends, then ends the whole link:
  // a forwarded connection lives and dies as one.
  void pump(int from, int to) {
    std::vector<char> buf(kProxyChunkBytes);
    for (;;) {
      ssize_t r = ::recv(from, buf.data(), buf.size(), 0);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0 || !send_all(to, buf.data(), static_cast<std::size_t>(r))) break;
    }
    shut();
    pumps_done.fetch_add(1);
  }
  void start() {
    up = std::thread([this] { pump(client_fd, server_fd); });
    down = std::thread([this] { pump(server_fd, client_fd); });
  }
  bool finished() const { return pumps_done.load() == 2; }
  // Joins the pumps (they must be ending: shut() or finished()) and closes.
  void close_and_join() {
    up.join();
    down.join();
    ::close(client_fd);
    ::close(server_fd);
  }

  const int client_fd;
  const int server_fd;
  std::atomic<int> pumps_done{0};
  std::thread up;
  std::thread down;
};

TcpProxy::TcpProxy(int target_port) : target_port_(target_port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error("proxy: socket failed");
  sockaddr_in a = loopback(0);
  socklen_t len = sizeof a;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(listen_fd_, static_cast<int>(kProxyLinksMax)) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(listen_fd_);
    throw std::runtime_error("proxy: cannot listen on loopback (errno " + std::to_string(errno) +
                             ")");
  }
  port_ = ntohs(a.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

TcpProxy::~TcpProxy() {
  stopping_.store(true);
  acceptor_.join();
  ::close(listen_fd_);
  reap(/*all=*/true);
}

void TcpProxy::cut() {
  {
    std::lock_guard lock(mu_);
    cut_.store(true);  // under mu_: on_accept cannot add a link after this
  }
  reap(/*all=*/true);
}

void TcpProxy::heal() { cut_.store(false); }

void TcpProxy::accept_loop() {
  while (!stopping_.load()) {
    pollfd p{listen_fd_, POLLIN, 0};
    int n = ::poll(&p, 1, kProxyPollMs);
    if (n > 0 && (p.revents & POLLIN)) {
      int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client >= 0) on_accept(client);
    }
    reap(/*all=*/false);
  }
}

// Connects to the target first (outside the lock: a refused connect is
// quick on loopback), then adds the link only if the proxy is still open.
void TcpProxy::on_accept(int client_fd) {
  int server_fd = cut_.load() ? -1 : connect_loopback(target_port_);
  std::lock_guard lock(mu_);
  if (server_fd < 0 || cut_.load() || stopping_.load() || links_.size() >= kProxyLinksMax) {
    // The target is down, or the link is cut: the dialler sees its
    // connection end before any byte, as it would on a real cut. Counted
    // first, so a test that saw the end also sees the count.
    refused_.fetch_add(1);
    ::close(client_fd);
    if (server_fd >= 0) ::close(server_fd);
    return;
  }
  forwarded_.fetch_add(1);
  links_.push_back(std::make_unique<Link>(client_fd, server_fd));
  links_.back()->start();
}

// Takes out the finished links (or all of them, shut first) under the lock
// and joins them outside it, so a slow join never blocks on_accept.
void TcpProxy::reap(bool all) {
  std::vector<std::unique_ptr<Link>> done;
  {
    std::lock_guard lock(mu_);
    for (auto it = links_.begin(); it != links_.end();) {
      if (all || (*it)->finished()) {
        done.push_back(std::move(*it));
        it = links_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& link : done) {
    link->shut();
    link->close_and_join();
  }
}

}  // namespace emledger::e2e
