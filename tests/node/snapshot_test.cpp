// Snapshot files of a node (node/src/snapshots.hpp): `emledger-node snapshot
// create` on a stopped node, `snapshot restore` into a new data directory, a
// node started on the restored ledger, the refusals (a tampered or truncated
// file, a directory that holds a ledger, leftovers of a crashed restore), and
// the SnapshotServer that serves snapshot files to joining validators.
#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "node_test_util.hpp"
#include "snapshot_server.hpp"
#include "snapshots.hpp"

using namespace emledger;
using namespace emledger::node;
using namespace emledger::node::test;

namespace {

// `emledger-node snapshot ARGS...` in this process; its exit code.
int snapshot_cli(std::vector<std::string> args) {
  args.insert(args.begin(), "snapshot");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return snapshot_command(static_cast<int>(argv.size()), argv.data());
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_all(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// A dev node's data directory with `blocks` committed blocks, one record in
// each (the node is stopped again); what the tests compare against.
struct Source {
  std::string data;
  std::string genesis;  // data/genesis.json
  std::string key;      // the dev node key (clear: --dev)
  std::vector<Hash> contents;
  ledger::ChainHead head;
  std::string bundle_hex;  // GET /v1/bundles of contents[0], at the head
  json record;             // GET /v1/records/{id} of contents[0]
};

Source make_source(const TempDir& dir, int blocks) {
  Source s;
  s.data = dir.str("src");
  s.genesis = dev_genesis_path(s.data);
  s.key = dev_node_key_path(s.data);
  auto node = start_node(dev_config(s.data));
  const auto issuer = dev_issuer_key(s.data);
  const std::string chain = node->ledger().genesis().chain_id;
  for (int i = 0; i < blocks; ++i) {
    s.contents.push_back(random_hash());
    auto r = post(*node, "/v1/transactions?wait=commit",
                  submit_body(register_tx(chain, kDevIssuerOrg, issuer, s.contents.back())));
    REQUIRE_MESSAGE(r.status == 200, r.raw);
  }
  s.head = node->ledger().head();
  REQUIRE(s.head.height == static_cast<std::uint64_t>(blocks));
  auto b = get(*node, "/v1/bundles?content_hash=" + to_hex(s.contents[0]));
  REQUIRE_MESSAGE(b.status == 200, b.raw);
  s.bundle_hex = b.body["bundle"].get<std::string>();
  auto records = node->ledger().records_by_hash(s.contents[0]);
  REQUIRE((records.is_ok() && records->size() == 1));
  auto rec = get(*node, "/v1/records/" + to_hex((*records)[0].id));
  REQUIRE_MESSAGE(rec.status == 200, rec.raw);
  s.record = rec.body;
  node->shutdown();
  return s;
}

Config restored_config(const Source& s, const std::string& data) {
  Config c = dev_config(data);
  c.genesis_file = s.genesis;
  c.key_file = s.key;
  return c;
}

bool exists(const std::string& p) { return fs::exists(p); }

}  // namespace

TEST_CASE(
    "snapshot: create, restore into a new directory, and a node on it serves the same "
    "head, records and proof bundles, then commits on") {
  TempDir dir;
  const Source s = make_source(dir, 5);
  const std::string file = dir.str("ledger.snapshot");
  REQUIRE(snapshot_cli({"create", "--dev", "--data", s.data, "--out", file}) == 0);
  CHECK(exists(file));
  CHECK_FALSE(exists(file + ".tmp"));

  const std::string dst = dir.str("dst");
  REQUIRE(snapshot_cli({"restore", "--genesis", s.genesis, "--data", dst, "--in", file}) == 0);
  CHECK(exists(db_path(dst)));
  CHECK_FALSE(exists(db_import_path(dst)));
  CHECK_FALSE(exists(snapshot_sort_path(dst)));

  auto node = start_node(restored_config(s, dst));
  const ledger::ChainHead head = node->ledger().head();
  CHECK(head.height == s.head.height);
  CHECK(head.header_hash == s.head.header_hash);
  CHECK(head.log_size == s.head.log_size);
  CHECK(head.log_root == s.head.log_root);
  CHECK(head.state_root == s.head.state_root);
  CHECK(node->ledger().base_height() == s.head.height);
  auto latest = get(*node, "/v1/headers/latest");
  REQUIRE(latest.status == 200);
  CHECK(latest.body["hash"] == to_hex(s.head.header_hash));
  // No history below the snapshot, and the node says where it starts.
  CHECK(get(*node, "/v1/blocks/1").status == 404);
  CHECK(get(*node, "/v1/health").body["base_height"] == s.head.height);

  // A record committed long before the snapshot: the same record, and a
  // proof bundle that verifies against the genesis alone.
  auto records = node->ledger().records_by_hash(s.contents[0]);
  REQUIRE((records.is_ok() && records->size() == 1));
  auto rec = get(*node, "/v1/records/" + to_hex((*records)[0].id));
  REQUIRE(rec.status == 200);
  CHECK(rec.body == s.record);
  auto b = get(*node, "/v1/bundles?content_hash=" + to_hex(s.contents[0]));
  REQUIRE_MESSAGE(b.status == 200, b.raw);
  CHECK(b.body["bundle"] == s.bundle_hex);
  auto bytes = from_hex(b.body["bundle"].get<std::string>());
  REQUIRE(bytes.has_value());
  auto bundle = ledger::decode<ledger::ProofBundle>(*bytes);
  REQUIRE(bundle.is_ok());
  auto verdict = ledger::verify_bundle(node->ledger().genesis(), *bundle, s.contents[0]);
  REQUIRE_MESSAGE(verdict.is_ok(), verdict.status().to_string());
  CHECK(verdict->overall == ledger::Verdict::kValid);

  // The restored node is a node: it commits the next block on the snapshot's
  // head, and refuses a transaction committed before the snapshot.
  const auto issuer = *crypto::read_key_file(dev_issuer_key_path(s.data), std::nullopt);
  const std::string chain = node->ledger().genesis().chain_id;
  auto r = post(*node, "/v1/transactions?wait=commit",
                submit_body(register_tx(chain, kDevIssuerOrg, issuer, random_hash())));
  REQUIRE_MESSAGE(r.status == 200, r.raw);
  CHECK(node->ledger().head().height == s.head.height + 1);
  node.reset();

  // A directory that holds a ledger is never replaced.
  CHECK(snapshot_cli({"restore", "--genesis", s.genesis, "--data", dst, "--in", file}) == 2);
  node = start_node(restored_config(s, dst));
  CHECK(node->ledger().head().height == s.head.height + 1);
}

TEST_CASE("snapshot: a tampered or truncated file is refused and leaves no ledger behind") {
  TempDir dir;
  const Source s = make_source(dir, 3);
  const std::string file = dir.str("ledger.snapshot");
  REQUIRE(snapshot_cli({"create", "--dev", "--data", s.data, "--out", file}) == 0);
  const std::string good = read_all(file);
  REQUIRE(good.size() > 64);

  auto refused = [&](const std::string& bytes, int code) {
    const std::string dst = dir.str("dst");
    write_all(dir.str("bad.snapshot"), bytes);
    CHECK(snapshot_cli({"restore", "--genesis", s.genesis, "--data", dst, "--in",
                        dir.str("bad.snapshot")}) == code);
    CHECK_FALSE(exists(db_path(dst)));
    CHECK_FALSE(exists(db_import_path(dst)));
    CHECK_FALSE(exists(snapshot_sort_path(dst)));
  };
  // A flipped byte in each quarter of the file: the manifest, the headers and
  // leaves, the state, the window's transactions.
  for (std::size_t at : {good.size() / 8, good.size() / 3, good.size() / 2, good.size() * 7 / 8}) {
    CAPTURE(at);
    std::string bad = good;
    bad[at] = static_cast<char>(bad[at] ^ 0x20);
    refused(bad, 1);
  }
  refused(good.substr(0, good.size() - 1), 1);
  refused(good.substr(0, good.size() / 2), 1);
  refused(good + std::string(1, '\0'), 1);
  // Another chain's genesis: verification fails too.
  {
    TempDir other;
    auto n = start_node(dev_config(other.str()));  // a new dev chain, its own genesis
    n->shutdown();
    CHECK(snapshot_cli({"restore", "--genesis", dev_genesis_path(other.str()), "--data",
                        dir.str("dst"), "--in", file}) == 1);
    CHECK_FALSE(exists(db_path(dir.str("dst"))));
  }
  // No such file: bad input.
  CHECK(snapshot_cli({"restore", "--genesis", s.genesis, "--data", dir.str("dst"), "--in",
                      dir.str("missing")}) == 2);

  // Leftovers of a restore that crashed are removed, and the good file restores.
  const std::string dst = dir.str("dst");
  fs::create_directories(db_import_path(dst));
  fs::create_directories(snapshot_sort_path(dst));
  write_all(db_import_path(dst) + "/CURRENT", "half an import");
  write_all(snapshot_sort_path(dst) + "/000001.log", "scratch");
  REQUIRE(snapshot_cli({"restore", "--genesis", s.genesis, "--data", dst, "--in", file}) == 0);
  CHECK_FALSE(exists(db_import_path(dst)));
  CHECK_FALSE(exists(snapshot_sort_path(dst)));
  auto node = start_node(restored_config(s, dst));
  CHECK(node->ledger().head().header_hash == s.head.header_hash);
}

TEST_CASE("snapshot create: refused without a ledger, on a running node, and for height 0") {
  TempDir dir;
  const std::string file = dir.str("out.snapshot");
  // No data directory at all, and nothing created by asking.
  CHECK(snapshot_cli({"create", "--genesis", dir.str("nowhere.json"), "--data", dir.str("none"),
                      "--out", file}) == 2);
  CHECK(snapshot_cli({"create", "--data", dir.str("none"), "--out", file}) == 2);  // no genesis
  CHECK(snapshot_cli({"create", "--dev", "--data", dir.str("none")}) == 2);        // no --out
  CHECK(snapshot_cli({"bogus"}) == 2);
  CHECK_FALSE(exists(dir.str("none") + "/db"));

  auto node = start_node(dev_config(dir.str("n")));
  // LevelDB's lock: a running node's ledger is not read behind its back.
  CHECK(snapshot_cli({"create", "--dev", "--data", dir.str("n"), "--out", file}) == 3);
  node.reset();
  // Only the genesis: nothing to snapshot.
  CHECK(snapshot_cli({"create", "--dev", "--data", dir.str("n"), "--out", file}) == 2);
  CHECK_FALSE(exists(file));
  CHECK_FALSE(exists(file + ".tmp"));
}

TEST_CASE(
    "snapshot server: preparing until the file is written, then byte ranges of it that "
    "restore; requests faster than the serve interval are dropped") {
  TempDir dir;
  const Source s = make_source(dir, 4);
  auto node = start_node(restored_config(s, s.data));  // the source again, running
  SnapshotServerOptions so;
  so.dir = dir.str("served");
  so.serve_interval_ms = 10;
  auto server = SnapshotServer::open(node->ledger(), so);
  REQUIRE(server.is_ok());

  std::uint64_t now = 1'000;
  auto serve = [&](std::size_t peer, SnapshotRequest req) {
    now += 10;
    return (*server)->serve(peer, req, now);
  };
  auto first = serve(1, {0, 0});
  REQUIRE(first.has_value());
  for (int i = 0; i < 500 && first->state == static_cast<std::uint8_t>(SnapshotState::kPreparing);
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    first = serve(1, {0, 0});
    REQUIRE(first.has_value());
  }
  REQUIRE(first->state == static_cast<std::uint8_t>(SnapshotState::kReady));
  CHECK(first->height == s.head.height);
  CHECK(first->header_hash == s.head.header_hash);
  CHECK(first->offset == 0);
  // Too soon after the last one from the same peer: dropped; another peer is served.
  CHECK_FALSE((*server)->serve(1, {first->height, 0}, now + 1).has_value());
  CHECK((*server)->serve(2, {first->height, 0}, now + 1).has_value());

  // Every range, in order, by offset; the bytes restore to the same head.
  std::string bytes;
  while (bytes.size() < first->total_bytes) {
    auto c = serve(1, {first->height, bytes.size()});
    REQUIRE(c.has_value());
    REQUIRE(c->state == static_cast<std::uint8_t>(SnapshotState::kReady));
    REQUIRE(c->offset == bytes.size());
    REQUIRE(!c->data.empty());
    REQUIRE(c->data.size() <= kSnapshotChunkBytesMax);
    bytes.append(c->data.begin(), c->data.end());
  }
  CHECK(bytes.size() == first->total_bytes);
  auto past = serve(1, {first->height, first->total_bytes + 5});
  REQUIRE(past.has_value());
  CHECK(past->data.empty());
  // A height the server does not have: its newest, so the joiner starts over.
  auto other = serve(1, {first->height + 7, 0});
  REQUIRE(other.has_value());
  CHECK(other->height == first->height);
  CHECK((*server)->stats().files_written == 1);

  write_all(dir.str("served.snapshot"), bytes);
  auto info =
      restore_snapshot_file(dir.str("served.snapshot"), node->ledger().genesis(), dir.str("dst"));
  REQUIRE_MESSAGE(info.is_ok(), info.status().to_string());
  CHECK(info->header_hash == s.head.header_hash);
  (*server)->stop();
}

TEST_CASE(
    "snapshot server: on a ledger restored from a snapshot the write fails; it answers "
    "unavailable and does not try again within retry_after_failure_ms") {
  TempDir dir;
  const Source s = make_source(dir, 2);
  const std::string file = dir.str("ledger.snapshot");
  REQUIRE(snapshot_cli({"create", "--dev", "--data", s.data, "--out", file}) == 0);
  const std::string dst = dir.str("dst");
  REQUIRE(snapshot_cli({"restore", "--genesis", s.genesis, "--data", dst, "--in", file}) == 0);
  auto node = start_node(restored_config(s, dst));

  SnapshotServerOptions so;
  so.dir = dir.str("served");
  so.retry_after_failure_ms = 60'000;
  auto server = SnapshotServer::open(node->ledger(), so);
  REQUIRE(server.is_ok());
  std::uint64_t now = 1'000;
  auto first = (*server)->serve(1, {0, 0}, now);
  REQUIRE(first.has_value());
  CHECK(first->state == static_cast<std::uint8_t>(SnapshotState::kPreparing));
  for (int i = 0; i < 500 && (*server)->stats().write_failures == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE((*server)->stats().write_failures == 1);
  for (int i = 0; i < 5; ++i) {
    now += 1'000;
    auto c = (*server)->serve(1, {0, 0}, now);
    REQUIRE(c.has_value());
    CHECK(c->state == static_cast<std::uint8_t>(SnapshotState::kUnavailable));
  }
  CHECK((*server)->stats().write_failures == 1);
  CHECK((*server)->stats().files_written == 0);
  CHECK(fs::is_empty(dir.str("served")));
}
