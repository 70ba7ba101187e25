// The peer transport (node/src/peer_transport.hpp) on real loopback sockets:
// all-to-all delivery, refused identities and chains, tampered, replayed and
// oversized frames, the rate limit, the send bound, and reconnection. Each
// refusal is checked by the reason code the refusing side logs, so a check
// that passed for the wrong reason would fail.
#include "peer_transport.hpp"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../support/free_port.hpp"

using namespace emledger;
using namespace emledger::node;

namespace {

const char* kChain = "peer-test";

// The transports need their addresses before any of them binds.
std::uint16_t free_port() { return testing::free_loopback_port(); }

// What one transport received and logged.
struct Inbox {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<std::size_t, Bytes>> messages;
  std::vector<std::string> log;

  std::size_t count() {
    std::lock_guard l(mu);
    return messages.size();
  }
  bool logged(const std::string& needle) {
    std::lock_guard l(mu);
    for (const auto& line : log)
      if (line.find(needle) != std::string::npos) return true;
    return false;
  }
  std::string all_log() {
    std::lock_guard l(mu);
    std::string s;
    for (const auto& line : log) s += line + "\n";
    return s;
  }
};

template <class Pred>
bool wait_for(Pred pred, int timeout_ms = 10'000) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

Bytes text(const std::string& s) { return Bytes(s.begin(), s.end()); }

// A network of validators on loopback, each with its own inbox.
struct Net {
  std::vector<crypto::KeyPair> keys;
  std::vector<PeerInfo> validators;
  std::vector<std::unique_ptr<Inbox>> inboxes;

  explicit Net(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      keys.push_back(crypto::KeyPair::generate());
      validators.push_back({keys.back().public_key(), "127.0.0.1:" + std::to_string(free_port())});
      inboxes.push_back(std::make_unique<Inbox>());
    }
  }

  PeerTransportConfig config(std::size_t i) {
    PeerTransportConfig c;
    c.chain_id = kChain;
    c.key = keys[i];
    c.validators = validators;
    Inbox* box = inboxes[i].get();
    c.on_message = [box](std::size_t peer, Bytes m) {
      std::lock_guard l(box->mu);
      box->messages.emplace_back(peer, std::move(m));
      box->cv.notify_all();
    };
    c.on_log = [box](const std::string& line) {
      std::lock_guard l(box->mu);
      box->log.push_back(line);
    };
    return c;
  }

  static std::unique_ptr<PeerTransport> start(PeerTransportConfig c) {
    auto t = PeerTransport::start(std::move(c));
    REQUIRE_MESSAGE(t.is_ok(), t.status().to_string());
    return std::move(t).value();
  }
};

bool all_connected(const std::vector<std::unique_ptr<PeerTransport>>& ts) {
  for (const auto& t : ts)
    if (t->connected_count() != ts.size() - 1) return false;
  return true;
}

}  // namespace

TEST_CASE("peer wire: transcript bytes are the documented layout") {
  crypto::PublicKey cv{}, sv{};
  crypto::KxPublicKey ce{}, se{};
  cv.fill(0x11);
  sv.fill(0x22);
  ce.fill(0x33);
  se.fill(0x44);
  Bytes t = peer_wire::transcript_bytes(peer_wire::Role::kServer, "c1", cv, sv, ce, se);
  // u8 24 || "emledger.peer.transcript" || u8 1 || u8 role || u32 len || chain || 4 x 32 bytes
  std::string domain = "emledger.peer.transcript";
  REQUIRE(t.size() == 1 + domain.size() + 1 + 1 + 4 + 2 + 4 * 32);
  CHECK(t[0] == domain.size());
  CHECK(std::string(t.begin() + 1, t.begin() + 1 + domain.size()) == domain);
  std::size_t at = 1 + domain.size();
  CHECK(t[at] == 1);      // version
  CHECK(t[at + 1] == 2);  // Role::kServer
  CHECK(t[at + 5] == 2);  // chain id length (big-endian u32)
  CHECK(t[at + 6] == 'c');
  CHECK(t[at + 8] == 0x11);
  CHECK(t[at + 8 + 32] == 0x22);
  CHECK(t[at + 8 + 64] == 0x33);
  CHECK(t[at + 8 + 96] == 0x44);
  // The client's transcript differs only in the role byte.
  Bytes c = peer_wire::transcript_bytes(peer_wire::Role::kClient, "c1", cv, sv, ce, se);
  CHECK(c[at + 1] == 1);
  c[at + 1] = 2;
  CHECK(c == t);
}

TEST_CASE("peer wire: channel detects tampering, replay, reordering and drops") {
  auto a = crypto::KxKeyPair::generate();
  auto b = crypto::KxKeyPair::generate();
  peer_wire::Channel client(a.client_session_keys(b.public_key()).value());
  peer_wire::Channel server(b.server_session_keys(a.public_key()).value());
  Bytes f0 = client.seal(text("zero"));
  Bytes f1 = client.seal(text("one"));
  Bytes f2 = client.seal(text("two"));
  CHECK(f0.size() == kPeerFrameOverheadBytes + 4);
  CHECK(f1[8] == 1);  // counter, big-endian

  SUBCASE("in order") {
    CHECK(server.open(f0).value() == text("zero"));
    CHECK(server.open(f1).value() == text("one"));
    CHECK(server.open(f2).value() == text("two"));
    // Server to client uses the other key and its own counter.
    Bytes back = server.seal(text("ack"));
    CHECK(client.open(back).value() == text("ack"));
  }
  SUBCASE("replayed") {
    REQUIRE(server.open(f0).is_ok());
    CHECK(server.open(f0).status().code() == "FRAME_OUT_OF_ORDER");
  }
  SUBCASE("dropped or reordered") {
    CHECK(server.open(f1).status().code() == "FRAME_OUT_OF_ORDER");
  }
  SUBCASE("tampered ciphertext, tag or counter") {
    Bytes bad = f0;
    bad[kPeerFrameHeaderBytes] ^= 1;
    CHECK(server.open(bad).status().code() == "FRAME_AUTH_FAILED");
    bad = f0;
    bad.back() ^= 0x80;
    CHECK(server.open(bad).status().code() == "FRAME_AUTH_FAILED");
    // A frame relabelled with the expected counter still fails: the counter
    // is the nonce and the aad.
    bad = f1;
    bad[8] = 0;
    CHECK(server.open(bad).status().code() == "FRAME_AUTH_FAILED");
    CHECK(server.open(f0).is_ok());  // nothing was consumed by the failures
  }
  SUBCASE("own direction is not accepted back") {
    CHECK(client.open(f0).status().code() == "FRAME_AUTH_FAILED");
  }
  SUBCASE("malformed") {
    CHECK(server.open(Bytes(kPeerFrameOverheadBytes - 1)).status().code() == "FRAME_MALFORMED");
    Bytes bad = f0;
    bad[0] = 2;
    CHECK(server.open(bad).status().code() == "FRAME_MALFORMED");
  }
}

TEST_CASE("peer wire: token bucket") {
  peer_wire::TokenBucket b(10, 5);  // 10/s, burst 5
  for (int i = 0; i < 5; ++i) CHECK(b.take(1, 1000));
  CHECK_FALSE(b.take(1, 1000));
  CHECK_FALSE(b.take(1, 1099));  // 0.99 tokens back
  CHECK(b.take(1, 1100));
  CHECK(b.take(4, 10'000));  // refilled to capacity, not beyond
  CHECK_FALSE(b.take(2, 10'000));
  CHECK_FALSE(b.take(6, 99'000));  // more than the capacity never fits
}

TEST_CASE("peer transport: config is checked") {
  Net net(2);
  auto c = net.config(0);
  c.key = crypto::KeyPair::generate();
  CHECK(PeerTransport::start(c).status().code() == "PEER_CONFIG_INVALID");
  c = net.config(0);
  c.validators[1].public_key = c.validators[0].public_key;
  CHECK(PeerTransport::start(c).status().code() == "PEER_CONFIG_INVALID");
  c = net.config(0);
  c.limits.message_bytes_max = kPeerMessageBytesMax + 1;
  CHECK(PeerTransport::start(c).status().code() == "PEER_CONFIG_INVALID");
  c = net.config(0);
  c.validators[1].address = "nowhere";
  CHECK(PeerTransport::start(c).status().code() == "PEER_CONFIG_INVALID");
}

TEST_CASE("peer transport: 4 validators connect all-to-all and deliver broadcasts") {
  Net net(4);
  std::vector<std::unique_ptr<PeerTransport>> ts;
  for (std::size_t i = 0; i < 4; ++i) ts.push_back(Net::start(net.config(i)));
  REQUIRE_MESSAGE(wait_for([&] { return all_connected(ts); }), net.inboxes[0]->all_log());
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(ts[i]->self_index() == i);
    CHECK(ts[i]->broadcast(text("from " + std::to_string(i))) == 3);
  }
  CHECK(ts[2]->send(1, text("direct 2->1")).is_ok());
  CHECK(ts[2]->send(2, text("self")).code() == "PEER_UNKNOWN");
  for (std::size_t i = 0; i < 4; ++i) {
    std::size_t want = i == 1 ? 4 : 3;
    REQUIRE(wait_for([&] { return net.inboxes[i]->count() == want; }));
    std::lock_guard l(net.inboxes[i]->mu);
    std::map<std::size_t, std::vector<std::string>> by_peer;
    for (auto& [peer, m] : net.inboxes[i]->messages)
      by_peer[peer].push_back(std::string(m.begin(), m.end()));
    for (std::size_t j = 0; j < 4; ++j) {
      if (j == i) {
        CHECK(by_peer.count(j) == 0);
        continue;
      }
      REQUIRE(by_peer[j].size() >= 1);
      CHECK(by_peer[j][0] == "from " + std::to_string(j));
    }
    if (i == 1) CHECK(by_peer[2].back() == "direct 2->1");
  }
  // Many messages in a row arrive complete and in order.
  for (int k = 0; k < 200; ++k) REQUIRE(ts[3]->send(0, text("seq " + std::to_string(k))).is_ok());
  REQUIRE(wait_for([&] { return net.inboxes[0]->count() == 3 + 200; }));
  {
    std::lock_guard l(net.inboxes[0]->mu);
    int k = 0;
    for (auto& [peer, m] : net.inboxes[0]->messages)
      if (peer == 3 && std::string(m.begin(), m.end()).rfind("seq ", 0) == 0)
        CHECK(std::string(m.begin(), m.end()) == "seq " + std::to_string(k++));
    CHECK(k == 200);
  }
  for (auto& t : ts) t->stop();
}

TEST_CASE("peer transport: a validator key outside the set is refused") {
  Net net(2);
  auto legit = Net::start(net.config(1));
  // The intruder lists itself and validator 1, so it dials validator 1.
  auto intruder_key = crypto::KeyPair::generate();
  auto c = net.config(0);
  c.key = intruder_key;
  c.validators[0].public_key = intruder_key.public_key();
  auto intruder = Net::start(c);
  REQUIRE(wait_for([&] { return net.inboxes[1]->logged("UNKNOWN_VALIDATOR"); }));
  CHECK_FALSE(intruder->connected(1));
  CHECK(legit->connected_count() == 0);
}

TEST_CASE("peer transport: a transcript signed with another key is refused") {
  Net net(2);
  SUBCASE("by the client") {
    auto server = Net::start(net.config(1));
    auto c = net.config(0);
    c.transcript_key_for_test = crypto::KeyPair::generate();
    auto client = Net::start(c);
    REQUIRE(wait_for([&] { return net.inboxes[1]->logged("BAD_SIGNATURE"); }));
    CHECK(server->connected_count() == 0);
  }
  SUBCASE("by the server") {
    auto c = net.config(1);
    c.transcript_key_for_test = crypto::KeyPair::generate();
    auto server = Net::start(c);
    auto client = Net::start(net.config(0));
    REQUIRE(wait_for([&] { return net.inboxes[0]->logged("BAD_SIGNATURE"); }));
    CHECK(client->connected_count() == 0);
    CHECK(server->connected_count() == 0);
  }
}

TEST_CASE("peer transport: a different chain id is refused") {
  Net net(2);
  auto server = Net::start(net.config(1));
  auto c = net.config(0);
  c.chain_id = "another-chain";
  auto client = Net::start(c);
  REQUIRE(wait_for([&] { return net.inboxes[1]->logged("WRONG_CHAIN_ID"); }));
  CHECK(server->connected_count() == 0);
  CHECK(client->connected_count() == 0);
}

TEST_CASE("peer transport: a tampered or replayed frame closes the connection") {
  Net net(2);
  auto a = Net::start(net.config(0));
  auto b = Net::start(net.config(1));
  REQUIRE(wait_for([&] { return a->connected(1) && b->connected(0); }));
  REQUIRE(a->send(1, text("before")).is_ok());
  REQUIRE(wait_for([&] { return net.inboxes[1]->count() == 1; }));

  std::string code;
  SUBCASE("tampered") {
    code = "FRAME_AUTH_FAILED";
    REQUIRE(a->inject_fault_for_test(1, PeerTransport::TestFault::kFlipCiphertextByte).is_ok());
  }
  SUBCASE("replayed") {
    code = "FRAME_OUT_OF_ORDER";
    REQUIRE(a->inject_fault_for_test(1, PeerTransport::TestFault::kReplayFrame).is_ok());
  }
  REQUIRE(a->send(1, text("faulty")).is_ok());
  REQUIRE_MESSAGE(wait_for([&] { return net.inboxes[1]->logged(code); }),
                  net.inboxes[1]->all_log());
  {
    std::lock_guard l(net.inboxes[1]->mu);
    std::size_t faulty = 0;
    for (auto& [p, m] : net.inboxes[1]->messages) faulty += m == text("faulty");
    // Tampered: never delivered. Replayed: delivered once, the copy refused.
    CHECK(faulty == (code == "FRAME_OUT_OF_ORDER" ? 1u : 0u));
  }
  // The dialler reconnects and a fresh session works. A send may still meet
  // the closing session, so send until one arrives.
  auto got_after = [&] {
    std::lock_guard l(net.inboxes[1]->mu);
    for (auto& [p, m] : net.inboxes[1]->messages)
      if (m == text("after")) return true;
    return false;
  };
  REQUIRE(wait_for([&] {
    if (a->connected(1) && b->connected(0)) (void)a->send(1, text("after"));
    return got_after();
  }));
}

TEST_CASE("peer transport: an oversized frame is refused") {
  Net net(2);
  auto c0 = net.config(0), c1 = net.config(1);
  c0.limits.message_bytes_max = c1.limits.message_bytes_max = 64u << 10;
  auto a = Net::start(c0);
  auto b = Net::start(c1);
  REQUIRE(wait_for([&] { return a->connected(1) && b->connected(0); }));
  // At the limit: delivered. One byte above: refused by the sender.
  REQUIRE(a->send(1, Bytes(64u << 10, 7)).is_ok());
  REQUIRE(wait_for([&] { return net.inboxes[1]->count() == 1; }));
  CHECK(a->send(1, Bytes((64u << 10) + 1, 7)).code() == "MESSAGE_TOO_LARGE");
  // A frame above the receiver's limit that the sender writes anyway.
  REQUIRE(a->inject_fault_for_test(1, PeerTransport::TestFault::kOversizedFrame).is_ok());
  REQUIRE_MESSAGE(wait_for([&] { return net.inboxes[1]->logged("FRAME_TOO_LARGE"); }),
                  net.inboxes[1]->all_log());
  CHECK(net.inboxes[1]->count() == 1);
}

TEST_CASE("peer transport: the per-peer rate limit trips") {
  Net net(2);
  auto c0 = net.config(0), c1 = net.config(1);
  std::size_t sent = 0;
  SUBCASE("frames per second") {
    c1.limits.frames_per_second = 20;
    sent = 100;
  }
  SUBCASE("bytes per second") {
    c0.limits.message_bytes_max = c1.limits.message_bytes_max = 1024;
    c1.limits.bytes_per_second = 4 * (1024 + kPeerFrameOverheadBytes);
    sent = 20;
  }
  auto a = Net::start(c0);
  auto b = Net::start(c1);
  REQUIRE(wait_for([&] { return a->connected(1) && b->connected(0); }));
  std::size_t size = c0.limits.message_bytes_max == 1024 ? 1024 : 8;
  for (std::size_t i = 0; i < sent; ++i) (void)a->send(1, Bytes(size, 1));
  REQUIRE_MESSAGE(wait_for([&] { return net.inboxes[1]->logged("RATE_LIMITED"); }),
                  net.inboxes[1]->all_log());
  CHECK(net.inboxes[1]->count() < sent);
}

TEST_CASE("peer transport: a slow peer's full send queue drops its connection") {
  Net net(2);
  auto c0 = net.config(0);
  c0.limits.send_queue_frames_max = 4;
  auto a = Net::start(c0);
  // Validator 1 stops reading: its only I/O thread blocks in on_message
  // until the gate opens, so a's socket buffers fill and a's queue grows.
  std::mutex gate;
  auto c1 = net.config(1);
  c1.threads = 1;
  c1.on_message = [&gate](std::size_t, Bytes) { std::lock_guard l(gate); };
  auto b = Net::start(c1);
  std::unique_lock hold(gate);  // destroyed (opened) before b is stopped
  REQUIRE(wait_for([&] { return a->connected(1) && b->connected(0); }));
  bool full = false;
  for (int i = 0; i < 100'000 && !full; ++i) {
    Status st = a->send(1, Bytes(16u << 10, 1));
    full = st.code() == "PEER_QUEUE_FULL";
    if (!full) REQUIRE_MESSAGE(st.is_ok(), st.to_string());
  }
  CHECK(full);
  CHECK(wait_for([&] { return net.inboxes[0]->logged("SEND_QUEUE_FULL"); }));
  // b cannot take a new connection while its thread is blocked, so a stays
  // disconnected: the connection was dropped, the node still runs.
  CHECK(wait_for([&] { return !a->connected(1); }));
  CHECK(a->send(1, text("x")).code() == "PEER_NOT_CONNECTED");
}

TEST_CASE("peer transport: unauthenticated connections are bounded") {
  Net net(2);
  auto b = Net::start(net.config(1));
  // Raw TCP connections that never speak: each holds a handshake slot.
  std::vector<int> fds;
  for (std::size_t i = 0; i < kPeerInboundHandshakesMax + 4; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(b->port());
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    fds.push_back(fd);
  }
  REQUIRE_MESSAGE(wait_for([&] { return net.inboxes[1]->logged("TOO_MANY_HANDSHAKES"); }),
                  net.inboxes[1]->all_log());
  // The silent ones time out and free their places: a validator gets in
  // while their sockets are still open on our side.
  REQUIRE(wait_for([&] { return net.inboxes[1]->logged("HANDSHAKE_TIMEOUT"); },
                   static_cast<int>(kPeerHandshakeTimeoutMs) + 5'000));
  auto a = Net::start(net.config(0));
  REQUIRE(wait_for([&] { return a->connected(1) && b->connected(0); }));
  for (int fd : fds) ::close(fd);
}

TEST_CASE("peer transport: a wrong key at an address or a disagreeing order is refused") {
  SUBCASE("the dialled address answers with another validator's key") {
    Net net(3);
    auto c0 = net.config(0);
    std::swap(c0.validators[1].address, c0.validators[2].address);
    auto t2 = Net::start(net.config(2));
    auto t0 = Net::start(c0);  // dials "1" at 2's address
    REQUIRE_MESSAGE(wait_for([&] { return net.inboxes[0]->logged("WRONG_VALIDATOR"); }),
                    net.inboxes[0]->all_log());
    CHECK_FALSE(t0->connected(1));
  }
  SUBCASE("both sides think they dial") {
    Net net(2);
    auto c1 = net.config(1);
    std::swap(c1.validators[0], c1.validators[1]);  // validator 1 sees itself as index 0
    auto t1 = Net::start(c1);
    auto t0 = Net::start(net.config(0));
    REQUIRE(wait_for([&] {
      return net.inboxes[0]->logged("WRONG_DIRECTION") && net.inboxes[1]->logged("WRONG_DIRECTION");
    }));
    CHECK(t0->connected_count() == 0);
    CHECK(t1->connected_count() == 0);
  }
}

TEST_CASE("peer transport: peers come from the genesis validators in order") {
  ledger::Genesis g;
  g.chain_id = kChain;
  for (int i = 0; i < 3; ++i) {
    ledger::Validator v;
    v.org_id = "org" + std::to_string(i);
    v.public_key = crypto::KeyPair::generate().public_key();
    v.address = "127.0.0.1:" + std::to_string(9000 + i);
    g.validators.push_back(v);
  }
  auto peers = peers_from_genesis(g);
  REQUIRE(peers.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(peers[i].public_key == g.validators[i].public_key);
    CHECK(peers[i].address == g.validators[i].address);
  }
}

TEST_CASE("peer transport: a stopped and restarted peer is reconnected") {
  Net net(3);
  std::vector<std::unique_ptr<PeerTransport>> ts;
  for (std::size_t i = 0; i < 3; ++i) ts.push_back(Net::start(net.config(i)));
  REQUIRE(wait_for([&] { return all_connected(ts); }));
  ts[1]->stop();
  REQUIRE(wait_for([&] { return !ts[0]->connected(1) && !ts[2]->connected(1); }));
  CHECK(ts[0]->send(1, text("lost")).code() == "PEER_NOT_CONNECTED");
  ts[1].reset();
  ts[1] = Net::start(net.config(1));  // same key, same port
  // 0 redials 1 (backoff); the new 1 dials 2.
  REQUIRE_MESSAGE(wait_for([&] { return all_connected(ts); }), net.inboxes[0]->all_log());
  CHECK(ts[1]->broadcast(text("back")) == 2);
  CHECK(ts[0]->send(1, text("welcome")).is_ok());
  REQUIRE(wait_for([&] { return net.inboxes[0]->count() == 1 && net.inboxes[2]->count() == 1; }));
  REQUIRE(wait_for([&] { return net.inboxes[1]->count() == 1; }));
  std::lock_guard l(net.inboxes[1]->mu);
  CHECK(net.inboxes[1]->messages[0] == std::make_pair(std::size_t{0}, text("welcome")));
}

// A joiner that a change of set added lists the genesis validators and then
// itself, while in the validators' own list (the set in force) it may come
// first: then nobody would dial. Dialling both ways connects it, and a
// validator whose list puts it last still dials it.
TEST_CASE("peer transport: a joiner dialling in both directions reaches peers of either order") {
  Net net(3);  // the set in force: 0 is the joiner, 1 and 2 are validators
  std::vector<std::unique_ptr<PeerTransport>> peers;
  for (std::size_t i : {1, 2}) peers.push_back(Net::start(net.config(i)));
  PeerTransportConfig jc = net.config(0);
  jc.validators = {net.validators[1], net.validators[2], net.validators[0]};  // genesis, then self
  SUBCASE("one way only: no connection") {
    auto joiner = Net::start(jc);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    CHECK(joiner->connected_count() == 0);
    joiner->stop();
  }
  SUBCASE("both ways: connected to both, messages flow") {
    jc.any_direction = true;
    auto joiner = Net::start(jc);
    REQUIRE(wait_for([&] { return joiner->connected_count() == 2; }));
    CHECK(joiner->send(0, text("to 1")).is_ok());
    REQUIRE(wait_for([&] { return net.inboxes[1]->count() >= 1; }));
    {
      std::lock_guard l(net.inboxes[1]->mu);
      CHECK(net.inboxes[1]->messages[0] == std::make_pair(std::size_t{0}, text("to 1")));
    }
    joiner->stop();
  }
  for (auto& p : peers) p->stop();
}
