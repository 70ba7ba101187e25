// Validator-set changes (validator_set.hpp, docs/validator-set-changes.md):
// the ChangeValidators rules, the set in force by height, commits judged by
// the epoch of their height, the succession a light client checks, and how
// snapshots and proof bundles carry it.
#include "emledger/ledger/validator_set.hpp"

#include "emledger/ledger/bundle.hpp"
#include "emledger/ledger/json.hpp"
#include "emledger/ledger/snapshot.hpp"
#include "emledger/ledger/votes.hpp"
#include "fixture.hpp"

using namespace emledger;
using namespace emledger::ledger;
using emledger::testing::Net;
using emledger::testing::TempDir;

namespace {

// Net with four genesis validators (f = 1, quorum 3) of two validator orgs,
// and spare validator keys for later sets.
struct ValNet : Net {
  std::vector<crypto::KeyPair> keys;  // 50 .. 59: every validator key a test uses
  std::uint64_t view = 0;

  ValNet() {
    ledger.reset();
    std::filesystem::remove_all(dir.path() / "db");
    for (std::uint8_t i = 0; i < 10; ++i)
      keys.push_back(testing::key_from(static_cast<std::uint8_t>(50 + i)));
    genesis.orgs.push_back(Org{"w.node", "r2", kRoleValidator, {OrgKey{1, keys[9].public_key()}}});
    std::sort(genesis.orgs.begin(), genesis.orgs.end(),
              [](const Org& x, const Org& y) { return x.id < y.id; });
    genesis.validators = members({0, 1, 2, 3});
    REQUIRE(genesis.quorum() == 3);
    reopen();
  }

  // Validators with keys[i] for each i, alternately of the two orgs.
  std::vector<Validator> members(std::initializer_list<std::size_t> idx) const {
    std::vector<Validator> out;
    for (std::size_t i : idx)
      out.push_back(Validator{i % 2 ? "w.node" : "v.node", keys[i].public_key(),
                              "10.0.0." + std::to_string(i) + ":7000"});
    return out;
  }

  const crypto::KeyPair& key_of(const PublicKey& pk) const {
    for (const auto& k : keys)
      if (k.public_key() == pk) return k;
    FAIL("no test key for a validator");
    return keys[0];
  }

  ValidatorSet current() const {
    auto s = ledger->validators();
    REQUIRE(s.is_ok());
    return *s;
  }

  // A change of `by` (whose epoch it names unless `epoch` is given) to
  // `next`, approved by the validators of `by` at `approvers`.
  ChangeValidators change(const ValidatorSet& by, std::vector<Validator> next,
                          std::initializer_list<std::uint16_t> approvers,
                          std::optional<Epoch> epoch = std::nullopt) const {
    ChangeValidators c;
    c.epoch = epoch.value_or(by.epoch);
    c.validators = std::move(next);
    for (std::uint16_t i : approvers)
      approve_validator_change(genesis.chain_id, by, i, key_of(by.validators[i].public_key), c);
    return c;
  }

  Tx change_tx(const ChangeValidators& c) {
    return tx(issuer_b, "b.issuer", TxType::kChangeValidators, c);
  }

  // The next block on `parent` (or on the head), not committed.
  PreparedBlock prepare(const std::vector<Tx>& txs, const PreparedBlock* parent = nullptr,
                        std::vector<TxOutcome>* outcomes_out = nullptr) {
    std::vector<TxOutcome> outcomes;
    clock_ms += 1000;
    view += 1;
    auto p = ledger->prepare(txs, clock_ms, view, keys[0].public_key(), false, outcomes, parent);
    REQUIRE_MESSAGE(p.is_ok(), p.status().to_string());
    if (outcomes_out) *outcomes_out = outcomes;
    return std::move(*p);
  }

  // A certificate of `h` by the validators of `set` at `signers`.
  Certificate cert(const ValidatorSet& set, const BlockHeader& h,
                   std::initializer_list<std::uint16_t> signers) const {
    Certificate c;
    for (std::uint16_t i : signers)
      sign_certificate_in_set(genesis.chain_id, set, h, i, key_of(set.validators[i].public_key), c);
    return c;
  }
  Certificate quorum_cert(const ValidatorSet& set, const BlockHeader& h) const {
    Certificate c;
    for (std::size_t i = 0; i < set.quorum(); ++i)
      sign_certificate_in_set(genesis.chain_id, set, h, static_cast<std::uint16_t>(i),
                              key_of(set.validators[i].public_key), c);
    return c;
  }

  // Prepares a block of `txs` and commits it certified by the set in force;
  // returns the outcomes.
  std::vector<TxOutcome> block(const std::vector<Tx>& txs) {
    std::vector<TxOutcome> outcomes;
    PreparedBlock p = prepare(txs, nullptr, &outcomes);
    const ValidatorSet set = current();
    Status st = ledger->commit(p, quorum_cert(set, p.block.header));
    REQUIRE_MESSAGE(st.is_ok(), st.to_string());
    return outcomes;
  }
  Status one(const Tx& t) {
    auto oc = block({t});
    REQUIRE(oc.size() == 1);
    return oc[0].status;
  }
  // Commits a change of the current set to `next` with a quorum of approvals.
  void change_to(std::vector<Validator> next) {
    const ValidatorSet by = current();
    ChangeValidators c;
    c.epoch = by.epoch;
    c.validators = std::move(next);
    for (std::size_t i = 0; i < by.quorum(); ++i)
      approve_validator_change(genesis.chain_id, by, static_cast<std::uint16_t>(i),
                               key_of(by.validators[i].public_key), c);
    REQUIRE(one(change_tx(c)).is_ok());
    REQUIRE(current().epoch == by.epoch + 1);
  }
};

std::string code_of(const std::vector<TxOutcome>& oc, std::size_t i = 0) {
  REQUIRE(oc.size() > i);
  return oc[i].status.code();
}

}  // namespace

TEST_CASE("validators: a change needs a quorum of the set in force and moves the epoch") {
  ValNet net;
  const ValidatorSet genesis_set = net.current();
  CHECK(genesis_set.epoch == 0);
  CHECK(genesis_set.since_height == 1);
  CHECK(encode(genesis_set) == encode(genesis_validator_set(net.genesis)));
  const auto next = net.members({4, 5, 6, 7, 8});

  CHECK(net.one(net.change_tx(net.change(genesis_set, next, {0, 3}))).code() ==
        "VALIDATORS_NO_QUORUM");
  CHECK(net.current().epoch == 0);
  CHECK_FALSE(net.ledger->state_value(validators_state_key())->has_value());

  REQUIRE(net.one(net.change_tx(net.change(genesis_set, next, {0, 2, 3}))).is_ok());
  const std::uint64_t h = net.ledger->head().height;
  const ValidatorSet now = net.current();
  CHECK(now.epoch == 1);
  CHECK(now.since_height == h + 1);
  CHECK(encode(ValidatorList{now.validators}) == encode(ValidatorList{next}));
  // The state names it, under the current key and the history key.
  auto cur = net.ledger->state_value(validators_state_key());
  auto hist = net.ledger->state_value(validators_history_state_key(1));
  REQUIRE((cur.is_ok() && cur->has_value() && hist.is_ok() && hist->has_value()));
  CHECK(**cur == encode(now));
  CHECK(**hist == encode(now));
  CHECK_FALSE(net.ledger->state_value(validators_history_state_key(0))->has_value());
  // The set survives a reopen (it is read back from state, not replayed).
  net.reopen();
  CHECK(encode(net.current()) == encode(now));
}

TEST_CASE("validators: a change naming another epoch, or replaying older approvals, is refused") {
  ValNet net;
  const ValidatorSet e0 = net.current();
  // Epoch 1 does not exist yet.
  CHECK(net.one(net.change_tx(net.change(e0, net.members({4, 5, 6, 7}), {0, 1, 2}, 1))).code() ==
        "VALIDATORS_EPOCH_MISMATCH");
  // Epoch 1 keeps the same keys (only the addresses move): approvals of
  // epoch 0 are signatures by the very keys of epoch 1, over another epoch.
  std::vector<Validator> same = net.members({0, 1, 2, 3});
  for (auto& v : same) v.address += "1";
  const ChangeValidators first = net.change(e0, same, {0, 1, 2});
  REQUIRE(net.one(net.change_tx(first)).is_ok());
  const ValidatorSet e1 = net.current();
  REQUIRE(e1.epoch == 1);
  // The same change again (a new transaction): its epoch is over.
  CHECK(net.one(net.change_tx(first)).code() == "VALIDATORS_EPOCH_MISMATCH");
  // Its approvals relabelled for epoch 1 do not verify.
  ChangeValidators replay = first;
  replay.epoch = 1;
  CHECK(net.one(net.change_tx(replay)).code() == "VALIDATORS_INVALID");
  // Epoch 1's own approvals do.
  CHECK(net.one(net.change_tx(net.change(e1, net.members({4, 5, 6, 7}), {1, 2, 3}))).is_ok());
  CHECK(net.current().epoch == 2);
}

TEST_CASE("validators: malformed sets, unknown orgs and bad approvals are refused") {
  ValNet net;
  const ValidatorSet e0 = net.current();
  const auto code = [&](const ChangeValidators& c) { return net.one(net.change_tx(c)).code(); };

  ChangeValidators bad_sig = net.change(e0, net.members({4, 5}), {0, 1, 2});
  bad_sig.approvals[1].signature[5] ^= 0x01;
  CHECK(code(bad_sig) == "VALIDATORS_INVALID");
  // An approval of a validator outside the set, or twice the same one.
  ChangeValidators outside = net.change(e0, net.members({4, 5}), {0, 1, 2});
  outside.approvals.back().validator = 4;
  CHECK(code(outside) == "VALIDATORS_INVALID");
  ChangeValidators twice = net.change(e0, net.members({4, 5}), {0, 1});
  twice.approvals.push_back(twice.approvals.back());
  CHECK(code(twice) == "VALIDATORS_INVALID");

  CHECK(code(net.change(e0, {}, {0, 1, 2})) == "VALIDATORS_INVALID");
  CHECK(code(net.change(e0, net.members({4, 5, 4}), {0, 1, 2})) == "VALIDATORS_INVALID");
  auto unknown = net.members({4, 5});
  unknown[1].org_id = "zz.nobody";
  CHECK(code(net.change(e0, unknown, {0, 1, 2})) == "VALIDATORS_INVALID");
  auto not_validator = net.members({4, 5});
  not_validator[0].org_id = "c.consumer";  // an org, but without the validator role
  CHECK(code(net.change(e0, not_validator, {0, 1, 2})) == "VALIDATORS_INVALID");
  auto no_address = net.members({4, 5});
  no_address[0].address.clear();
  CHECK(code(net.change(e0, no_address, {0, 1, 2})) == "VALIDATORS_INVALID");

  // A payload that is not a ChangeValidators.
  TxBody b = make_body(TxType::kChangeValidators, RevokeRecord{Hash{}, 1});
  b.chain_id = net.genesis.chain_id;
  b.signer_org = "b.issuer";
  b.key_id = 1;
  b.expires_at_height = net.ledger->head().height + 10;
  b.nonce = 999;
  CHECK(net.one(sign_tx(std::move(b), net.issuer_b)).code() == "INVALID_PAYLOAD");
  // A holder cannot sign one.
  TxBody hb = make_body(TxType::kChangeValidators, net.change(e0, net.members({4}), {0, 1, 2}));
  hb.chain_id = net.genesis.chain_id;
  hb.expires_at_height = net.ledger->head().height + 10;
  CHECK(net.one(sign_tx(std::move(hb), net.holder)).code() == "TX_MALFORMED");

  CHECK(net.current().epoch == 0);
  // Each refusal above would have applied with its defect fixed.
  CHECK(net.one(net.change_tx(net.change(e0, net.members({4, 5}), {0, 1, 2}))).is_ok());
}

TEST_CASE("validators: a block holds at most one change") {
  ValNet net;
  const ValidatorSet e0 = net.current();
  const auto next = net.members({4, 5, 6, 7});
  const ChangeValidators a = net.change(e0, next, {0, 1, 2});
  const ChangeValidators b = net.change(e0, net.members({0, 1, 2}), {1, 2, 3});
  // A second change by the new set (epoch 1), which its quorum approved.
  ValidatorSet e1_pending{1, net.ledger->head().height + 2, next};
  const ChangeValidators c = net.change(e1_pending, net.members({0, 1, 2, 3}), {0, 1, 2});
  auto oc = net.block({net.change_tx(a), net.change_tx(b), net.change_tx(c)});
  CHECK(oc[0].status.is_ok());
  CHECK(code_of(oc, 1) == "VALIDATORS_EPOCH_MISMATCH");
  CHECK(code_of(oc, 2) == "VALIDATORS_EPOCH_MISMATCH");
  CHECK(net.current().epoch == 1);
  CHECK(net.current().since_height == net.ledger->head().height + 1);
  // In the next block, c is a valid change of epoch 1.
  CHECK(net.one(net.change_tx(c)).is_ok());
  CHECK(net.current().epoch == 2);
}

TEST_CASE("validators: the change block is judged by the old epoch, the next block by the new") {
  ValNet net;
  const ValidatorSet e0 = net.current();
  // The new set keeps the keys (addresses change): only the epoch in the
  // signed statement tells the two sets' certificates apart.
  std::vector<Validator> same = net.members({0, 1, 2, 3});
  for (auto& v : same) v.address = "192.168.0.1:" + std::to_string(&v - same.data());
  PreparedBlock h = net.prepare({net.change_tx(net.change(e0, same, {0, 1, 2}))});
  const std::uint64_t hh = h.block.header.height;
  auto after = net.ledger->validators_after(&h);
  REQUIRE(after.is_ok());
  CHECK(after->epoch == 1);
  CHECK(after->since_height == hh + 1);
  CHECK(net.ledger->validators_after(nullptr)->epoch == 0);
  const ValidatorSet e1 = *after;

  // The change block under epoch 1 is refused; under epoch 0 it commits.
  CHECK(net.ledger->commit(h, net.quorum_cert(e1, h.block.header)).code() == "CERT_BAD_SIGNATURE");
  REQUIRE(net.ledger->commit(h, net.quorum_cert(e0, h.block.header)).is_ok());
  CHECK(net.current().epoch == 1);

  PreparedBlock next = net.prepare({net.reg("after the change")});
  CHECK(net.ledger->commit(next, net.quorum_cert(e0, next.block.header)).code() ==
        "CERT_BAD_SIGNATURE");
  CHECK(net.ledger->head().height == hh);
  REQUIRE(net.ledger->commit(next, net.quorum_cert(e1, next.block.header)).is_ok());
  CHECK(net.ledger->head().height == hh + 1);

  // With other keys, the old set's certificate fails the same way.
  const auto others = net.members({4, 5, 6, 7});
  net.change_to(others);
  const ValidatorSet e2 = net.current();
  PreparedBlock third = net.prepare({});
  CHECK_FALSE(net.ledger->commit(third, net.quorum_cert(e1, third.block.header)).is_ok());
  CHECK(net.ledger->commit(third, net.quorum_cert(e2, third.block.header)).is_ok());
}

TEST_CASE("validators: a change block final through tail blocks of its own epoch") {
  ValNet net;
  const ValidatorSet e0 = net.current();
  PreparedBlock h =
      net.prepare({net.change_tx(net.change(e0, net.members({4, 5, 6, 7}), {0, 1, 2}))});
  // Two empty tail blocks on h, certified by the epoch that ends.
  PreparedBlock t1 = net.prepare({}, &h);
  PreparedBlock both = h;
  for (const auto& [k, v] : t1.writes.entries()) both.writes.put(k, v);
  both.new_head = t1.new_head;
  PreparedBlock t2 = net.prepare({}, &both);
  const ValidatorSet e1 = *net.ledger->validators_after(&h);

  // The tail top certified by epoch 1 proves nothing about h.
  FinalityProof wrong{net.quorum_cert(e1, t2.block.header), {t1.block.header, t2.block.header}};
  CHECK_FALSE(net.ledger->commit(h, wrong).is_ok());
  FinalityProof proof{net.quorum_cert(e0, t2.block.header), {t1.block.header, t2.block.header}};
  REQUIRE(net.ledger->commit(h, proof).is_ok());
  CHECK(net.current().epoch == 1);
  // The tail blocks are never committed: a tail block's own certificate of
  // epoch 0 does not make it the block at h + 1.
  CHECK_FALSE(net.ledger->commit(t1, net.quorum_cert(e0, t1.block.header)).is_ok());
  CHECK(net.ledger->head().height == h.block.header.height);
  auto served = net.ledger->finality_proof(h.block.header.height);
  REQUIRE((served.is_ok() && served->has_value()));
  CHECK(verify_finality_in_set(net.genesis.chain_id, e0, h.block.header, **served).is_ok());
  // The chain goes on under epoch 1.
  PreparedBlock next = net.prepare({net.reg("epoch one")});
  CHECK(net.ledger->commit(next, net.quorum_cert(e1, next.block.header)).is_ok());
  // The succession carries the change in its descendant form.
  auto s = net.ledger->succession();
  REQUIRE(s.is_ok());
  REQUIRE(s->changes.size() == 1);
  CHECK(s->changes[0].finality.links.size() == 2);
  auto sets = verify_succession(net.genesis, *s);
  REQUIRE_MESSAGE(sets.is_ok(), sets.status().to_string());
  CHECK(encode(sets->back()) == encode(e1));
}

TEST_CASE("validators: validators_at and the succession across two changes") {
  ValNet net;
  net.block({net.reg("a")});
  net.change_to(net.members({4, 5, 6, 7}));
  const std::uint64_t h1 = net.ledger->head().height;
  net.block({net.reg("b")});
  net.block({});
  net.change_to(net.members({1, 4, 8}));
  const std::uint64_t h2 = net.ledger->head().height;
  net.block({net.reg("c")});

  const auto epoch_at = [&](std::uint64_t height) {
    auto s = net.ledger->validators_at(height);
    REQUIRE(s.is_ok());
    return s->epoch;
  };
  for (std::uint64_t k = 1; k <= h1; ++k) CHECK(epoch_at(k) == 0);
  for (std::uint64_t k = h1 + 1; k <= h2; ++k) CHECK(epoch_at(k) == 1);
  CHECK(epoch_at(h2 + 1) == 2);
  CHECK(epoch_at(h2 + 100) == 2);
  CHECK(encode(*net.ledger->validators_at(h1 + 1)) ==
        **net.ledger->state_value(validators_history_state_key(1)));

  auto s = net.ledger->succession();
  REQUIRE(s.is_ok());
  REQUIRE(s->changes.size() == 2);
  CHECK(s->changes[0].header.height == h1);
  CHECK(s->changes[1].header.height == h2);
  auto sets = verify_succession(net.genesis, *s);
  REQUIRE_MESSAGE(sets.is_ok(), sets.status().to_string());
  REQUIRE(sets->size() == 3);
  for (std::uint64_t k = 1; k <= net.ledger->head().height + 1; ++k) {
    CAPTURE(k);
    CHECK(encode(set_for_height(*sets, k)) == encode(*net.ledger->validators_at(k)));
  }
  // Every committed header verifies under the set the succession gives it.
  for (std::uint64_t k = 1; k <= net.ledger->head().height; ++k) {
    CAPTURE(k);
    CHECK(verify_finality_in_set(net.genesis.chain_id, set_for_height(*sets, k),
                                 **net.ledger->header(k), **net.ledger->finality_proof(k))
              .is_ok());
  }
  net.reopen();
  auto again = net.ledger->succession();
  REQUIRE(again.is_ok());
  CHECK(encode(*again) == encode(*s));
  CHECK(net.ledger->validators()->epoch == 2);
}

TEST_CASE("validators: an empty set approves and certifies nothing") {
  ValNet net;
  const ValidatorSet empty{3, 10, {}};
  ChangeValidators c;
  c.epoch = 3;
  c.validators = net.members({4});
  CHECK(verify_validator_change(net.genesis.chain_id, empty, c).code() == "VALIDATORS_INVALID");
  PreparedBlock p = net.prepare({});
  CHECK(verify_certificate_in_set(
            net.genesis.chain_id, empty, p.block.header,
            Certificate{p.block.header.height, p.block.header.view, p.block.header.hash(), {}})
            .code() == "CERT_NO_QUORUM");
}

TEST_CASE("validators: the API form of a change names its set and approvals") {
  ValNet net;
  const ChangeValidators c = net.change(net.current(), net.members({4, 5}), {0, 2, 3});
  const Json j = to_json(net.change_tx(c));
  CHECK(j["type"] == "change_validators");
  CHECK(j["payload"]["epoch"] == 0);
  REQUIRE(j["payload"]["validators"].size() == 2);
  CHECK(j["payload"]["validators"][1]["org_id"] == "w.node");
  CHECK(j["payload"]["validators"][1]["address"] == "10.0.0.5:7000");
  REQUIRE(j["payload"]["approvals"].size() == 3);
  CHECK(j["payload"]["approvals"][2]["validator"] == 3);
}

TEST_CASE("validators: verify_succession refuses every broken link") {
  ValNet net;
  net.change_to(net.members({4, 5, 6, 7}));
  net.block({});
  net.change_to(net.members({0, 5, 8}));
  auto good = net.ledger->succession();
  REQUIRE(good.is_ok());
  REQUIRE(verify_succession(net.genesis, *good).is_ok());
  CHECK(verify_succession(net.genesis, Succession{})->size() == 1);
  const auto code = [&](const Succession& s) {
    return verify_succession(net.genesis, s).status().code();
  };

  Succession swapped = *good;
  std::swap(swapped.changes[0], swapped.changes[1]);
  CHECK_FALSE(verify_succession(net.genesis, swapped).is_ok());
  Succession skipped{{good->changes[1]}};  // epoch 1's change judged by epoch 0
  CHECK(code(skipped).rfind("CERT_", 0) == 0);
  Succession repeated{{good->changes[0], good->changes[0]}};
  CHECK(code(repeated) == "SUCCESSION_INVALID");
  Succession bad_cert = *good;
  bad_cert.changes[1].finality.certificate.signatures[0].signature[0] ^= 1;
  CHECK(code(bad_cert) == "CERT_BAD_SIGNATURE");
  Succession bad_header = *good;
  bad_header.changes[0].header.time_ms += 1;
  CHECK(code(bad_header) == "CERT_MISMATCH");
  Succession other_key = *good;
  other_key.changes[0].next_set.key = validators_history_state_key(1);
  CHECK(code(other_key) == "SUCCESSION_INVALID");
  Succession bad_value = *good;
  bad_value.changes[0].next_set.value.back() ^= 1;
  CHECK(code(bad_value) == "SUCCESSION_INVALID");
  Succession absent = *good;
  absent.changes[0].next_set.present = false;
  CHECK(code(absent) == "SUCCESSION_INVALID");
}

namespace {

Bytes snapshot_bytes(const Ledger& l, std::uint64_t window) {
  Bytes out;
  auto r = write_snapshot(
      l,
      [&](ByteView b) {
        out.insert(out.end(), b.begin(), b.end());
        return Status::ok();
      },
      window);
  REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
  return out;
}

// A restored ledger in its own directory; `imported` is the import's result.
struct Restored {
  TempDir dir;
  std::unique_ptr<KvStore> target;
  Status imported;

  Restored(const Bytes& snapshot, const Genesis& genesis, std::uint64_t window_min) {
    auto t = open_leveldb(dir.str() + "/db");
    REQUIRE(t.is_ok());
    target = std::move(*t);
    auto scratch = open_leveldb(dir.str() + "/sort");
    REQUIRE(scratch.is_ok());
    std::size_t pos = 0;
    auto r = import_snapshot(
        [&](std::span<std::uint8_t> out) -> Result<std::size_t> {
          const std::size_t n = std::min(out.size(), snapshot.size() - pos);
          std::copy_n(snapshot.begin() + static_cast<std::ptrdiff_t>(pos), n, out.begin());
          pos += n;
          return n;
        },
        genesis, *target, **scratch, window_min);
    imported = r.status();
  }
  std::unique_ptr<Ledger> open(const Genesis& genesis) {
    REQUIRE_MESSAGE(imported.is_ok(), imported.to_string());
    auto l = Ledger::open(std::move(target), genesis);
    REQUIRE_MESSAGE(l.is_ok(), l.status().to_string());
    return std::move(*l);
  }
};

// The snapshot with its manifest (the first frame) rewritten by `edit`.
template <class Edit>
Bytes with_manifest(const Bytes& snapshot, Edit edit) {
  std::size_t n = 0;
  for (int i = 0; i < 4; ++i) n = (n << 8) | snapshot[static_cast<std::size_t>(i)];
  auto m = decode<SnapshotManifest>(ByteView(snapshot.data() + 4, n));
  REQUIRE(m.is_ok());
  edit(*m);
  const Bytes body = encode(*m);
  Bytes out;
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(body.size() >> (8 * i)));
  out.insert(out.end(), body.begin(), body.end());
  out.insert(out.end(), snapshot.begin() + 4 + static_cast<std::ptrdiff_t>(n), snapshot.end());
  return out;
}

// Two changes, then `tail` more blocks.
void two_changes(ValNet& net, int tail) {
  net.block({net.reg("first")});
  net.change_to(net.members({4, 5, 6, 7}));
  net.block({net.reg("second")});
  net.block({});
  net.change_to(net.members({1, 4, 8}));
  for (int i = 0; i < tail; ++i) net.block({net.reg("more-" + std::to_string(i))});
}

Hash file_hash(std::string_view content) { return crypto::sha256(as_bytes(content)); }

}  // namespace

TEST_CASE("validators: a snapshot above two changes imports and keeps its succession") {
  ValNet net;
  two_changes(net, 4);
  constexpr std::uint64_t kWindow = 2;
  const std::uint64_t s = net.ledger->head().height;
  auto before = net.ledger->succession();
  REQUIRE((before.is_ok() && before->changes.size() == 2));
  REQUIRE(before->changes.back().header.height + kWindow < s);  // both below the window
  const Bytes snap = snapshot_bytes(*net.ledger, kWindow);

  Restored r(snap, net.genesis, kWindow);
  auto restored = r.open(net.genesis);
  CHECK(restored->base_height() == s);
  CHECK_FALSE(restored->header(before->changes[0].header.height)->has_value());
  auto after = restored->succession();
  REQUIRE_MESSAGE(after.is_ok(), after.status().to_string());
  CHECK(encode(*after) == encode(*before));
  CHECK(encode(*restored->validators()) == encode(*net.ledger->validators()));
  for (std::uint64_t k = 1; k <= s + 1; ++k) {
    CAPTURE(k);
    CHECK(encode(*restored->validators_at(k)) == encode(*net.ledger->validators_at(k)));
  }

  // The restored ledger goes on under epoch 2, and a snapshot of it (whose
  // changes it only holds as stored ones) imports again with the same
  // succession.
  for (int i = 0; i < 3; ++i) {
    std::vector<TxOutcome> outcomes;
    net.clock_ms += 1000;
    auto p =
        restored->prepare({}, net.clock_ms, 100 + i, net.keys[1].public_key(), false, outcomes);
    REQUIRE(p.is_ok());
    const ValidatorSet e2 = *restored->validators();
    const ValidatorSet e1 = *restored->validators_at(before->changes[1].header.height);
    CHECK(restored->commit(*p, net.quorum_cert(e1, p->block.header)).code().rfind("CERT_", 0) == 0);
    REQUIRE(restored->commit(*p, net.quorum_cert(e2, p->block.header)).is_ok());
  }
  const Bytes again = snapshot_bytes(*restored, kWindow);
  Restored r2(again, net.genesis, kWindow);
  auto twice = r2.open(net.genesis);
  CHECK(encode(*twice->succession()) == encode(*before));
}

TEST_CASE("validators: a snapshot whose succession is broken or incomplete is refused") {
  ValNet net;
  two_changes(net, 3);
  const Bytes snap = snapshot_bytes(*net.ledger, 2);
  REQUIRE(Restored(snap, net.genesis, 2).imported.is_ok());

  // Without the last change the header is judged by epoch 1 and fails.
  const Bytes dropped =
      with_manifest(snap, [](SnapshotManifest& m) { m.succession.changes.pop_back(); });
  CHECK(Restored(dropped, net.genesis, 2).imported.code().rfind("CERT_", 0) == 0);
  const Bytes forged = with_manifest(snap, [](SnapshotManifest& m) {
    m.succession.changes[0].finality.certificate.signatures[1].signature[9] ^= 1;
  });
  CHECK(Restored(forged, net.genesis, 2).imported.code() == "CERT_BAD_SIGNATURE");
  const Bytes bad_value = with_manifest(
      snap, [](SnapshotManifest& m) { m.succession.changes[1].next_set.value[3] ^= 1; });
  CHECK(Restored(bad_value, net.genesis, 2).imported.code() == "SNAPSHOT_INVALID");
  // A manifest of version 1 is refused.
  Bytes v1 = snap;
  v1[4 + 1 + SnapshotManifest::kDomain.size()] = 1;
  CHECK(Restored(v1, net.genesis, 2).imported.code() == "SNAPSHOT_INVALID");
}

TEST_CASE("validators: a snapshot of the change block itself needs that change") {
  ValNet net;
  net.block({net.reg("first")});
  net.block({});
  net.change_to(net.members({4, 5, 6, 7}));
  const Bytes snap = snapshot_bytes(*net.ledger, 2);
  auto m = decode<SnapshotManifest>(ByteView(snap.data() + 4, snap.size() - 4));
  Restored good(snap, net.genesis, 2);
  auto restored = good.open(net.genesis);
  CHECK(restored->validators()->epoch == 1);
  CHECK(encode(*restored->succession()) == encode(*net.ledger->succession()));
  // The header of S is judged by epoch 0 either way; only the state shows
  // that the succession left out the change S holds.
  const Bytes dropped = with_manifest(snap, [](SnapshotManifest& mf) {
    REQUIRE(mf.succession.changes.size() == 1);
    REQUIRE(mf.succession.changes[0].header.height == mf.header.height);
    mf.succession.changes.clear();
  });
  CHECK(Restored(dropped, net.genesis, 2).imported.code() == "SNAPSHOT_INVALID");
}

TEST_CASE("validators: a bundle across a change verifies; a tampered succession is refused") {
  ValNet net;
  REQUIRE(net.one(net.reg("doc.pdf")).is_ok());
  net.change_to(net.members({4, 5, 6, 7}));
  const std::uint64_t h = net.ledger->head().height;
  // As of the change block: judged by epoch 0, the succession holds the change.
  auto at_change = net.ledger->bundle_for_hash(file_hash("doc.pdf"));
  REQUIRE(at_change.is_ok());
  CHECK(at_change->header.height == h);
  CHECK(at_change->succession.changes.size() == 1);
  CHECK(verify_bundle(net.genesis, *at_change, file_hash("doc.pdf"))->overall == Verdict::kValid);
  ProofBundle short_at_change = *at_change;
  short_at_change.succession.changes.clear();
  CHECK(verify_bundle(net.genesis, short_at_change, file_hash("doc.pdf")).status().code() ==
        "BUNDLE_PROOF_INVALID");

  net.block({net.reg("later.pdf")});
  auto b = net.ledger->bundle_for_hash(file_hash("doc.pdf"));
  REQUIRE(b.is_ok());
  CHECK(b->header.height == h + 1);
  REQUIRE(b->succession.changes.size() == 1);
  auto v = verify_bundle(net.genesis, *b, file_hash("doc.pdf"));
  REQUIRE_MESSAGE(v.is_ok(), v.status().to_string());
  CHECK(v->overall == Verdict::kValid);
  auto decoded = decode_proof_bundle(encode(*b));
  REQUIRE(decoded.is_ok());
  CHECK(encode(*decoded) == encode(*b));

  ProofBundle none = *b;
  none.succession.changes.clear();
  CHECK(verify_bundle(net.genesis, none, file_hash("doc.pdf")).status().code().rfind("CERT_", 0) ==
        0);
  ProofBundle forged = *b;
  forged.succession.changes[0].finality.certificate.signatures[0].signature[1] ^= 1;
  CHECK(verify_bundle(net.genesis, forged, file_hash("doc.pdf")).status().code() ==
        "CERT_BAD_SIGNATURE");
  ProofBundle other_set = *b;
  other_set.succession.changes[0].next_set.value[2] ^= 1;
  CHECK(verify_bundle(net.genesis, other_set, file_hash("doc.pdf")).status().code() ==
        "SUCCESSION_INVALID");
  // Every byte of the encoding is covered: a flip is undecodable or refused.
  const Bytes good = encode(*b);
  std::size_t covered = 0;
  for (std::size_t i = 0; i < good.size(); ++i) {
    Bytes bad = good;
    bad[i] ^= 0x01;
    auto d = decode_proof_bundle(bad);
    if (!d || !verify_bundle(net.genesis, *d, file_hash("doc.pdf")).is_ok()) ++covered;
  }
  CHECK(covered == good.size());
}

TEST_CASE("validators: a pruned ledger keeps serving its succession and bundles") {
  // The same blocks on an archive ledger and on one keeping 16 trees; both
  // change sets twice, then run on until both change blocks left the window.
  ValNet archive;
  ValNet pruned;
  pruned.options.state_retention_blocks = kStateRetentionBlocksMin;
  pruned.reopen();
  two_changes(archive, 30);
  two_changes(pruned, 30);
  REQUIRE(archive.ledger->head().header_hash == pruned.ledger->head().header_hash);
  auto s = pruned.ledger->succession();
  REQUIRE_MESSAGE(s.is_ok(), s.status().to_string());
  REQUIRE(s->changes.size() == 2);
  CHECK(encode(*s) == encode(*archive.ledger->succession()));
  REQUIRE(verify_succession(pruned.genesis, *s).is_ok());
  // The change blocks' trees are gone: the succession came from what the
  // change blocks stored.
  for (const auto& c : s->changes)
    CHECK(pruned.ledger->state_proof(validators_state_key(), c.header.height).status().code() ==
          "PRUNED");
  auto b = pruned.ledger->bundle_for_hash(file_hash("first"));
  REQUIRE(b.is_ok());
  CHECK(encode(*b) == encode(*archive.ledger->bundle_for_hash(file_hash("first"))));
  auto v = verify_bundle(pruned.genesis, *b, file_hash("first"));
  REQUIRE_MESSAGE(v.is_ok(), v.status().to_string());
  CHECK(v->overall == Verdict::kValid);
  pruned.reopen();
  CHECK(encode(*pruned.ledger->succession()) == encode(*s));
}

TEST_CASE("validators: opening a ledger stores the validators proofs of older change blocks") {
  // A ledger written before change blocks stored their validators proof
  // ("V" + height): opening it stores them, equal to what the tree proves.
  ValNet net;
  two_changes(net, 2);
  const auto before = net.ledger->succession();
  REQUIRE(before.is_ok());
  auto count_v = [&]() {
    int n = 0;
    REQUIRE(net.ledger->store()
                .scan(Bytes{'V'}, Bytes{'V'}, [&](ByteView, ByteView) { return ++n, true; })
                .is_ok());
    return n;
  };
  REQUIRE(count_v() == 2);
  WriteBatch erase;
  REQUIRE(net.ledger->store()
              .scan(Bytes{'V'}, Bytes{'V'},
                    [&](ByteView k, ByteView) {
                      erase.erase(k);
                      return true;
                    })
              .is_ok());
  REQUIRE(net.ledger->store().write(erase, true).is_ok());
  REQUIRE(count_v() == 0);
  CHECK(encode(*net.ledger->succession()) == encode(*before));  // from the tree meanwhile
  net.reopen();
  CHECK(count_v() == 2);
  CHECK(encode(*net.ledger->succession()) == encode(*before));
}

namespace {

// A notarize vote by `key` as validator `index` of `epoch` in `view`, for a
// block at height 7 whose hash is all `block`.
EvidenceVote epoch_vote(const std::string& chain, const crypto::KeyPair& key, Epoch epoch,
                        std::uint16_t index, std::uint64_t view, std::uint8_t block) {
  Hash digest;
  digest.fill(block);
  EvidenceVote v{index, static_cast<std::uint8_t>(VoteKind::kNotarize), view, 7, digest, {}};
  v.signature = key.sign(v.statement_bytes(chain, epoch));
  return v;
}

}  // namespace

TEST_CASE(
    "validators: evidence of a later epoch is judged by that epoch's set and recorded apart") {
  ValNet net;
  const std::string& chain = net.genesis.chain_id;
  const ValidatorSet e0 = net.current();
  // Epoch 1: index 0 is keys[5], which no genesis validator holds.
  net.change_to(net.members({5, 1, 2, 3}));
  const ValidatorSet e1 = net.current();
  REQUIRE(e1.epoch == 1);
  REQUIRE_FALSE(e0.index_of(net.keys[5].public_key()).has_value());
  constexpr std::uint64_t kView = 9;
  const SubmitEvidence ev1 =
      make_submit_evidence(1, epoch_vote(chain, net.keys[5], 1, 0, kView, 0xa1),
                           epoch_vote(chain, net.keys[5], 1, 0, kView, 0xa2));
  CHECK(verify_evidence(chain, e1, ev1).is_ok());
  // The pure check refuses a set of another epoch, whatever its keys.
  CHECK(verify_evidence(chain, e0, ev1).code() == "EVIDENCE_INVALID");
  CHECK(verify_evidence(net.genesis, ev1).code() == "EVIDENCE_INVALID");
  const auto submit = [&](const SubmitEvidence& e) {
    return net.one(net.tx(net.issuer_b, "b.issuer", TxType::kSubmitEvidence, e));
  };

  const Hash root = net.ledger->head().state_root;
  // The same pair claimed as epoch 0: genesis validator 0 is another key, and
  // the statements were signed for epoch 1.
  SubmitEvidence as_epoch0 = ev1;
  as_epoch0.epoch = kGenesisEpoch;
  CHECK(submit(as_epoch0).code() == "EVIDENCE_BAD_SIGNATURE");
  // An epoch the chain has not reached has no set.
  SubmitEvidence as_epoch2 = ev1;
  as_epoch2.epoch = 2;
  CHECK(submit(as_epoch2).code() == "EVIDENCE_INVALID");
  // Votes signed for epoch 0 by keys[5], claimed as epoch 1: other statements.
  const SubmitEvidence signed_epoch0 =
      make_submit_evidence(1, epoch_vote(chain, net.keys[5], 0, 0, kView, 0xa1),
                           epoch_vote(chain, net.keys[5], 0, 0, kView, 0xa2));
  CHECK(submit(signed_epoch0).code() == "EVIDENCE_BAD_SIGNATURE");
  // Index 4 is outside epoch 1's four validators.
  const SubmitEvidence outside =
      make_submit_evidence(1, epoch_vote(chain, net.keys[5], 1, 4, kView, 0xa1),
                           epoch_vote(chain, net.keys[5], 1, 4, kView, 0xa2));
  CHECK(submit(outside).code() == "EVIDENCE_NOT_VALIDATOR");
  CHECK(net.ledger->head().state_root == root);  // refusals change no state
  CHECK_FALSE(net.ledger->state_value(evidence_state_key(1, 0, kView, 1))->has_value());
  CHECK_FALSE(net.ledger->state_value(evidence_state_key(0, kView, 1))->has_value());

  // The epoch-1 double vote is recorded, under its epoch's key, as version 2.
  REQUIRE(submit(ev1).is_ok());
  const std::uint64_t h1 = net.ledger->head().height;
  auto raw1 = net.ledger->state_value(evidence_state_key(1, 0, kView, 1));
  REQUIRE((raw1.is_ok() && raw1->has_value()));
  auto rec1 = decode_evidence_record(**raw1);
  REQUIRE(rec1.is_ok());
  CHECK(rec1->epoch == 1);
  CHECK(rec1->validator == 0);
  CHECK(rec1->view == kView);
  CHECK(rec1->validator_key == net.keys[5].public_key());
  CHECK(rec1->height == h1);
  CHECK(**raw1 == encode(*rec1));
  CHECK_FALSE(net.ledger->state_value(evidence_state_key(0, kView, 1))->has_value());
  CHECK(submit(ev1).code() == "EVIDENCE_DUPLICATE");

  // Validator 0 of epoch 0 (keys[0]) double voted in the same view: another
  // offence, recorded beside it, still provable after the change.
  const SubmitEvidence ev0 =
      make_submit_evidence(kGenesisEpoch, epoch_vote(chain, net.keys[0], 0, 0, kView, 0xb1),
                           epoch_vote(chain, net.keys[0], 0, 0, kView, 0xb2));
  REQUIRE(submit(ev0).is_ok());
  auto raw0 = net.ledger->state_value(evidence_state_key(0, kView, 1));
  REQUIRE((raw0.is_ok() && raw0->has_value()));
  auto rec0 = decode_evidence_record(**raw0);
  REQUIRE(rec0.is_ok());
  CHECK(rec0->epoch == kGenesisEpoch);
  CHECK(rec0->validator_key == net.keys[0].public_key());
  CHECK(decode_evidence_record(**raw1)->validator_key == net.keys[5].public_key());

  // Listed as two records, epoch 0 first; by validator index 0, both; paged
  // with a cursor that names the epoch.
  const auto epochs = [](const Result<std::vector<EvidenceRecord>>& rs) {
    REQUIRE(rs.is_ok());
    std::vector<Epoch> out;
    for (const auto& r : *rs) out.push_back(r.epoch);
    return out;
  };
  using Epochs = std::vector<Epoch>;
  CHECK(epochs(net.ledger->evidence(std::nullopt, 10)) == Epochs{0, 1});
  CHECK(epochs(net.ledger->evidence(std::uint16_t{0}, 10)) == Epochs{0, 1});
  CHECK(epochs(net.ledger->evidence(std::uint16_t{1}, 10)).empty());
  CHECK(epochs(net.ledger->evidence(std::nullopt, 1)) == Epochs{0});
  CHECK(epochs(net.ledger->evidence(std::nullopt, 10, Ledger::Offence{0, kView, 1, 0})) ==
        Epochs{1});
  CHECK(epochs(net.ledger->evidence(std::uint16_t{0}, 10, Ledger::Offence{0, kView, 1, 0})) ==
        Epochs{1});
  CHECK(epochs(net.ledger->evidence(std::nullopt, 10, Ledger::Offence{0, kView, 1, 1})).empty());
  CHECK(epochs(net.ledger->evidence(std::nullopt, 10, Ledger::Offence{5, 0, 0, 0})) == Epochs{1});
  // The records survive a reopen.
  net.reopen();
  CHECK(epochs(net.ledger->evidence(std::nullopt, 10)) == Epochs{0, 1});
}
