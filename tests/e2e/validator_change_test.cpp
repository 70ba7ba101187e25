// Validator-set changes with real processes (docs/validator-set-changes.md,
// docs/node.md): four emledger-node validators commit transactions; a
// ChangeValidators transaction approved by three of them (a quorum of 4)
// adds a fifth, which joins from a peer's snapshot and then votes (with one
// original validator stopped, only its votes make a quorum of the 5); a
// second change, approved by a quorum of the 5, removes the stopped one.
// Every transaction acknowledged as committed is on every member, they agree
// on every header hash, GET /v1/validators serves the set of epoch 2 with a
// succession that verifies from the genesis, every header's finality proof
// verifies under the set of its height, and `emledger chain verify` passes
// against each member across both changes.
#include <chrono>
#include <thread>

#include "emledger/ledger/validator_set.hpp"
#include "support/checks.hpp"

using namespace emledger;
using namespace emledger::e2e;

namespace {

constexpr std::size_t kValidators = 4;
constexpr std::size_t kNewcomer = 4;  // node index of the spare validator
constexpr std::size_t kRemoved = 3;
constexpr std::uint64_t kViewTimeoutMs = 300;
constexpr int kCommitTimeoutS = 60;
constexpr int kJoinTimeoutS = 120;

// The ChangeValidators transaction ending `current` with `next`, approved by
// the validators of `current` at `approvers` (their keys in `keys`), signed
// by the network's issuer org.
std::string change_tx(
    const Network& net, const ledger::ValidatorSet& current,
    const std::vector<ledger::Validator>& next,
    const std::vector<std::pair<std::uint16_t, const crypto::KeyPair*>>& approvers,
    std::uint64_t nonce) {
  ledger::ChangeValidators change;
  change.epoch = current.epoch;
  change.validators = next;
  for (const auto& [index, key] : approvers)
    ledger::approve_validator_change(net.genesis.chain_id, current, index, *key, change);
  ledger::TxBody b = ledger::make_body(ledger::TxType::kChangeValidators, change);
  b.chain_id = net.genesis.chain_id;
  b.signer_org = kNetIssuerOrg;
  b.key_id = 1;
  b.expires_at_height = 50'000;
  b.nonce = nonce;
  return to_hex(ledger::encode(ledger::sign_tx(std::move(b), net.issuer_key)));
}

// Submits one transaction and waits for its commit; the reply's body.
HttpReply submit_and_wait(const testing::NodeProcess& node, const std::string& tx_hex) {
  return http_json(node, "POST", "/v1/transactions?wait=commit", Json{{"tx", tx_hex}}.dump());
}

// GET /v1/validators of a node, its succession verified from the genesis:
// the sets of every epoch, [0] the genesis set.
std::vector<ledger::ValidatorSet> verified_sets(const Network& net,
                                                const testing::NodeProcess& node) {
  auto r = http_json(node, "GET", "/v1/validators");
  REQUIRE_MESSAGE(r.status == 200, "GET /v1/validators: " << r.status);
  auto bytes = from_hex(r.body.at("succession").get<std::string>());
  REQUIRE(bytes.has_value());
  auto s = ledger::decode<ledger::Succession>(*bytes);
  REQUIRE_MESSAGE(s.is_ok(), s.status().to_string());
  auto sets = ledger::verify_succession(net.genesis, *s);
  REQUIRE_MESSAGE(sets.is_ok(), sets.status().to_string());
  REQUIRE(r.body.at("epoch").get<std::uint64_t>() == sets->back().epoch);
  REQUIRE(r.body.at("since_height").get<std::uint64_t>() == sets->back().since_height);
  return std::move(*sets);
}

// Every header of node i up to `top` names its parent and is final under
// the set of its height (from the verified succession).
void check_chain_under_sets(Network& net, std::size_t i, std::uint64_t top,
                            const std::vector<ledger::ValidatorSet>& sets) {
  Hash parent = net.genesis.hash();
  for (const Json& item : headers_of(net.node(i), top)) {
    auto hb = from_hex(item.at("encoded").get<std::string>());
    auto cb = from_hex(item.at("certificate").get<std::string>());
    REQUIRE((hb && cb));
    auto header = ledger::decode<ledger::BlockHeader>(*hb);
    auto proof = ledger::decode_finality_proof(*cb);
    REQUIRE((header.is_ok() && proof.is_ok()));
    CHECK_MESSAGE(header->parent == parent, "node " << i << " height " << header->height);
    const auto& set = ledger::set_for_height(sets, header->height);
    Status st = ledger::verify_finality_in_set(net.genesis.chain_id, set, *header, *proof);
    CHECK_MESSAGE(st.is_ok(), "node " << i << " height " << header->height << " (epoch "
                                      << set.epoch << "): " << st.to_string());
    parent = header->hash();
  }
}

}  // namespace

TEST_CASE(
    "e2e: a validator is added by a quorum's change, joins from a snapshot and votes; "
    "another is removed; chain verify passes across both changes") {
  Scratch s("validator-change");
  Network net(s, kValidators, kViewTimeoutMs, PeerLinks::kDirect, /*spare_count=*/1);
  for (std::size_t i = 0; i < kValidators; ++i) REQUIRE(net.start(i));
  std::atomic<std::uint64_t> nonce{1};
  std::vector<std::string> acked = submit_committed(net, net.node(0), &nonce, 40, 10);
  REQUIRE(acked.size() == 40);

  // Epoch 0 -> 1: the four and the newcomer, approved by validators 0..2.
  const ledger::ValidatorSet epoch0 = ledger::genesis_validator_set(net.genesis);
  std::vector<ledger::Validator> five = net.genesis.validators;
  five.push_back(net.spares.at(0));
  std::vector<crypto::KeyPair> keys;
  for (std::size_t i = 0; i < kValidators; ++i) {
    auto k = crypto::read_key_file(net.key_paths.at(i), std::nullopt);
    REQUIRE(k.is_ok());
    keys.push_back(*k);
  }
  keys.push_back(net.spare_keys.at(0));

  // Two approvals of four are short of the quorum of 3: refused, nothing changes.
  auto short_reply = submit_and_wait(
      net.node(1), change_tx(net, epoch0, five, {{0, &keys[0]}, {1, &keys[1]}}, 900'001));
  CHECK(short_reply.status == 422);
  CHECK(error_code(short_reply) == "VALIDATORS_NO_QUORUM");

  auto added = submit_and_wait(
      net.node(1),
      change_tx(net, epoch0, five, {{0, &keys[0]}, {1, &keys[1]}, {2, &keys[2]}}, 900'002));
  REQUIRE_MESSAGE(added.status == 200, added.body.dump());
  const std::uint64_t h1 = added.body.at("height").get<std::uint64_t>();
  // The old set's approvals are single-use: the same change again is of a past epoch.
  auto replayed = submit_and_wait(
      net.node(2),
      change_tx(net, epoch0, five, {{0, &keys[0]}, {1, &keys[1]}, {2, &keys[2]}}, 900'003));
  CHECK(error_code(replayed) == "VALIDATORS_EPOCH_MISMATCH");

  // The four keep committing under epoch 1 (4 of 5 is a quorum).
  auto more = submit_committed(net, net.node(2), &nonce, 20, 10);
  CHECK(more.size() == 20);
  acked.insert(acked.end(), more.begin(), more.end());

  // The newcomer joins from a snapshot above the change and catches up.
  std::vector<std::string> join_args = net.args.at(kNewcomer);
  join_args.push_back("--join-snapshot");
  REQUIRE(net.nodes.at(kNewcomer)->start(join_args));
  const std::uint64_t caught = top_height(net, {0, 1, 2, 3});
  REQUIRE_MESSAGE(wait_for_height(net, {kNewcomer}, caught, kJoinTimeoutS),
                  net.node(kNewcomer).log());

  // With validator 3 stopped, only the newcomer's votes make a quorum of 4.
  net.node(kRemoved).stop();
  more = submit_committed(net, net.node(kNewcomer), &nonce, 20, 10);
  CHECK_MESSAGE(more.size() == 20, net.node(kNewcomer).log());
  acked.insert(acked.end(), more.begin(), more.end());

  // Epoch 1 -> 2: validator 3 leaves, approved by 0, 1, 2 and the newcomer.
  const std::vector<ledger::ValidatorSet> sets1 = verified_sets(net, net.node(0));
  REQUIRE(sets1.size() == 2);
  CHECK(sets1[1].since_height == h1 + 1);
  std::vector<ledger::Validator> four = five;
  four.erase(four.begin() + kRemoved);
  auto removed = submit_and_wait(
      net.node(0),
      change_tx(net, sets1[1], four,
                {{0, &keys[0]}, {1, &keys[1]}, {2, &keys[2]}, {4, &keys[kNewcomer]}}, 900'004));
  REQUIRE_MESSAGE(removed.status == 200, removed.body.dump());
  const std::uint64_t h2 = removed.body.at("height").get<std::uint64_t>();
  more = submit_committed(net, net.node(kNewcomer), &nonce, 20, 10);
  CHECK(more.size() == 20);
  acked.insert(acked.end(), more.begin(), more.end());

  const std::vector<std::size_t> members{0, 1, 2, kNewcomer};
  const std::uint64_t top = top_height(net, members);
  REQUIRE(top > h2);
  REQUIRE(wait_for_height(net, members, top, kCommitTimeoutS));
  for (std::size_t i : members) CHECK_MESSAGE(missing_on(net.node(i), acked) == 0, "node " << i);
  check_same_hashes(net, {0, 1, 2}, top);
  // The newcomer holds no block below its snapshot: from there on, the same.
  auto health = http_json(net.node(kNewcomer), "GET", "/v1/health");
  REQUIRE(health.status == 200);
  const std::uint64_t base = health.body.at("base_height").get<std::uint64_t>();
  CHECK(base > h1);
  for (std::uint64_t h = base; h <= top; ++h)
    CHECK_MESSAGE(header_hash_at(net.node(kNewcomer), h) == header_hash_at(net.node(0), h),
                  "height " << h);
  for (std::size_t i : members) {
    const auto sets = verified_sets(net, net.node(i));
    REQUIRE(sets.size() == 3);
    CHECK(sets[2].since_height == h2 + 1);
    CHECK(sets[2].validators.size() == 4);
    CHECK(!sets[2].index_of(keys[kRemoved].public_key()).has_value());
    // The newcomer holds no block below its snapshot.
    if (i != kNewcomer) check_chain_under_sets(net, i, top, sets);
  }
  for (std::size_t i : members) check_chain_verifies(s, net, i);
}
