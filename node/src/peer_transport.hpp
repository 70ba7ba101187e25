// The authenticated, encrypted transport between validators
// (docs/formats/peer-wire.md, docs/adr/013-peer-transport.md).
//
// Validators talk over WebSocket (Boost.Beast, inside peer_ws.cpp only: this
// header stays Beast-free so the rest of the node compiles without it). Each
// connection starts with a handshake in which both sides prove their
// validator keys (Ed25519 signatures over a transcript that binds the chain
// id, both ephemeral X25519 keys, both identities and the roles) and derive
// one session key per direction (libsodium crypto_kx). Every later frame is
// XChaCha20-Poly1305 under that key with a per-direction counter as nonce, so
// a tampered, replayed, reordered or dropped frame closes the connection.
//
// Delivery is best effort: a message sent while a peer is disconnected, or
// queued on a connection that then closes, is lost. Consensus retransmits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "emledger/crypto/ed25519.hpp"
#include "emledger/crypto/kx.hpp"
#include "emledger/crypto/result.hpp"
#include "emledger/ledger/encoding.hpp"
#include "emledger/ledger/limits.hpp"
#include "emledger/ledger/types.hpp"
#include "emledger/ledger/validator_set.hpp"

namespace emledger::node {

// ---- Named limits (docs/formats/peer-wire.md, "Limits") ----

// Largest message (plaintext) one frame carries: a full block (kBlockTxsMax
// transactions of kTxBytesMax) with 4 MiB to spare for its header,
// certificates and the consensus message around it.
inline constexpr std::size_t kPeerMessageBytesMax = 36u << 20;
static_assert(ledger::kBlockTxsMax * ledger::kTxBytesMax + (4u << 20) <= kPeerMessageBytesMax);
// Frame = u8 kind || u64 counter || ciphertext || 16-byte tag.
inline constexpr std::size_t kPeerFrameHeaderBytes = 1 + 8;
inline constexpr std::size_t kPeerFrameOverheadBytes = kPeerFrameHeaderBytes + crypto::kAeadTagSize;
inline constexpr std::size_t kPeerFrameBytesMax = kPeerMessageBytesMax + kPeerFrameOverheadBytes;
// Largest handshake message; the real ones are under 200 bytes.
inline constexpr std::size_t kPeerHandshakeBytesMax = 512;
// Inbound rate per peer (token buckets holding one second's worth). A peer
// over either limit is disconnected: honest traffic stays far below.
inline constexpr std::uint32_t kPeerFramesPerSecondMax = 2000;
inline constexpr std::uint64_t kPeerBytesPerSecondMax = 64u << 20;
static_assert(kPeerBytesPerSecondMax >= kPeerFrameBytesMax, "one largest frame must fit");
// Outbound queue per peer; a peer that falls this far behind is disconnected.
inline constexpr std::size_t kPeerSendQueueFramesMax = 4096;
inline constexpr std::size_t kPeerSendQueueBytesMax = 128u << 20;
static_assert(kPeerSendQueueBytesMax >= kPeerMessageBytesMax, "one largest message must fit");
// Time from TCP connect to an established session.
inline constexpr std::uint64_t kPeerHandshakeTimeoutMs = 5'000;
// A connection with nothing received for this long is closed; WebSocket
// pings are sent after half of it.
inline constexpr std::uint64_t kPeerIdleTimeoutMs = 20'000;
// Redial delay after a failed or lost connection: doubles from min to max,
// with jitter, and returns to min once a session is established.
inline constexpr std::uint64_t kPeerReconnectBackoffMinMs = 100;
inline constexpr std::uint64_t kPeerReconnectBackoffMaxMs = 5'000;
static_assert(kPeerReconnectBackoffMinMs <= kPeerReconnectBackoffMaxMs);
inline constexpr std::size_t kPeersMax = ledger::kValidatorsMax;
// Inbound connections still in their handshake; more are closed at accept
// (TOO_MANY_HANDSHAKES), so unauthenticated sockets cannot pile up.
inline constexpr std::size_t kPeerInboundHandshakesMax = 2 * kPeersMax;
// The WebSocket request target of the peer endpoint.
inline constexpr std::string_view kPeerWsTarget = "/v1/peer";

// ---- Wire messages (canonical encoding, docs/formats/encoding.md) ----
namespace peer_wire {

enum class Role : std::uint8_t { kClient = 1, kServer = 2 };

// First message, client to server.
struct ClientHello {
  static constexpr std::string_view kDomain = "emledger.peer.client-hello";
  static constexpr std::uint8_t kVersion = 1;
  std::string chain_id;
  crypto::PublicKey validator{};    // the client's Ed25519 validator key
  crypto::KxPublicKey ephemeral{};  // the client's X25519 key for this connection
  template <class V>
  void describe(V& v) {
    v.str(chain_id, ledger::kChainIdBytesMax);
    v.fixed(validator);
    v.fixed(ephemeral);
  }
};

// Second message, server to client; signature = Ed25519 of the server's
// transcript (Role::kServer) under `validator`.
struct ServerHello {
  static constexpr std::string_view kDomain = "emledger.peer.server-hello";
  static constexpr std::uint8_t kVersion = 1;
  std::string chain_id;
  crypto::PublicKey validator{};
  crypto::KxPublicKey ephemeral{};
  crypto::Signature signature{};
  template <class V>
  void describe(V& v) {
    v.str(chain_id, ledger::kChainIdBytesMax);
    v.fixed(validator);
    v.fixed(ephemeral);
    v.fixed(signature);
  }
};

// Third message, client to server: the client's transcript signature.
struct ClientAuth {
  static constexpr std::string_view kDomain = "emledger.peer.client-auth";
  static constexpr std::uint8_t kVersion = 1;
  crypto::Signature signature{};
  template <class V>
  void describe(V& v) {
    v.fixed(signature);
  }
};

// What each side signs; `signer` is the role of the side that signs, so a
// server's signature can never pass for a client's.
struct Transcript {
  static constexpr std::string_view kDomain = "emledger.peer.transcript";
  static constexpr std::uint8_t kVersion = 1;
  std::uint8_t signer = 0;  // a Role
  std::string chain_id;
  crypto::PublicKey client_validator{};
  crypto::PublicKey server_validator{};
  crypto::KxPublicKey client_ephemeral{};
  crypto::KxPublicKey server_ephemeral{};
  template <class V>
  void describe(V& v) {
    v.u8(signer);
    v.str(chain_id, ledger::kChainIdBytesMax);
    v.fixed(client_validator);
    v.fixed(server_validator);
    v.fixed(client_ephemeral);
    v.fixed(server_ephemeral);
  }
};

// encode(Transcript{signer, ...}): the exact bytes signed.
Bytes transcript_bytes(Role signer, const std::string& chain_id,
                       const crypto::PublicKey& client_validator,
                       const crypto::PublicKey& server_validator,
                       const crypto::KxPublicKey& client_ephemeral,
                       const crypto::KxPublicKey& server_ephemeral);

inline constexpr std::uint8_t kFrameKindData = 0x01;

// The two directions of an established session. Not thread safe: each
// connection uses its own from its own strand.
class Channel {
 public:
  explicit Channel(const crypto::SessionKeys& keys) : keys_(keys) {}
  // frame = kind || u64 counter (big-endian) || XChaCha20-Poly1305(tx key,
  //         nonce = 16 zero bytes || u64 counter, aad = kind || counter, message)
  // The send counter starts at 0 and goes up by one per frame.
  Bytes seal(ByteView message);
  // The message of the next frame. Errors: FRAME_MALFORMED (shorter than a
  // header and tag, or an unknown kind), FRAME_OUT_OF_ORDER (the counter is
  // not the next expected one: replayed, reordered or dropped), FRAME_AUTH_FAILED
  // (tampered, or sealed under another key).
  Result<Bytes> open(ByteView frame);
  std::uint64_t sent() const { return send_counter_; }
  std::uint64_t received() const { return recv_counter_; }

 private:
  crypto::SessionKeys keys_;
  std::uint64_t send_counter_ = 0;
  std::uint64_t recv_counter_ = 0;
};

// A token bucket: `rate` tokens per second up to `capacity`, full at start.
// Time comes from the caller (milliseconds, monotonic). Not thread safe.
class TokenBucket {
 public:
  TokenBucket(double rate_per_s, double capacity) : rate_(rate_per_s), capacity_(capacity) {}
  // Takes `amount` tokens if that many are there; false (and takes none) if not.
  bool take(double amount, std::uint64_t now_ms);

 private:
  double rate_;
  double capacity_;
  double tokens_ = -1;  // -1: not started; filled to capacity at first use
  std::uint64_t last_ms_ = 0;
};

}  // namespace peer_wire

// ---- The transport ----

// One validator as the transport sees it.
struct PeerInfo {
  crypto::PublicKey public_key{};
  std::string address;  // "host:port", numeric IP (parse_listen_address)
};
// The genesis validators in genesis order: peer indexes are positions in it.
std::vector<PeerInfo> peers_from_genesis(const ledger::Genesis& genesis);
// The validators of one epoch's set in index order (a validator's transport
// follows the set in force, docs/validator-set-changes.md section 2).
std::vector<PeerInfo> peers_from_set(const ledger::ValidatorSet& set);

// Per-peer limits, defaulting to the named constants; a configuration may
// only lower them (start() refuses higher values).
struct PeerLimits {
  std::size_t message_bytes_max = kPeerMessageBytesMax;
  std::uint32_t frames_per_second = kPeerFramesPerSecondMax;
  std::uint64_t bytes_per_second = kPeerBytesPerSecondMax;
  std::size_t send_queue_frames_max = kPeerSendQueueFramesMax;
  std::size_t send_queue_bytes_max = kPeerSendQueueBytesMax;
};

struct PeerTransportConfig {
  std::string chain_id;
  std::optional<crypto::KeyPair> key;  // this validator's key; must be in `validators`
  std::vector<PeerInfo> validators;    // at most kPeersMax, keys distinct
  // Where to listen, "host:port"; empty: this validator's own address.
  std::string listen;
  unsigned threads = 2;  // I/O threads
  PeerLimits limits;
  // Called with each message received from an authenticated peer, on an I/O
  // thread: messages of one connection in order and one at a time, those of
  // different peers concurrently. May call send() and broadcast(). Must not
  // block for long: reading from that peer waits for it.
  std::function<void(std::size_t peer, Bytes message)> on_message;
  // Connection events and the reasons connections are refused or closed
  // ("CODE: detail", codes in docs/formats/peer-wire.md). Called from I/O
  // threads, possibly concurrently. Empty: written to stderr.
  std::function<void(const std::string& line)> on_log;
  // Dial every peer and accept every peer, whatever their indexes. For a
  // joiner (snapshot_join.hpp) whose key a change of set added: it lists
  // itself after the genesis validators, while in the peers' own lists (the
  // set in force) it may sit anywhere, and only they know which side dials.
  // A dial the peer refuses (WRONG_DIRECTION) is retried with backoff.
  bool any_direction = false;
  // Test only (tests/node/peer_transport_test.cpp): sign handshake
  // transcripts with this key instead of `key`, to check that peers refuse.
  std::optional<crypto::KeyPair> transcript_key_for_test;
};

// Thread safety: every method may be called from any thread, concurrently,
// including from inside on_message, except that stop() (and the destructor)
// must not be called from inside a callback.
class PeerTransport {
 public:
  // Binds the listen address, starts the I/O threads and dials every peer
  // whose index is above this validator's own (the lower index dials, so each
  // pair has one connection; a newer authenticated connection from the same
  // peer replaces the older one). Errors: PEER_CONFIG_INVALID (own key not a
  // validator, duplicate keys, a bad address, limits above the constants,
  // no on_message), LISTEN_FAILED.
  static Result<std::unique_ptr<PeerTransport>> start(PeerTransportConfig config);
  ~PeerTransport();  // stop()s

  std::size_t self_index() const;
  std::size_t peer_count() const;  // including self
  std::uint16_t port() const;      // the bound port

  // Queues `message` for `peer`. Errors: PEER_UNKNOWN (index out of range or
  // self), MESSAGE_TOO_LARGE (above limits.message_bytes_max), PEER_NOT_CONNECTED,
  // PEER_QUEUE_FULL (the queue bound is reached: the connection is closed and
  // will be redialled).
  Status send(std::size_t peer, Bytes message);
  // send() to every connected peer; returns how many queued it.
  std::size_t broadcast(const Bytes& message);
  // True while an authenticated session with `peer` is open.
  bool connected(std::size_t peer) const;
  std::size_t connected_count() const;

  // Closes the listener and every connection, stops redialling and joins the
  // I/O threads; no callback runs after it returns. Idempotent.
  void stop();

  // Test only: a fault in the next frame written to `peer` (kOversizedFrame:
  // a frame one byte above the limit, sent at once). Errors: PEER_NOT_CONNECTED.
  enum class TestFault { kFlipCiphertextByte, kReplayFrame, kOversizedFrame };
  Status inject_fault_for_test(std::size_t peer, TestFault fault);

  struct Impl;

 private:
  explicit PeerTransport(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace emledger::node
