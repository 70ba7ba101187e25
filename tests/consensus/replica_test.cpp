#include "emledger/consensus/replica.hpp"

#include <doctest/doctest.h>

#include "harness.hpp"

using namespace emledger;
using namespace emledger::consensus;
using namespace emledger::consensus::test;

namespace {

constexpr const char* kWal = "/node/votes.wal";

Result<Replica> open_replica(SimFsEnv& env, const std::vector<crypto::KeyPair>& keys,
                             ValidatorIndex self, const BlockRef& anchor = genesis_anchor()) {
  ReplicaConfig config{config_for(keys, self), kWal, std::nullopt};
  config.core.anchor = anchor;
  return Replica::open(env, std::move(config), keys[self]);
}

template <class T>
std::vector<T> sent(const ReplicaOutput& out) {
  std::vector<T> v;
  for (const auto& m : out.broadcasts)
    if (const T* t = std::get_if<T>(&m)) v.push_back(*t);
  return v;
}

void append_to(ReplicaOutput& into, const ReplicaOutput& from) {
  into.broadcasts.insert(into.broadcasts.end(), from.broadcasts.begin(), from.broadcasts.end());
}

}  // namespace

TEST_CASE("replica: one validator builds, signs through its guard and finalizes") {
  SimFsEnv env;
  auto keys = keys_for(1);
  auto r = open_replica(env, keys, 0);
  REQUIRE(r.is_ok());
  ReplicaOutput out = r->start(0);
  REQUIRE(out.builds.size() == 1);
  CHECK(out.wake_at_ms.has_value());
  BlockRef parent = genesis_anchor();
  for (View v = 1; v <= 3; ++v) {
    REQUIRE(out.builds.size() == 1);
    CHECK(out.builds[0].view == v);
    const BlockRef b = make_block(v, parent);
    out = r->on_block_built(v, b, Bytes{0x01});
    REQUIRE(out.finalized.size() == 1);
    CHECK(out.finalized[0].block == b);
    CHECK(out.broadcasts.empty());  // no other validator to send anything to
    parent = b;
  }
  // Every vote went through the WAL: notarize and finalize for each view.
  CHECK(r->guard().wal().record_count() == 6);
  CHECK(r->counters().votes_signed == 6);
  CHECK(r->core().last_finalized().height == 3);
}

TEST_CASE("replica: a restart replays the WAL, re-signs the same bytes and nullifies") {
  SimFsEnv env;
  auto keys = keys_for(4);
  const BlockRef b = make_block(1, genesis_anchor());
  Signature first{};
  {
    auto r = open_replica(env, keys, 2);
    REQUIRE(r.is_ok());
    (void)r->start(0);
    ReplicaOutput out = r->on_message(1, propose(keys, 1, b));
    REQUIRE(out.checks.size() == 1);
    out = r->on_block_checked(2, b, true);
    auto votes = sent<SignedVote>(out);
    REQUIRE(votes.size() == 1);
    CHECK(votes[0].vote == notarize_vote(1, b.height, b.digest));
    first = votes[0].signature;
  }
  env.crash();  // the vote was synced before it was signed: it survives
  auto r = open_replica(env, keys, 2);
  REQUIRE(r.is_ok());
  ReplicaOutput out = r->start(100);
  auto votes = sent<SignedVote>(out);
  bool resent = false, nullified = false;
  for (const auto& v : votes) {
    if (v.vote == notarize_vote(1, b.height, b.digest)) resent = v.signature == first;
    if (v.vote == nullify_vote(1)) nullified = true;
  }
  CHECK(resent);
  CHECK(nullified);
  CHECK(r->guard().wal().record_count() == 2);  // the notarize is not logged twice
  // Its rules hold across the restart: another block of view 1 is not notarized.
  const BlockRef other = make_block(1, genesis_anchor(), 9);
  out = r->on_message(101, propose(keys, 1, other));
  for (const auto& c : out.checks) out = r->on_block_checked(102, c.block, true);
  CHECK(sent<SignedVote>(out).empty());
  CHECK(r->counters().guard_refusals == 0);
}

TEST_CASE("replica: refuses to start on a corrupt WAL or someone else's key") {
  SimFsEnv env;
  auto keys = keys_for(4);
  {
    auto r = open_replica(env, keys, 2);
    REQUIRE(r.is_ok());
    (void)r->start(0);
    const BlockRef b = make_block(1, genesis_anchor());
    (void)r->on_message(1, propose(keys, 1, b));
    (void)r->on_block_checked(2, b, true);
    (void)r->on_tick(1'000'000);  // timed out: nullify, a second record
    REQUIRE(r->guard().wal().record_count() == 2);
  }
  ReplicaConfig wrong{config_for(keys, 2), "/other.wal", std::nullopt};
  auto w = Replica::open(env, wrong, keys[3]);
  REQUIRE_FALSE(w.is_ok());
  CHECK(w.status().code() == "CONFIG_INVALID");
  // Damage inside the first record, with a whole record after it.
  REQUIRE(env.flip_byte(kWal, kWalFileHeaderBytes + kWalRecordHeaderBytes + 3, 0x10).is_ok());
  auto r = open_replica(env, keys, 2);
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().code() == "WAL_CORRUPT");
}

TEST_CASE("replica: a failed WAL sync halts it before anything is signed or sent") {
  SimFsEnv env;
  auto keys = keys_for(4);
  auto r = open_replica(env, keys, 2);
  REQUIRE(r.is_ok());
  int signatures = 0;
  r->set_sign_observer([&](const SignedVote&) { ++signatures; });
  (void)r->start(0);
  const BlockRef b = make_block(1, genesis_anchor());
  (void)r->on_message(1, propose(keys, 1, b));
  env.fail_next(SimFsEnv::Op::kSync);
  ReplicaOutput out = r->on_block_checked(2, b, true);
  CHECK(sent<SignedVote>(out).empty());
  CHECK(r->halted().code() == "IO_ERROR");
  CHECK(signatures == 0);
  out = r->on_tick(1'000'000);
  CHECK(out.broadcasts.empty());
  CHECK_FALSE(out.wake_at_ms.has_value());
}

TEST_CASE("replica: votes at or below a restarted anchor are not replayed") {
  SimFsEnv env;
  auto keys = keys_for(1);
  BlockRef last;
  {
    auto r = open_replica(env, keys, 0);
    REQUIRE(r.is_ok());
    ReplicaOutput out = r->start(0);
    last = make_block(1, genesis_anchor());
    out = r->on_block_built(1, last, Bytes{0x01});
    REQUIRE(out.finalized.size() == 1);
  }
  env.crash();
  auto r = open_replica(env, keys, 0, last);
  REQUIRE(r.is_ok());
  ReplicaOutput out = r->start(10);
  // A fresh view 2 (not a timed-out view 1): the leader builds on the anchor.
  REQUIRE(out.builds.size() == 1);
  CHECK(out.builds[0].view == 2);
  CHECK(out.builds[0].parent == last.digest);
}

TEST_CASE("replica: a rebroadcast also carries older certificates and own votes of earlier views") {
  SimFsEnv env;
  auto keys = keys_for(4);
  auto r = open_replica(env, keys, 2);
  REQUIRE(r.is_ok());
  (void)r->start(0);
  (void)r->on_tick(1'000'000);  // view 1 times out: nullify (1)
  const Certificate null1 = certify(keys, nullify_vote(1), {0, 1, 3});
  const Certificate null2 = certify(keys, nullify_vote(2), {0, 1, 3});
  (void)r->on_message(1'000'001, null1);
  (void)r->on_message(1'000'002, null2);
  REQUIRE(r->core().current_view() == 3);
  ReplicaOutput out = r->on_tick(2'000'000);  // view 3 times out and rebroadcasts
  bool cert1 = false, cert2 = false, vote1 = false, vote3 = false;
  for (const auto& c : sent<Certificate>(out)) {
    cert1 = cert1 || (c.view == 1 && c.kind == null1.kind);
    cert2 = cert2 || (c.view == 2 && c.kind == null2.kind);
  }
  for (const auto& v : sent<SignedVote>(out)) {
    vote1 = vote1 || v.vote == nullify_vote(1);
    vote3 = vote3 || v.vote == nullify_vote(3);
  }
  CHECK(cert2);  // the view before
  CHECK(vote3);
  CHECK(cert1);  // and older ones since the last finalization
  CHECK(vote1);
  // Nothing new was logged: the resent vote is the logged one.
  CHECK(r->guard().wal().record_count() == 2);
}

TEST_CASE("replica: after a restart it rebroadcasts the finalization of its anchor") {
  SimFsEnv env;
  auto keys = keys_for(4);
  const BlockRef b = make_block(1, genesis_anchor());
  const Certificate proof = certify(keys, finalize_vote(1, b.height, b.digest), {0, 1, 3});
  ReplicaConfig config{config_for(keys, 2), kWal, proof};
  config.core.anchor = b;
  auto r = Replica::open(env, std::move(config), keys[2]);
  REQUIRE(r.is_ok());
  (void)r->start(0);
  ReplicaOutput out = r->on_tick(1'000'000);  // view 2 times out
  bool found = false;
  for (const auto& c : sent<Certificate>(out))
    found = found || (c.view == 1 && c.digest == b.digest && c.kind == proof.kind);
  CHECK(found);
}

TEST_CASE("replica: a leader's proposal goes out with the certificates that justify its parent") {
  SimFsEnv env;
  auto keys = keys_for(4);
  // Validator 3 leads view 3; views 1 and 2 were nullified.
  auto r = open_replica(env, keys, 3);
  REQUIRE(r.is_ok());
  (void)r->start(0);
  (void)r->on_message(1, certify(keys, nullify_vote(1), {0, 1, 2}));
  ReplicaOutput out = r->on_message(2, certify(keys, nullify_vote(2), {0, 1, 2}));
  REQUIRE(out.builds.size() == 1);
  CHECK(out.builds[0].view == 3);
  const BlockRef b = make_block(3, genesis_anchor());
  REQUIRE(b.parent_view == 0);
  out = r->on_block_built(3, BlockRef{3, 1, 0, genesis_anchor().digest, b.digest}, Bytes{0x01});
  REQUIRE(sent<Proposal>(out).size() == 1);
  bool null1 = false, null2 = false;
  for (const auto& c : sent<Certificate>(out)) {
    null1 = null1 || c.view == 1;
    null2 = null2 || c.view == 2;
  }
  CHECK(null1);
  CHECK(null2);
}

TEST_CASE("replica: after a restart its own votes of earlier views count toward certificates") {
  SimFsEnv env;
  auto keys = keys_for(4);
  {
    auto r = open_replica(env, keys, 2);
    REQUIRE(r.is_ok());
    (void)r->start(0);
    (void)r->on_tick(1'000'000);  // nullify (1)
    (void)r->on_message(1'000'001, certify(keys, nullify_vote(1), {0, 1, 3}));
    (void)r->on_tick(2'000'000);  // nullify (2)
    REQUIRE(r->guard().wal().record_count() == 2);
  }
  env.crash();
  auto r = open_replica(env, keys, 2);
  REQUIRE(r.is_ok());
  (void)r->start(3'000'000);  // restarts in view 2; the nullification of view 1 is gone
  // Two more nullify (1) votes make a quorum only with this validator's own.
  ReplicaOutput out = r->on_message(3'000'001, sign_vote(keys, 0, nullify_vote(1)));
  append_to(out, r->on_message(3'000'002, sign_vote(keys, 1, nullify_vote(1))));
  bool formed = false;
  for (const auto& c : sent<Certificate>(out)) {
    formed = formed || (c.view == 1 && c.vote_kind() == VoteKind::kNullify);
  }
  CHECK(formed);
}
