#include "emledger/consensus/fs_env.hpp"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <set>

#include "temp_dir.hpp"

using namespace emledger;
using namespace emledger::consensus;

namespace {

using test::TempDir;

Bytes b(std::string_view s) { return Bytes(s.begin(), s.end()); }

Bytes read(FsEnv& env, const std::string& path) {
  auto r = env.read_all(path, 1 << 20);
  REQUIRE_MESSAGE(r.is_ok(), r.status().to_string());
  return *r;
}

bool exists(FsEnv& env, const std::string& path) {
  auto r = env.exists(path);
  REQUIRE(r.is_ok());
  return *r;
}

// Writes `pieces` in order through one open_overwrite handle, then syncs.
void overwrite(FsEnv& env, const std::string& path,
               std::initializer_list<std::string_view> pieces) {
  auto f = env.open_overwrite(path);
  REQUIRE_MESSAGE(f.is_ok(), f.status().to_string());
  for (std::string_view piece : pieces) CHECK((*f)->append(as_bytes(piece)).is_ok());
  CHECK((*f)->sync().is_ok());
}

// The FsEnv contract, run against both implementations.
void check_contract(FsEnv& env, const std::string& dir) {
  const std::string a = dir + "/a";
  const std::string c = dir + "/c";
  CHECK_FALSE(exists(env, a));
  {
    auto f = env.create(a);
    REQUIRE_MESSAGE(f.is_ok(), f.status().to_string());
    CHECK((*f)->append(as_bytes("hello ")).is_ok());
    CHECK((*f)->append(as_bytes("world")).is_ok());
    CHECK((*f)->sync().is_ok());
  }
  CHECK(env.sync_dir(dir).is_ok());
  CHECK(exists(env, a));
  CHECK(read(env, a) == b("hello world"));

  // create never overwrites.
  auto again = env.create(a);
  REQUIRE_FALSE(again.is_ok());
  CHECK(again.status().code() == "IO_ERROR");
  CHECK(again.status().message().find(a) != std::string::npos);
  CHECK(read(env, a) == b("hello world"));

  // open_append appends at the end.
  {
    auto f = env.open_append(a);
    REQUIRE(f.is_ok());
    CHECK((*f)->append(as_bytes("!")).is_ok());
    CHECK((*f)->sync().is_ok());
  }
  CHECK(read(env, a) == b("hello world!"));

  // open_overwrite writes from the first byte on, over the old bytes, and
  // keeps those past the last one written ...
  overwrite(env, a, {"J", "ELLO"});
  CHECK(read(env, a) == b("JELLO world!"));
  // ... grows the file when it writes past the end ...
  overwrite(env, a, {"hello world!?"});
  CHECK(read(env, a) == b("hello world!?"));
  CHECK(env.truncate(a, 12).is_ok());
  // ... and creates a file that is not there.
  overwrite(env, c, {"c"});
  CHECK(env.sync_dir(dir).is_ok());
  CHECK(read(env, c) == b("c"));
  CHECK(env.remove(c).is_ok());

  // read_all refuses a file over the limit instead of cutting it.
  auto capped = env.read_all(a, 11);
  REQUIRE_FALSE(capped.is_ok());
  CHECK(capped.status().code() == "FILE_TOO_LARGE");
  CHECK(capped.status().message().find(a) != std::string::npos);
  CHECK(env.read_all(a, 12).is_ok());

  CHECK(env.truncate(a, 5).is_ok());
  CHECK(read(env, a) == b("hello"));

  // rename replaces the target; a handle follows the file, not the name.
  {
    auto f = env.create(c);
    REQUIRE(f.is_ok());
    CHECK((*f)->append(as_bytes("new")).is_ok());
    CHECK(env.rename(c, a).is_ok());
    CHECK((*f)->append(as_bytes("er")).is_ok());
    CHECK((*f)->sync().is_ok());
  }
  CHECK(env.sync_dir(dir).is_ok());
  CHECK_FALSE(exists(env, c));
  CHECK(read(env, a) == b("newer"));

  CHECK(env.remove(a).is_ok());
  CHECK_FALSE(exists(env, a));
  CHECK(env.sync_dir(dir).is_ok());

  // Every failure names the path.
  for (const Status& st : {env.remove(a), env.open_append(a).status(), env.read_all(a, 1).status(),
                           env.truncate(a, 0), env.rename(a, c)}) {
    CHECK(st.code() == "IO_ERROR");
    CHECK_MESSAGE(st.message().find(a) != std::string::npos, st.message());
  }
}

}  // namespace

TEST_CASE("fs_env: PosixFsEnv keeps the FsEnv contract on real files") {
  TempDir tmp;
  PosixFsEnv env;
  check_contract(env, tmp.path());
}

TEST_CASE("fs_env: PosixFsEnv errors carry the path and the errno text") {
  TempDir tmp;
  PosixFsEnv env;
  const std::string missing = tmp.path() + "/missing";
  auto r = env.open_append(missing);
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().message().find(missing) != std::string::npos);
  CHECK(r.status().message().find("No such file or directory") != std::string::npos);
  const Status st = env.sync_dir(tmp.path() + "/no-such-dir");
  CHECK(st.code() == "IO_ERROR");
  CHECK(st.message().find("no-such-dir") != std::string::npos);
}

TEST_CASE("fs_env: SimFsEnv keeps the FsEnv contract") {
  SimFsEnv env;
  check_contract(env, "/d");
}

TEST_CASE("fs_env: parent_dir") {
  CHECK(parent_dir("/var/lib/wal") == "/var/lib");
  CHECK(parent_dir("/wal") == "/");
  CHECK(parent_dir("wal") == ".");
  CHECK(parent_dir("d/wal") == "d");
}

TEST_CASE("fs_env: SimFsEnv crash drops unsynced appends and keeps synced ones") {
  SimFsEnv env;
  auto f = env.create("/d/f");
  REQUIRE(f.is_ok());
  REQUIRE(env.sync_dir("/d").is_ok());
  REQUIRE((*f)->append(as_bytes("synced")).is_ok());
  REQUIRE((*f)->sync().is_ok());
  REQUIRE((*f)->append(as_bytes("+lost")).is_ok());
  CHECK(env.unsynced_bytes("/d/f") == 5);
  CHECK(read(env, "/d/f") == b("synced+lost"));  // visible before the crash
  env.crash();
  CHECK(read(env, "/d/f") == b("synced"));
  CHECK(env.unsynced_bytes("/d/f") == 0);
  // The process that held the handle is gone.
  CHECK((*f)->append(as_bytes("x")).code() == "IO_ERROR");
  CHECK((*f)->sync().code() == "IO_ERROR");
  CHECK(read(env, "/d/f") == b("synced"));
}

TEST_CASE("fs_env: SimFsEnv crash keeps exactly the torn prefix the caller chooses") {
  for (std::size_t keep = 0; keep <= 5; ++keep) {
    SimFsEnv env;
    auto f = env.create("/d/f");
    REQUIRE(f.is_ok());
    REQUIRE(env.sync_dir("/d").is_ok());
    REQUIRE((*f)->append(as_bytes("abc")).is_ok());
    REQUIRE((*f)->sync().is_ok());
    REQUIRE((*f)->append(as_bytes("12345")).is_ok());
    std::string asked_path;
    std::size_t asked_bytes = 0;
    env.crash([&](const std::string& path, std::size_t unsynced) {
      asked_path = path;
      asked_bytes = unsynced;
      return keep;
    });
    CHECK(asked_path == "/d/f");
    CHECK(asked_bytes == 5);
    CHECK(read(env, "/d/f") == b(std::string("abc12345").substr(0, 3 + keep)));
    // What survived a crash is durable: a second crash keeps it.
    env.crash();
    CHECK(read(env, "/d/f").size() == 3 + keep);
  }
}

TEST_CASE("fs_env: SimFsEnv loses a created file whose directory was not synced") {
  SimFsEnv env;
  {
    auto f = env.create("/d/new");
    REQUIRE(f.is_ok());
    REQUIRE((*f)->append(as_bytes("data")).is_ok());
    REQUIRE((*f)->sync().is_ok());  // the data is synced, the name is not
  }
  CHECK(exists(env, "/d/new"));
  env.crash();
  CHECK_FALSE(exists(env, "/d/new"));

  // Syncing another directory does not help; syncing its own does.
  {
    auto f = env.create("/d/new");
    REQUIRE(f.is_ok());
    REQUIRE((*f)->append(as_bytes("data")).is_ok());
    REQUIRE((*f)->sync().is_ok());
  }
  REQUIRE(env.sync_dir("/other").is_ok());
  env.crash();
  CHECK_FALSE(exists(env, "/d/new"));
  {
    auto f = env.create("/d/new");
    REQUIRE(f.is_ok());
    REQUIRE((*f)->append(as_bytes("data")).is_ok());
    REQUIRE((*f)->sync().is_ok());
  }
  REQUIRE(env.sync_dir("/d").is_ok());
  env.crash();
  CHECK(read(env, "/d/new") == b("data"));
}

TEST_CASE("fs_env: SimFsEnv undoes an unsynced rename and remove on crash") {
  SimFsEnv env;
  for (const char* name : {"/d/old", "/d/tmp"}) {
    auto f = env.create(name);
    REQUIRE(f.is_ok());
    REQUIRE((*f)->append(as_bytes(name)).is_ok());
    REQUIRE((*f)->sync().is_ok());
  }
  REQUIRE(env.sync_dir("/d").is_ok());
  REQUIRE(env.rename("/d/tmp", "/d/old").is_ok());
  CHECK(read(env, "/d/old") == b("/d/tmp"));
  env.crash();
  CHECK(read(env, "/d/old") == b("/d/old"));
  CHECK(read(env, "/d/tmp") == b("/d/tmp"));

  REQUIRE(env.rename("/d/tmp", "/d/old").is_ok());
  REQUIRE(env.sync_dir("/d").is_ok());
  env.crash();
  CHECK(read(env, "/d/old") == b("/d/tmp"));
  CHECK_FALSE(exists(env, "/d/tmp"));

  REQUIRE(env.remove("/d/old").is_ok());
  env.crash();
  CHECK(exists(env, "/d/old"));
}

TEST_CASE("fs_env: SimFsEnv kill_process keeps unsynced names and bytes and ends the handles") {
  SimFsEnv env;
  auto f = env.create("/d/new");
  REQUIRE(f.is_ok());
  REQUIRE((*f)->append(as_bytes("synced ")).is_ok());
  REQUIRE((*f)->sync().is_ok());
  REQUIRE((*f)->append(as_bytes("cached")).is_ok());  // neither the tail nor the name is synced
  env.fail_next(SimFsEnv::Op::kRead);
  env.kill_process();
  CHECK(read(env, "/d/new") == b("synced cached"));  // the pending fault was dropped
  CHECK((*f)->append(as_bytes("x")).code() == "IO_ERROR");
  CHECK((*f)->sync().code() == "IO_ERROR");
  // The machine going down later still loses what was never synced.
  env.crash();
  CHECK_FALSE(exists(env, "/d/new"));
}

TEST_CASE("fs_env: SimFsEnv an unsynced overwrite comes back as it was synced on crash") {
  SimFsEnv env;
  overwrite(env, "/d/f", {"synced bytes"});
  REQUIRE(env.sync_dir("/d").is_ok());
  {
    auto f = env.open_overwrite("/d/f");
    REQUIRE(f.is_ok());
    REQUIRE((*f)->append(as_bytes("SYNCED BYTES, and more")).is_ok());
  }
  CHECK(read(env, "/d/f") == b("SYNCED BYTES, and more"));
  env.crash(SimFsEnv::torn_by_seed(7));
  CHECK(read(env, "/d/f") == b("synced bytes"));

  // Synced, the overwrite survives.
  overwrite(env, "/d/f", {"SYNCED"});
  env.crash();
  CHECK(read(env, "/d/f") == b("SYNCED bytes"));
}

TEST_CASE("fs_env: SimFsEnv an unsynced truncate comes back on crash") {
  SimFsEnv env;
  auto f = env.create("/d/f");
  REQUIRE(f.is_ok());
  REQUIRE(env.sync_dir("/d").is_ok());
  REQUIRE((*f)->append(as_bytes("abcdef")).is_ok());
  REQUIRE((*f)->sync().is_ok());
  REQUIRE(env.truncate("/d/f", 2).is_ok());
  CHECK(env.unsynced_bytes("/d/f") == 0);
  env.crash([](const std::string&, std::size_t) -> std::size_t {
    FAIL("not asked: the file was not only appended to");
    return 0;
  });
  CHECK(read(env, "/d/f") == b("abcdef"));

  // Cutting only unsynced bytes leaves a file that was only appended to.
  auto h = env.open_append("/d/f");
  REQUIRE(h.is_ok());
  REQUIRE((*h)->append(as_bytes("gh")).is_ok());
  REQUIRE(env.truncate("/d/f", 7).is_ok());
  CHECK(env.unsynced_bytes("/d/f") == 1);
  env.crash(SimFsEnv::torn_by_seed(1));
  CHECK(read(env, "/d/f").size() <= 7);
  CHECK(read(env, "/d/f").size() >= 6);

  REQUIRE(env.truncate("/d/f", 2).is_ok());
  auto g = env.open_append("/d/f");
  REQUIRE(g.is_ok());
  REQUIRE((*g)->sync().is_ok());
  env.crash();
  CHECK(read(env, "/d/f") == b("ab"));
}

TEST_CASE("fs_env: SimFsEnv injected faults fail once and change nothing") {
  SimFsEnv env;
  auto f = env.create("/d/f");
  REQUIRE(f.is_ok());
  REQUIRE(env.sync_dir("/d").is_ok());

  env.fail_next(SimFsEnv::Op::kAppend);
  const Status append_error = (*f)->append(as_bytes("x"));
  CHECK(append_error.code() == "IO_ERROR");
  CHECK(append_error.message().find("/d/f") != std::string::npos);
  CHECK(read(env, "/d/f").empty());
  CHECK((*f)->append(as_bytes("y")).is_ok());

  const std::uint64_t syncs = env.syncs();
  env.fail_next(SimFsEnv::Op::kSync);
  CHECK((*f)->sync().code() == "IO_ERROR");
  CHECK(env.syncs() == syncs);
  CHECK(env.unsynced_bytes("/d/f") == 1);  // still at risk
  env.crash();
  CHECK(read(env, "/d/f").empty());

  auto g = env.create("/d/g");
  REQUIRE(g.is_ok());
  env.fail_next(SimFsEnv::Op::kSyncDir);
  CHECK(env.sync_dir("/d").code() == "IO_ERROR");
  env.fail_next(SimFsEnv::Op::kRename);
  CHECK(env.rename("/d/g", "/d/h").code() == "IO_ERROR");
  CHECK(exists(env, "/d/g"));
  env.crash();
  CHECK_FALSE(exists(env, "/d/g"));

  // Two queued faults fail two calls; a crash drops pending ones.
  env.fail_next(SimFsEnv::Op::kRead);
  env.fail_next(SimFsEnv::Op::kRead);
  CHECK_FALSE(env.read_all("/d/f", 10).is_ok());
  CHECK_FALSE(env.read_all("/d/f", 10).is_ok());
  CHECK(env.read_all("/d/f", 10).is_ok());
  env.fail_next(SimFsEnv::Op::kRead);
  env.crash();
  CHECK(env.read_all("/d/f", 10).is_ok());
}

TEST_CASE("fs_env: SimFsEnv flip_byte corrupts synced data only") {
  SimFsEnv env;
  auto f = env.create("/d/f");
  REQUIRE(f.is_ok());
  REQUIRE(env.sync_dir("/d").is_ok());
  REQUIRE((*f)->append(as_bytes("abc")).is_ok());
  REQUIRE((*f)->sync().is_ok());
  REQUIRE((*f)->append(as_bytes("d")).is_ok());
  CHECK(env.flip_byte("/d/f", 1, 0x01).is_ok());
  CHECK(read(env, "/d/f") == b("acc"
                               "d"));
  CHECK(env.flip_byte("/d/f", 3, 0x01).code() == "IO_ERROR");  // not synced
  CHECK(env.flip_byte("/d/missing", 0, 0x01).code() == "IO_ERROR");
  env.crash();
  CHECK(read(env, "/d/f") == b("acc"));  // the flip is in the synced bytes
}

TEST_CASE("fs_env: SimFsEnv torn_by_seed is deterministic, bounded and varies with the seed") {
  std::set<std::size_t> seen;
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    const std::size_t k = SimFsEnv::torn_by_seed(seed)("/d/wal", 10);
    CHECK(k <= 10);
    CHECK(SimFsEnv::torn_by_seed(seed)("/d/wal", 10) == k);
    seen.insert(k);
  }
  CHECK(seen.size() == 11);  // every prefix length 0..10 is reachable
  CHECK(SimFsEnv::torn_by_seed(7)("/d/wal", 0) == 0);
}
