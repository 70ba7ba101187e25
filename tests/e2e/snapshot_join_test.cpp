// A validator joins a running network from a snapshot, with real processes
// (docs/node.md, "Joining from a snapshot"): three of four emledger-node
// validators (a quorum of 3) commit a stream of transactions past
// kJoinAfterHeight; the fourth starts with an empty data directory and
// --join-snapshot. It must fetch a peer's snapshot, restore it, catch up to
// the others' header hashes by range sync, serve a proof of a record
// committed before the snapshot that `emledger verify` accepts, pass
// `emledger chain verify`, and then vote: with another validator stopped,
// the network only has a quorum with the joined one, also after the joined
// one is killed and restarted.
#include <chrono>
#include <regex>
#include <thread>

#include "support/checks.hpp"
#include "support/tx_stream.hpp"

using namespace emledger;
using namespace emledger::e2e;

namespace {

constexpr std::size_t kValidators = 4;
constexpr std::size_t kJoiner = 3;
constexpr std::uint64_t kViewTimeoutMs = 300;
constexpr std::uint64_t kJoinAfterHeight = 60;
constexpr int kCommitTimeoutS = 60;
constexpr int kJoinStartTimeoutS = 120;  // the join runs before the node serves
constexpr int kCatchUpTimeoutS = 60;
// Nonces of the transactions this test submits itself, far from TxStream's.
constexpr std::uint64_t kOwnNonceBase = 1'000'000'000;

// The snapshot height the joiner's log reports ("restored the snapshot of
// height N"); 0 when there is none.
std::uint64_t restored_height(const testing::NodeProcess& node) {
  static const std::regex kRestored("restored the snapshot of height ([0-9]+)");
  const std::string log = node.log();
  std::smatch m;
  if (!std::regex_search(log, m, kRestored)) return 0;
  return std::stoull(m[1]);
}

// Validator 3's command line with the join option.
std::vector<std::string> args_of_joiner(const Network& net) {
  std::vector<std::string> args = net.args.at(kJoiner);
  args.push_back("--join-snapshot");
  return args;
}

// Node i's headers from `from` to `top` agree with node 0's, and each one's
// finality proof verifies against the genesis.
void check_same_certified_headers(Network& net, std::size_t i, std::uint64_t from,
                                  std::uint64_t top) {
  for (std::uint64_t lo = from; lo <= top; lo += kHeadersPageMax) {
    const std::uint64_t hi = std::min(top, lo + kHeadersPageMax - 1);
    const std::string q = "/v1/headers?from=" + std::to_string(lo) + "&to=" + std::to_string(hi);
    auto mine = http_json(net.node(i), "GET", q);
    auto ref = http_json(net.node(0), "GET", q);
    REQUIRE_MESSAGE(mine.status == 200, "node " << i << " " << q << ": " << mine.status);
    REQUIRE(ref.status == 200);
    const auto& a = mine.body.at("headers");
    const auto& b = ref.body.at("headers");
    REQUIRE(a.size() == hi - lo + 1);
    REQUIRE(b.size() == a.size());
    for (std::size_t k = 0; k < a.size(); ++k) {
      REQUIRE_MESSAGE(a[k].at("hash") == b[k].at("hash"), "height " << lo + k);
      auto hb = from_hex(a[k].at("encoded").get<std::string>());
      auto cb = from_hex(a[k].at("certificate").get<std::string>());
      REQUIRE((hb && cb));
      auto header = ledger::decode<ledger::BlockHeader>(*hb);
      auto proof = ledger::decode_finality_proof(*cb);
      REQUIRE((header.is_ok() && proof.is_ok()));
      Status st = ledger::verify_finality(net.genesis, *header, *proof);
      CHECK_MESSAGE(st.is_ok(), "height " << lo + k << ": " << st.to_string());
    }
  }
}

}  // namespace

TEST_CASE(
    "e2e: a validator with an empty data directory joins from a peer's snapshot, "
    "catches up, verifies and votes") {
  Scratch s("snapshot-join");
  Network net(s, kValidators, kViewTimeoutMs);
  const std::vector<std::size_t> others{0, 1, 2};
  const std::vector<std::size_t> all{0, 1, 2, 3};
  for (auto i : others) REQUIRE_MESSAGE(net.start(i), "node " << i << ": " << net.node(i).log());

  // A record committed early, long before the snapshot.
  std::atomic<std::uint64_t> nonce{kOwnNonceBase};
  const std::uint64_t early_nonce = nonce.load();
  REQUIRE(submit_committed(net, net.node(0), &nonce, 1, 1).size() == 1);
  const std::string early_file = s.write("early.bin", "net-" + std::to_string(early_nonce));

  std::vector<std::string> acked;
  {
    TxStream stream(net, TxStream::Config{.batch = 2});
    REQUIRE_MESSAGE(wait_for_height(net, others, kJoinAfterHeight, kCommitTimeoutS),
                    "validators 0-2 did not reach " << kJoinAfterHeight);
    // The joiner starts while the others keep committing.
    const auto started = std::chrono::steady_clock::now();
    REQUIRE_MESSAGE(net.node(kJoiner).start(args_of_joiner(net), kJoinStartTimeoutS),
                    net.node(kJoiner).log());
    MESSAGE("validator 3 joined and serves after "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()
            << " s");
    std::this_thread::sleep_for(std::chrono::seconds(2));
    stream.stop();
    acked = stream.acked();
  }
  const std::uint64_t snapshot_height = restored_height(net.node(kJoiner));
  REQUIRE_MESSAGE(snapshot_height >= kJoinAfterHeight, net.node(kJoiner).log());
  CHECK(http_json(net.node(kJoiner), "GET", "/v1/health").body.at("base_height") ==
        snapshot_height);

  // It catches up to the others and agrees on every header it holds.
  const std::uint64_t top = top_height(net, others);
  REQUIRE_MESSAGE(wait_for_height(net, all, top, kCatchUpTimeoutS),
                  "validator 3 at " << height_of(net.node(kJoiner)) << " of " << top);
  check_same_certified_headers(net, kJoiner, snapshot_height, top);
  const std::size_t missing = missing_on(net.node(kJoiner), acked);
  CHECK_MESSAGE(missing == 0, missing << " of " << acked.size() << " acknowledged transactions "
                                      << "are not committed on validator 3");

  // The early record verifies through the joined node (a proof bundle
  // checked against the genesis alone), and so does the chain.
  auto verify = cli(
      s, {"verify", early_file, "--node", net.node(kJoiner).url(), "--trust", net.genesis_path});
  CHECK_MESSAGE(verify.exit_code == 0, verify.out);
  check_chain_verifies(s, net, kJoiner);

  // With validator 1 stopped, 0, 2 and 3 are the only quorum: blocks still
  // commit, and a transaction submitted to the joined node commits.
  net.node(1).stop(SIGKILL);
  const std::vector<std::size_t> quorum{0, 2, 3};
  const std::uint64_t before = top_height(net, quorum);
  REQUIRE_MESSAGE(wait_for_height(net, quorum, before + 5, kCommitTimeoutS),
                  "no blocks without validator 1\n"
                      << net.node(kJoiner).log());
  CHECK(submit_committed(net, net.node(kJoiner), &nonce, 4, 2).size() == 4);
  const std::uint64_t both = std::min(height_of(net.node(0)), height_of(net.node(kJoiner)));
  check_same_certified_headers(net, kJoiner, snapshot_height, both);

  // SIGKILLed and restarted with the same command line, the joined node
  // opens its own ledger (the flag does nothing now), keeps its base, and is
  // needed again for the quorum.
  net.node(kJoiner).stop(SIGKILL);
  REQUIRE_MESSAGE(net.node(kJoiner).start(args_of_joiner(net)), net.node(kJoiner).log());
  CHECK(restored_height(net.node(kJoiner)) == snapshot_height);  // the one join in its log
  CHECK(http_json(net.node(kJoiner), "GET", "/v1/health").body.at("base_height") ==
        snapshot_height);
  const std::uint64_t again = top_height(net, quorum);
  REQUIRE_MESSAGE(wait_for_height(net, quorum, again + 3, kCommitTimeoutS),
                  "no blocks after validator 3 restarted\n"
                      << net.node(kJoiner).log());
  CHECK(submit_committed(net, net.node(kJoiner), &nonce, 2, 2).size() == 2);
}
