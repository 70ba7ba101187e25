// The light client across validator-set changes (docs/validator-set-changes.md
// sections 4 and 5 item 4): ChainVerifier re-checks every ChangeValidators
// transaction and judges the heights above it by the new set; a forged change
// or a certificate of the retired set is caught; a walk resumed above a change
// takes its sets from a verified succession; the SDK learns the sets from
// GET /v1/validators and judges headers, checkpoints and bundles with them.
#include <doctest/doctest.h>

#include "emledger/client/errors.hpp"
#include "emledger/client/sdk.hpp"
#include "emledger/client/verify.hpp"
#include "emledger/crypto/hex.hpp"
#include "emledger/ledger/json.hpp"
#include "emledger/ledger/snapshot.hpp"
#include "epoch_chain.hpp"

using namespace emledger;
using namespace emledger::client;
using namespace emledger::ledger;
using client_test::ApiTransport;
using client_test::EpochChain;
using ledger::Json;

namespace {

// Blocks 1..4 under four validators v0..v3 (quorum 3); block 2 changes the
// set to v4..v7, so blocks 3 and 4 are certified by them for epoch 1.
struct Changed : EpochChain {
  ValidatorSet genesis_set;
  std::vector<Validator> next;
  Changed() {
    genesis_set = genesis_validator_set(genesis);
    next = members({4, 5, 6, 7});
    commit({reg("before the change")});
    change_to(next);
    commit({reg("after the change")});
    commit({});
    REQUIRE(ledger->head().height == 4);
  }
  ValidatorSet epoch1() const { return ValidatorSet{1, 3, next}; }
};

// Walks blocks [from, to] of `c`, each with its stored finality proof.
Status walk(ChainVerifier& v, const EpochChain& c, std::uint64_t from, std::uint64_t to) {
  for (std::uint64_t h = from; h <= to; ++h) EMLEDGER_TRY(v.add_block(c.block(h), c.proof(h)));
  return Status::ok();
}

bool mentions(const Status& st, const std::string& what) {
  return st.message().find(what) != std::string::npos;
}

}  // namespace

TEST_CASE(
    "validators: chain verify re-checks the change and judges the next heights by the new "
    "set") {
  Changed c;
  // The premise: block 3 is certified by v4..v7 for epoch 1, which the
  // genesis set rejects.
  CHECK_FALSE(verify_finality(c.genesis, c.block(3).header, c.proof(3)).is_ok());

  ChainVerifier v(c.genesis);
  Status st = walk(v, c, 1, 4);
  REQUIRE_MESSAGE(st.is_ok(), st.to_string());
  CHECK(v.changes_seen() == 1);
  REQUIRE(v.sets().size() == 2);
  CHECK(encode(v.sets()[1]) == encode(c.epoch1()));
  // The head's state names the set the walk ended with.
  CHECK(v.check_validators_state(c.validators_proof(4)).is_ok());
  // A proof of another height does not match the tip's state root.
  CHECK(v.check_validators_state(c.validators_proof(1)).code() == "PROOF_INVALID");

  // With the node's succession to compare with, the walk agrees with it.
  auto sets = verify_sets(c.genesis, c.succession());
  REQUIRE_MESSAGE(sets.is_ok(), sets.status().to_string());
  ChainVerifier checked(c.genesis);
  checked.expect_sets(*sets);
  st = walk(checked, c, 1, 4);
  REQUIRE_MESSAGE(st.is_ok(), st.to_string());
  CHECK(checked.check_expected_sets_reached().is_ok());

  // Stopped below the change, the walk has not reached the node's epoch.
  ChainVerifier partial(c.genesis);
  partial.expect_sets(*sets);
  REQUIRE(walk(partial, c, 1, 1).is_ok());
  CHECK(partial.check_validators_state(c.validators_proof(1)).is_ok());
  CHECK(partial.check_expected_sets_reached().code() == "CHAIN_SUCCESSION_MISMATCH");
}

TEST_CASE("validators: a forged change is caught by chain verify") {
  Changed c;
  ChainVerifier v(c.genesis);
  REQUIRE(walk(v, c, 1, 1).is_ok());
  // Block 2 as a forging node would serve it: its change replaced, payload
  // and log resealed, certified by a quorum of the genesis set.
  const auto forged = [&](const ChangeValidators& change) {
    Block b = c.reseal(2, {c.change_tx(change)});
    return std::make_pair(b, c.quorum_cert(c.genesis_set, b.header));
  };

  SUBCASE("a change approved by a quorum passes (the forging itself is sound)") {
    auto [b, cert] = forged(c.change(c.genesis_set, c.members({4, 5, 6}), {1, 2, 3}));
    Status st = v.add_block(b, cert);
    CHECK_MESSAGE(st.is_ok(), st.to_string());
    CHECK(v.sets().back().validators.size() == 3);
  }
  SUBCASE("approvals short of a quorum") {
    auto [b, cert] = forged(c.change(c.genesis_set, c.members({4, 5, 6}), {0, 1}));
    Status st = v.add_block(b, cert);
    CHECK(st.code() == "CHAIN_VALIDATORS_INVALID");
    CHECK(mentions(st, "VALIDATORS_NO_QUORUM"));
    CHECK(v.height() == 1);
    CHECK(v.sets().size() == 1);
  }
  SUBCASE("approvals of the wrong epoch") {
    ChangeValidators change = c.change(c.genesis_set, c.members({4, 5, 6}), {0, 1, 2});
    change.epoch = 1;
    auto [b, cert] = forged(change);
    Status st = v.add_block(b, cert);
    CHECK(st.code() == "CHAIN_VALIDATORS_INVALID");
    CHECK(mentions(st, "VALIDATORS_EPOCH_MISMATCH"));
  }
  SUBCASE("an approval signed by a key outside the set") {
    ChangeValidators change = c.change(c.genesis_set, c.members({4, 5, 6}), {0, 1, 2});
    change.approvals[2].signature =
        c.vals[6].sign(validator_change_message(c.genesis.chain_id, 0, change.validators));
    auto [b, cert] = forged(change);
    CHECK(v.add_block(b, cert).code() == "CHAIN_VALIDATORS_INVALID");
  }
  SUBCASE("a member whose org is not a validator org") {
    std::vector<Validator> members = c.members({4, 5, 6});
    members[1].org_id = "gov.issuer";
    auto [b, cert] = forged(c.change(c.genesis_set, members, {0, 1, 2}));
    Status st = v.add_block(b, cert);
    CHECK(st.code() == "CHAIN_VALIDATORS_INVALID");
    CHECK(mentions(st, "gov.issuer"));
  }
  SUBCASE("two changes in one block") {
    const ChangeValidators a = c.change(c.genesis_set, c.members({4, 5, 6}), {0, 1, 2});
    const ChangeValidators b2 = c.change(c.genesis_set, c.members({5, 6, 7}), {0, 1, 2});
    Block b = c.reseal(2, {c.change_tx(a), c.change_tx(b2)});
    Status st = v.add_block(b, c.quorum_cert(c.genesis_set, b.header));
    CHECK(st.code() == "CHAIN_VALIDATORS_INVALID");
    CHECK(mentions(st, "second change"));
  }
}

TEST_CASE("validators: above the change, a certificate of the old set is refused") {
  Changed c;
  ChainVerifier v(c.genesis);
  REQUIRE(walk(v, c, 1, 2).is_ok());
  const Block b3 = c.block(3);

  // The retired validators' certificate for their own epoch: what the
  // genesis set would have said of height 3 had nothing changed.
  Status st = v.add_block(b3, c.quorum_cert(c.genesis_set, b3.header));
  CHECK(st.code() == "CHAIN_CERT_INVALID");
  CHECK(mentions(st, "epoch 1"));
  // Their keys signing the statement of epoch 1 do not make a certificate
  // of epoch 1's validators either.
  const ValidatorSet posing{1, 3, c.genesis_set.validators};
  CHECK(v.add_block(b3, c.quorum_cert(posing, b3.header)).code() == "CHAIN_CERT_INVALID");
  // The new validators signing for the old epoch (a tail-block statement).
  const ValidatorSet tail{0, 1, c.next};
  CHECK(v.add_block(b3, c.quorum_cert(tail, b3.header)).code() == "CHAIN_CERT_INVALID");
  CHECK(v.height() == 2);
  // The true certificate passes.
  st = v.add_block(b3, c.proof(3));
  CHECK_MESSAGE(st.is_ok(), st.to_string());

  // And the change block itself belongs to the old epoch: the new set's
  // certificate of it is refused.
  ChainVerifier w(c.genesis);
  REQUIRE(walk(w, c, 1, 1).is_ok());
  const Block b2 = c.block(2);
  CHECK(w.add_block(b2, c.quorum_cert(c.epoch1(), b2.header)).code() == "CHAIN_CERT_INVALID");
}

TEST_CASE("validators: a walk resumed above a change takes its sets from the succession") {
  Changed c;
  const BlockHeader base = c.block(3).header;
  auto subtrees = c.ledger->log_frontier(base.log_size);
  REQUIRE(subtrees.is_ok());
  auto sets = verify_sets(c.genesis, c.succession());
  REQUIRE(sets.is_ok());

  // Without the succession the base is judged by the genesis set.
  ChainVerifier blind(c.genesis);
  CHECK(blind.resume(base, c.proof(3), *subtrees).code() == "CHAIN_CERT_INVALID");

  ChainVerifier v(c.genesis);
  v.expect_sets(*sets);
  Status st = v.resume(base, c.proof(3), *subtrees);
  REQUIRE_MESSAGE(st.is_ok(), st.to_string());
  CHECK(v.check_validators_state(c.validators_proof(3)).is_ok());
  st = v.add_block(c.block(4), c.proof(4));
  CHECK_MESSAGE(st.is_ok(), st.to_string());
  CHECK(v.check_expected_sets_reached().is_ok());
  CHECK(v.changes_seen() == 0);  // the change was below the base

  // Resumed at the change block itself with a succession that hides the
  // change: the base verifies (the old set certified it) but its state names
  // epoch 1.
  const BlockHeader at_change = c.block(2).header;
  auto sub2 = c.ledger->log_frontier(at_change.log_size);
  REQUIRE(sub2.is_ok());
  ChainVerifier hidden(c.genesis);
  hidden.expect_sets(genesis_sets(c.genesis));
  REQUIRE(hidden.resume(at_change, c.proof(2), *sub2).is_ok());
  st = hidden.check_validators_state(c.validators_proof(2));
  CHECK(st.code() == "CHAIN_SUCCESSION_MISMATCH");
  // The full succession at the same base: the set of epoch 1 is in force
  // above it and block 3 passes.
  ChainVerifier full(c.genesis);
  full.expect_sets(*sets);
  REQUIRE(full.resume(at_change, c.proof(2), *sub2).is_ok());
  CHECK(full.check_validators_state(c.validators_proof(2)).is_ok());
  CHECK(full.add_block(c.block(3), c.proof(3)).is_ok());
}

TEST_CASE("validators: a succession with a tampered state proof is refused") {
  Changed c;
  const Succession good = c.succession();
  REQUIRE(good.changes.size() == 1);
  REQUIRE(verify_sets(c.genesis, good).is_ok());

  SUBCASE("another set in the proven value") {
    Succession s = good;
    s.changes[0].next_set.value = encode(ValidatorSet{1, 3, c.members({0, 1, 2, 4})});
    auto r = verify_sets(c.genesis, s);
    CHECK(r.status().code() == "SUCCESSION_INVALID");
    CHECK(classify(r.status()) == ErrorClass::kVerifiedFalse);
  }
  SUBCASE("a byte of the proof flipped") {
    Succession s = good;
    Bytes enc = encode(s.changes[0].next_set);
    enc[enc.size() - 3] ^= 0x01;
    auto flipped = decode<StateProof>(enc);
    if (flipped.is_ok()) {
      s.changes[0].next_set = *flipped;
      CHECK_FALSE(verify_sets(c.genesis, s).is_ok());
    }
  }
  SUBCASE("the proof shows the key absent") {
    Succession s = good;
    s.changes[0].next_set.present = false;
    CHECK(verify_sets(c.genesis, s).status().code() == "SUCCESSION_INVALID");
  }
  SUBCASE("the change block's certificate below quorum") {
    Succession s = good;
    s.changes[0].finality.certificate.signatures.pop_back();
    CHECK(verify_sets(c.genesis, s).status().code() == "CERT_NO_QUORUM");
  }
}

TEST_CASE("validators: a succession that contradicts the walked chain is refused") {
  // Two chains of one genesis whose block 2 changes to different sets, each
  // approved by the same quorum: the node's succession of one does not
  // describe the other.
  Changed a;
  EpochChain b;
  b.commit({b.reg("before the change")});
  REQUIRE(encode(b.block(1)) == encode(a.block(1)));
  b.change_to(b.members({4, 5, 6}));

  auto a_sets = verify_sets(a.genesis, a.succession());
  REQUIRE(a_sets.is_ok());
  ChainVerifier v(b.genesis);
  v.expect_sets(*a_sets);
  REQUIRE(walk(v, b, 1, 1).is_ok());
  Status st = v.add_block(b.block(2), b.proof(2));
  CHECK(st.code() == "CHAIN_SUCCESSION_MISMATCH");

  // A succession that names no change, while the block holds one.
  ChainVerifier none(a.genesis);
  none.expect_sets(genesis_sets(a.genesis));
  REQUIRE(walk(none, a, 1, 1).is_ok());
  CHECK(none.add_block(a.block(2), a.proof(2)).code() == "CHAIN_SUCCESSION_MISMATCH");
  // A succession naming a change at a block that holds none.
  ChainVerifier early(a.genesis);
  early.expect_sets(*a_sets);
  EpochChain quiet;
  quiet.commit({quiet.reg("before the change")});
  quiet.commit({});
  REQUIRE(walk(early, quiet, 1, 1).is_ok());
  CHECK(early.add_block(quiet.block(2), quiet.proof(2)).code() == "CHAIN_SUCCESSION_MISMATCH");
}

TEST_CASE("validators: checkpoints are counted against the set in force at their size") {
  Changed c;
  auto sets = verify_sets(c.genesis, c.succession());
  REQUIRE(sets.is_ok());
  const auto verify = [&](const std::string& note) {
    auto r = verify_checkpoint(note, c.genesis, sets->sets, sets->succession);
    return r.is_ok() ? std::string("OK") : r.status().code();
  };
  // Log sizes: block 1 -> 1, block 2 (the change) -> 2, blocks 3 and 4 -> 3.
  REQUIRE(c.block(2).header.log_size == 2);
  REQUIRE(c.block(4).header.log_size == 3);
  const ValidatorSet e1 = c.epoch1();
  CHECK(verify(checkpoint_of(c, e1, {0, 1, 2})) == "OK");
  CHECK(verify(checkpoint_of(c, c.genesis_set, {0, 1, 2})) == "CHECKPOINT_NO_QUORUM");
  // At the change block's size both sets may have cosigned it.
  CHECK(verify(checkpoint_of(c, c.genesis_set, {0, 1, 2}, 2)) == "OK");
  CHECK(verify(checkpoint_of(c, e1, {1, 2, 3}, 2)) == "OK");
  // Below it, only the old set.
  CHECK(verify(checkpoint_of(c, c.genesis_set, {0, 1, 3}, 1)) == "OK");
  CHECK(verify(checkpoint_of(c, e1, {0, 1, 2}, 1)) == "CHECKPOINT_NO_QUORUM");
  // Below quorum of the right set.
  CHECK(verify(checkpoint_of(c, e1, {0, 1})) == "CHECKPOINT_NO_QUORUM");
  // The single-set forms.
  CHECK(verify_checkpoint(checkpoint_of(c, e1, {0, 1, 2}), c.genesis.chain_id, e1).is_ok());
  CHECK(verify_checkpoint(checkpoint_of(c, e1, {0, 1, 2}), c.genesis).status().code() ==
        "CHECKPOINT_NO_QUORUM");
  CHECK(verify_checkpoint(checkpoint_of(c, c.genesis_set, {0, 1, 2}, 1), c.genesis).is_ok());
}

// ---- the SDK, against the node's API over the kernel ----

namespace {

struct Sdk {
  Changed& c;
  ApiTransport* api;
  std::unique_ptr<Client> client;
  explicit Sdk(Changed& chain) : c(chain) {
    auto t = std::make_unique<ApiTransport>(*c.ledger, c.vals[0]);
    api = t.get();
    client = std::make_unique<Client>(std::move(t), c.genesis);
  }
};

// Replaces field `key` of a JSON answer.
void set_field(client::HttpResponse& res, const std::string& key, const Json& value) {
  Json j = Json::parse(res.body);
  j[key] = value;
  res.body = j.dump();
}

}  // namespace

TEST_CASE("validators: the SDK learns the sets from GET /v1/validators and checks them") {
  Changed c;
  Sdk s(c);
  auto sets = s.client->validator_sets();
  REQUIRE_MESSAGE(sets.is_ok(), sets.status().to_string());
  REQUIRE(sets->sets.size() == 2);
  CHECK(encode(sets->current()) == encode(c.epoch1()));
  CHECK(sets->for_height(2).epoch == 0);
  CHECK(sets->for_height(3).epoch == 1);

  SUBCASE("the stated set must be the proven one") {
    s.api->set_tamper([](const std::string& t, client::HttpResponse& res) {
      if (t == "/v1/validators") set_field(res, "epoch", 0);
    });
    auto r = s.client->validator_sets(/*refresh=*/true);
    CHECK(r.status().code() == "SUCCESSION_INVALID");
  }
  SUBCASE("a member's address changed in the plain list") {
    s.api->set_tamper([](const std::string& t, client::HttpResponse& res) {
      if (t != "/v1/validators") return;
      Json j = Json::parse(res.body);
      j["validators"][1]["address"] = "10.9.9.9:1";
      res.body = j.dump();
    });
    CHECK(s.client->validator_sets(true).status().code() == "SUCCESSION_INVALID");
  }
  SUBCASE("a tampered state proof in the succession") {
    Succession bad = c.succession();
    bad.changes[0].next_set.value = encode(ValidatorSet{1, 3, c.members({0, 1, 2, 4})});
    const auto tamper = [&](const std::string& t, client::HttpResponse& res) {
      if (t == "/v1/validators") set_field(res, "succession", to_hex(ByteView(encode(bad))));
    };
    s.api->set_tamper(tamper);
    auto r = s.client->validator_sets(true);
    CHECK(r.status().code() == "SUCCESSION_INVALID");
    CHECK(classify(r.status()) == ErrorClass::kVerifiedFalse);
    // A client with nothing kept judges no header without verified sets.
    auto* t = new ApiTransport(*c.ledger, c.vals[0]);
    t->set_tamper(tamper);
    Client fresh(std::unique_ptr<client::Transport>(t), c.genesis);
    CHECK(fresh.header(3).status().code() == "SUCCESSION_INVALID");
    CHECK(fresh.header(1).status().code() == "SUCCESSION_INVALID");
  }
  SUBCASE("an older node without the route: the genesis set alone") {
    auto* t = new ApiTransport(*c.ledger, c.vals[0]);
    Client older(std::unique_ptr<client::Transport>(t), c.genesis);
    t->set_tamper([](const std::string& target, client::HttpResponse& res) {
      if (target != "/v1/validators") return;
      res.status = 404;
      res.body = R"({"error":{"code":"NOT_FOUND","message":"no such path: /v1/validators"}})";
    });
    auto r = older.validator_sets();
    REQUIRE(r.is_ok());
    CHECK(r->sets.size() == 1);
    // Which only makes headers of epoch 1 fail, never pass.
    CHECK(older.header(2).is_ok());
    CHECK(older.header(3).status().code().rfind("CERT_", 0) == 0);
  }
}

TEST_CASE("validators: the SDK judges headers above a change by the new set, refreshing once") {
  EpochChain c;
  c.commit({c.reg("before")});
  auto t = std::make_unique<ApiTransport>(*c.ledger, c.vals[0]);
  ApiTransport* api = t.get();
  Client client(std::move(t), c.genesis);
  REQUIRE(client.latest_header().is_ok());
  REQUIRE(client.validator_sets()->sets.size() == 1);
  CHECK(api->requests("/v1/validators") == 1);

  c.change_to(c.members({4, 5, 6, 7}));
  c.commit({c.reg("after")});
  // Height 2 is still of epoch 0: judged with the kept sets.
  CHECK(client.header(2).is_ok());
  CHECK(api->requests("/v1/validators") == 1);
  // Height 3 fails under them, so the client asks again, once.
  auto h3 = client.header(3);
  REQUIRE_MESSAGE(h3.is_ok(), h3.status().to_string());
  CHECK(api->requests("/v1/validators") == 2);
  CHECK(client.latest_header().is_ok());
  auto hs = client.headers(1, 3);
  REQUIRE_MESSAGE(hs.is_ok(), hs.status().to_string());
  CHECK(api->requests("/v1/validators") == 2);
  // A header forged by the retired set stays refused, after one more look.
  api->set_tamper([&](const std::string& target, client::HttpResponse& res) {
    if (target != "/v1/headers/3") return;
    const BlockHeader h = c.block(3).header;
    set_field(res, "certificate",
              to_hex(ByteView(encode(c.quorum_cert(genesis_validator_set(c.genesis), h)))));
  });
  auto forged = client.header(3);
  CHECK(forged.status().code().rfind("CERT_", 0) == 0);
  CHECK(classify(forged.status()) == ErrorClass::kVerifiedFalse);
  CHECK(api->requests("/v1/validators") == 3);
}

TEST_CASE("validators: the SDK's chain audit, checkpoint and bundles across a change") {
  Changed c;
  Sdk s(c);
  s.api->set_checkpoint(client_test::checkpoint_of(c, c.epoch1(), {0, 1, 2}));
  auto r = s.client->verify_chain();
  REQUIRE(r.is_ok());
  CHECK_MESSAGE(r->valid, r->failure.to_string());
  CHECK(r->height == 4);
  CHECK(r->epoch == 1);
  CHECK(r->changes_seen == 1);

  // A checkpoint of the head's size cosigned by the retired set is refused.
  s.api->set_checkpoint(client_test::checkpoint_of(c, c.genesis_set, {0, 1, 2}));
  CHECK(s.client->checkpoint().status().code() == "CHECKPOINT_NO_QUORUM");
  // One from before the change, by the set then in force, still verifies.
  s.api->set_checkpoint(client_test::checkpoint_of(c, c.genesis_set, {0, 1, 2}, 1));
  CHECK(s.client->checkpoint().is_ok());

  SUBCASE("a node whose succession hides the change fails the audit") {
    auto* t = new ApiTransport(*c.ledger, c.vals[0]);
    t->set_checkpoint(client_test::checkpoint_of(c, c.epoch1(), {0, 1, 2}));
    t->set_tamper([&](const std::string& target, client::HttpResponse& res) {
      if (target != "/v1/validators") return;
      const ValidatorSet g = c.genesis_set;
      set_field(res, "succession", to_hex(ByteView(encode(Succession{}))));
      set_field(res, "encoded", to_hex(ByteView(encode(g))));
      set_field(res, "epoch", 0);
      set_field(res, "since_height", 1);
      Json list = Json::array();
      for (const auto& v : g.validators)
        list.push_back({{"org_id", v.org_id},
                        {"public_key", to_hex(ByteView(v.public_key))},
                        {"address", v.address}});
      set_field(res, "validators", list);
    });
    Client fooled(std::unique_ptr<client::Transport>(t), c.genesis);
    REQUIRE(fooled.validator_sets().is_ok());  // the forgery itself is well formed
    auto hidden = fooled.verify_chain();
    REQUIRE(hidden.is_ok());
    CHECK_FALSE(hidden->valid);
    CHECK(hidden->failure.code().rfind("CERT_", 0) == 0);
    // A client that knew the change keeps it when a node answers an older
    // succession, and its audit passes.
    s.api->set_tamper(t->tamper());
    auto kept = s.client->verify_chain();
    REQUIRE(kept.is_ok());
    CHECK_MESSAGE(kept->valid, kept->failure.to_string());
    CHECK(s.client->validator_sets()->sets.size() == 2);
  }

  SUBCASE("a bundle as of a height above the change verifies, online and offline") {
    const Hash file = crypto::sha256(as_bytes("after the change"));
    auto b = s.client->fetch_bundle(file);
    REQUIRE_MESSAGE(b.is_ok(), b.status().to_string());
    CHECK(b->verdict.overall == Verdict::kValid);
    CHECK(b->bundle.header.height >= 3);
    CHECK(b->bundle.succession.changes.size() == 1);
    const std::string path = c.dir.file("after.bundle");
    REQUIRE(write_bundle_file(path, b->encoded).is_ok());
    auto read = read_bundle_file(path);
    REQUIRE(read.is_ok());
    auto v = verify_bundle(c.genesis, *read, file);
    REQUIRE_MESSAGE(v.is_ok(), v.status().to_string());
    CHECK(v->overall == Verdict::kValid);
    // Without its succession the header is judged by the genesis set.
    ProofBundle stripped = *read;
    stripped.succession.changes.clear();
    CHECK_FALSE(verify_bundle(c.genesis, stripped, file).is_ok());
  }
}

TEST_CASE("validators: the SDK's audit of a node restored above a change") {
  Changed c;
  c.commit({c.reg("epoch one, block 5")});
  c.commit({c.reg("epoch one, block 6")});
  // A snapshot at height 6 carrying two whole blocks, restored elsewhere:
  // the node holds no block at or below the change (height 2).
  Bytes snapshot;
  auto written = write_snapshot(
      *c.ledger,
      [&](ByteView b) {
        snapshot.insert(snapshot.end(), b.begin(), b.end());
        return Status::ok();
      },
      2);
  REQUIRE_MESSAGE(written.is_ok(), written.status().to_string());
  client_test::TempDir dir;
  auto target = open_leveldb(dir.file("db"));
  auto scratch = open_leveldb(dir.file("sort"));
  REQUIRE((target.is_ok() && scratch.is_ok()));
  std::size_t pos = 0;
  auto imported = import_snapshot(
      [&](std::span<std::uint8_t> out) -> Result<std::size_t> {
        const std::size_t n = std::min(out.size(), snapshot.size() - pos);
        std::copy_n(snapshot.begin() + static_cast<std::ptrdiff_t>(pos), n, out.begin());
        pos += n;
        return n;
      },
      c.genesis, **target, **scratch, 2);
  REQUIRE_MESSAGE(imported.is_ok(), imported.status().to_string());
  auto restored = Ledger::open(std::move(*target), c.genesis);
  REQUIRE_MESSAGE(restored.is_ok(), restored.status().to_string());
  REQUIRE((*restored)->base_height() > 2);

  const auto audit = [&](ApiTransport::Tamper tamper) {
    auto* t = new ApiTransport(**restored, c.vals[0]);
    t->set_checkpoint(client_test::checkpoint_of(c, c.epoch1(), {0, 1, 2}));
    t->set_tamper(std::move(tamper));
    Client client(std::unique_ptr<client::Transport>(t), c.genesis);
    auto r = client.verify_chain();
    REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
    return *r;
  };
  ChainReport r = audit({});
  CHECK_MESSAGE(r.valid, r.failure.to_string());
  CHECK(r.base_height == (*restored)->base_height());
  CHECK(r.height == 6);
  CHECK(r.epoch == 1);
  CHECK(r.changes_seen == 0);  // below the base: the succession's word, checked against the state

  // The same node hiding the change: the base is judged by the genesis set.
  r = audit([&](const std::string& target, client::HttpResponse& res) {
    if (target != "/v1/validators") return;
    res.status = 404;
    res.body = R"({"error":{"code":"NOT_FOUND","message":"no such path"}})";
  });
  CHECK_FALSE(r.valid);
  CHECK(r.failure.code().rfind("CERT_", 0) == 0);
}
