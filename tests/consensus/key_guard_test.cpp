#include "emledger/consensus/key_guard.hpp"

#include <doctest/doctest.h>

#include "harness.hpp"

using namespace emledger;
using namespace emledger::consensus;
using namespace emledger::consensus::test;

namespace {

constexpr const char* kWal = "/node/votes.wal";

KeyGuard open_guard(SimFsEnv& env, View anchor_view = 0) {
  auto g = KeyGuard::open(env, kWal, key_for(0), kChain, 0, anchor_view);
  REQUIRE_MESSAGE(g.is_ok(), g.status().to_string());
  return std::move(g).value();
}

Hash digest(std::uint8_t b) {
  Hash h{};
  h[0] = b;
  return h;
}

Vote notarize(View v, std::uint8_t block) { return notarize_vote(v, 1, digest(block)); }
Vote finalize(View v, std::uint8_t block) { return finalize_vote(v, 1, digest(block)); }

}  // namespace

TEST_CASE("key guard: a vote is in the WAL, synced, before its signature exists") {
  SimFsEnv env;
  KeyGuard guard = open_guard(env);
  std::vector<SignedVote> seen;
  guard.set_observer([&](const SignedVote& sv) {
    // When the signature is handed out the record is already durable.
    CHECK(env.unsynced_bytes(kWal) == 0);
    CHECK(guard.wal().record_count() == seen.size() + 1);
    seen.push_back(sv);
  });
  const Vote v = notarize(3, 7);
  auto sv = guard.sign(v);
  REQUIRE(sv.is_ok());
  CHECK(sv->vote == v);
  CHECK(sv->validator == 0);
  CHECK(crypto::verify(key_for(0).public_key(), signing_bytes(kChain, v), sv->signature));
  CHECK(seen.size() == 1);
  CHECK(guard.wal().record_count() == 1);
  env.crash();  // nothing unsynced survives, and nothing is lost
  KeyGuard back = open_guard(env);
  REQUIRE(back.logged().size() == 1);
  CHECK(back.logged()[0] == v);
}

TEST_CASE("key guard: the conflicts of docs/consensus.md are refused, the rest signed") {
  struct Case {
    const char* name;
    Vote first;
    Vote second;
    bool conflict;
  };
  const Case cases[] = {
      {"two notarizes of one view", notarize(5, 1), notarize(5, 2), true},
      {"two finalizes of one view", finalize(5, 1), finalize(5, 2), true},
      {"nullify after finalize", finalize(5, 1), nullify_vote(5), true},
      {"finalize after nullify", nullify_vote(5), finalize(5, 1), true},
      {"notarize after nullify", nullify_vote(5), notarize(5, 1), true},
      {"nullify after notarize (timed out after voting)", notarize(5, 1), nullify_vote(5), false},
      {"finalize of another block than notarized", notarize(5, 1), finalize(5, 2), false},
      {"finalize of the notarized block", notarize(5, 1), finalize(5, 1), false},
      {"notarize in the next view", notarize(5, 1), notarize(6, 2), false},
      {"nullify then finalize another view", nullify_vote(5), finalize(4, 1), false},
      {"the same nullify twice", nullify_vote(5), nullify_vote(5), false},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    SimFsEnv env;
    KeyGuard guard = open_guard(env);
    REQUIRE(guard.sign(c.first).is_ok());
    const auto records = guard.wal().record_count();
    auto second = guard.sign(c.second);
    CHECK(guard.check(c.second).is_ok() == !c.conflict);
    if (c.conflict) {
      REQUIRE_FALSE(second.is_ok());
      CHECK(second.status().code() == "VOTE_CONFLICT");
      CHECK(guard.wal().record_count() == records);  // nothing written
      CHECK(guard.counters().refused == 1);
    } else {
      CHECK(second.is_ok());
    }
    // The same verdict after a restart, from the WAL alone.
    KeyGuard back = open_guard(env);
    CHECK((back.sign(c.second).status().code() == "VOTE_CONFLICT") == c.conflict);
  }
}

TEST_CASE("key guard: an identical request gets the same signature and is not logged twice") {
  SimFsEnv env;
  KeyGuard guard = open_guard(env);
  const Vote v = finalize(9, 4);
  auto a = guard.sign(v);
  auto b = guard.sign(v);
  REQUIRE(a.is_ok());
  REQUIRE(b.is_ok());
  CHECK(a->signature == b->signature);
  CHECK(guard.wal().record_count() == 1);
  CHECK(guard.counters().signed_new == 1);
  CHECK(guard.counters().signed_again == 1);
  // After a restart too: the logged vote is re-signed to the same bytes.
  KeyGuard back = open_guard(env);
  auto c = back.sign(v);
  REQUIRE(c.is_ok());
  CHECK(c->signature == a->signature);
  CHECK(back.wal().record_count() == 1);
}

TEST_CASE("key guard: a failed sync signs nothing and poisons the guard") {
  SimFsEnv env;
  KeyGuard guard = open_guard(env);
  int signatures = 0;
  guard.set_observer([&](const SignedVote&) { ++signatures; });
  env.fail_next(SimFsEnv::Op::kSync);
  auto a = guard.sign(nullify_vote(2));
  REQUIRE_FALSE(a.is_ok());
  CHECK(a.status().code() == "IO_ERROR");
  auto b = guard.sign(nullify_vote(3));
  REQUIRE_FALSE(b.is_ok());
  CHECK(b.status().code() == "WAL_POISONED");
  CHECK(signatures == 0);
}

TEST_CASE("key guard: votes at or below the anchor are refused; compaction keeps what is above") {
  SimFsEnv env;
  {
    KeyGuard guard = open_guard(env);
    for (View v = 1; v <= 6; ++v) REQUIRE(guard.sign(nullify_vote(v)).is_ok());
    REQUIRE(guard.compact(4).is_ok());
    CHECK(guard.floor_view() == 4);
    CHECK(guard.logged().size() == 2);
    CHECK(guard.sign(notarize(3, 1)).status().code() == "VOTE_BELOW_FLOOR");
    CHECK(guard.sign(notarize(6, 1)).status().code() == "VOTE_CONFLICT");
  }
  KeyGuard back = open_guard(env, /*anchor_view=*/4);
  REQUIRE(back.logged().size() == 2);
  CHECK(back.logged()[0] == nullify_vote(5));
  CHECK(back.sign(nullify_vote(4)).status().code() == "VOTE_BELOW_FLOOR");
  CHECK(back.sign(finalize(5, 1)).status().code() == "VOTE_CONFLICT");
}

TEST_CASE("key guard: a WAL record that is not a vote is WAL_CORRUPT") {
  SimFsEnv env;
  auto f = env.create(kWal);
  REQUIRE(f.is_ok());
  const Bytes bad{0x01, 0x02, 0x03};
  const Bytes image = encode_wal_file({ledger::encode(nullify_vote(1)), bad});
  REQUIRE((*f)->append(image).is_ok());
  REQUIRE((*f)->sync().is_ok());
  REQUIRE(env.sync_dir("/node").is_ok());
  auto g = KeyGuard::open(env, kWal, key_for(0), kChain, 0, 0);
  REQUIRE_FALSE(g.is_ok());
  CHECK(g.status().code() == "WAL_CORRUPT");
}

TEST_CASE("key guard: malformed votes are refused") {
  SimFsEnv env;
  KeyGuard guard = open_guard(env);
  CHECK(guard.sign(Vote{4, 1, 0, Hash{}}).status().code() == "MALFORMED_ENCODING");
  CHECK(guard.sign(Vote{1, 1, 0, digest(1)}).status().code() == "MALFORMED_ENCODING");
  CHECK(guard.wal().record_count() == 0);
}

TEST_CASE("key guard: logged_between lists the logged votes of a range of views") {
  SimFsEnv env;
  KeyGuard guard = open_guard(env);
  REQUIRE(guard.sign(nullify_vote(7)).is_ok());
  REQUIRE(guard.sign(notarize(3, 1)).is_ok());
  REQUIRE(guard.sign(finalize(3, 1)).is_ok());
  REQUIRE(guard.sign(nullify_vote(5)).is_ok());
  const std::vector<Vote> want{notarize(3, 1), finalize(3, 1), nullify_vote(5)};
  CHECK(guard.logged_between(2, 6) == want);
  CHECK(guard.logged_between(3, 7) == std::vector<Vote>{nullify_vote(5), nullify_vote(7)});
  CHECK(guard.logged_between(7, 100).empty());
}
