// The Validator adapter in process: four validators on loopback peer
// transports, each with its own LevelDB ledger, mempool and vote WAL. Also
// the pieces it adds: the mempool's return_to_pending, the block fetch
// response check, and equivocation evidence submitted and listed.
#include "validator.hpp"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <functional>
#include <set>
#include <thread>

#include "../support/free_port.hpp"
#include "api.hpp"
#include "emledger/crypto/sha256.hpp"
#include "emledger/ledger/votes.hpp"
#include "node_test_util.hpp"
#include "scripted_peer.hpp"

using namespace emledger;
using namespace emledger::node;

namespace {

int free_port() { return testing::free_loopback_port(); }

struct Net {
  ledger::Genesis genesis;
  crypto::KeyPair issuer = crypto::KeyPair::generate();
  std::vector<crypto::KeyPair> keys;
  explicit Net(std::size_t n) {
    genesis.chain_id = "validator-test";
    genesis.time_ms = 1'700'000'000'000;
    ledger::Org o;
    o.id = "a.issuer";
    o.region = "t";
    o.roles = ledger::kRoleIssuer;
    o.keys.push_back(ledger::OrgKey{1, issuer.public_key()});
    genesis.orgs.push_back(o);
    for (std::size_t i = 0; i < n; ++i) {
      keys.push_back(crypto::KeyPair::generate());
      ledger::Org v;
      v.id = "b.v" + std::to_string(i);
      v.region = "t";
      v.roles = ledger::kRoleValidator;
      v.keys.push_back(ledger::OrgKey{1, keys.back().public_key()});
      genesis.orgs.push_back(v);
      genesis.validators.push_back(ledger::Validator{v.id, keys.back().public_key(),
                                                     "127.0.0.1:" + std::to_string(free_port())});
    }
    REQUIRE(genesis.check().is_ok());
  }
  ledger::Tx tx(std::uint64_t n) const {
    ledger::RegisterRecord r;
    r.body.kind = static_cast<std::uint8_t>(ledger::RecordKind::kMaterial);
    r.body.type_code = "t.material";
    r.body.holder_ref = crypto::sha256(as_bytes("holder"));
    r.body.content_hash = crypto::sha256(as_bytes("t-" + std::to_string(n)));
    r.body.size_bytes = n + 1;
    ledger::TxBody b = ledger::make_body(ledger::TxType::kRegisterRecord, r);
    b.chain_id = genesis.chain_id;
    b.signer_org = "a.issuer";
    b.key_id = 1;
    b.expires_at_height = 50'000;
    b.nonce = n;
    return ledger::sign_tx(std::move(b), issuer);
  }
};

// One validator's process state, in process.
struct Member {
  std::string dir;
  std::unique_ptr<ledger::Ledger> ledger;
  std::unique_ptr<Mempool> mempool;
  std::unique_ptr<Validator> validator;
  std::uint32_t sync_blocks_per_request = kSyncBlocksPerRequestMax;
  std::uint64_t view_timeout_ms = 500;
  void start(const Net& net, std::size_t i) {
    std::filesystem::create_directories(dir);
    auto store = ledger::open_leveldb(dir + "/db");
    REQUIRE(store.is_ok());
    auto l = ledger::Ledger::open(std::move(*store), net.genesis);
    REQUIRE(l.is_ok());
    ledger = std::move(*l);
    mempool = std::make_unique<Mempool>();
    ValidatorConfig vc;
    vc.data_dir = dir;
    vc.view_timeout_ms = view_timeout_ms;
    vc.view_timeout_max_ms = std::max<std::uint64_t>(vc.view_timeout_ms, 60'000);
    vc.rebroadcast_ms = 250;
    vc.empty_block_delay_ms = 50;
    vc.sync_blocks_per_request = sync_blocks_per_request;
    auto v = Validator::start(*ledger, *mempool, net.keys[i], vc);
    REQUIRE_MESSAGE(v.is_ok(), v.status().to_string());
    validator = std::move(*v);
  }
  void stop() {
    mempool->close();
    validator->stop();
    mempool->fail_pending(Status::error("SHUTTING_DOWN", "test"));
    validator.reset();
    mempool.reset();
    ledger.reset();
  }
};

// Validators 0..count-1 of `net`, each started in its own directory of `tmp`.
std::vector<Member> start_members(
    const Net& net, test::TempDir& tmp, std::size_t count,
    std::uint32_t sync_blocks_per_request = kSyncBlocksPerRequestMax) {
  std::vector<Member> members(count);
  for (std::size_t i = 0; i < count; ++i) {
    members[i].dir = tmp.str("v" + std::to_string(i));
    members[i].sync_blocks_per_request = sync_blocks_per_request;
    members[i].start(net, i);
  }
  return members;
}

// What the waiters of the test's transactions heard.
struct Outcomes {
  std::atomic<int> committed{0};
  std::atomic<int> failed{0};
  std::mutex mu;
  std::vector<TxResult> results;
  TxWaiter waiter() {
    return [this](const TxResult& r) {
      ++(r.status.is_ok() ? committed : failed);
      std::lock_guard lock(mu);
      results.push_back(r);
    };
  }
  // The first failure, for a message; empty if none.
  std::string first_error() {
    std::lock_guard lock(mu);
    for (const auto& r : results)
      if (!r.status.is_ok()) return r.status.to_string();
    return {};
  }
};

}  // namespace

TEST_CASE("mempool: return_to_pending puts transactions back in front, with their waiters") {
  Mempool pool(/*txs_max=*/4);
  auto id = [](std::uint8_t n) {
    Hash h{};
    h[0] = n;
    return h;
  };
  int told = 0;
  REQUIRE(pool.add(ledger::Tx{}, id(1), [&](const TxResult&) { ++told; }).is_ok());
  REQUIRE(pool.add(ledger::Tx{}, id(2), nullptr).is_ok());
  REQUIRE(pool.add(ledger::Tx{}, id(3), nullptr).is_ok());
  auto batch = pool.try_take(2);
  REQUIRE(batch.size() == 2);
  CHECK(pool.in_flight_count() == 2);
  pool.return_to_pending(std::move(batch));
  CHECK(pool.in_flight_count() == 0);
  CHECK(pool.pending_count() == 3);
  auto again = pool.try_take(3);
  REQUIRE(again.size() == 3);
  CHECK(again[0].id == id(1));
  CHECK(again[1].id == id(2));
  CHECK(again[2].id == id(3));
  pool.complete({TxResult{id(1), Status::ok(), 1, 0}, TxResult{id(2), Status::ok(), 1, 1},
                 TxResult{id(3), Status::ok(), 1, 2}});
  CHECK(told == 1);
}

TEST_CASE("block fetch: a response whose parent header is not the block's parent is refused") {
  ledger::Block b;
  b.header.chain_id = "c";
  b.header.height = 2;
  b.header.parent = crypto::sha256(as_bytes("parent"));
  ledger::BlockHeader parent;
  parent.chain_id = "c";
  parent.height = 1;
  parent.view = 7;
  BlockResponse resp;
  resp.block = ledger::encode(b);
  resp.parent_header = ledger::encode(parent);
  auto r = check_block_response(resp);
  CHECK(r.status().code() == "FETCH_MISMATCH");
  resp.parent_header.clear();
  CHECK(check_block_response(resp).status().code() == "FETCH_MISMATCH");
  // With the right parent the parent's view is taken from its header.
  b.header.parent = parent.hash();
  resp.block = ledger::encode(b);
  resp.parent_header = ledger::encode(parent);
  auto ok = check_block_response(resp);
  REQUIRE(ok.is_ok());
  CHECK(ok->parent_view == 7);
  CHECK(ok->digest == b.header.hash());
  CHECK(leading_domain(ledger::encode(BlockRequest{1, Hash{}})) == BlockRequest::kDomain);
}

TEST_CASE("validator: four validators commit every transaction; a stopped one catches up") {
  Net net(4);
  test::TempDir tmp;
  std::vector<Member> members = start_members(net, tmp, 4);
  Outcomes out;
  std::atomic<int>& committed = out.committed;
  for (std::uint64_t n = 0; n < 40; ++n) {
    auto tx = net.tx(n);
    REQUIRE(
        members[n % 4].mempool->add(tx, crypto::sha256(ledger::encode(tx)), out.waiter()).is_ok());
  }
  REQUIRE_MESSAGE(test::eventually([&] { return committed.load() == 40; }, 20'000),
                  "committed " << committed.load() << ", failed " << out.failed.load() << ": "
                               << out.first_error());
  CHECK(out.failed.load() == 0);

  // Validator 3 stops; three of four are a quorum and go on without it.
  const std::uint64_t h_stop = members[3].ledger->head().height;
  members[3].stop();
  for (std::uint64_t n = 40; n < 52; ++n) {
    auto tx = net.tx(n);
    REQUIRE(
        members[n % 3].mempool->add(tx, crypto::sha256(ledger::encode(tx)), out.waiter()).is_ok());
  }
  REQUIRE(test::eventually([&] { return committed.load() == 52; }, 20'000));
  const std::uint64_t h_missed = members[0].ledger->head().height;
  CHECK(h_missed > h_stop);

  // Back, from the same ledger and vote WAL: it fetches what it missed.
  members[3].start(net, 3);
  REQUIRE_MESSAGE(
      test::eventually([&] { return members[3].ledger->head().height >= h_missed; }, 20'000),
      "stayed at " << members[3].ledger->head().height);
  CHECK(members[3].validator->stats().blocks_fetched > 0);
  const auto h3 = members[3].ledger->header(h_missed);
  const auto h0 = members[0].ledger->header(h_missed);
  REQUIRE((h3.is_ok() && h0.is_ok() && h3->has_value() && h0->has_value()));
  CHECK((*h3)->hash() == (*h0)->hash());
  for (auto& m : members) m.stop();
}

TEST_CASE("validator: one left far behind syncs ranges of final blocks, then follows again") {
  constexpr std::uint32_t kPerRequest = 16;
  Net net(4);
  test::TempDir tmp;
  std::vector<Member> members = start_members(net, tmp, 4, kPerRequest);
  REQUIRE(test::eventually([&] { return members[3].ledger->head().height >= 3; }, 20'000));
  const std::uint64_t h_stop = members[3].ledger->head().height;
  members[3].stop();
  // The other three go on (empty blocks with nothing to do) for a few range
  // requests' worth of blocks (small requests keep the test quick).
  const std::uint64_t missed = 4 * kPerRequest;
  REQUIRE_MESSAGE(test::eventually(
                      [&] { return members[0].ledger->head().height >= h_stop + missed; }, 120'000),
                  "the three stayed at " << members[0].ledger->head().height);
  const std::uint64_t h_missed = members[0].ledger->head().height;

  members[3].start(net, 3);
  REQUIRE_MESSAGE(
      test::eventually([&] { return members[3].ledger->head().height >= h_missed; }, 30'000),
      "stayed at " << members[3].ledger->head().height);
  const ValidatorStats s = members[3].validator->stats();
  // At least one whole range came by range sync (the consensus core's own
  // fetch walk races it, one block per round trip, so how many more depends
  // on the machine's load).
  CHECK(s.blocks_synced >= kPerRequest);
  for (std::uint64_t h : {h_stop + 1, h_stop + missed / 2, h_missed}) {
    const auto h3 = members[3].ledger->header(h);
    const auto h0 = members[0].ledger->header(h);
    REQUIRE((h3.is_ok() && h0.is_ok() && h3->has_value() && h0->has_value()));
    CHECK((*h3)->hash() == (*h0)->hash());
  }
  // And it takes part again: a transaction given to it commits everywhere.
  std::atomic<int> committed{0};
  auto tx = net.tx(7);
  REQUIRE(members[3]
              .mempool
              ->add(tx, crypto::sha256(ledger::encode(tx)),
                    [&](const TxResult& r) { committed += r.status.is_ok() ? 1 : 0; })
              .is_ok());
  CHECK(test::eventually([&] { return committed.load() == 1; }, 20'000));
  for (auto& m : members) m.stop();
}

TEST_CASE("validator: transactions submitted to one validator are proposed by the others too") {
  Net net(4);
  test::TempDir tmp;
  std::vector<Member> members = start_members(net, tmp, 4);
  Outcomes out;
  std::atomic<int>& committed = out.committed;
  std::atomic<int>& failed = out.failed;
  std::mutex& mu = out.mu;
  std::vector<TxResult>& results = out.results;
  // Steady submissions to validator 0 alone, across many views: without
  // gossip they could only ever be in validator 0's blocks.
  constexpr int kTxs = 120;
  for (int n = 0; n < kTxs; ++n) {
    auto tx = net.tx(static_cast<std::uint64_t>(n));
    REQUIRE(members[0].mempool->add(tx, crypto::sha256(ledger::encode(tx)), out.waiter()).is_ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE_MESSAGE(
      test::eventually([&] { return committed.load() + failed.load() == kTxs; }, 30'000),
      "committed " << committed.load() << ", failed " << failed.load());
  // Never DUPLICATE_TX for one another leader committed.
  CHECK_MESSAGE(failed.load() == 0, "a transaction failed: " << out.first_error());
  std::uint64_t received = 0;
  for (std::size_t i = 1; i < 4; ++i) received += members[i].validator->stats().gossip_received;
  CHECK(received > 0);
  // Each waiter's position is right, and some blocks holding them were
  // proposed by other validators.
  std::set<std::size_t> proposers;
  {
    std::lock_guard lock(mu);
    for (const auto& r : results) {
      auto b = members[0].ledger->block(r.height);
      REQUIRE((b.is_ok() && b->has_value()));
      const auto entry = members[0].ledger->tx_entry(r.id);
      REQUIRE((entry.is_ok() && entry->has_value()));
      CHECK((*entry)->height == r.height);
      CHECK((*entry)->log_index == r.log_index);
      for (std::size_t i = 0; i < 4; ++i)
        if ((*b)->header.proposer == net.keys[i].public_key()) proposers.insert(i);
    }
  }
  CHECK(proposers.size() >= 2);
  CHECK(proposers.count(1) + proposers.count(2) + proposers.count(3) > 0);
  // Every validator's mempool is empty again: what the others held was
  // completed by the commits, not left to be proposed twice.
  CHECK(test::eventually(
      [&] {
        for (auto& m : members)
          if (m.mempool->pending_count() != 0 || m.mempool->in_flight_count() != 0) return false;
        return true;
      },
      10'000));
  for (auto& m : members) m.stop();
}

// A genesis validator that is not an emledger node: only a peer transport
// with validator 3's key, through which the test sends what it likes.
struct FakePeer {
  std::unique_ptr<PeerTransport> transport;
  FakePeer(const Net& net, std::size_t i) {
    PeerTransportConfig tc;
    tc.chain_id = net.genesis.chain_id;
    tc.key = net.keys[i];
    tc.validators = peers_from_genesis(net.genesis);
    tc.on_message = [](std::size_t, Bytes) {};
    tc.on_log = [](const std::string&) {};
    auto t = PeerTransport::start(std::move(tc));
    REQUIRE_MESSAGE(t.is_ok(), t.status().to_string());
    transport = std::move(*t);
  }
  ~FakePeer() { transport->stop(); }
};

TEST_CASE("validator: an equivocation seen from a peer is submitted once, recorded and listed") {
  Net net(4);
  test::TempDir tmp;
  std::vector<Member> members = start_members(net, tmp, 3);  // 0, 1, 2: a quorum of 3 of 4
  FakePeer fake(net, 3);
  // The network makes blocks without validator 3.
  REQUIRE(test::eventually([&] { return members[0].ledger->head().height >= 2; }, 20'000));

  // Validator 3 signs two notarize votes of one view for two blocks. The
  // view is ahead of every replica's (within its window), so none has passed it.
  auto head_header = members[0].ledger->header(members[0].ledger->head().height);
  REQUIRE((head_header.is_ok() && head_header->has_value()));
  const consensus::View view = (*head_header)->view + 30;
  auto signed_vote = [&](std::uint8_t fill) {
    Hash digest;
    digest.fill(fill);
    consensus::SignedVote v;
    v.vote = consensus::notarize_vote(view, (*head_header)->height + 5, digest);
    v.validator = 3;
    v.signature = net.keys[3].sign(
        consensus::signing_bytes(net.genesis.chain_id, ledger::kGenesisEpoch, v.vote));
    return consensus::encode_message(v);
  };
  REQUIRE_MESSAGE(
      test::eventually([&] { return fake.transport->broadcast(signed_vote(0xa1)) == 3; }, 10'000),
      "the fake peer did not connect to the three validators");
  fake.transport->broadcast(signed_vote(0xa2));
  // A third block in the same view is the same offence: nothing more.
  fake.transport->broadcast(signed_vote(0xa3));

  std::vector<ledger::EvidenceRecord> recorded;
  REQUIRE_MESSAGE(test::eventually(
                      [&] {
                        auto r = members[0].ledger->evidence(std::uint16_t{3}, 10);
                        if (!r.is_ok() || r->empty()) return false;
                        recorded = *r;
                        return true;
                      },
                      20'000),
                  "no evidence recorded; evidence seen by validator 0: "
                      << members[0].validator->stats().evidence);
  REQUIRE(recorded.size() == 1);
  const ledger::EvidenceRecord& rec = recorded[0];
  CHECK(rec.validator == 3);
  CHECK(rec.view == view);
  CHECK(rec.kind == static_cast<std::uint8_t>(ledger::VoteKind::kNotarize));
  CHECK(rec.validator_key == net.keys[3].public_key());
  CHECK(rec.first.digest != rec.second.digest);
  CHECK((rec.submitted_by == "b.v0" || rec.submitted_by == "b.v1" || rec.submitted_by == "b.v2"));
  std::uint64_t submitted = 0;
  for (auto& m : members) {
    const auto st = m.validator->stats();
    CHECK(st.evidence <= 1);  // the replica reports an offence once
    CHECK(st.evidence_submitted <= 1);
    submitted += st.evidence_submitted;
  }
  CHECK(submitted >= 1);
  // Every validator ends with the same record.
  REQUIRE(test::eventually(
      [&] {
        for (auto& m : members) {
          auto r = m.ledger->evidence(std::uint16_t{3}, 10);
          if (!r.is_ok() || r->size() != 1 ||
              ledger::encode_evidence_record((*r)[0]) != ledger::encode_evidence_record(rec))
            return false;
        }
        return true;
      },
      20'000));

  // GET /v1/evidence and /v1/evidence/3 list it with a state proof against a
  // certified header.
  Api api(ApiContext{members[0].ledger.get(),
                     members[0].mempool.get(),
                     &net.keys[0],
                     "b.v0",
                     nullptr,
                     {},
                     nullptr});
  auto get = [&api](const std::string& path, std::map<std::string, std::string> query = {}) {
    HttpRequest req;
    req.method = "GET";
    req.path = req.target = path;
    req.query = std::move(query);
    HttpResponse out;
    api.handle(req, [&out](HttpResponse r) { out = std::move(r); });
    return out;
  };
  for (const std::string path : {"/v1/evidence", "/v1/evidence/3"}) {
    HttpResponse r = get(path);
    REQUIRE_MESSAGE(r.status == 200, path << ": " << r.body);
    auto j = nlohmann::json::parse(r.body);
    REQUIRE(j["items"].size() == 1);
    CHECK(j["next"].is_null());
    const auto& item = j["items"][0];
    CHECK(item["decoded"]["validator"] == 3);
    CHECK(item["decoded"]["view"] == view);
    CHECK(item["decoded"]["kind"] == "notarize");
    CHECK(item["decoded"]["epoch"] == 0);
    CHECK(item["encoded"] == to_hex(ledger::encode_evidence_record(rec)));
    auto header = ledger::decode<ledger::BlockHeader>(*from_hex(j["header"].get<std::string>()));
    auto cert = ledger::decode_finality_proof(*from_hex(j["certificate"].get<std::string>()));
    auto proof = ledger::decode<ledger::StateProof>(*from_hex(item["proof"].get<std::string>()));
    REQUIRE((header.is_ok() && cert.is_ok() && proof.is_ok()));
    CHECK(ledger::verify_finality(net.genesis, *header, *cert).is_ok());
    CHECK(ledger::verify_state_proof(*proof, header->state_root));
    CHECK(proof->present);
    CHECK(proof->key == ledger::evidence_state_key(3, view, rec.kind));
    CHECK(proof->value == ledger::encode_evidence_record(rec));
  }
  // Another validator has none; a bad validator or limit is refused.
  HttpResponse none = get("/v1/evidence", {{"validator", "1"}});
  REQUIRE(none.status == 200);
  CHECK(nlohmann::json::parse(none.body)["items"].empty());
  CHECK(get("/v1/evidence/128").status == 400);                      // beyond kValidatorsMax
  CHECK(get("/v1/evidence", {{"after", "3.1.1.0"}}).status == 400);  // epoch 0 has 3 parts
  CHECK(get("/v1/evidence", {{"after", "3.1.1.2.5"}}).status == 400);
  CHECK(get("/v1/evidence", {{"after", "3.1.1."}}).status == 400);
  CHECK(get("/v1/evidence", {{"after", "3.1"}}).status == 400);
  // A cursor of epoch 1 continues past every record of epoch 0.
  HttpResponse later = get("/v1/evidence", {{"after", "0.1.1.1"}});
  REQUIRE(later.status == 200);
  CHECK(nlohmann::json::parse(later.body)["items"].empty());
  CHECK(get("/v1/evidence", {{"limit", "0"}}).status == 400);
  CHECK(get("/v1/evidence", {{"after", "3.x.1"}}).status == 400);
  HttpResponse paged = get("/v1/evidence", {{"limit", "1"}});
  REQUIRE(paged.status == 200);
  const std::string cursor = nlohmann::json::parse(paged.body)["next"].get<std::string>();
  CHECK(cursor == "3." + std::to_string(view) + ".1");
  HttpResponse after = get("/v1/evidence", {{"after", cursor}});
  REQUIRE(after.status == 200);
  CHECK(nlohmann::json::parse(after.body)["items"].empty());
  for (auto& m : members) m.stop();
}

// The benchmark's stall (4 validators under load): views 6 and 7 were each
// notarized only after every validator had timed out and nullified them, so
// neither was ever finalized on its own, and the next leader had to build on
// block 7, two blocks above its committed head 5. A validator that executes
// only one uncommitted level waits for ever there: every view times out.
// Here validators 1-3 are played by the test: blocks 1 and 2 are notarized but
// never finalized, block 3 on block 2 must still be checked and voted, and
// validator 0 must lead view 4 on block 3, then commit the four blocks when
// view 4 is finalized; also when it restarted in between, holding blocks 1 to
// 3 only as pending blocks (the state a restarted benchmark network stalled in).
TEST_CASE("validator: checks and builds on a notarized chain several blocks above its head") {
  Net net(4);
  test::TempDir tmp;
  Member v0;
  v0.dir = tmp.str("v0");
  v0.view_timeout_ms = 30'000;  // no view times out during the script
  v0.start(net, 0);
  std::vector<std::unique_ptr<test::ScriptedPeer>> peers;
  for (std::size_t i = 1; i < 4; ++i)
    peers.push_back(std::make_unique<test::ScriptedPeer>(net.genesis, net.keys[i]));
  auto peer = [&](std::size_t i) -> test::ScriptedPeer& { return *peers[i - 1]; };
  REQUIRE_MESSAGE(test::eventually(
                      [&] {
                        for (auto& p : peers)
                          if (!p->transport->connected(0)) return false;
                        return true;
                      },
                      10'000),
                  "the scripted peers did not connect to validator 0");

  // The blocks, made on a ledger of the scripted validators' own.
  std::filesystem::create_directories(tmp.str("scripted"));
  auto store = ledger::open_leveldb(tmp.str("scripted") + "/db");
  REQUIRE(store.is_ok());
  auto opened = ledger::Ledger::open(std::move(*store), net.genesis);
  REQUIRE(opened.is_ok());
  ledger::Ledger& own = **opened;
  const std::string& chain = net.genesis.chain_id;
  auto sign = [&](std::size_t i, const consensus::Vote& v) {
    return net.keys[i].sign(consensus::signing_bytes(chain, ledger::kGenesisEpoch, v));
  };
  auto send = [&](std::size_t from, const consensus::Message& m) {
    Status st = peer(from).transport->send(0, consensus::encode_message(m));
    REQUIRE_MESSAGE(st.is_ok(), st.to_string());
  };
  auto ref = [](const ledger::BlockHeader& hd, consensus::View parent_view) {
    return consensus::BlockRef{hd.view, hd.height, parent_view, hd.parent, hd.hash()};
  };
  auto propose = [&](std::size_t leader, const ledger::PreparedBlock& p,
                     consensus::View parent_view) {
    const auto& hd = p.block.header;
    consensus::Proposal pr;
    pr.block = ref(hd, parent_view);
    pr.proposer = static_cast<consensus::ValidatorIndex>(leader);
    pr.signature = sign(leader, consensus::notarize_vote(hd.view, hd.height, hd.hash()));
    pr.payload = ledger::encode(p.block);
    send(leader, pr);
  };
  auto vote = [&](std::size_t from, const consensus::Vote& v) {
    send(from,
         consensus::SignedVote{v, static_cast<consensus::ValidatorIndex>(from), sign(from, v)});
  };
  auto v0_voted = [&](const consensus::Vote& v) {
    return test::eventually(
        [&] {
          return peer(1).saw([&](const consensus::Message& m) {
            const auto* sv = std::get_if<consensus::SignedVote>(&m);
            return sv != nullptr && sv->validator == 0 && sv->vote == v;
          });
        },
        10'000);
  };
  auto now = [] { return system_clock_ms(); };
  std::vector<ledger::TxOutcome> outcomes;

  // View 1 (leader 1): block 1 on the genesis, notarized by 0, 1, 2; only
  // validator 0 finalizes it.
  auto b1 = own.prepare({}, now(), 1, net.keys[1].public_key(), true, outcomes);
  REQUIRE(b1.is_ok());
  const Hash d1 = b1->block.header.hash();
  propose(1, *b1, 0);
  REQUIRE(v0_voted(consensus::notarize_vote(1, 1, d1)));
  vote(2, consensus::notarize_vote(1, 1, d1));
  REQUIRE(v0_voted(consensus::finalize_vote(1, 1, d1)));
  // The scripted ledger commits block 1 so that it can prepare 3 on 2.
  ledger::Certificate c1{1, 1, d1, {}};
  for (std::uint16_t i = 1; i < 4; ++i)
    c1.signatures.push_back({i, sign(i, consensus::finalize_vote(1, 1, d1))});
  REQUIRE(own.commit(*b1, c1).is_ok());

  // View 2 (leader 2): block 2 on block 1, notarized, not finalized.
  auto b2 = own.prepare({}, now(), 2, net.keys[2].public_key(), true, outcomes);
  REQUIRE(b2.is_ok());
  const Hash d2 = b2->block.header.hash();
  propose(2, *b2, 1);
  REQUIRE(v0_voted(consensus::notarize_vote(2, 2, d2)));
  vote(3, consensus::notarize_vote(2, 2, d2));
  REQUIRE(v0_voted(consensus::finalize_vote(2, 2, d2)));

  // View 3 (leader 3): block 3 on block 2, two uncommitted blocks above
  // validator 0's head (the genesis). It must still be checked and voted.
  auto b3 = own.prepare({}, now(), 3, net.keys[3].public_key(), true, outcomes, &*b2);
  REQUIRE(b3.is_ok());
  const Hash d3 = b3->block.header.hash();
  propose(3, *b3, 2);
  REQUIRE_MESSAGE(v0_voted(consensus::notarize_vote(3, 3, d3)),
                  "validator 0 did not vote for block 3; head " << v0.ledger->head().height);
  bool restarted = false;
  SUBCASE("running") {}
  SUBCASE("restarted: the blocks it held again are executed on each other") {
    // Validator 0 stops before view 3 is notarized. Its WAL says it voted
    // for blocks 1 to 3, DATA/consensus/blocks holds them; it restarts in
    // view 3 timed out (a nullify), and the others' votes, sent again, form
    // the notarizations of views 1 to 3 again with its own.
    restarted = true;
    v0.stop();
    v0.start(net, 0);
    REQUIRE(test::eventually(
        [&] {
          for (auto& p : peers)
            if (!p->transport->connected(0)) return false;
          return true;
        },
        10'000));
    REQUIRE(v0_voted(consensus::nullify_vote(3)));
    for (std::size_t i : {1, 2}) vote(i, consensus::notarize_vote(1, 1, d1));
    for (std::size_t i : {2, 3}) vote(i, consensus::notarize_vote(2, 2, d2));
    for (std::size_t i : {3, 1}) vote(i, consensus::notarize_vote(3, 3, d3));
  }
  if (!restarted) {
    vote(1, consensus::notarize_vote(3, 3, d3));
    REQUIRE(v0_voted(consensus::finalize_vote(3, 3, d3)));
  }
  CHECK(v0.ledger->head().height == 0);

  // View 4: validator 0 leads, on block 3.
  std::optional<consensus::Proposal> p4;
  REQUIRE_MESSAGE(test::eventually(
                      [&] {
                        return peer(1).saw([&](const consensus::Message& m) {
                          const auto* p = std::get_if<consensus::Proposal>(&m);
                          if (p == nullptr || p->proposer != 0 || p->block.view != 4) return false;
                          p4 = *p;
                          return true;
                        });
                      },
                      10'000),
                  "validator 0 proposed nothing in view 4");
  CHECK(p4->block.height == 4);
  CHECK(p4->block.parent == d3);
  CHECK(p4->block.parent_view == 3);

  // View 4 notarized and finalized: validator 0 commits blocks 1 to 4.
  const consensus::Vote n4 = consensus::notarize_vote(4, 4, p4->block.digest);
  vote(1, n4);
  vote(2, n4);
  REQUIRE(v0_voted(consensus::finalize_vote(4, 4, p4->block.digest)));
  vote(1, consensus::finalize_vote(4, 4, p4->block.digest));
  vote(2, consensus::finalize_vote(4, 4, p4->block.digest));
  REQUIRE_MESSAGE(test::eventually([&] { return v0.ledger->head().height == 4; }, 10'000),
                  "validator 0 stayed at height " << v0.ledger->head().height);
  auto h4 = v0.ledger->header(4);
  REQUIRE((h4.is_ok() && h4->has_value()));
  CHECK((*h4)->hash() == p4->block.digest);
  auto h3 = v0.ledger->header(3);
  REQUIRE((h3.is_ok() && h3->has_value()));
  CHECK((*h3)->hash() == d3);
  peers.clear();
  v0.stop();
}

TEST_CASE(
    "validator: forwarded transactions are admitted only if they check, and unasked ranges are "
    "ignored") {
  Net net(4);
  test::TempDir tmp;
  std::vector<Member> members = start_members(net, tmp, 3);  // 0, 1, 2; the test is 3
  FakePeer fake(net, 3);
  const ledger::Tx good = net.tx(1);
  ledger::Tx forged = net.tx(2);
  forged.signature[0] ^= 1;  // same body, signature no longer verifies
  TxGossip gossip;
  gossip.txs = {ledger::encode(forged), Bytes{0x01, 0x02, 0x03}, ledger::encode(good)};
  REQUIRE(test::eventually([&] { return fake.transport->broadcast(ledger::encode(gossip)) == 3; },
                           10'000));
  // The good one is admitted on every validator (and commits); the forged
  // and the undecodable ones nowhere.
  REQUIRE(test::eventually(
      [&] {
        for (auto& m : members)
          if (m.validator->stats().gossip_received < 1) return false;
        return true;
      },
      10'000));
  for (auto& m : members) {
    CHECK(m.validator->stats().gossip_received == 1);
    CHECK(m.mempool->lookup(crypto::sha256(ledger::encode(forged))).where ==
          Mempool::Where::kUnknown);
  }
  CHECK(test::eventually(
      [&] {
        auto e = members[0].ledger->tx_entry(crypto::sha256(ledger::encode(good)));
        return e.is_ok() && e->has_value();
      },
      20'000));
  auto forged_entry = members[0].ledger->tx_entry(crypto::sha256(ledger::encode(forged)));
  REQUIRE(forged_entry.is_ok());
  CHECK_FALSE(forged_entry->has_value());
  // A range nobody asked for, claiming blocks far ahead, changes nothing.
  const std::uint64_t before = members[0].validator->stats().blocks_synced;
  RangeResponse unasked;
  unasked.from = members[0].ledger->head().height + 1;
  unasked.blocks = {Bytes{0x00}};
  unasked.proofs = {Bytes{0x00}};
  fake.transport->broadcast(ledger::encode(unasked));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(members[0].validator->stats().blocks_synced == before);
  for (auto& m : members) m.stop();
}
