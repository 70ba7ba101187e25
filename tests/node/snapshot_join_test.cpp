// The joining side of snapshot fetch (node/src/snapshot_join.hpp) against
// fake peers on real loopback transports: validators 0-2 of a four-validator
// genesis are bare PeerTransports that answer SnapshotRequests from byte
// buffers (one lies with a tampered snapshot, one has nothing to serve, one
// serves the real file), validator 3 joins. It must refuse the lie, pass over
// the empty one and restore the real snapshot.
#include "snapshot_join.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <functional>
#include <mutex>

#include "../support/free_port.hpp"
#include "block_fetch.hpp"
#include "node_test_util.hpp"
#include "snapshots.hpp"

using namespace emledger;
using namespace emledger::node;
using namespace emledger::node::test;

namespace {

constexpr std::size_t kValidators = 4;
constexpr std::size_t kJoiner = 3;

crypto::KeyPair key_from(std::uint8_t n) {
  crypto::Seed seed{};
  seed.fill(n);
  return crypto::KeyPair::from_seed(seed);
}

// A four-validator chain of a few certified blocks in a LevelDB of its own,
// written to a snapshot file.
struct Chain {
  std::vector<crypto::KeyPair> validators;
  crypto::KeyPair issuer = key_from(9);
  ledger::Genesis genesis;
  ledger::ChainHead head;
  std::string snapshot;  // the file's bytes, at head
  std::string older;     // a snapshot of height head - 1

  explicit Chain(const TempDir& dir) {
    genesis.chain_id = "emledger-test-join";
    genesis.time_ms = 1'700'000'000'000;
    genesis.orgs.push_back(test_org("a.issuer", ledger::kRoleIssuer, issuer));
    for (std::size_t i = 0; i < kValidators; ++i) {
      validators.push_back(key_from(static_cast<std::uint8_t>(20 + i)));
      const std::string org = "v" + std::to_string(i) + ".node";
      genesis.orgs.push_back(test_org(org, ledger::kRoleValidator, validators.back()));
      genesis.validators.push_back(
          ledger::Validator{org, validators.back().public_key(),
                            "127.0.0.1:" + std::to_string(testing::free_loopback_port())});
    }
    REQUIRE(genesis.check().is_ok());
    auto store = ledger::open_leveldb(dir.str("chain"));
    REQUIRE(store.is_ok());
    auto l = ledger::Ledger::open(std::move(*store), genesis);
    REQUIRE(l.is_ok());
    for (std::uint64_t h = 1; h <= 3; ++h) {
      std::vector<ledger::TxOutcome> outcomes;
      auto p =
          (*l)->prepare({register_tx(genesis.chain_id, "a.issuer", issuer, random_hash())},
                        genesis.time_ms + h * 1000, h, validators[0].public_key(), false, outcomes);
      REQUIRE_MESSAGE(p.is_ok(), p.status().to_string());
      ledger::Certificate cert;
      for (std::uint16_t i = 0; i < 3; ++i)
        ledger::sign_certificate(genesis, p->block.header, i, validators[i], cert);
      REQUIRE((*l)->commit(*p, cert).is_ok());
      if (h == 2) older = write(**l, dir.str("older.snapshot"));
    }
    head = (*l)->head();
    snapshot = write(**l, dir.str("chain.snapshot"));
  }

  static std::string write(const ledger::Ledger& l, const std::string& path) {
    REQUIRE(write_snapshot_file(l, path).is_ok());
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
};

// What a fake peer serves: `bytes` as the snapshot of `height`
// (kUnavailable when empty), in chunks of `chunk_bytes`; after
// `switch_after` answers, `then_bytes` of `then_height` instead (its
// snapshot moved on); the `drop`-th request (1-based; 0: none) goes
// unanswered.
struct Serving {
  std::string bytes;
  std::uint64_t height = 0;
  std::size_t chunk_bytes = kSnapshotChunkBytesMax;
  int switch_after = 0;
  std::string then_bytes;
  std::uint64_t then_height = 0;
  int drop = 0;
  // While set and false, the peer answers kUnavailable (so a test can order
  // which peer serves first, whatever order the peers connected in).
  std::function<bool()> gate;
};

// Validator `index` of the chain as a peer that answers SnapshotRequests as
// `serving` says, whatever it holds.
class FakeServer {
 public:
  FakeServer(const Chain& c, std::size_t index, Serving serving) : serving_(std::move(serving)) {
    PeerTransportConfig tc;
    tc.chain_id = c.genesis.chain_id;
    tc.key = c.validators[index];
    tc.validators = peers_from_genesis(c.genesis);
    tc.on_message = [this](std::size_t peer, Bytes message) { answer(peer, message); };
    tc.on_log = [](const std::string&) {};
    auto t = PeerTransport::start(std::move(tc));
    REQUIRE_MESSAGE(t.is_ok(), t.status().to_string());
    transport_ = std::move(*t);
    ready_ = transport_.get();
  }
  ~FakeServer() { transport_->stop(); }
  int requests() const { return requests_.load(); }

 private:
  // Messages of one peer come one at a time (PeerTransport), so only the
  // counter needs to be atomic.
  void answer(std::size_t peer, const Bytes& message) {
    // A request that arrives before start() returned goes unanswered (the
    // joiner asks again).
    if (ready_.load() == nullptr || leading_domain(message) != SnapshotRequest::kDomain) return;
    auto req = ledger::decode<SnapshotRequest>(message);
    if (!req) return;
    const int n = ++requests_;
    if (n == serving_.drop) return;
    const bool moved = serving_.switch_after > 0 && n > serving_.switch_after;
    const std::string& bytes = moved ? serving_.then_bytes : serving_.bytes;
    SnapshotChunk c;
    c.offset = req->offset;
    if (bytes.empty() || (serving_.gate && !serving_.gate())) {
      c.state = static_cast<std::uint8_t>(SnapshotState::kUnavailable);
    } else {
      c.state = static_cast<std::uint8_t>(SnapshotState::kReady);
      c.height = moved ? serving_.then_height : serving_.height;
      c.total_bytes = bytes.size();
      const std::size_t at = std::min<std::size_t>(req->offset, bytes.size());
      const std::size_t len = std::min(serving_.chunk_bytes, bytes.size() - at);
      c.data.assign(bytes.begin() + at, bytes.begin() + at + len);
    }
    (void)ready_.load()->send(peer, ledger::encode(c));
  }

  const Serving serving_;
  std::atomic<int> requests_{0};
  std::unique_ptr<PeerTransport> transport_;
  std::atomic<PeerTransport*> ready_{nullptr};
};

}  // namespace

TEST_CASE(
    "snapshot join: a lying peer's snapshot is refused, a peer without one is passed over, "
    "and an honest peer's is restored") {
  TempDir dir;
  const Chain chain(dir);
  std::string tampered = chain.snapshot;
  tampered[tampered.size() / 2] = static_cast<char>(tampered[tampered.size() / 2] ^ 0x01);

  // The honest peer serves only once the joiner has asked the other two (it
  // asks whichever is connected, starting after itself).
  FakeServer liar(chain, 0, Serving{.bytes = tampered, .height = chain.head.height});
  FakeServer empty(chain, 1, Serving{});
  FakeServer honest(chain, 2,
                    Serving{.bytes = chain.snapshot, .height = chain.head.height, .gate = [&] {
                              return liar.requests() > 0 && empty.requests() > 0;
                            }});

  const Identity me{chain.genesis, chain.validators[kJoiner], kJoiner};
  JoinOptions jo;
  jo.data_dir = dir.str("joiner");
  jo.timeout_ms = 60'000;
  auto info = join_from_snapshot(me, jo);
  REQUIRE_MESSAGE(info.is_ok(), info.status().to_string());
  CHECK(info->height == chain.head.height);
  CHECK(info->header_hash == chain.head.header_hash);
  CHECK(liar.requests() > 0);
  CHECK(empty.requests() > 0);
  CHECK(honest.requests() > 0);
  CHECK_FALSE(fs::exists(dir.str("joiner/snapshot-download")));
  CHECK_FALSE(fs::exists(db_import_path(jo.data_dir)));

  auto store = ledger::open_leveldb(db_path(jo.data_dir));
  REQUIRE(store.is_ok());
  auto l = ledger::Ledger::open(std::move(*store), chain.genesis);
  REQUIRE(l.is_ok());
  CHECK((*l)->head().header_hash == chain.head.header_hash);
  CHECK((*l)->base_height() == chain.head.height);
}

TEST_CASE("snapshot join: with only liars, the join gives up at its timeout and leaves no ledger") {
  TempDir dir;
  const Chain chain(dir);
  std::string tampered = chain.snapshot;
  tampered[tampered.size() / 3] = static_cast<char>(tampered[tampered.size() / 3] ^ 0x01);
  FakeServer liar(chain, 0, Serving{.bytes = tampered, .height = chain.head.height});

  const Identity me{chain.genesis, chain.validators[kJoiner], kJoiner};
  JoinOptions jo;
  jo.data_dir = dir.str("joiner");
  jo.timeout_ms = 3'000;
  auto info = join_from_snapshot(me, jo);
  REQUIRE_FALSE(info.is_ok());
  CHECK(info.status().code() == "JOIN_TIMEOUT");
  CHECK(liar.requests() > 0);
  CHECK_FALSE(fs::exists(db_path(jo.data_dir)));
  CHECK_FALSE(fs::exists(dir.str("joiner/snapshot-download")));

  // A stop request ends the wait early.
  jo.timeout_ms = 600'000;
  jo.stop_requested = [] { return true; };
  auto stopped = join_from_snapshot(me, jo);
  REQUIRE_FALSE(stopped.is_ok());
  CHECK(stopped.status().code() == "CANCELLED");
}

TEST_CASE(
    "snapshot join: small chunks, a lost answer asked again at its offset, and a snapshot "
    "that moves to a newer height halfway") {
  TempDir dir;
  const Chain chain(dir);
  constexpr std::size_t kChunk = 700;
  REQUIRE(chain.older.size() > 4 * kChunk);
  // Three chunks of the older snapshot, then the newer one; the first
  // request for the newer one (the 5th) is lost.
  FakeServer peer(chain, 0,
                  Serving{.bytes = chain.older,
                          .height = chain.head.height - 1,
                          .chunk_bytes = kChunk,
                          .switch_after = 3,
                          .then_bytes = chain.snapshot,
                          .then_height = chain.head.height,
                          .drop = 5});
  const Identity me{chain.genesis, chain.validators[kJoiner], kJoiner};
  JoinOptions jo;
  jo.data_dir = dir.str("joiner");
  jo.timeout_ms = 60'000;
  auto info = join_from_snapshot(me, jo);
  REQUIRE_MESSAGE(info.is_ok(), info.status().to_string());
  CHECK(info->height == chain.head.height);
  CHECK(info->header_hash == chain.head.header_hash);
  // 4 requests before the move, the lost one, then every chunk of the newer.
  const int chunks = static_cast<int>((chain.snapshot.size() + kChunk - 1) / kChunk);
  CHECK(peer.requests() == 4 + 1 + chunks);
}
