// Validator-set changes as validators live through them
// (docs/validator-set-changes.md, node/src/validator_epoch.cpp): tail blocks
// above a change block are empty, refused when not, never committed; the
// replica, peer transport and checkpoint signers switch to the next set once
// the change block commits; a validator the change adds joins from a
// snapshot and votes, one it removes stops voting and keeps its ledger; a
// restart takes the set from the ledger. In process, on loopback, with
// LevelDB ledgers.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <thread>

#include "../support/free_port.hpp"
#include "api.hpp"
#include "emledger/consensus/messages.hpp"
#include "emledger/crypto/sha256.hpp"
#include "emledger/ledger/votes.hpp"
#include "node_test_util.hpp"
#include "peer_transport.hpp"
#include "scripted_peer.hpp"
#include "snapshot_join.hpp"
#include "snapshots.hpp"
#include "validator.hpp"

using namespace emledger;
using namespace emledger::node;

namespace {

// `validators` validator orgs, the first `in_genesis` of them in the
// genesis set; every one has a fixed loopback peer address.
struct EpochNet {
  ledger::Genesis genesis;
  crypto::KeyPair issuer = crypto::KeyPair::generate();
  std::vector<crypto::KeyPair> keys;
  std::vector<std::string> addresses;
  EpochNet(std::size_t validators, std::size_t in_genesis) {
    genesis.chain_id = "validator-epoch-test";
    genesis.time_ms = 1'700'000'000'000;
    ledger::Org o;
    o.id = "a.issuer";
    o.region = "t";
    o.roles = ledger::kRoleIssuer;
    o.keys.push_back(ledger::OrgKey{1, issuer.public_key()});
    genesis.orgs.push_back(o);
    for (std::size_t i = 0; i < validators; ++i) {
      keys.push_back(crypto::KeyPair::generate());
      addresses.push_back("127.0.0.1:" + std::to_string(testing::free_loopback_port()));
      ledger::Org v;
      v.id = "b.v" + std::to_string(i);
      v.region = "t";
      v.roles = ledger::kRoleValidator;
      v.keys.push_back(ledger::OrgKey{1, keys.back().public_key()});
      genesis.orgs.push_back(v);
      if (i < in_genesis) genesis.validators.push_back(member(i));
    }
    REQUIRE(genesis.check().is_ok());
  }
  ledger::Validator member(std::size_t i) const {
    return ledger::Validator{"b.v" + std::to_string(i), keys[i].public_key(), addresses[i]};
  }
  ledger::Tx sign(ledger::TxBody b, std::uint64_t nonce) const {
    b.chain_id = genesis.chain_id;
    b.signer_org = "a.issuer";
    b.key_id = 1;
    b.expires_at_height = 50'000;
    b.nonce = nonce;
    return ledger::sign_tx(std::move(b), issuer);
  }
  ledger::Tx tx(std::uint64_t n) const {
    ledger::RegisterRecord r;
    r.body.kind = static_cast<std::uint8_t>(ledger::RecordKind::kMaterial);
    r.body.type_code = "t.material";
    r.body.holder_ref = crypto::sha256(as_bytes("holder"));
    r.body.content_hash = crypto::sha256(as_bytes("e-" + std::to_string(n)));
    r.body.size_bytes = n + 1;
    return sign(ledger::make_body(ledger::TxType::kRegisterRecord, r), n);
  }
  // A ChangeValidators ending `current`'s epoch with the members `next` (by
  // key index), approved by the keys `approvers` (members of `current`).
  ledger::Tx change(const ledger::ValidatorSet& current, const std::vector<std::size_t>& next,
                    const std::vector<std::size_t>& approvers) const {
    ledger::ChangeValidators c;
    c.epoch = current.epoch;
    for (std::size_t i : next) c.validators.push_back(member(i));
    for (std::size_t k : approvers) {
      const auto index = current.index_of(keys[k].public_key());
      REQUIRE(index.has_value());
      ledger::approve_validator_change(genesis.chain_id, current, *index, keys[k], c);
    }
    return sign(ledger::make_body(ledger::TxType::kChangeValidators, c), 1'000'000 + current.epoch);
  }
};

Hash id_of(const ledger::Tx& tx) { return crypto::sha256(ledger::encode(tx)); }

// One validator's process state, in process, serving snapshots.
struct Member {
  std::string dir;
  std::unique_ptr<ledger::Ledger> ledger;
  std::unique_ptr<Mempool> mempool;
  std::unique_ptr<SnapshotServer> snapshots;
  std::unique_ptr<Validator> validator;
  std::uint64_t view_timeout_ms = 500;
  void open(const EpochNet& net) {
    std::filesystem::create_directories(dir);
    auto store = ledger::open_leveldb(db_path(dir));
    REQUIRE(store.is_ok());
    auto l = ledger::Ledger::open(std::move(*store), net.genesis);
    REQUIRE_MESSAGE(l.is_ok(), l.status().to_string());
    ledger = std::move(*l);
    mempool = std::make_unique<Mempool>();
  }
  Result<std::unique_ptr<Validator>> try_start(const EpochNet& net, std::size_t k) {
    open(net);
    SnapshotServerOptions so;
    so.dir = dir + "/snapshots";
    auto s = SnapshotServer::open(*ledger, so);
    REQUIRE(s.is_ok());
    snapshots = std::move(*s);
    ValidatorConfig vc;
    vc.data_dir = dir;
    vc.view_timeout_ms = view_timeout_ms;
    vc.view_timeout_max_ms = std::max<std::uint64_t>(vc.view_timeout_ms, 60'000);
    vc.rebroadcast_ms = 250;
    vc.empty_block_delay_ms = 50;
    vc.snapshots = snapshots.get();
    return Validator::start(*ledger, *mempool, net.keys[k], vc);
  }
  void start(const EpochNet& net, std::size_t k) {
    auto v = try_start(net, k);
    REQUIRE_MESSAGE(v.is_ok(), v.status().to_string());
    validator = std::move(*v);
  }
  void stop() {
    if (mempool) mempool->close();
    if (validator) validator->stop();
    if (snapshots) snapshots->stop();
    if (mempool) mempool->fail_pending(Status::error("SHUTTING_DOWN", "test"));
    validator.reset();
    snapshots.reset();
    mempool.reset();
    ledger.reset();
  }
};

// Submits `tx` to `m` and waits for its commit; returns its height.
std::uint64_t commit(Member& m, const ledger::Tx& tx, int timeout_ms = 15'000) {
  std::atomic<bool> done{false};
  std::mutex mu;
  TxResult result;
  Status st = m.mempool->add(tx, id_of(tx), [&](const TxResult& r) {
    std::lock_guard lock(mu);
    result = r;
    done = true;
  });
  REQUIRE_MESSAGE(st.is_ok(), st.to_string());
  REQUIRE_MESSAGE(test::eventually([&] { return done.load(); }, timeout_ms),
                  "not committed in time");
  std::lock_guard lock(mu);
  REQUIRE_MESSAGE(result.status.is_ok(), result.status.to_string());
  return result.height;
}

std::optional<ledger::BlockHeader> header_at(Member& m, std::uint64_t height) {
  auto h = m.ledger->header(height);
  if (!h.is_ok() || !h->has_value()) return std::nullopt;
  return **h;
}

// The committed block at `height` is final under `set` (its epoch signed
// into the statement) and under no other set given.
void check_judged_by(Member& m, std::uint64_t height, const ledger::ValidatorSet& set,
                     const ledger::ValidatorSet& other) {
  CAPTURE(height);
  auto hd = header_at(m, height);
  REQUIRE(hd.has_value());
  auto proof = m.ledger->finality_proof(height);
  REQUIRE((proof.is_ok() && proof->has_value()));
  const std::string& chain = m.ledger->genesis().chain_id;
  CHECK(ledger::verify_finality_in_set(chain, set, *hd, **proof).is_ok());
  CHECK_FALSE(ledger::verify_finality_in_set(chain, other, *hd, **proof).is_ok());
  auto judged = m.ledger->validators_at(height);
  REQUIRE(judged.is_ok());
  CHECK(judged->epoch == set.epoch);
}

}  // namespace

// Validators 1-3 are played by the test, validator 0 is real. Block h (view
// 1) holds a change of set (to the same four, so the transports keep their
// peers); it is notarized but not finalized on its own. Leader 2 then
// proposes a block with a transaction on h: a tail block, refused. Leader 3
// proposes an empty one: voted, and finalized, which makes h final through
// it. Validator 0 commits h only, with the tail header as the link of its
// proof, and switches to epoch 1, where the block at h + 1 is the one the
// new epoch finalizes.
TEST_CASE("validator set: a non-empty tail block is refused, an empty one finalizes the change") {
  EpochNet net(4, 4);
  test::TempDir tmp;
  Member v0;
  v0.dir = tmp.str("v0");
  v0.view_timeout_ms = 30'000;  // no view times out during the script
  v0.start(net, 0);
  std::vector<std::unique_ptr<test::ScriptedPeer>> peers;
  for (std::size_t i = 1; i < 4; ++i)
    peers.push_back(std::make_unique<test::ScriptedPeer>(net.genesis, net.keys[i]));
  auto peer = [&](std::size_t i) -> test::ScriptedPeer& { return *peers[i - 1]; };
  auto all_connected = [&] {
    return test::eventually(
        [&] {
          for (auto& p : peers)
            if (!p->transport->connected(0)) return false;
          return true;
        },
        10'000);
  };
  REQUIRE_MESSAGE(all_connected(), "the scripted peers did not connect to validator 0");

  std::filesystem::create_directories(tmp.str("scripted"));
  auto store = ledger::open_leveldb(tmp.str("scripted") + "/db");
  REQUIRE(store.is_ok());
  auto opened = ledger::Ledger::open(std::move(*store), net.genesis);
  REQUIRE(opened.is_ok());
  ledger::Ledger& own = **opened;
  const std::string& chain = net.genesis.chain_id;
  auto sign = [&](std::size_t i, const consensus::Vote& v, ledger::Epoch e) {
    return net.keys[i].sign(consensus::signing_bytes(chain, e, v));
  };
  // Sent again until `done`: after validator 0 switches epochs its transport
  // restarts, and a message may go down with the old connection.
  auto until = [&](const std::function<void()>& send, const std::function<bool()>& done) {
    for (int i = 0; i < 50; ++i) {
      send();
      if (test::eventually(done, 200)) return true;
    }
    return false;
  };
  auto send = [&](std::size_t from, const consensus::Message& m) {
    (void)peer(from).transport->send(0, consensus::encode_message(m));
  };
  auto propose = [&](std::size_t leader, const ledger::PreparedBlock& p,
                     consensus::View parent_view, ledger::Epoch e) {
    const auto& hd = p.block.header;
    consensus::Proposal pr;
    pr.block = consensus::BlockRef{hd.view, hd.height, parent_view, hd.parent, hd.hash()};
    pr.proposer = static_cast<consensus::ValidatorIndex>(leader);
    pr.signature = sign(leader, consensus::notarize_vote(hd.view, hd.height, hd.hash()), e);
    pr.payload = ledger::encode(p.block);
    send(leader, pr);
  };
  auto vote = [&](std::size_t from, const consensus::Vote& v, ledger::Epoch e) {
    send(from,
         consensus::SignedVote{v, static_cast<consensus::ValidatorIndex>(from), sign(from, v, e)});
  };
  auto v0_voted = [&](const consensus::Vote& v) {
    return test::eventually([&] { return peer(1).saw_vote(v); }, 10'000);
  };
  auto now = [] { return system_clock_ms(); };
  std::vector<ledger::TxOutcome> outcomes;
  const ledger::ValidatorSet s0 = ledger::genesis_validator_set(net.genesis);

  // View 1 (leader 1): h, holding the change, notarized by 0, 1, 2; only
  // validator 0 finalizes it.
  auto h = own.prepare({net.change(s0, {0, 1, 2, 3}, {1, 2, 3})}, now(), 1,
                       net.keys[1].public_key(), false, outcomes);
  REQUIRE((h.is_ok() && h->tx_ids.size() == 1));
  const Hash dh = h->block.header.hash();
  propose(1, *h, 0, 0);
  REQUIRE(v0_voted(consensus::notarize_vote(1, 1, dh)));
  vote(2, consensus::notarize_vote(1, 1, dh), 0);
  REQUIRE(v0_voted(consensus::finalize_vote(1, 1, dh)));

  // View 2 (leader 2): a transaction on h. Validator 0 must not notarize it.
  auto t = own.prepare({net.tx(1)}, now(), 2, net.keys[2].public_key(), false, outcomes, &*h);
  REQUIRE((t.is_ok() && t->tx_ids.size() == 1));
  const Hash dt = t->block.header.hash();
  propose(2, *t, 1, 0);
  REQUIRE_MESSAGE(
      test::eventually([&] { return v0.validator->stats().tail_blocks_refused == 1; }, 10'000),
      "the non-empty tail block was not refused");
  for (std::size_t i = 1; i < 4; ++i) vote(i, consensus::nullify_vote(2), 0);

  // View 3 (leader 3): an empty block on h: voted, notarized, finalized.
  auto e = own.prepare({}, now(), 3, net.keys[3].public_key(), false, outcomes, &*h);
  REQUIRE((e.is_ok() && e->tx_ids.empty()));
  const Hash de = e->block.header.hash();
  propose(3, *e, 1, 0);
  REQUIRE_MESSAGE(v0_voted(consensus::notarize_vote(3, 2, de)),
                  "validator 0 did not vote for the empty tail block");
  vote(1, consensus::notarize_vote(3, 2, de), 0);
  REQUIRE(v0_voted(consensus::finalize_vote(3, 2, de)));
  CHECK_FALSE(peer(1).saw_vote(consensus::notarize_vote(2, 2, dt)));
  vote(1, consensus::finalize_vote(3, 2, de), 0);
  vote(2, consensus::finalize_vote(3, 2, de), 0);

  // Validator 0 commits h, through the tail block, and not the tail block.
  REQUIRE_MESSAGE(test::eventually([&] { return v0.validator->epoch() == 1; }, 10'000),
                  "validator 0 stayed in epoch 0 at height " << v0.ledger->head().height);
  CHECK(v0.ledger->head().height == 1);
  CHECK(header_at(v0, 1)->hash() == dh);
  auto proof1 = v0.ledger->finality_proof(1);
  REQUIRE((proof1.is_ok() && proof1->has_value()));
  REQUIRE((*proof1)->links.size() == 1);
  CHECK((*proof1)->links[0].hash() == de);
  CHECK(v0.validator->stats().tail_blocks_refused == 1);
  auto s1 = v0.ledger->validators();
  REQUIRE((s1.is_ok() && s1->epoch == 1 && s1->since_height == 2));
  check_judged_by(v0, 1, s0, *s1);

  // Epoch 1 starts on h, at view 2 (leader 2): the transaction the tail
  // block could not carry goes in the first block of the new epoch.
  ledger::Certificate ch{1, 1, dh, {}};
  for (std::uint16_t i = 1; i < 4; ++i)
    ch.signatures.push_back({i, sign(i, consensus::finalize_vote(1, 1, dh), 0)});
  REQUIRE(own.commit(*h, ch).is_ok());
  auto b = own.prepare({net.tx(1)}, now(), 2, net.keys[2].public_key(), false, outcomes);
  REQUIRE((b.is_ok() && b->tx_ids.size() == 1));
  const Hash db = b->block.header.hash();
  REQUIRE(all_connected());
  REQUIRE_MESSAGE(until([&] { propose(2, *b, 1, 1); },
                        [&] { return peer(1).saw_vote(consensus::notarize_vote(2, 2, db)); }),
                  "validator 0 did not vote for the first block of epoch 1");
  REQUIRE(until([&] { vote(3, consensus::notarize_vote(2, 2, db), 1); },
                [&] { return peer(1).saw_vote(consensus::finalize_vote(2, 2, db)); }));
  REQUIRE(until(
      [&] {
        vote(2, consensus::finalize_vote(2, 2, db), 1);
        vote(3, consensus::finalize_vote(2, 2, db), 1);
      },
      [&] { return v0.ledger->head().height == 2; }));
  CHECK(header_at(v0, 2)->hash() == db);
  check_judged_by(v0, 2, *s1, s0);
  peers.clear();
  v0.stop();
}

TEST_CASE("validator set: a fifth validator is added and votes, then one is removed") {
  EpochNet net(5, 4);
  test::TempDir tmp;
  std::vector<Member> m(5);
  for (std::size_t i = 0; i < 5; ++i) m[i].dir = tmp.str("v" + std::to_string(i));
  for (std::size_t i = 0; i < 4; ++i) m[i].start(net, i);
  const auto all_epochs = [&](const std::vector<std::size_t>& who, ledger::Epoch e) {
    return test::eventually(
        [&] {
          for (std::size_t i : who)
            if (m[i].validator->epoch() != e || !m[i].validator->index()) return false;
          return true;
        },
        15'000);
  };
  // A fifth key that is no validator yet cannot start one.
  {
    Member outsider;
    outsider.dir = tmp.str("outsider");
    auto v = outsider.try_start(net, 4);
    CHECK(v.status().code() == "NOT_A_VALIDATOR");
    outsider.stop();
  }
  std::uint64_t n = 0;
  commit(m[1], net.tx(++n));

  // Change 1, approved by three of four: validator 4 joins the set.
  auto s0 = m[0].ledger->validators();
  REQUIRE((s0.is_ok() && s0->epoch == 0));
  const std::uint64_t h1 = commit(m[0], net.change(*s0, {0, 1, 2, 3, 4}, {0, 1, 2}));
  REQUIRE_MESSAGE(all_epochs({0, 1, 2, 3}, 1), "the four did not all switch to epoch 1");
  auto s1 = m[0].ledger->validators();
  REQUIRE((s1.is_ok() && s1->epoch == 1 && s1->since_height == h1 + 1));
  REQUIRE(s1->validators.size() == 5);
  // Four of five are a quorum: the chain goes on before the fifth is there.
  commit(m[3], net.tx(++n));

  // Validator 4, not in the genesis, joins from a peer's snapshot taken at
  // or above the change block, listening at its address in the new set.
  Identity id{net.genesis, net.keys[4], std::nullopt};
  JoinOptions jo;
  jo.data_dir = m[4].dir;
  jo.peer_listen = net.addresses[4];
  jo.timeout_ms = 20'000;
  auto joined = join_from_snapshot(id, jo);
  REQUIRE_MESSAGE(joined.is_ok(), joined.status().to_string());
  CHECK(joined->height >= h1);
  m[4].start(net, 4);
  CHECK(m[4].validator->epoch() == 1);
  CHECK(m[4].validator->index() == std::optional<std::uint16_t>(4));
  // It votes: blocks become final with its signature in their certificates,
  // and a transaction given to it commits.
  commit(m[4], net.tx(++n));
  std::uint64_t signed_by_4 = 0;
  REQUIRE_MESSAGE(test::eventually(
                      [&] {
                        const std::uint64_t head = m[0].ledger->head().height;
                        for (std::uint64_t h = h1 + 1; h <= head; ++h) {
                          auto p = m[0].ledger->finality_proof(h);
                          if (!p.is_ok() || !p->has_value()) continue;
                          for (const auto& s : (*p)->certificate.signatures)
                            if (s.validator == 4) signed_by_4 = h;
                        }
                        return signed_by_4 != 0;
                      },
                      15'000),
                  "no certificate carries validator 4's signature");
  check_judged_by(m[0], signed_by_4, *s1, *s0);

  // Validator 2 misses the second change (its key approves it offline); it
  // comes back at the end.
  m[2].stop();

  // Change 2, approved by four of five (validator 4 among them): validator
  // 3 leaves.
  const std::uint64_t h2 = commit(m[4], net.change(*s1, {0, 1, 2, 4}, {0, 1, 2, 4}));
  REQUIRE_MESSAGE(all_epochs({0, 1, 4}, 2), "the three did not all switch to epoch 2");
  auto s2 = m[0].ledger->validators();
  REQUIRE((s2.is_ok() && s2->epoch == 2 && s2->since_height == h2 + 1));
  // Validator 3 stopped at the change block, alive, refusing transactions.
  REQUIRE(test::eventually([&] { return !m[3].validator->index().has_value(); }, 15'000));
  CHECK(m[3].validator->epoch() == 2);
  CHECK(m[3].ledger->head().height == h2);
  CHECK(m[3].mempool->add(net.tx(++n), Hash{}, nullptr).code() == "NOT_A_VALIDATOR");

  // Validator 2 comes back in epoch 1: it can check no vote of epoch 2, so
  // only range sync (its idle probe) brings it over the change, each block
  // judged by its own height's set; then it runs epoch 2.
  m[2].start(net, 2);
  CHECK(m[2].validator->epoch() == 1);
  REQUIRE_MESSAGE(all_epochs({2}, 2),
                  "validator 2 stayed at height " << m[2].ledger->head().height);
  CHECK(m[2].validator->index() == std::optional<std::uint16_t>(2));
  CHECK(m[2].validator->stats().blocks_synced > 0);

  // Transactions keep committing, a restarted validator takes its set from
  // its ledger, and validator 3 never moves again.
  for (std::size_t i : {0, 1, 2, 4}) commit(m[i], net.tx(++n));
  m[1].stop();
  m[1].start(net, 1);
  CHECK(m[1].validator->epoch() == 2);
  CHECK(m[1].validator->index() == std::optional<std::uint16_t>(1));
  const std::uint64_t last = commit(m[1], net.tx(++n));
  CHECK(m[3].ledger->head().height == h2);
  // Validator 3 restarted is no validator: Validator::start refuses it.
  m[3].stop();
  CHECK(m[3].try_start(net, 3).status().code() == "NOT_A_VALIDATOR");

  // Everybody agrees: the running four at `last`, validator 3 up to h2
  // (validator 2 synced h2 from the others: compared too).
  REQUIRE(test::eventually(
      [&] {
        for (std::size_t i : {0, 1, 2, 4})
          if (m[i].ledger->head().height < last) return false;
        return true;
      },
      15'000));
  const auto top = header_at(m[0], last);
  const auto at_h2 = header_at(m[0], h2);
  REQUIRE((top && at_h2));
  for (std::size_t i : {1, 2, 4}) {
    CAPTURE(i);
    auto hd = header_at(m[i], last);
    REQUIRE(hd.has_value());
    CHECK(hd->hash() == top->hash());
  }
  auto at_h2_of_3 = header_at(m[3], h2);
  REQUIRE(at_h2_of_3.has_value());
  CHECK(at_h2_of_3->hash() == at_h2->hash());
  check_judged_by(m[2], h1, *s0, *s1);
  check_judged_by(m[2], h2 + 1, *s2, *s1);

  // Heights are judged by their epochs' sets: the change blocks by the sets
  // they end, the blocks above them by the next (no tail block was
  // committed: its certificate names the old epoch).
  check_judged_by(m[0], h1, *s0, *s1);
  check_judged_by(m[0], h1 + 1, *s1, *s0);
  check_judged_by(m[0], h2, *s1, *s2);
  check_judged_by(m[0], h2 + 1, *s2, *s1);
  std::uint64_t tails = 0;
  for (std::size_t i : {0, 1, 2, 4}) tails += m[i].validator->stats().tail_blocks_built;
  MESSAGE("tail blocks built: " << tails);

  // GET /v1/validators: the set in force and its succession from the genesis.
  // Asked of validator 2, which learnt both changes by range sync.
  Api api(ApiContext{
      m[2].ledger.get(), m[2].mempool.get(), &net.keys[2], "b.v2", nullptr, {}, nullptr});
  HttpRequest req;
  req.method = "GET";
  req.path = req.target = "/v1/validators";
  HttpResponse r;
  api.handle(req, [&r](HttpResponse out) { r = std::move(out); });
  REQUIRE_MESSAGE(r.status == 200, r.body);
  auto j = nlohmann::json::parse(r.body);
  CHECK(j["epoch"] == 2);
  CHECK(j["since_height"] == h2 + 1);
  REQUIRE(j["validators"].size() == 4);
  CHECK(j["validators"][3]["org_id"] == "b.v4");
  CHECK(j["validators"][3]["public_key"] == to_hex(net.keys[4].public_key()));
  CHECK(j["validators"][3]["address"] == net.addresses[4]);
  auto encoded = from_hex(j["encoded"].get<std::string>());
  REQUIRE(encoded.has_value());
  CHECK(*encoded == ledger::encode(*s2));
  auto succession_bytes = from_hex(j["succession"].get<std::string>());
  REQUIRE(succession_bytes.has_value());
  auto succession = ledger::decode<ledger::Succession>(*succession_bytes);
  REQUIRE(succession.is_ok());
  auto sets = ledger::verify_succession(net.genesis, *succession);
  REQUIRE_MESSAGE(sets.is_ok(), sets.status().to_string());
  REQUIRE(sets->size() == 3);
  CHECK(ledger::encode((*sets)[1]) == ledger::encode(*s1));
  CHECK(ledger::encode((*sets)[2]) == ledger::encode(*s2));

  for (auto& mem : m) mem.stop();
}

TEST_CASE("snapshot server: a file from below the last change of set is never served") {
  EpochNet net(2, 1);
  test::TempDir dir;
  Member m;
  m.dir = dir.str("m");
  m.open(net);
  ledger::Ledger& l = *m.ledger;
  // Commits one block of `txs`, certified by every member of the set in force.
  auto commit = [&](std::vector<ledger::Tx> txs) {
    const ledger::ChainHead head = l.head();
    auto set = l.validators_at(head.height + 1);
    REQUIRE(set.is_ok());
    std::vector<ledger::TxOutcome> outcomes;
    auto p = l.prepare(txs, head.time_ms + 1, head.height + 1, set->validators[0].public_key, false,
                       outcomes);
    REQUIRE(p.is_ok());
    for (const auto& oc : outcomes) REQUIRE_MESSAGE(oc.status.is_ok(), oc.status.to_string());
    ledger::Certificate cert;
    for (std::size_t i = 0; i < set->validators.size(); ++i) {
      const auto k = std::find_if(net.keys.begin(), net.keys.end(), [&](const auto& key) {
        return key.public_key() == set->validators[i].public_key;
      });
      REQUIRE(k != net.keys.end());
      ledger::sign_certificate_in_set(net.genesis.chain_id, *set, p->block.header,
                                      static_cast<std::uint16_t>(i), *k, cert);
    }
    REQUIRE(l.commit(*p, cert).is_ok());
  };
  commit({net.tx(1)});
  commit({net.tx(2)});

  SnapshotServerOptions so;
  so.dir = dir.str("served");
  auto server = SnapshotServer::open(l, so);
  REQUIRE(server.is_ok());
  std::uint64_t now = 1'000;
  // Asks from the start until the server answers ready; the file's height.
  auto ready_height = [&]() -> std::uint64_t {
    for (int i = 0; i < 500; ++i) {
      now += 1'000;
      auto c = (*server)->serve(1, {0, 0}, now);
      REQUIRE(c.has_value());
      if (c->state == static_cast<std::uint8_t>(SnapshotState::kReady)) return c->height;
      CHECK(c->state == static_cast<std::uint8_t>(SnapshotState::kPreparing));
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    FAIL("no snapshot became ready");
    return 0;
  };
  CHECK(ready_height() == 2);

  // The change adds validator 1 at height 3; a file of height 2 names a set in
  // which it is not a validator, so a joiner must get a newer one.
  commit({net.change(ledger::genesis_validator_set(net.genesis), {0, 1}, {0})});
  commit({net.tx(3)});
  REQUIRE(l.validators()->epoch == 1);
  now += 1'000;
  auto first = (*server)->serve(2, {0, 0}, now);
  REQUIRE(first.has_value());
  CHECK(first->state == static_cast<std::uint8_t>(SnapshotState::kPreparing));
  // A joiner in the middle of the old file is not served it either.
  now += 1'000;
  auto middle = (*server)->serve(3, {2, 0}, now);
  REQUIRE(middle.has_value());
  CHECK(middle->state != static_cast<std::uint8_t>(SnapshotState::kReady));
  CHECK(ready_height() == 4);
  CHECK((*server)->stats().files_written == 2);
  (*server)->stop();
}

// Regression: evidence was checked under the genesis set only, so a double
// vote of a later epoch was never submitted nor recorded.
TEST_CASE("validator set: a double vote of epoch 1 by a validator the change added is recorded") {
  EpochNet net(5, 4);
  test::TempDir tmp;
  std::vector<Member> m(4);
  for (std::size_t i = 0; i < 4; ++i) {
    m[i].dir = tmp.str("v" + std::to_string(i));
    m[i].start(net, i);
  }
  auto s0 = m[0].ledger->validators();
  REQUIRE((s0.is_ok() && s0->epoch == 0));
  // Validator 4, outside the genesis, is index 4 of epoch 1; the four
  // running are a quorum of five.
  commit(m[0], net.change(*s0, {0, 1, 2, 3, 4}, {0, 1, 2}));
  REQUIRE_MESSAGE(test::eventually(
                      [&] {
                        for (auto& x : m)
                          if (x.validator->epoch() != 1) return false;
                        return true;
                      },
                      15'000),
                  "the four did not all switch to epoch 1");
  auto s1 = m[0].ledger->validators();
  REQUIRE((s1.is_ok() && s1->epoch == 1));

  // Validator 4 is only a peer transport with its key, through which it
  // signs two notarize votes of one epoch-1 view for two blocks, ahead of
  // every replica's view.
  PeerTransportConfig tc;
  tc.chain_id = net.genesis.chain_id;
  tc.key = net.keys[4];
  tc.validators = peers_from_set(*s1);
  tc.on_message = [](std::size_t, Bytes) {};
  tc.on_log = [](const std::string&) {};
  auto fake = PeerTransport::start(std::move(tc));
  REQUIRE_MESSAGE(fake.is_ok(), fake.status().to_string());
  auto head = header_at(m[0], m[0].ledger->head().height);
  REQUIRE(head.has_value());
  const consensus::View view = head->view + 30;
  auto signed_vote = [&](std::uint8_t fill) {
    Hash digest;
    digest.fill(fill);
    consensus::SignedVote v;
    v.vote = consensus::notarize_vote(view, head->height + 5, digest);
    v.validator = 4;
    v.signature = net.keys[4].sign(consensus::signing_bytes(net.genesis.chain_id, 1, v.vote));
    return consensus::encode_message(v);
  };
  REQUIRE_MESSAGE(
      test::eventually([&] { return (*fake)->broadcast(signed_vote(0xa1)) == 4; }, 10'000),
      "the fake validator 4 did not connect to the four");
  (*fake)->broadcast(signed_vote(0xa2));

  std::vector<ledger::EvidenceRecord> recorded;
  REQUIRE_MESSAGE(test::eventually(
                      [&] {
                        auto r = m[0].ledger->evidence(std::uint16_t{4}, 10);
                        if (!r.is_ok() || r->empty()) return false;
                        recorded = *r;
                        return true;
                      },
                      20'000),
                  "no evidence of epoch 1 recorded");
  REQUIRE(recorded.size() == 1);
  const ledger::EvidenceRecord& rec = recorded[0];
  CHECK(rec.epoch == 1);
  CHECK(rec.validator == 4);
  CHECK(rec.view == view);
  CHECK(rec.validator_key == net.keys[4].public_key());
  auto raw = m[0].ledger->state_value(ledger::evidence_state_key(1, 4, view, rec.kind));
  REQUIRE((raw.is_ok() && raw->has_value()));
  CHECK(**raw == ledger::encode_evidence_record(rec));
  std::uint64_t submitted = 0;
  for (auto& x : m) submitted += x.validator->stats().evidence_submitted;
  CHECK(submitted >= 1);
  (*fake)->stop();
  for (auto& x : m) x.stop();
}
