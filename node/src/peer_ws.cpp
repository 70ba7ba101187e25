// Boost.Beast WebSocket half of the peer transport (peer_transport.hpp says why
// Beast stays here; docs/formats/peer-wire.md has the protocol).
//
// One Connection per TCP connection; every handler of a connection runs on
// its own strand. A connection is a client (we dialled it: always to a peer
// of higher index) or a server (accepted). It goes through the three
// handshake messages, then becomes its peer's live session: one read loop
// that checks the rate limit and opens frames, and one write pump that seals
// queued messages in order. Any failure closes the TCP connection after
// logging why; a client connection that closes is redialled with backoff.
#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cstdio>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "http_server.hpp"  // parse_listen_address (a Beast-free declaration)
#include "peer_transport.hpp"

namespace emledger::node {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using peer_wire::Role;

namespace {

constexpr std::size_t kNoPeer = static_cast<std::size_t>(-1);

std::chrono::milliseconds ms(std::uint64_t v) { return std::chrono::milliseconds(v); }

std::uint64_t now_ms() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

std::string endpoint_text(const tcp::endpoint& ep) {
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

class Connection;

}  // namespace

struct PeerTransport::Impl {
  Impl(PeerTransportConfig c, std::size_t self_index, std::vector<tcp::endpoint> eps)
      : guard(net::make_work_guard(ioc)),
        acceptor(ioc),
        cfg(std::move(c)),
        self(self_index),
        endpoints(std::move(eps)),
        frame_bytes_max(cfg.limits.message_bytes_max + kPeerFrameOverheadBytes),
        rng(std::random_device{}()) {
    for (std::size_t i = 0; i < cfg.validators.size(); ++i)
      slots.emplace_back(cfg.limits, net::make_strand(ioc));
  }

  void log(const std::string& line) {
    std::string full = "v" + std::to_string(self) + ": " + line;
    if (cfg.on_log)
      cfg.on_log(full);
    else
      std::fprintf(stderr, "emledger-node: peer: %s\n", full.c_str());
  }
  std::size_t index_of(const crypto::PublicKey& pk) const {
    for (std::size_t i = 0; i < cfg.validators.size(); ++i)
      if (cfg.validators[i].public_key == pk) return i;
    return kNoPeer;
  }
  const crypto::KeyPair& signing_key() const {
    return cfg.transcript_key_for_test ? *cfg.transcript_key_for_test : *cfg.key;
  }

  void accept();
  void dial(std::size_t peer);
  void schedule_dial(std::size_t peer);
  void on_established(const std::shared_ptr<Connection>& conn);
  void on_closed(const std::shared_ptr<Connection>& conn);
  bool rate_ok(std::size_t peer, std::size_t frame_bytes);
  void track(const std::shared_ptr<Connection>& conn);
  std::shared_ptr<Connection> live(std::size_t peer) const;

  struct Slot {
    Slot(const PeerLimits& l, net::strand<net::io_context::executor_type> strand)
        : frames(l.frames_per_second, l.frames_per_second),
          bytes(static_cast<double>(l.bytes_per_second), static_cast<double>(l.bytes_per_second)),
          redial(std::move(strand)) {}
    std::shared_ptr<Connection> live;  // the authenticated session, if any
    peer_wire::TokenBucket frames;     // inbound, kept across reconnects
    peer_wire::TokenBucket bytes;
    std::uint64_t backoff_ms = kPeerReconnectBackoffMinMs;
    net::steady_timer redial;
  };

  // Declared first so it is destroyed last: handlers it still holds own
  // connections whose sockets belong to it.
  net::io_context ioc;
  net::executor_work_guard<net::io_context::executor_type> guard;
  tcp::acceptor acceptor;
  PeerTransportConfig cfg;
  std::size_t self;
  std::vector<tcp::endpoint> endpoints;  // by peer index
  std::size_t frame_bytes_max;
  std::vector<std::thread> threads;
  std::uint16_t port = 0;
  std::atomic<bool> stopped{false};
  std::atomic<std::size_t> inbound_handshakes{0};  // bounded by kPeerInboundHandshakesMax

  mutable std::mutex mu;   // guards slots' live, buckets, backoff; conns; rng
  std::deque<Slot> slots;  // deque: Slot is not movable (timer, buckets stay put)
  std::vector<std::weak_ptr<Connection>> conns;  // every connection, for stop()
  std::mt19937_64 rng;
};

namespace {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using Impl = PeerTransport::Impl;

  // Server side: an accepted socket (already on its strand).
  Connection(Impl& t, tcp::socket socket)
      : t_(t),
        ws_(std::move(socket)),
        timer_(ws_.get_executor()),
        role_(Role::kServer),
        rbuf_(t.frame_bytes_max) {
    beast::error_code ec;
    auto ep = beast::get_lowest_layer(ws_).socket().remote_endpoint(ec);
    remote_ = ec ? std::string("?") : endpoint_text(ep);
    desc_ = "inbound " + remote_;
  }
  // Client side: dialling `peer`.
  Connection(Impl& t, net::strand<net::io_context::executor_type> strand, std::size_t peer)
      : t_(t),
        ws_(std::move(strand)),
        timer_(ws_.get_executor()),
        role_(Role::kClient),
        peer_(peer),
        rbuf_(t.frame_bytes_max) {
    desc_ = "peer " + std::to_string(peer) + " (" + t.cfg.validators[peer].address + ")";
  }

  bool is_client() const { return role_ == Role::kClient; }
  std::size_t peer() const { return peer_; }  // kNoPeer until a server learns it
  const std::string& desc() const { return desc_; }

  void start_server() {
    net::dispatch(ws_.get_executor(), [self = shared_from_this()] {
      self->arm_handshake_timer();
      self->set_ws_options();
      self->ws_.async_accept(
          beast::bind_front_handler(&Connection::on_ws_accept, self->shared_from_this()));
    });
  }

  void start_client(tcp::endpoint ep) {
    net::dispatch(ws_.get_executor(), [self = shared_from_this(), ep] {
      self->arm_handshake_timer();
      beast::get_lowest_layer(self->ws_).expires_after(ms(kPeerHandshakeTimeoutMs));
      beast::get_lowest_layer(self->ws_).async_connect(
          ep, beast::bind_front_handler(&Connection::on_connect, self->shared_from_this()));
    });
  }

  // Any thread. Counts against the queue bounds before it is queued.
  Status enqueue(std::shared_ptr<const Bytes> message) {
    if (dead_.load()) return Status::error("PEER_NOT_CONNECTED", desc_ + " is closing");
    std::size_t n = message->size();
    std::size_t frames = queued_frames_.fetch_add(1) + 1;
    std::size_t bytes = queued_bytes_.fetch_add(n) + n;
    if (frames > t_.cfg.limits.send_queue_frames_max ||
        bytes > t_.cfg.limits.send_queue_bytes_max) {
      queued_frames_.fetch_sub(1);
      queued_bytes_.fetch_sub(n);
      std::string why =
          std::to_string(frames - 1) + " frames, " + std::to_string(bytes - n) + " bytes waiting";
      close_async("SEND_QUEUE_FULL", why);
      return Status::error("PEER_QUEUE_FULL", desc_ + ": " + why);
    }
    net::post(ws_.get_executor(), [self = shared_from_this(), m = std::move(message)]() mutable {
      if (self->closed_) return;
      self->queue_.push_back({std::move(m), false});
      self->write_next();
    });
    return Status::ok();
  }

  void close_async(std::string code, std::string detail) {
    net::post(ws_.get_executor(), [self = shared_from_this(), c = std::move(code),
                                   d = std::move(detail)] { self->fail(c, d); });
  }

  void inject(PeerTransport::TestFault fault) {
    net::post(ws_.get_executor(), [self = shared_from_this(), fault] {
      switch (fault) {
        case PeerTransport::TestFault::kFlipCiphertextByte:
          self->fault_flip_ = true;
          break;
        case PeerTransport::TestFault::kReplayFrame:
          self->fault_replay_ = true;
          break;
        case PeerTransport::TestFault::kOversizedFrame: {
          auto raw = std::make_shared<Bytes>(self->t_.frame_bytes_max + 1, 0);
          (*raw)[0] = peer_wire::kFrameKindData;
          self->queue_.push_back({std::move(raw), true});
          self->write_next();
          break;
        }
      }
    });
  }

  // Only once the I/O threads are joined (stop()): nothing else touches it.
  void close_socket_after_join() {
    closed_ = true;
    dead_ = true;
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

 private:
  struct Out {
    std::shared_ptr<const Bytes> data;
    bool raw;  // test only: written as is, not sealed
  };
  using Step = void (Connection::*)(Bytes);

  void set_ws_options() {
    websocket::stream_base::timeout opt{};
    opt.handshake_timeout = ms(kPeerHandshakeTimeoutMs);
    // Beast pings after one idle interval and gives up after a second.
    opt.idle_timeout = ms(kPeerIdleTimeoutMs / 2);
    opt.keep_alive_pings = true;
    ws_.set_option(opt);
    ws_.binary(true);
    ws_.read_message_max(kPeerHandshakeBytesMax);
  }

  void arm_handshake_timer() {
    timer_.expires_after(ms(kPeerHandshakeTimeoutMs));
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec && !self->established_)
        self->fail("HANDSHAKE_TIMEOUT",
                   "no session after " + std::to_string(kPeerHandshakeTimeoutMs) + " ms");
    });
  }

  // ---- client ----
  void on_connect(beast::error_code ec) {
    if (ec) return fail("CONNECT_FAILED", ec.message());
    beast::get_lowest_layer(ws_).expires_never();  // the websocket timeouts take over
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true), ignored);
    set_ws_options();
    const auto& ep = t_.endpoints[peer_];
    ws_.async_handshake(
        endpoint_text(ep), std::string(kPeerWsTarget),
        beast::bind_front_handler(&Connection::on_ws_handshake, shared_from_this()));
  }

  void on_ws_handshake(beast::error_code ec) {
    if (ec) return fail("WS_HANDSHAKE_FAILED", ec.message());
    ephemeral_.emplace(crypto::KxKeyPair::generate());
    hello_.chain_id = t_.cfg.chain_id;
    hello_.validator = t_.cfg.key->public_key();
    hello_.ephemeral = ephemeral_->public_key();
    write_handshake(ledger::encode(hello_), &Connection::on_server_hello);
  }

  void on_server_hello(Bytes bytes) {
    auto sh = ledger::decode<peer_wire::ServerHello>(bytes);
    if (!sh) return fail("HANDSHAKE_MALFORMED", sh.status().message());
    if (sh->chain_id != t_.cfg.chain_id)
      return fail("WRONG_CHAIN_ID", chain_mismatch(sh->chain_id));
    if (sh->validator != t_.cfg.validators[peer_].public_key)
      return fail(t_.index_of(sh->validator) == kNoPeer ? "UNKNOWN_VALIDATOR" : "WRONG_VALIDATOR",
                  "answered with key " + to_hex_short(sh->validator));
    Bytes signed_by_server =
        peer_wire::transcript_bytes(Role::kServer, t_.cfg.chain_id, hello_.validator, sh->validator,
                                    hello_.ephemeral, sh->ephemeral);
    if (!crypto::verify(sh->validator, signed_by_server, sh->signature))
      return fail("BAD_SIGNATURE", "server transcript signature does not verify");
    auto keys = ephemeral_->client_session_keys(sh->ephemeral);
    if (!keys) return fail(keys.status().code(), keys.status().message());
    channel_.emplace(*keys);
    ephemeral_.reset();
    peer_wire::ClientAuth auth;
    auth.signature = t_.signing_key().sign(
        peer_wire::transcript_bytes(Role::kClient, t_.cfg.chain_id, hello_.validator, sh->validator,
                                    hello_.ephemeral, sh->ephemeral));
    write_handshake(ledger::encode(auth), nullptr);
  }

  // ---- server ----
  void on_ws_accept(beast::error_code ec) {
    if (ec) return fail("WS_HANDSHAKE_FAILED", ec.message());
    read_handshake(&Connection::on_client_hello);
  }

  void on_client_hello(Bytes bytes) {
    auto ch = ledger::decode<peer_wire::ClientHello>(bytes);
    if (!ch) return fail("HANDSHAKE_MALFORMED", ch.status().message());
    if (ch->chain_id != t_.cfg.chain_id)
      return fail("WRONG_CHAIN_ID", chain_mismatch(ch->chain_id));
    std::size_t p = t_.index_of(ch->validator);
    if (p == kNoPeer || p == t_.self)
      return fail("UNKNOWN_VALIDATOR", "key " + to_hex_short(ch->validator) +
                                           (p == kNoPeer ? " is not a validator" : " is our own"));
    if (p > t_.self && !t_.cfg.any_direction)
      return fail("WRONG_DIRECTION", "validator " + std::to_string(p) +
                                         " has a higher index and must be dialled, not dial");
    peer_ = p;
    desc_ = "peer " + std::to_string(p) + " (" + remote_ + ")";
    hello_ = std::move(*ch);
    auto eph = crypto::KxKeyPair::generate();
    auto keys = eph.server_session_keys(hello_.ephemeral);
    if (!keys) return fail(keys.status().code(), keys.status().message());
    channel_.emplace(*keys);
    server_ephemeral_ = eph.public_key();
    peer_wire::ServerHello sh;
    sh.chain_id = t_.cfg.chain_id;
    sh.validator = t_.cfg.key->public_key();
    sh.ephemeral = server_ephemeral_;
    sh.signature = t_.signing_key().sign(
        peer_wire::transcript_bytes(Role::kServer, t_.cfg.chain_id, hello_.validator, sh.validator,
                                    hello_.ephemeral, sh.ephemeral));
    write_handshake(ledger::encode(sh), &Connection::on_client_auth);
  }

  void on_client_auth(Bytes bytes) {
    auto auth = ledger::decode<peer_wire::ClientAuth>(bytes);
    if (!auth) return fail("HANDSHAKE_MALFORMED", auth.status().message());
    Bytes signed_by_client =
        peer_wire::transcript_bytes(Role::kClient, t_.cfg.chain_id, hello_.validator,
                                    t_.cfg.key->public_key(), hello_.ephemeral, server_ephemeral_);
    if (!crypto::verify(hello_.validator, signed_by_client, auth->signature))
      return fail("BAD_SIGNATURE", "client transcript signature does not verify");
    established();
  }

  // ---- handshake I/O ----
  // Writes one handshake message, then reads the next and hands it to `next`
  // (nullptr: the handshake is complete once the write is done).
  void write_handshake(Bytes message, Step next) {
    out_ = std::make_shared<const Bytes>(std::move(message));
    ws_.async_write(net::buffer(*out_),
                    [self = shared_from_this(), next](beast::error_code ec, std::size_t) {
                      if (ec) return self->fail_io("WRITE_FAILED", ec);
                      if (next == nullptr) return self->established();
                      self->read_handshake(next);
                    });
  }

  void read_handshake(Step next) {
    ws_.async_read(rbuf_, [self = shared_from_this(), next](beast::error_code ec, std::size_t) {
      if (ec) return self->fail_io("READ_FAILED", ec);
      if (self->ws_.got_text()) return self->fail("HANDSHAKE_MALFORMED", "text message");
      auto data = self->rbuf_.cdata();
      Bytes bytes(static_cast<const std::uint8_t*>(data.data()),
                  static_cast<const std::uint8_t*>(data.data()) + data.size());
      self->rbuf_.consume(self->rbuf_.size());
      (self.get()->*next)(std::move(bytes));
    });
  }

  void established() {
    if (closed_) return;
    established_ = true;
    release_inbound();
    timer_.cancel();
    ws_.read_message_max(t_.frame_bytes_max);
    t_.on_established(shared_from_this());
    read_frame();
    write_next();
  }

  // ---- session ----
  void read_frame() {
    ws_.async_read(rbuf_, beast::bind_front_handler(&Connection::on_frame, shared_from_this()));
  }

  void on_frame(beast::error_code ec, std::size_t) {
    if (ec) return fail_io("READ_FAILED", ec);
    if (ws_.got_text()) return fail("FRAME_MALFORMED", "text message");
    auto data = rbuf_.cdata();
    ByteView frame(static_cast<const std::uint8_t*>(data.data()), data.size());
    if (!t_.rate_ok(peer_, frame.size()))
      return fail("RATE_LIMITED", "over " + std::to_string(t_.cfg.limits.frames_per_second) +
                                      " frames/s or " +
                                      std::to_string(t_.cfg.limits.bytes_per_second) + " bytes/s");
    auto message = channel_->open(frame);
    rbuf_.consume(rbuf_.size());
    if (!message) return fail(message.status().code(), message.status().message());
    try {
      t_.cfg.on_message(peer_, std::move(*message));
    } catch (const std::exception& e) {
      // The callback owns its errors; a throw must not take the node down.
      t_.log(desc_ + ": on_message threw: " + e.what());
    }
    if (!closed_) read_frame();
  }

  void write_next() {
    if (writing_ || closed_ || !established_ || queue_.empty()) return;
    writing_ = true;
    Out next = std::move(queue_.front());
    queue_.pop_front();
    std::size_t counted = next.raw ? 0 : next.data->size();  // raw frames were never counted
    if (next.raw) {
      out_ = std::move(next.data);
    } else {
      auto frame = std::make_shared<Bytes>(channel_->seal(*next.data));
      if (fault_flip_) {
        (*frame)[kPeerFrameHeaderBytes] ^= 0x01;  // first ciphertext (or tag) byte
        fault_flip_ = false;
      }
      out_ = std::move(frame);
    }
    bool replay = std::exchange(fault_replay_, false) && !next.raw;
    bool raw = next.raw;
    ws_.async_write(net::buffer(*out_), [self = shared_from_this(), counted, raw, replay](
                                            beast::error_code ec, std::size_t) {
      if (!raw) {
        self->queued_frames_.fetch_sub(1);
        self->queued_bytes_.fetch_sub(counted);
      }
      if (ec) return self->fail_io("WRITE_FAILED", ec);
      if (replay) {
        // Test only: the same frame again, as an attacker would replay it.
        auto again = self->out_;
        return self->ws_.async_write(net::buffer(*again),
                                     [self, again](beast::error_code e2, std::size_t) {
                                       if (e2) return self->fail_io("WRITE_FAILED", e2);
                                       self->writing_ = false;
                                       self->write_next();
                                     });
      }
      self->writing_ = false;
      self->write_next();
    });
  }

  // ---- closing ----
  void fail_io(const char* code, beast::error_code ec) {
    if (ec == websocket::error::message_too_big)
      return fail("FRAME_TOO_LARGE",
                  "peer sent a message above " + std::to_string(ws_.read_message_max()) + " bytes");
    if (ec == beast::error::timeout) return fail("TIMEOUT", "peer idle or too slow");
    if (ec == websocket::error::closed || ec == net::error::eof ||
        ec == net::error::connection_reset || ec == net::error::operation_aborted ||
        ec == net::error::broken_pipe)
      return fail("CONNECTION_CLOSED", ec.message());
    fail(code, ec.message());
  }

  void fail(const std::string& code, const std::string& detail) {
    if (closed_) return;
    closed_ = true;
    dead_ = true;
    t_.log(desc_ + ": closed (" + (is_client() ? "client" : "server") + "): " + code + ": " +
           detail);
    timer_.cancel();
    release_inbound();
    queue_.clear();
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
    t_.on_closed(shared_from_this());
  }

  // A server connection leaves the count of handshakes in progress once.
  void release_inbound() {
    if (role_ == Role::kServer && !released_inbound_) {
      released_inbound_ = true;
      t_.inbound_handshakes.fetch_sub(1);
    }
  }

  // Says how the chain ids differ without echoing the peer's bytes into our
  // log (they may hold line breaks).
  std::string chain_mismatch(const std::string& theirs) const {
    return "peer's chain id (" + std::to_string(theirs.size()) + " bytes) is not '" +
           t_.cfg.chain_id + "'";
  }

  static std::string to_hex_short(const crypto::PublicKey& pk) {
    static const char* kHex = "0123456789abcdef";
    std::string s;
    for (std::size_t i = 0; i < 8; ++i) {
      s += kHex[pk[i] >> 4];
      s += kHex[pk[i] & 15];
    }
    return s + "...";
  }

  Impl& t_;
  websocket::stream<beast::tcp_stream> ws_;
  net::steady_timer timer_;  // handshake deadline
  Role role_;
  std::size_t peer_ = kNoPeer;
  std::string remote_;  // server: the remote address
  std::string desc_;    // for log lines
  beast::flat_buffer rbuf_;
  std::shared_ptr<const Bytes> out_;  // what the one write in progress writes
  // Handshake state.
  std::optional<crypto::KxKeyPair> ephemeral_;  // client: ours until keys are derived
  peer_wire::ClientHello hello_;                // the client's hello (ours or received)
  crypto::KxPublicKey server_ephemeral_{};      // server: ours
  std::optional<peer_wire::Channel> channel_;
  // Session state (strand only, except the atomics).
  std::deque<Out> queue_;
  bool writing_ = false;
  bool closed_ = false;
  bool established_ = false;
  bool fault_flip_ = false;
  bool fault_replay_ = false;
  bool released_inbound_ = false;
  std::atomic<bool> dead_{false};  // closed or closing, readable from any thread
  std::atomic<std::size_t> queued_frames_{0};
  std::atomic<std::size_t> queued_bytes_{0};
};

}  // namespace

// ---- Impl ----

void PeerTransport::Impl::track(const std::shared_ptr<Connection>& conn) {
  std::lock_guard lock(mu);
  if (conns.size() >= 2 * slots.size() + 16)
    std::erase_if(conns, [](const std::weak_ptr<Connection>& w) { return w.expired(); });
  conns.push_back(conn);
}

void PeerTransport::Impl::accept() {
  acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (stopped.load() || !acceptor.is_open()) return;
    if (!ec && inbound_handshakes.load() >= kPeerInboundHandshakesMax) {
      beast::error_code ignored;
      auto ep = socket.remote_endpoint(ignored);
      log("inbound " + endpoint_text(ep) + ": closed (server): TOO_MANY_HANDSHAKES: " +
          std::to_string(kPeerInboundHandshakesMax) + " handshakes in progress");
      socket.close(ignored);
    } else if (!ec) {
      inbound_handshakes.fetch_add(1);
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      auto conn = std::make_shared<Connection>(*this, std::move(socket));
      track(conn);
      conn->start_server();
    }
    accept();
  });
}

void PeerTransport::Impl::dial(std::size_t peer) {
  if (stopped.load()) return;
  auto conn = std::make_shared<Connection>(*this, net::make_strand(ioc), peer);
  track(conn);
  conn->start_client(endpoints[peer]);
}

void PeerTransport::Impl::schedule_dial(std::size_t peer) {
  std::uint64_t delay = 0;
  {
    std::lock_guard lock(mu);
    auto& s = slots[peer];
    // Jitter in [backoff/2, backoff] keeps validators that lost each other at
    // once from redialling in lockstep.
    std::uniform_int_distribution<std::uint64_t> jitter(s.backoff_ms / 2, s.backoff_ms);
    delay = jitter(rng);
    s.backoff_ms = std::min(s.backoff_ms * 2, kPeerReconnectBackoffMaxMs);
  }
  // Only the one dial loop of this peer reaches here, one step at a time, so
  // the timer is never used from two threads at once.
  auto& timer = slots[peer].redial;
  timer.expires_after(ms(delay));
  timer.async_wait([this, peer](beast::error_code ec) {
    if (!ec && !stopped.load()) dial(peer);
  });
}

void PeerTransport::Impl::on_established(const std::shared_ptr<Connection>& conn) {
  std::shared_ptr<Connection> old;
  {
    std::lock_guard lock(mu);
    auto& s = slots[conn->peer()];
    old = std::exchange(s.live, conn);
    s.backoff_ms = kPeerReconnectBackoffMinMs;
  }
  log(conn->desc() + ": connected (" + (conn->is_client() ? "client" : "server") + ")");
  if (old) old->close_async("REPLACED", "a newer session with this peer is authenticated");
}

void PeerTransport::Impl::on_closed(const std::shared_ptr<Connection>& conn) {
  bool redial = false;
  {
    std::lock_guard lock(mu);
    if (conn->peer() != kNoPeer && slots[conn->peer()].live == conn)
      slots[conn->peer()].live.reset();
    redial = conn->is_client() && !stopped.load();
  }
  if (redial) schedule_dial(conn->peer());
}

bool PeerTransport::Impl::rate_ok(std::size_t peer, std::size_t frame_bytes) {
  std::lock_guard lock(mu);
  auto now = now_ms();
  auto& s = slots[peer];
  return s.frames.take(1, now) && s.bytes.take(static_cast<double>(frame_bytes), now);
}

std::shared_ptr<Connection> PeerTransport::Impl::live(std::size_t peer) const {
  std::lock_guard lock(mu);
  return slots[peer].live;
}

// ---- PeerTransport ----

namespace {

Status check_limits(const PeerLimits& l) {
  auto bad = [](const std::string& why) { return Status::error("PEER_CONFIG_INVALID", why); };
  if (l.message_bytes_max == 0 || l.message_bytes_max > kPeerMessageBytesMax)
    return bad("message_bytes_max must be 1.." + std::to_string(kPeerMessageBytesMax));
  if (l.frames_per_second == 0 || l.frames_per_second > kPeerFramesPerSecondMax)
    return bad("frames_per_second must be 1.." + std::to_string(kPeerFramesPerSecondMax));
  if (l.bytes_per_second < l.message_bytes_max + kPeerFrameOverheadBytes ||
      l.bytes_per_second > kPeerBytesPerSecondMax)
    return bad("bytes_per_second must hold one largest frame and be at most " +
               std::to_string(kPeerBytesPerSecondMax));
  if (l.send_queue_frames_max == 0 || l.send_queue_frames_max > kPeerSendQueueFramesMax)
    return bad("send_queue_frames_max must be 1.." + std::to_string(kPeerSendQueueFramesMax));
  if (l.send_queue_bytes_max < l.message_bytes_max ||
      l.send_queue_bytes_max > kPeerSendQueueBytesMax)
    return bad("send_queue_bytes_max must hold one largest message and be at most " +
               std::to_string(kPeerSendQueueBytesMax));
  return Status::ok();
}

Result<tcp::endpoint> endpoint_of(const std::string& address) {
  auto o = parse_listen_address(address);
  if (!o) return Status::error("PEER_CONFIG_INVALID", o.status().message());
  beast::error_code ec;
  auto addr = net::ip::make_address(o->host, ec);
  if (ec) return Status::error("PEER_CONFIG_INVALID", address + ": " + ec.message());
  return tcp::endpoint(addr, o->port);
}

}  // namespace

Result<std::unique_ptr<PeerTransport>> PeerTransport::start(PeerTransportConfig config) {
  auto bad = [](const std::string& why) { return Status::error("PEER_CONFIG_INVALID", why); };
  if (!config.key) return bad("no validator key");
  if (!config.on_message) return bad("no on_message callback");
  if (config.chain_id.empty() || config.chain_id.size() > ledger::kChainIdBytesMax)
    return bad("chain id must be 1.." + std::to_string(ledger::kChainIdBytesMax) + " bytes");
  if (config.validators.empty() || config.validators.size() > kPeersMax)
    return bad("1.." + std::to_string(kPeersMax) + " validators");
  EMLEDGER_TRY(check_limits(config.limits));
  std::size_t self = kNoPeer;
  std::vector<tcp::endpoint> endpoints;
  for (std::size_t i = 0; i < config.validators.size(); ++i) {
    const auto& v = config.validators[i];
    for (std::size_t j = 0; j < i; ++j)
      if (config.validators[j].public_key == v.public_key)
        return bad("validators " + std::to_string(j) + " and " + std::to_string(i) +
                   " share a key");
    if (v.public_key == config.key->public_key()) self = i;
    auto ep = endpoint_of(v.address);
    if (!ep) return ep.status();
    endpoints.push_back(*ep);
  }
  if (self == kNoPeer) return bad("own key is not among the validators");
  auto listen =
      endpoint_of(config.listen.empty() ? config.validators[self].address : config.listen);
  if (!listen) return listen.status();

  unsigned threads = config.threads == 0 ? 1 : config.threads;
  auto impl = std::make_unique<Impl>(std::move(config), self, std::move(endpoints));
  beast::error_code ec;
  auto fail = [&](const char* what) {
    return Status::error("LISTEN_FAILED",
                         std::string(what) + " " + endpoint_text(*listen) + ": " + ec.message());
  };
  impl->acceptor.open(listen->protocol(), ec);
  if (ec) return fail("open");
  impl->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (ec) return fail("setsockopt");
  impl->acceptor.bind(*listen, ec);
  if (ec) return fail("bind");
  impl->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen");
  impl->port = impl->acceptor.local_endpoint().port();
  impl->accept();
  for (std::size_t p = impl->cfg.any_direction ? 0 : self + 1; p < impl->slots.size(); ++p)
    if (p != self) impl->dial(p);
  for (unsigned i = 0; i < threads; ++i)
    impl->threads.emplace_back([io = &impl->ioc] { io->run(); });
  return std::unique_ptr<PeerTransport>(new PeerTransport(std::move(impl)));
}

PeerTransport::PeerTransport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PeerTransport::~PeerTransport() { stop(); }

std::size_t PeerTransport::self_index() const { return impl_->self; }
std::size_t PeerTransport::peer_count() const { return impl_->slots.size(); }
std::uint16_t PeerTransport::port() const { return impl_->port; }

Status PeerTransport::send(std::size_t peer, Bytes message) {
  if (peer >= impl_->slots.size() || peer == impl_->self)
    return Status::error("PEER_UNKNOWN", "no peer " + std::to_string(peer));
  if (message.size() > impl_->cfg.limits.message_bytes_max)
    return Status::error("MESSAGE_TOO_LARGE",
                         std::to_string(message.size()) + " bytes, at most " +
                             std::to_string(impl_->cfg.limits.message_bytes_max));
  auto conn = impl_->live(peer);
  if (!conn) return Status::error("PEER_NOT_CONNECTED", "peer " + std::to_string(peer));
  return conn->enqueue(std::make_shared<const Bytes>(std::move(message)));
}

std::size_t PeerTransport::broadcast(const Bytes& message) {
  if (message.size() > impl_->cfg.limits.message_bytes_max) return 0;
  auto shared = std::make_shared<const Bytes>(message);  // one copy for every peer
  std::size_t queued = 0;
  for (std::size_t p = 0; p < impl_->slots.size(); ++p) {
    if (p == impl_->self) continue;
    auto conn = impl_->live(p);
    if (conn && conn->enqueue(shared).is_ok()) ++queued;
  }
  return queued;
}

bool PeerTransport::connected(std::size_t peer) const {
  return peer < impl_->slots.size() && impl_->live(peer) != nullptr;
}

std::size_t PeerTransport::connected_count() const {
  std::lock_guard lock(impl_->mu);
  std::size_t n = 0;
  for (const auto& s : impl_->slots) n += s.live != nullptr;
  return n;
}

void PeerTransport::stop() {
  if (impl_->stopped.exchange(true)) return;
  impl_->guard.reset();
  impl_->ioc.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
  // No I/O thread runs now: close everything from here, so that peers see the
  // connections go now rather than when this object is destroyed.
  beast::error_code ignored;
  impl_->acceptor.close(ignored);
  std::vector<std::shared_ptr<Connection>> all;
  {
    std::lock_guard lock(impl_->mu);
    for (auto& w : impl_->conns)
      if (auto c = w.lock()) all.push_back(std::move(c));
    for (auto& s : impl_->slots) {
      s.live.reset();
      s.redial.cancel();
    }
  }
  for (auto& c : all) c->close_socket_after_join();
}

Status PeerTransport::inject_fault_for_test(std::size_t peer, TestFault fault) {
  auto conn = peer < impl_->slots.size() ? impl_->live(peer) : nullptr;
  if (!conn) return Status::error("PEER_NOT_CONNECTED", "peer " + std::to_string(peer));
  conn->inject(fault);
  return Status::ok();
}

}  // namespace emledger::node
