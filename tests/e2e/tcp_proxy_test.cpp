// The test proxy of support/tcp_proxy.hpp against a loopback echo server:
// it forwards, a cut ends the open connection and lets nothing through on a
// new one, and a heal forwards again.
#include "support/tcp_proxy.hpp"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

using namespace emledger::e2e;

namespace {

constexpr int kWaitMs = 2000;  // bound of every read in these tests

// Echoes every byte back, one thread per connection, until destroyed.
class EchoServer {
 public:
  EchoServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = loopback(0);
    socklen_t len = sizeof a;
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~EchoServer() {
    stop_.store(true);
    thread_.join();
    for (int c : conns_) ::shutdown(c, SHUT_RDWR);
    for (auto& t : echoes_) t.join();
    for (int c : conns_) ::close(c);
    ::close(fd_);
  }
  int port() const { return port_; }

 private:
  void run() {
    while (!stop_.load()) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      conns_.push_back(c);
      echoes_.emplace_back([c] {
        char buf[4096];
        for (;;) {
          ssize_t r = ::recv(c, buf, sizeof buf, 0);
          if (r <= 0 || ::send(c, buf, static_cast<std::size_t>(r), MSG_NOSIGNAL) != r) return;
        }
      });
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<int> conns_;  // touched by run() only until stop_, then by ~EchoServer
  std::vector<std::thread> echoes_;
};

int dial(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = loopback(port);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  return fd;
}

// Reads until `n` bytes, EOF, an error or kWaitMs. What came, possibly less.
std::string read_up_to(int fd, std::size_t n) {
  std::string out;
  while (out.size() < n) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, kWaitMs) <= 0) break;
    char buf[4096];
    ssize_t r = ::recv(fd, buf, std::min(sizeof buf, n - out.size()), 0);
    if (r <= 0) break;
    out.append(buf, static_cast<std::size_t>(r));
  }
  return out;
}

// True when the peer ended the connection (EOF or reset) within kWaitMs.
bool ended(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, kWaitMs) <= 0) return false;
  char c;
  return ::recv(fd, &c, 1, 0) <= 0;
}

// Sends `msg` (from another thread: a message larger than the socket buffers
// would otherwise block on its own echo) and reads it back.
bool echoes(int fd, const std::string& msg) {
  std::atomic<bool> sent{false};
  std::thread sender([&] {
    sent.store(::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL) ==
               static_cast<ssize_t>(msg.size()));
  });
  const std::string back = read_up_to(fd, msg.size());
  sender.join();
  return sent.load() && back == msg;
}

}  // namespace

TEST_CASE("tcp proxy: forwards both ways, a cut ends links and refuses new ones, heal restores") {
  EchoServer echo;
  TcpProxy proxy(echo.port());
  REQUIRE(proxy.port() != echo.port());

  int a = dial(proxy.port());
  CHECK(echoes(a, "hello through the proxy"));
  const std::string big(1 << 20, 'x');  // more than a socket buffer and a chunk
  CHECK(echoes(a, big));
  CHECK(proxy.links_forwarded() == 1);

  proxy.cut();
  CHECK(proxy.is_cut());
  CHECK_MESSAGE(ended(a), "the open connection survived the cut");
  ::close(a);
  int b = dial(proxy.port());  // the listener stays: connect succeeds, then ends
  ::send(b, "lost", 4, MSG_NOSIGNAL);
  CHECK(read_up_to(b, 4).empty());
  CHECK(ended(b));
  ::close(b);
  CHECK(proxy.links_refused() >= 1);

  proxy.heal();
  int c = dial(proxy.port());
  CHECK(echoes(c, "after heal"));
  CHECK(proxy.links_forwarded() == 2);
  ::close(c);
}

TEST_CASE("tcp proxy: a connection to a target that is not listening is closed at once") {
  int dead_port = 0;
  {
    EchoServer gone;  // a port that was just free again
    dead_port = gone.port();
  }
  TcpProxy proxy(dead_port);
  int a = dial(proxy.port());
  CHECK(ended(a));
  ::close(a);
  CHECK(proxy.links_forwarded() == 0);
}
