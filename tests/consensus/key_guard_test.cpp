#include "emledger/consensus/key_guard.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "harness.hpp"

using namespace emledger;
using namespace emledger::consensus;
using namespace emledger::consensus::test;

namespace {

constexpr const char* kWal = "/node/votes.wal";

KeyGuard open_guard(SimFsEnv& env, View anchor_view = 0, Epoch epoch = kEpoch) {
  auto g = KeyGuard::open(env, kWal, key_for(0), kChain, epoch, 0, anchor_view);
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

// A SimFsEnv whose process dies at its k-th operation from arm(k): that
// operation and every later one fail, and change nothing.
class DyingFs final : public FsEnv {
 public:
  explicit DyingFs(SimFsEnv& disk) : disk_(&disk) {}
  void arm(std::uint64_t k) { countdown_ = k; }
  std::uint64_t ops() const { return ops_; }

  Result<std::unique_ptr<AppendFile>> create(const std::string& path) override {
    if (die()) return dead();
    return wrap(disk_->create(path));
  }
  Result<std::unique_ptr<AppendFile>> open_append(const std::string& path) override {
    if (die()) return dead();
    return wrap(disk_->open_append(path));
  }
  Result<std::unique_ptr<AppendFile>> open_overwrite(const std::string& path) override {
    if (die()) return dead();
    return wrap(disk_->open_overwrite(path));
  }
  Result<Bytes> read_all(const std::string& path, std::uint64_t bytes_max) override {
    if (die()) return dead();
    return disk_->read_all(path, bytes_max);
  }
  Status truncate(const std::string& path, std::uint64_t size_bytes) override {
    return die() ? dead() : disk_->truncate(path, size_bytes);
  }
  Status rename(const std::string& from, const std::string& to) override {
    return die() ? dead() : disk_->rename(from, to);
  }
  Status sync_dir(const std::string& dir) override { return die() ? dead() : disk_->sync_dir(dir); }
  Result<bool> exists(const std::string& path) override {
    if (die()) return dead();
    return disk_->exists(path);
  }
  Status remove(const std::string& path) override { return die() ? dead() : disk_->remove(path); }

 private:
  class File final : public AppendFile {
   public:
    File(DyingFs& fs, std::unique_ptr<AppendFile> inner) : fs_(&fs), inner_(std::move(inner)) {}
    Status append(ByteView data) override { return fs_->die() ? dead() : inner_->append(data); }
    Status sync() override { return fs_->die() ? dead() : inner_->sync(); }

   private:
    DyingFs* fs_;
    std::unique_ptr<AppendFile> inner_;
  };
  static Status dead() { return Status::error("IO_ERROR", "the process died here"); }
  Result<std::unique_ptr<AppendFile>> wrap(Result<std::unique_ptr<AppendFile>> f) {
    if (!f.is_ok()) return f.status();
    return std::unique_ptr<AppendFile>(std::make_unique<File>(*this, std::move(f).value()));
  }
  bool die() {
    ++ops_;
    if (dead_) return true;
    if (countdown_ == 0 || --countdown_ > 0) return false;
    dead_ = true;
    return true;
  }

  SimFsEnv* disk_;
  std::uint64_t ops_ = 0;
  std::uint64_t countdown_ = 0;
  bool dead_ = false;
};

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
  CHECK(crypto::verify(key_for(0).public_key(), signing_bytes(kChain, kEpoch, v), sv->signature));
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
  const Bytes image = encode_wal_file({ledger::encode(LoggedVote{kEpoch, nullify_vote(1)}), bad});
  REQUIRE((*f)->append(image).is_ok());
  REQUIRE((*f)->sync().is_ok());
  REQUIRE(env.sync_dir("/node").is_ok());
  auto g = KeyGuard::open(env, kWal, key_for(0), kChain, kEpoch, 0, 0);
  REQUIRE_FALSE(g.is_ok());
  CHECK(g.status().code() == "WAL_CORRUPT");
}

TEST_CASE("key guard: the rules are kept per (epoch, view); the WAL keeps each vote's epoch") {
  SimFsEnv env;
  {
    KeyGuard e0 = open_guard(env, 0, /*epoch=*/0);
    REQUIRE(e0.sign(notarize(5, 1)).is_ok());
    REQUIRE(e0.sign(finalize(5, 1)).is_ok());
  }
  KeyGuard e1 = open_guard(env, 0, /*epoch=*/1);
  CHECK(e1.epoch() == 1);
  CHECK(e1.logged().empty());  // the core of epoch 1 replays none of epoch 0's
  // View 5 of epoch 1 is a new slot: another block, and a nullify after a
  // finalize of epoch 0, are no conflicts.
  auto other_block = e1.sign(notarize(5, 2));
  REQUIRE_MESSAGE(other_block.is_ok(), other_block.status().to_string());
  CHECK(crypto::verify(key_for(0).public_key(), signing_bytes(kChain, 1, notarize(5, 2)),
                       other_block->signature));
  CHECK_FALSE(crypto::verify(key_for(0).public_key(), signing_bytes(kChain, 0, notarize(5, 2)),
                             other_block->signature));
  REQUIRE(e1.sign(nullify_vote(5)).is_ok());
  // Within epoch 1 the rules hold as ever.
  CHECK(e1.sign(notarize(5, 3)).status().code() == "VOTE_CONFLICT");
  CHECK(e1.sign(finalize(5, 2)).status().code() == "VOTE_CONFLICT");  // rule 2
  CHECK(e1.logged() == std::vector<Vote>{notarize(5, 2), nullify_vote(5)});
  const std::vector<LoggedVote> all{
      {0, notarize(5, 1)}, {0, finalize(5, 1)}, {1, notarize(5, 2)}, {1, nullify_vote(5)}};
  CHECK(e1.logged_all() == all);
  CHECK(e1.wal().record_count() == 4);

  // Reopened (after a crash), each vote comes back with its epoch, and each
  // epoch's rules with it.
  env.crash();
  KeyGuard back0 = open_guard(env, 0, /*epoch=*/0);
  CHECK(back0.logged_all() == all);
  CHECK(back0.logged() == std::vector<Vote>{notarize(5, 1), finalize(5, 1)});
  CHECK(back0.sign(notarize(5, 2)).status().code() == "VOTE_CONFLICT");
  CHECK(back0.sign(nullify_vote(5)).status().code() == "VOTE_CONFLICT");  // rule 3
  CHECK(back0.sign(notarize(5, 1)).is_ok());  // identical: signed again, not logged
  CHECK(back0.wal().record_count() == 4);
}

TEST_CASE("key guard: a WAL of version 1, whose votes name no epoch, is refused at open") {
  // The image version 1 wrote: its header byte and bare encode(Vote) records.
  Bytes image = encode_wal_file({ledger::encode(nullify_vote(1)), ledger::encode(notarize(2, 1))});
  REQUIRE(image[kWalFileHeaderBytes - 1] == kWalVersion);
  image[kWalFileHeaderBytes - 1] = kWalVersionWithoutEpochs;
  SimFsEnv env;
  auto f = env.create(kWal);
  REQUIRE(f.is_ok());
  REQUIRE((*f)->append(image).is_ok());
  REQUIRE((*f)->sync().is_ok());
  REQUIRE(env.sync_dir("/node").is_ok());
  auto g = KeyGuard::open(env, kWal, key_for(0), kChain, kEpoch, 0, 0);
  REQUIRE_FALSE(g.is_ok());
  CHECK(g.status().code() == "WAL_CORRUPT");
  CHECK(g.status().message().find("without their epoch") != std::string::npos);
  CHECK(*env.read_all(kWal, kWalFileBytesMax) == image);  // left for the operator, untouched

  // A bare vote under the new header is no record of this version either.
  SimFsEnv env2;
  auto f2 = env2.create(kWal);
  REQUIRE(f2.is_ok());
  REQUIRE((*f2)->append(encode_wal_file({ledger::encode(nullify_vote(1))})).is_ok());
  REQUIRE((*f2)->sync().is_ok());
  REQUIRE(env2.sync_dir("/node").is_ok());
  auto g2 = KeyGuard::open(env2, kWal, key_for(0), kChain, kEpoch, 0, 0);
  REQUIRE_FALSE(g2.is_ok());
  CHECK(g2.status().code() == "WAL_CORRUPT");
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

TEST_CASE("key guard: a WAL capacity below one vote or above kWalFileBytesMax is CONFIG_INVALID") {
  SimFsEnv env;
  const std::uint64_t min = KeyGuard::wal_capacity_bytes_min();
  CHECK(min == kWalFileHeaderBytes + kWalRecordHeaderBytes +
                   ledger::encode(LoggedVote{kEpoch, nullify_vote(1)}).size());
  CHECK(ledger::encode(LoggedVote{kEpoch, nullify_vote(1)}).size() == 89);  // docs/formats/wal.md
  for (std::uint64_t bad :
       {std::uint64_t{0}, kWalCapacityBytesMin, min - 1, kWalFileBytesMax + 1}) {
    CAPTURE(bad);
    auto g = KeyGuard::open(env, kWal, key_for(0), kChain, kEpoch, 0, 0, bad);
    REQUIRE_FALSE(g.is_ok());
    CHECK(g.status().code() == "CONFIG_INVALID");
    CHECK_FALSE(*env.exists(kWal));
  }
  auto g = KeyGuard::open(env, kWal, key_for(0), kChain, kEpoch, 0, 0, min);
  REQUIRE_MESSAGE(g.is_ok(), g.status().to_string());
  CHECK(g->has_room());
  REQUIRE(g->sign(nullify_vote(1)).is_ok());
  CHECK_FALSE(g->has_room());
  CHECK(g->sign(nullify_vote(2)).status().code() == "WAL_FULL");
  REQUIRE(g->compact(1).is_ok());
  REQUIRE(g->sign(nullify_vote(2)).is_ok());
}

// A small WAL fills with ten votes; compaction at view 6 must keep views 7 to
// 10 through a crash at any one of its file-system operations (and at the
// append right after it), whether the machine goes down (unsynced state
// lost, tails torn) or only the process dies (the page cache survives, a
// rewrite file under its temporary name included).
TEST_CASE("key guard: a crash at every operation of a compaction keeps the votes above the floor") {
  constexpr View kViews = 10;
  constexpr View kFloor = 6;
  const std::uint64_t vote_record = KeyGuard::wal_capacity_bytes_min() - kWalFileHeaderBytes;
  const std::uint64_t capacity = kWalFileHeaderBytes + kViews * vote_record;
  const std::string leftover = std::string(kWal) + std::string(kWalRewriteSuffix);

  auto open_on = [&](FsEnv& fs, View anchor) {
    auto g = KeyGuard::open(fs, kWal, key_for(0), kChain, kEpoch, 0, anchor, capacity);
    REQUIRE_MESSAGE(g.is_ok(), g.status().to_string());
    return std::move(g).value();
  };
  auto fill = [&](KeyGuard& guard) {
    for (View v = 1; v <= kViews; ++v) REQUIRE(guard.sign(nullify_vote(v)).is_ok());
    REQUIRE_FALSE(guard.has_room());
  };

  // How many operations one compaction takes.
  std::uint64_t compaction_ops = 0;
  {
    SimFsEnv disk;
    DyingFs fs(disk);
    KeyGuard guard = open_on(fs, 0);
    fill(guard);
    const std::uint64_t before = fs.ops();
    REQUIRE(guard.compact(kFloor).is_ok());
    compaction_ops = fs.ops() - before;
  }
  CHECK(compaction_ops >= 5);  // exists, create, append, sync, rename, directory sync

  for (std::uint64_t k = 1; k <= compaction_ops + 1; ++k) {
    for (int mode = 0; mode < 4; ++mode) {  // 0..2: machine crash (seeded tears); 3: process only
      CAPTURE(k);
      CAPTURE(mode);
      SimFsEnv disk;
      {
        DyingFs fs(disk);
        KeyGuard guard = open_on(fs, 0);
        fill(guard);
        fs.arm(k);
        const Status st = guard.compact(kFloor);
        CHECK(st.is_ok() == (k > compaction_ops));
        if (st.is_ok()) CHECK(guard.sign(nullify_vote(kViews + 1)).status().code() == "IO_ERROR");
      }
      if (mode == 3)
        disk.kill_process();
      else
        disk.crash(SimFsEnv::torn_by_seed(static_cast<std::uint64_t>(mode)));
      // The ledger held view kFloor as final before the compaction began.
      KeyGuard back = open_on(disk, kFloor);
      CHECK_FALSE(*disk.exists(leftover));
      for (View v = kFloor + 1; v <= kViews; ++v) {
        CAPTURE(v);
        CHECK(back.check(nullify_vote(v)).is_ok());  // logged: the same vote again
        CHECK(back.sign(finalize(v, 1)).status().code() == "VOTE_CONFLICT");
        CHECK(back.sign(notarize(v, 1)).status().code() == "VOTE_CONFLICT");
      }
      CHECK(back.sign(finalize(kFloor, 1)).status().code() == "VOTE_BELOW_FLOOR");
      // Whichever WAL survived, compacting at the anchor makes room again.
      REQUIRE(back.compact(kFloor).is_ok());
      CHECK(back.has_room());
      REQUIRE(back.sign(nullify_vote(kViews + 1)).is_ok());
    }
  }
}

// Regression: a node whose process died with a full WAL (before or inside the
// compaction that would have made room) reopened with the WAL still full of
// votes at or below its anchor. The replica compacts only when its floor
// rises above the guard's, which it does not right after a restart, so every
// restart halted on WAL_FULL and the validator never voted again (simulator,
// small-WAL seeds, e.g. seed 262). The guard now drops them itself.
TEST_CASE("key guard: a WAL reopened full of votes at or below the anchor makes room itself") {
  constexpr View kViews = 10;
  const std::uint64_t vote_record = KeyGuard::wal_capacity_bytes_min() - kWalFileHeaderBytes;
  const std::uint64_t capacity = kWalFileHeaderBytes + kViews * vote_record;
  SimFsEnv env;
  {
    auto g = KeyGuard::open(env, kWal, key_for(0), kChain, kEpoch, 0, 0, capacity);
    REQUIRE(g.is_ok());
    for (View v = 1; v <= kViews; ++v) REQUIRE(g->sign(nullify_vote(v)).is_ok());
    CHECK_FALSE(g->has_room());
  }
  env.crash();
  auto g = KeyGuard::open(env, kWal, key_for(0), kChain, kEpoch, 0, /*anchor_view=*/8, capacity);
  REQUIRE(g.is_ok());
  CHECK_FALSE(g->has_room());
  CHECK(g->floor_view() == 8);
  // What a restarted replica does first: sign, without compacting (its floor is the guard's).
  auto sv = g->sign(nullify_vote(kViews + 1));
  REQUIRE_MESSAGE(sv.is_ok(), sv.status().to_string());
  CHECK(g->counters().compactions == 1);
  CHECK(g->logged() == std::vector<Vote>{nullify_vote(9), nullify_vote(10), nullify_vote(11)});
  CHECK(g->sign(finalize(9, 1)).status().code() == "VOTE_CONFLICT");
  env.crash();
  auto back = KeyGuard::open(env, kWal, key_for(0), kChain, kEpoch, 0, 8, capacity);
  REQUIRE(back.is_ok());
  CHECK(back->logged() == std::vector<Vote>{nullify_vote(9), nullify_vote(10), nullify_vote(11)});
  // A full WAL with nothing at or below the floor still says WAL_FULL.
  for (View v = kViews + 2; back->has_room(); ++v) REQUIRE(back->sign(nullify_vote(v)).is_ok());
  CHECK(back->sign(nullify_vote(100)).status().code() == "WAL_FULL");
  CHECK(back->counters().compactions == 0);
}
