#include <doctest/doctest.h>

#include <map>
#include <set>
#include <utility>

#include "harness.hpp"

using namespace emledger;
using namespace emledger::consensus;
using namespace emledger::consensus::test;

namespace {

bool has_vote(const std::vector<Vote>& votes, VoteKind kind, View view) {
  for (const auto& v : votes)
    if (v.vote_kind() == kind && v.view == view) return true;
  return false;
}

std::size_t count_vote(const std::vector<Vote>& votes, VoteKind kind) {
  std::size_t n = 0;
  for (const auto& v : votes) n += v.vote_kind() == kind;
  return n;
}

// Validator 0 of four, started, in view 1 (led by validator 1).
Driver started_four() {
  Driver d(keys_for(4), 0);
  d.start();
  REQUIRE(d.core.current_view() == 1);
  REQUIRE(d.core.leader(1) == 1);
  return d;
}

}  // namespace

TEST_CASE("config: refused unless the set is sane") {
  auto keys = keys_for(4);
  CHECK(Core::create(config_for(keys, 3)).is_ok());
  CHECK_FALSE(Core::create(config_for(keys, 4)).is_ok());  // self outside the set
  Config c = config_for(keys, 0);
  c.validators[2] = c.validators[1];  // one key twice would count twice
  CHECK(Core::create(c).status().code() == "CONFIG_INVALID");
  c = config_for(keys, 0);
  c.view_timeout_ms = c.view_timeout_max_ms + 1;
  CHECK_FALSE(Core::create(c).is_ok());
  c = config_for({}, 0);
  CHECK_FALSE(Core::create(c).is_ok());
}

TEST_CASE("n = 1: one validator proposes, notarizes and finalizes every view alone") {
  Driver d(keys_for(1), 0);
  CHECK(d.core.quorum() == 1);
  d.build_until = 50;
  d.start();
  REQUIRE(d.finalized.size() == 50);
  for (std::size_t i = 0; i < d.finalized.size(); ++i) {
    const Finalized& f = d.finalized[i];
    CHECK(f.block.height == i + 1);
    CHECK(f.block.view == i + 1);
    CHECK(f.block.parent == (i == 0 ? genesis_hash() : d.finalized[i - 1].block.digest));
    CHECK_FALSE(f.by_descendant);
    CHECK(f.proof.digest == f.block.digest);
    CHECK(f.proof.signatures.size() == 1);
  }
  CHECK(d.core.last_finalized().height == 50);
  CHECK(d.core.current_view() == 51);
  // Every vote went to the WAL before it was signed: one notarize and one
  // finalize per view, never a nullify.
  CHECK(count_vote(d.wal, VoteKind::kNotarize) == 50);
  CHECK(count_vote(d.wal, VoteKind::kFinalize) == 50);
  CHECK(count_vote(d.wal, VoteKind::kNullify) == 0);
  // Memory stays bounded: old views are pruned.
  CHECK(d.core.views_held() <= kViewsRetainedBelowFinalized + 3);
  // There is no other validator: nothing is broadcast, not even the
  // proposals (a block each, not copied for nobody).
  CHECK(all_of<Broadcast>(d.log).empty());
}

TEST_CASE("rule 1: the leader's first valid proposal is notarized, a second one never") {
  Driver d = started_four();
  auto keys = keys_for(4);
  const BlockRef a = make_block(1, genesis_anchor(), 1);
  const BlockRef b = make_block(1, genesis_anchor(), 2);
  auto step = d.deliver(propose(keys, 1, a));
  CHECK(all_of<CheckBlock>(step).size() == 1);
  auto votes = persisted(step);
  REQUIRE(votes.size() == 1);
  CHECK(votes[0] == notarize_vote(1, a.height, a.digest));

  step = d.deliver(propose(keys, 1, b));
  CHECK(all_of<CheckBlock>(step).empty());
  CHECK(persisted(step).empty());
  // The leader signed two blocks for one view: that is evidence.
  auto ev = all_of<Equivocation>(step);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].evidence.first.validator == 1);
}

TEST_CASE("rule 1: a proposal from a validator that does not lead the view is ignored") {
  Driver d = started_four();
  auto keys = keys_for(4);
  auto step = d.deliver(propose(keys, 2, make_block(1, genesis_anchor())));
  CHECK(step.empty());
  CHECK(d.core.counters().refused_not_leader == 1);
  CHECK(d.wal.empty());
}

TEST_CASE("rule 1: an invalid block is not notarized") {
  Driver d = started_four();
  const BlockRef a = make_block(1, genesis_anchor());
  d.invalid.insert(a.digest);
  auto step = d.deliver(propose(keys_for(4), 1, a));
  CHECK(all_of<CheckBlock>(step).size() == 1);
  CHECK(d.wal.empty());
}

TEST_CASE("rule 1: notarize only on a notarized parent with every skipped view nullified") {
  Driver d = started_four();
  auto keys = keys_for(4);
  const BlockRef b1 = make_block(1, genesis_anchor());
  d.deliver(certify(keys, notarize_vote(1, b1.height, b1.digest), {1, 2, 3}));
  // A notarization of view 2 (some other block) moves us to view 3 without a
  // nullification of view 2.
  const BlockRef x2 = make_block(2, b1);
  d.deliver(certify(keys, notarize_vote(2, x2.height, x2.digest), {1, 2, 3}));
  REQUIRE(d.core.current_view() == 3);
  REQUIRE(d.core.leader(3) == 3);

  const BlockRef b3 = make_block(3, b1);  // skips view 2
  auto step = d.deliver(propose(keys, 3, b3));
  CHECK(all_of<CheckBlock>(step).size() == 1);
  CHECK_FALSE(has_vote(persisted(step), VoteKind::kNotarize, 3));

  // Once view 2 is shown nullified too, the skip is justified.
  step = d.deliver(certify(keys, nullify_vote(2), {1, 2, 3}));
  CHECK(persisted(step) == std::vector<Vote>{notarize_vote(3, b3.height, b3.digest)});
}

TEST_CASE("rule 1: a proposal on an unknown parent waits for the parent's notarization") {
  Driver d = started_four();
  auto keys = keys_for(4);
  const BlockRef b1 = make_block(1, genesis_anchor());
  const BlockRef b2 = make_block(2, b1);
  // The view-2 proposal arrives first (buffered: view 2 is ahead).
  d.deliver(propose(keys, 2, b2));
  CHECK(d.wal.empty());
  // Entering view 2 through a nullification of view 1 does not make b1 a
  // notarized parent.
  d.deliver(certify(keys, nullify_vote(1), {1, 2, 3}));
  REQUIRE(d.core.current_view() == 2);
  CHECK_FALSE(has_vote(d.wal, VoteKind::kNotarize, 2));
  // Its notarization does; the view stays 2 (certificates never move back).
  d.deliver(certify(keys, notarize_vote(1, b1.height, b1.digest), {1, 2, 3}));
  CHECK(d.core.current_view() == 2);
  CHECK(has_vote(d.wal, VoteKind::kNotarize, 2));
}

TEST_CASE("rule 2: no finalize vote in a view this validator nullified") {
  Driver d = started_four();
  auto keys = keys_for(4);
  auto step = d.tick(d.wake_ms);
  REQUIRE(persisted(step) == std::vector<Vote>{nullify_vote(1)});
  const BlockRef b1 = make_block(1, genesis_anchor());
  step = d.deliver(certify(keys, notarize_vote(1, b1.height, b1.digest), {1, 2, 3}));
  CHECK(d.core.current_view() == 2);
  CHECK_FALSE(has_vote(persisted(step), VoteKind::kFinalize, 1));
  CHECK_FALSE(has_vote(d.wal, VoteKind::kFinalize, 1));
}

TEST_CASE("rule 2: a notarization of a view not nullified gets a finalize vote") {
  Driver d = started_four();
  const BlockRef b1 = make_block(1, genesis_anchor());
  auto step = d.deliver(certify(keys_for(4), notarize_vote(1, b1.height, b1.digest), {1, 2, 3}));
  CHECK(persisted(step) == std::vector<Vote>{finalize_vote(1, b1.height, b1.digest)});
  CHECK(d.core.current_view() == 2);
}

TEST_CASE("rule 3: no nullify vote in a view this validator finalized (restart)") {
  Driver d(keys_for(4), 0);
  const BlockRef b1 = make_block(1, genesis_anchor());
  // The WAL says: notarized and finalized in view 1, then the process died.
  REQUIRE(
      d.core
          .replay({notarize_vote(1, b1.height, b1.digest), finalize_vote(1, b1.height, b1.digest)})
          .is_ok());
  auto step = d.start();
  CHECK(d.core.current_view() == 1);
  CHECK(persisted(step).empty());  // treated as timed out, but finalized: no nullify
  // The logged votes are re-signed and rebroadcast, never written again.
  CHECK(all_of<SignVote>(step).size() == 2);
  CHECK(broadcast_of<SignedVote>(step).size() == 2);
  d.tick(d.wake_ms + 100000);
  CHECK_FALSE(has_vote(d.wal, VoteKind::kNullify, 1));
}

TEST_CASE("restart: the current view counts as timed out, and logged votes bind") {
  Driver d(keys_for(4), 0);
  auto keys = keys_for(4);
  const BlockRef a = make_block(3, genesis_anchor(), 1);
  REQUIRE(d.core.replay({nullify_vote(1), nullify_vote(2), notarize_vote(3, a.height, a.digest)})
              .is_ok());
  CHECK(d.core.replay({Vote{}}).code() == "MALFORMED_ENCODING");
  auto step = d.start();
  CHECK(d.core.current_view() == 3);
  CHECK(persisted(step) == std::vector<Vote>{nullify_vote(3)});
  // Every logged vote is signed again (the same bytes) and sent, in view
  // order; nothing of it is written again.
  std::vector<Vote> resigned;
  for (const auto& s : all_of<SignVote>(step)) resigned.push_back(s.vote);
  CHECK(resigned ==
        std::vector<Vote>{nullify_vote(1), nullify_vote(2), notarize_vote(3, a.height, a.digest)});
  CHECK(broadcast_of<SignedVote>(step).size() == 4);  // and the new nullify (3)
  // A different proposal for view 3 cannot get a second notarize vote.
  d.deliver(certify(keys, nullify_vote(1), {1, 2, 3}));
  d.deliver(certify(keys, nullify_vote(2), {1, 2, 3}));
  step = d.deliver(propose(keys, 3, make_block(3, genesis_anchor(), 2)));
  CHECK(persisted(step).empty());
  CHECK(d.core.replay({}).code() == "CORE_STARTED");
}

TEST_CASE("quorum: duplicates and unknown signers are not counted") {
  Driver d = started_four();
  auto keys = keys_for(4);
  const BlockRef b1 = make_block(1, genesis_anchor());
  const Vote v = notarize_vote(1, b1.height, b1.digest);
  d.deliver(sign_vote(keys, 1, v));
  d.deliver(sign_vote(keys, 1, v));
  CHECK(d.core.counters().ignored_duplicate == 1);
  SignedVote stranger = sign_vote(keys, 2, v);
  stranger.validator = 7;  // no such validator
  d.deliver(stranger);
  CHECK(d.core.counters().refused_unknown_validator == 1);
  // A key outside the set signing under a member's index is a bad signature.
  auto outsider = key_for(2, /*salt=*/9);
  d.deliver(SignedVote{v, 2, outsider.sign(signing_bytes(kChain, kEpoch, v))});
  CHECK(d.core.counters().refused_bad_signature == 1);
  CHECK(d.core.current_view() == 1);
  CHECK(broadcast_of<Certificate>(d.log).empty());

  d.deliver(sign_vote(keys, 2, v));
  CHECK(broadcast_of<Certificate>(d.log).empty());  // two distinct signers of four
  // A third signer for another block of the view does not complete either.
  const BlockRef other = make_block(1, genesis_anchor(), 9);
  d.deliver(sign_vote(keys, 0, notarize_vote(1, other.height, other.digest)));
  CHECK(broadcast_of<Certificate>(d.log).empty());
  auto step = d.deliver(sign_vote(keys, 3, v));  // the third makes q = 3
  auto certs = broadcast_of<Certificate>(step);
  REQUIRE(certs.size() == 1);
  CHECK(certs[0].vote() == v);
  CHECK(certs[0].signatures.size() == 3);
  CHECK(d.core.current_view() == 2);
}

TEST_CASE("quorum: certificates with too few, repeated, unknown or bad signers are refused") {
  Driver d = started_four();
  auto keys = keys_for(4);
  const Vote v = nullify_vote(1);
  d.deliver(certify(keys, v, {1, 2}));
  CHECK(d.core.counters().refused_no_quorum == 1);
  Certificate twice = certify(keys, v, {1, 2, 3});
  twice.signatures[2] = twice.signatures[1];
  d.deliver(twice);
  CHECK(d.core.counters().refused_malformed == 1);
  Certificate unknown = certify(keys, v, {1, 2, 3});
  unknown.signatures[2].validator = 4;
  d.deliver(unknown);
  CHECK(d.core.counters().refused_unknown_validator == 1);
  Certificate bad = certify(keys, v, {1, 2, 3});
  bad.signatures[1].signature[5] ^= 0x10;
  d.deliver(bad);
  CHECK(d.core.counters().refused_bad_signature == 1);
  CHECK(d.core.current_view() == 1);
  d.deliver(certify(keys, v, {1, 2, 3}));
  CHECK(d.core.current_view() == 2);
}

TEST_CASE("bad signatures: a vote, a proposal and an own vote are refused") {
  Driver d = started_four();
  auto keys = keys_for(4);
  const BlockRef b1 = make_block(1, genesis_anchor());
  SignedVote v = sign_vote(keys, 2, notarize_vote(1, b1.height, b1.digest));
  v.signature[0] ^= 1;
  CHECK(d.deliver(v).empty());
  Proposal p = propose(keys, 1, b1);
  p.signature[63] ^= 1;
  CHECK(d.deliver(p).empty());
  CHECK(d.core.counters().refused_bad_signature == 2);
  // A signature for another chain does not verify either.
  const Vote n = nullify_vote(1);
  CHECK(d.deliver(SignedVote{n, 2, keys[2].sign(signing_bytes("other", kEpoch, n))}).empty());
  CHECK(d.core.counters().refused_bad_signature == 3);
  // An answer to a vote the core never asked for is refused.
  auto step = d.core.on_own_vote(0, sign_vote(keys, 0, nullify_vote(1)));
  CHECK(d.core.counters().refused_bad_answer == 1);
  CHECK(step.empty());
}

TEST_CASE("epochs: votes and certificates signed for another epoch are refused, both ways") {
  auto keys = keys_for(4);
  const BlockRef b1 = make_block(1, genesis_anchor());
  const Vote notarize = notarize_vote(1, b1.height, b1.digest);
  const Vote nullify = nullify_vote(1);
  for (const Epoch core_epoch : {Epoch{0}, Epoch{1}}) {
    CAPTURE(core_epoch);
    const Epoch other = core_epoch == 0 ? 1 : 0;
    Config config = config_for(keys, 0);
    config.epoch = core_epoch;
    Driver d(keys, std::move(config));
    d.start();
    REQUIRE(d.core.current_view() == 1);
    // Every signer valid, every field right but the epoch signed.
    CHECK(d.deliver(sign_vote(keys, 2, notarize, other)).empty());
    CHECK(d.deliver(sign_vote(keys, 3, nullify, other)).empty());
    CHECK(d.core.counters().refused_bad_signature == 2);
    d.deliver(certify(keys, nullify, {1, 2, 3}, other));
    CHECK(d.core.counters().refused_bad_signature == 3);
    d.deliver(certify(keys, finalize_vote(1, b1.height, b1.digest), {1, 2, 3}, other));
    CHECK(d.core.counters().refused_bad_signature == 4);
    CHECK(d.core.current_view() == 1);
    CHECK(d.finalized.empty());
    // The same certificate signed for the core's own epoch counts.
    d.deliver(certify(keys, nullify, {1, 2, 3}, core_epoch));
    CHECK(d.core.current_view() == 2);
    // Its own vote, signed for its epoch (the driver signs with
    // config().epoch), is taken and sent; that signature is no vote of the
    // other epoch.
    const auto sent = broadcast_of<SignedVote>(d.tick(1'000'000));
    CHECK(d.core.counters().refused_bad_answer == 0);
    REQUIRE_FALSE(sent.empty());
    CHECK(sent.back().vote == nullify_vote(2));
    const PublicKey& own = keys[0].public_key();
    for (const SignedVote& sv : sent) {
      CHECK(crypto::verify(own, signing_bytes(kChain, core_epoch, sv.vote), sv.signature));
      CHECK_FALSE(crypto::verify(own, signing_bytes(kChain, other, sv.vote), sv.signature));
    }
  }
}

TEST_CASE("jumping ahead: a certificate of a later view moves there; far-future ones are ignored") {
  Driver d = started_four();
  auto keys = keys_for(4);
  d.deliver(certify(keys, nullify_vote(5), {1, 2, 3}));
  CHECK(d.core.current_view() == 6);
  // Too far ahead: not even verified, nothing kept.
  const std::size_t held = d.core.views_held();
  const View far = 6 + kViewsAheadMax + 1;
  d.deliver(certify(keys, nullify_vote(far), {1, 2, 3}));
  for (View w = far; w < far + 100; ++w) d.deliver(sign_vote(keys, 2, nullify_vote(w)));
  CHECK(d.core.current_view() == 6);
  CHECK(d.core.counters().ignored_out_of_window == 101);
  CHECK(d.core.views_held() == held);
  // A finalization is the exception: it jumps any distance, and asks for the
  // unknown block it finalizes.
  const BlockRef b = make_block(1000, genesis_anchor());
  auto step = d.deliver(certify(keys, finalize_vote(1000, b.height, b.digest), {1, 2, 3}));
  CHECK(d.core.current_view() == 1001);
  auto fetch = all_of<FetchBlock>(step);
  REQUIRE(fetch.size() == 1);
  CHECK(fetch[0].digest == b.digest);
  step = d.run(d.core.on_block_fetched(0, b));
  REQUIRE(d.finalized.size() == 1);
  CHECK(d.finalized[0].block == b);
  CHECK(d.core.last_finalized() == b);
}

TEST_CASE(
    "timeout: nullify, then rebroadcast with backoff; backoff grows per nullified view and "
    "resets") {
  Driver d = started_four();
  auto keys = keys_for(4);
  const Config& c = d.core.config();
  CHECK(d.wake_ms == c.view_timeout_ms);
  CHECK(d.tick(c.view_timeout_ms - 1).empty());
  auto step = d.tick(c.view_timeout_ms);
  CHECK(persisted(step) == std::vector<Vote>{nullify_vote(1)});
  CHECK(broadcast_of<SignedVote>(step).size() == 1);
  std::uint64_t t = c.view_timeout_ms;
  CHECK(d.wake_ms == t + c.rebroadcast_ms);
  for (std::uint32_t j = 0; j < 4; ++j) {
    t += c.rebroadcast_ms << j;
    CHECK(d.tick(t - 1).empty());
    step = d.tick(t);
    auto again = broadcast_of<SignedVote>(step);
    REQUIRE(again.size() == 1);  // its own nullify, not a new vote
    CHECK(again[0].vote == nullify_vote(1));
    CHECK(persisted(step).empty());
    CHECK(d.wake_ms == t + (c.rebroadcast_ms << (j + 1)));
  }
  // Each view that ends in a nullification doubles the next timeout.
  d.deliver(certify(keys, nullify_vote(1), {1, 2, 3}));
  CHECK(d.wake_ms == t + 2 * c.view_timeout_ms);
  d.deliver(certify(keys, nullify_vote(2), {1, 2, 3}));
  CHECK(d.wake_ms == t + 4 * c.view_timeout_ms);
  // A rebroadcast after a timeout carries the certificates that led here
  // (all of them since the last finalization) and the own votes since then.
  step = d.tick(t + 4 * c.view_timeout_ms);
  CHECK(persisted(step) == std::vector<Vote>{nullify_vote(3)});
  auto certs = broadcast_of<Certificate>(step);
  REQUIRE(certs.size() == 2);
  CHECK(certs[0].vote() == nullify_vote(1));
  CHECK(certs[1].vote() == nullify_vote(2));
  auto mine = broadcast_of<SignedVote>(step);
  REQUIRE(mine.size() == 2);  // nullify (1) now; nullify (3) once signed
  CHECK(mine[0].vote == nullify_vote(1));
  CHECK(mine[1].vote == nullify_vote(3));
  t += 4 * c.view_timeout_ms;
  // A notarization resets the backoff.
  const BlockRef b1 = make_block(1, genesis_anchor());
  d.deliver(certify(keys, notarize_vote(3, 1, b1.digest), {1, 2, 3}));
  CHECK(d.core.current_view() == 4);
  CHECK(d.wake_ms == t + c.view_timeout_ms);
}

TEST_CASE("timeouts are capped") {
  Driver d = started_four();
  auto keys = keys_for(4);
  for (View v = 1; v <= 40; ++v) d.deliver(certify(keys, nullify_vote(v), {1, 2, 3}));
  CHECK(d.wake_ms == d.core.config().view_timeout_max_ms);
}

TEST_CASE("finality via a descendant: ancestors are reported first, each once") {
  Driver d = started_four();
  auto keys = keys_for(4);
  const BlockRef b1 = make_block(1, genesis_anchor());
  const BlockRef b2 = make_block(2, b1);
  const BlockRef b3 = make_block(3, b2);
  d.deliver(propose(keys, 1, b1));
  d.deliver(propose(keys, 2, b2));
  d.deliver(propose(keys, 3, b3));
  CHECK(d.finalized.empty());
  const Certificate f3 = certify(keys, finalize_vote(3, b3.height, b3.digest), {1, 2, 3});
  d.deliver(f3);
  REQUIRE(d.finalized.size() == 3);
  CHECK(d.finalized[0].block == b1);
  CHECK(d.finalized[0].by_descendant);
  CHECK(d.finalized[0].proof.digest == b3.digest);
  CHECK(d.finalized[1].block == b2);
  CHECK(d.finalized[1].by_descendant);
  CHECK(d.finalized[2].block == b3);
  CHECK_FALSE(d.finalized[2].by_descendant);
  CHECK(d.finalized[2].proof.signatures.size() == 3);
  // Older finalizations change nothing; the same one again neither.
  d.deliver(certify(keys, finalize_vote(1, b1.height, b1.digest), {1, 2, 3}));
  d.deliver(f3);
  CHECK(d.finalized.size() == 3);
  CHECK(d.core.last_finalized() == b3);
}

TEST_CASE("finality: a missing link is fetched, then the chain is reported") {
  Driver d = started_four();
  auto keys = keys_for(4);
  const BlockRef b1 = make_block(1, genesis_anchor());
  const BlockRef b2 = make_block(2, b1);
  d.deliver(propose(keys, 2, b2));  // b1's proposal never arrived
  auto step = d.deliver(certify(keys, finalize_vote(2, b2.height, b2.digest), {1, 2, 3}));
  auto fetch = all_of<FetchBlock>(step);
  REQUIRE(fetch.size() == 1);
  CHECK(fetch[0].digest == b1.digest);
  CHECK(fetch[0].view == 1);
  CHECK(fetch[0].height == 1);
  // A block nobody asked for is refused.
  d.run(d.core.on_block_fetched(0, make_block(1, genesis_anchor(), 7)));
  CHECK(d.core.counters().refused_bad_answer == 1);
  d.run(d.core.on_block_fetched(0, b1));
  REQUIRE(d.finalized.size() == 2);
  CHECK(d.finalized[0].block == b1);
  CHECK(d.finalized[1].block == b2);
}

TEST_CASE("sync: blocks the adapter committed itself end the walk there and are not reported") {
  Driver d = started_four();
  auto keys = keys_for(4);
  // A chain of 40 blocks, one per view, finalized at the top; only the top
  // one is known, so the core starts the walk down, one fetch per block.
  std::vector<BlockRef> chain;
  BlockRef at = genesis_anchor();
  for (int i = 1; i <= 40; ++i) chain.push_back(at = make_block(static_cast<View>(i), at));
  auto step = d.deliver(certify(keys, finalize_vote(40, 40, chain[39].digest), {1, 2, 3}));
  REQUIRE(all_of<FetchBlock>(step).size() == 1);
  step = d.run(d.core.on_block_fetched(0, chain[39]));
  auto fetch = all_of<FetchBlock>(step);
  REQUIRE(fetch.size() == 1);
  CHECK(fetch[0].height == 39);
  // A sync below the last finalized block, or not above it in height, is ignored.
  d.run(d.core.on_synced(0, genesis_anchor()));
  CHECK(d.core.last_finalized() == genesis_anchor());
  // The adapter synced up to height 38: the walk needs only block 39 now,
  // and reports 39 and 40, nothing below.
  d.run(d.core.on_synced(0, chain[37]));
  CHECK(d.core.last_finalized() == chain[37]);
  CHECK(d.finalized.empty());
  step = d.run(d.core.on_block_fetched(0, chain[38]));
  REQUIRE(d.finalized.size() == 2);
  CHECK(d.finalized[0].block == chain[38]);
  CHECK(d.finalized[1].block == chain[39]);
  CHECK(d.core.last_finalized() == chain[39]);
}

TEST_CASE("sync: a synced block at or above the one being fetched drops the fetch") {
  Driver d = started_four();
  auto keys = keys_for(4);
  const BlockRef b1 = make_block(1, genesis_anchor());
  const BlockRef b2 = make_block(2, b1);
  auto step = d.deliver(certify(keys, finalize_vote(2, b2.height, b2.digest), {1, 2, 3}));
  REQUIRE(all_of<FetchBlock>(step).size() == 1);
  d.run(d.core.on_synced(0, b2));
  CHECK(d.core.last_finalized() == b2);
  CHECK(d.finalized.empty());
  // The fetch is over: a late answer is refused, and nothing is reported.
  d.run(d.core.on_block_fetched(0, b2));
  CHECK(d.core.counters().refused_bad_answer == 1);
  CHECK(d.finalized.empty());
}

TEST_CASE("evidence: conflicting votes of one signer produce it once; identical votes never") {
  Driver d = started_four();
  auto keys = keys_for(4);
  const BlockRef a = make_block(1, genesis_anchor(), 1);
  const BlockRef b = make_block(1, genesis_anchor(), 2);
  const SignedVote va = sign_vote(keys, 2, notarize_vote(1, a.height, a.digest));
  const SignedVote vb = sign_vote(keys, 2, notarize_vote(1, b.height, b.digest));
  CHECK(all_of<Equivocation>(d.deliver(va)).empty());
  CHECK(all_of<Equivocation>(d.deliver(va)).empty());
  auto ev = all_of<Equivocation>(d.deliver(vb));
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].evidence == make_evidence(va, vb));
  std::vector<PublicKey> set = d.core.config().validators;
  CHECK(verify_evidence(kChain, kEpoch, set, ed25519_verifier(), ev[0].evidence).is_ok());
  CHECK(all_of<Equivocation>(d.deliver(vb)).empty());  // reported once
  // The leader's notarize vote, then its proposal of the same block: one
  // statement, no evidence, and the block is still checked.
  const SignedVote lead = sign_vote(keys, 1, notarize_vote(1, a.height, a.digest));
  CHECK(all_of<Equivocation>(d.deliver(lead)).empty());
  auto step = d.deliver(propose(keys, 1, a));
  CHECK(all_of<Equivocation>(step).empty());
  CHECK(all_of<CheckBlock>(step).size() == 1);
  // Nullify votes of one view never conflict; finalize votes for two blocks do.
  d.deliver(sign_vote(keys, 3, nullify_vote(1)));
  CHECK(all_of<Equivocation>(d.deliver(sign_vote(keys, 3, nullify_vote(1)))).empty());
  d.deliver(sign_vote(keys, 3, finalize_vote(1, a.height, a.digest)));
  CHECK(all_of<Equivocation>(d.deliver(sign_vote(keys, 3, finalize_vote(1, b.height, b.digest))))
            .size() == 1);
  CHECK(d.core.counters().evidence == 2);
  // A forged second vote is refused before it could become evidence.
  SignedVote forged = sign_vote(keys, 1, notarize_vote(1, b.height, b.digest));
  forged.signature[3] ^= 4;
  CHECK(all_of<Equivocation>(d.deliver(forged)).empty());
}

TEST_CASE("the leader builds on the highest notarized block past nullified views") {
  Driver d(keys_for(4), 3);  // leads view 3
  d.build_until = 0;         // record the request, do not answer it
  d.start();
  auto keys = keys_for(4);
  const BlockRef b1 = make_block(1, genesis_anchor());
  d.deliver(certify(keys, notarize_vote(1, b1.height, b1.digest), {0, 1, 2}));
  CHECK(all_of<BuildBlock>(d.log).empty());  // view 2 is not ours
  auto step = d.deliver(certify(keys, nullify_vote(2), {0, 1, 2}));
  auto build = all_of<BuildBlock>(step);
  REQUIRE(build.size() == 1);
  CHECK(build[0].view == 3);
  CHECK(build[0].parent_view == 1);
  CHECK(build[0].parent == b1.digest);
  CHECK(build[0].parent_height == 1);
  // A block on another parent, or for another view, is refused.
  CHECK(d.core.on_block_built(0, make_block(3, genesis_anchor()), {}).empty());
  CHECK(d.core.counters().refused_bad_answer == 1);
  // The right block: persisted as the leader's notarize vote, then sent as a
  // proposal once signed.
  const BlockRef b3 = make_block(3, b1);
  step = d.run(d.core.on_block_built(0, b3, Bytes{1, 2, 3}));
  CHECK(persisted(step) == std::vector<Vote>{notarize_vote(3, b3.height, b3.digest)});
  auto props = broadcast_of<Proposal>(step);
  REQUIRE(props.size() == 1);
  CHECK(props[0].block == b3);
  CHECK(props[0].payload == Bytes{1, 2, 3});
  CHECK(props[0].proposer == 3);
}

TEST_CASE("pruning: state below the finalized view minus the bound is dropped and ignored") {
  Driver d = started_four();
  auto keys = keys_for(4);
  BlockRef parent = genesis_anchor();
  for (View v = 1; v <= 40; ++v) {
    const BlockRef b = make_block(v, parent);
    d.deliver(propose(keys, d.core.leader(v), b));
    d.deliver(certify(keys, finalize_vote(v, b.height, b.digest), {1, 2, 3}));
    parent = b;
  }
  CHECK(d.finalized.size() == 40);
  CHECK(d.core.views_held() <= kViewsRetainedBelowFinalized + 2);
  const auto ignored = d.core.counters().ignored_out_of_window;
  d.deliver(sign_vote(keys, 2, nullify_vote(40 - kViewsRetainedBelowFinalized - 1)));
  CHECK(d.core.counters().ignored_out_of_window == ignored + 1);
}

// ---- standstill resolution (docs/simulation.md, "What the simulator found") ----

TEST_CASE("proposal: a leader's proposal goes out with the certificates that justify its parent") {
  Driver d(keys_for(4), 0);  // leads view 4
  d.build_until = 0;         // record the request, do not answer it
  d.start();
  auto keys = keys_for(4);
  const BlockRef b1 = make_block(1, genesis_anchor());
  const BlockRef b2 = make_block(2, b1);
  d.deliver(propose(keys, 1, b1));
  d.deliver(propose(keys, 2, b2));
  // b1 is finalized, b2 notarized, view 3 nullified: the leader of view 4
  // builds on b2, skipping view 3.
  const Certificate fin1 = certify(keys, finalize_vote(1, b1.height, b1.digest), {1, 2, 3});
  const Certificate not2 = certify(keys, notarize_vote(2, b2.height, b2.digest), {1, 2, 3});
  const Certificate null3 = certify(keys, nullify_vote(3), {1, 2, 3});
  d.deliver(fin1);
  d.deliver(not2);
  auto step = d.deliver(null3);
  auto build = all_of<BuildBlock>(step);
  REQUIRE(build.size() == 1);
  REQUIRE(build[0].parent == b2.digest);
  const BlockRef b4 = make_block(4, b2);
  step = d.run(d.core.on_block_built(0, b4, Bytes{7}));
  REQUIRE(broadcast_of<Proposal>(step).size() == 1);
  // The receivers that lost them need the parent's notarization, the
  // nullification of view 3 and the finalization below: all in this step.
  auto certs = broadcast_of<Certificate>(step);
  std::set<std::pair<View, std::uint8_t>> sent;
  for (const auto& c : certs) sent.emplace(c.view, c.kind);
  CHECK(sent.size() == certs.size());  // each once
  CHECK(sent.contains({2, not2.kind}));
  CHECK(sent.contains({3, null3.kind}));
  CHECK(sent.contains({1, fin1.kind}));
  CHECK(certs.size() == 3);

  // A validator that saw none of those certificates notarizes b4 once it
  // has the step's messages, proposal first.
  Driver lagging(keys_for(4), 2);
  lagging.start();
  for (const auto& b : all_of<Broadcast>(step)) lagging.deliver(b.message);
  CHECK(has_vote(lagging.wal, VoteKind::kNotarize, 4));
}

TEST_CASE("restart: own logged votes of earlier views count toward a nullification again") {
  Driver d(keys_for(4), 0);
  auto keys = keys_for(4);
  // The log: nullify (1), nullify (2). The nullification of view 1 that
  // brought it to view 2 is gone with the process (certificates are not
  // logged).
  REQUIRE(d.core.replay({nullify_vote(1), nullify_vote(2)}).is_ok());
  d.start();
  REQUIRE(d.core.current_view() == 2);
  // Two more nullify (1) votes make a quorum of three only with its own.
  d.deliver(sign_vote(keys, 1, nullify_vote(1)));
  auto step = d.deliver(sign_vote(keys, 3, nullify_vote(1)));
  auto certs = broadcast_of<Certificate>(step);
  REQUIRE(certs.size() == 1);
  CHECK(certs[0].vote() == nullify_vote(1));
  CHECK(certs[0].signatures.size() == 3);
  CHECK(certs[0].signatures[0].validator == 0);
  CHECK(d.core.current_view() == 2);  // it was there already
}

TEST_CASE("rebroadcast: every certificate since the last finalization, and the anchor's proof") {
  auto keys = keys_for(4);
  const BlockRef b1 = make_block(1, genesis_anchor());
  const Certificate proof = certify(keys, finalize_vote(1, b1.height, b1.digest), {0, 1, 3});
  Config config = config_for(keys, 2);
  config.anchor = b1;
  config.anchor_proof = proof;
  Driver d(keys, config);
  d.build_until = 0;  // it leads view 2: no proposal, to keep the votes below short
  d.start();
  REQUIRE(d.core.current_view() == 2);
  auto step = d.tick(d.wake_ms);  // view 2 times out
  CHECK(persisted(step) == std::vector<Vote>{nullify_vote(2)});
  auto certs = broadcast_of<Certificate>(step);
  REQUIRE(certs.size() == 1);
  CHECK(certs[0].vote() == proof.vote());
  // Certificates of views 2 to 5 (a notarization among them): the next
  // rebroadcast, in view 6, carries them all and the proof, each once.
  const BlockRef b3 = make_block(3, b1);
  d.deliver(certify(keys, nullify_vote(2), {0, 1, 3}));
  d.deliver(certify(keys, notarize_vote(3, b3.height, b3.digest), {0, 1, 3}));
  d.deliver(certify(keys, nullify_vote(4), {0, 1, 3}));
  d.deliver(certify(keys, nullify_vote(5), {0, 1, 3}));
  REQUIRE(d.core.current_view() == 6);
  step = d.tick(d.wake_ms);
  std::vector<View> views;
  for (const auto& c : broadcast_of<Certificate>(step)) views.push_back(c.view);
  CHECK(views == std::vector<View>{2, 3, 4, 5, 1});
  // And its own votes since the last finalization: nullify (2), finalize
  // (3) (it did not nullify view 3), then nullify (6) once signed.
  std::vector<Vote> mine;
  for (const auto& v : broadcast_of<SignedVote>(step)) mine.push_back(v.vote);
  CHECK(mine == std::vector<Vote>{nullify_vote(2), finalize_vote(3, b3.height, b3.digest),
                                  nullify_vote(6)});
}

TEST_CASE("config: an anchor proof must be a finalization at or above the anchor, of the set") {
  auto keys = keys_for(4);
  const BlockRef b1 = make_block(1, genesis_anchor());
  Config c = config_for(keys, 0);
  c.anchor = b1;
  c.anchor_proof = certify(keys, finalize_vote(1, b1.height, b1.digest), {0, 1, 3});
  CHECK(Core::create(c).is_ok());
  c.anchor_proof = certify(keys, notarize_vote(1, b1.height, b1.digest), {0, 1, 3});
  CHECK(Core::create(c).status().code() == "CONFIG_INVALID");
  c.anchor_proof = certify(keys, finalize_vote(1, b1.height, b1.digest), {});
  CHECK(Core::create(c).status().code() == "CONFIG_INVALID");
  c.anchor_proof = certify(keys, finalize_vote(1, b1.height, b1.digest), {0, 1, 3});
  c.anchor_proof->signatures.back().validator = 4;
  CHECK(Core::create(c).status().code() == "CONFIG_INVALID");
  c.anchor = make_block(2, b1);
  c.anchor_proof = certify(keys, finalize_vote(1, b1.height, b1.digest), {0, 1, 3});
  CHECK(Core::create(c).status().code() == "CONFIG_INVALID");  // below the anchor
}

// ---- the finality walk resumes (docs/simulation.md, "Slow catch-up") ----

TEST_CASE("finality: a long chain fetched one block at a time is walked once, not once a block") {
  Driver d = started_four();
  auto keys = keys_for(4);
  constexpr int kBlocks = 300;
  std::vector<BlockRef> chain;
  BlockRef at = genesis_anchor();
  for (int i = 1; i <= kBlocks; ++i) chain.push_back(at = make_block(static_cast<View>(i), at));
  std::map<Hash, BlockRef> peers;
  for (const auto& b : chain) peers[b.digest] = b;
  d.registry = &peers;  // every fetch answered at once
  d.deliver(certify(keys, finalize_vote(kBlocks, kBlocks, chain.back().digest), {1, 2, 3}));
  REQUIRE(d.finalized.size() == kBlocks);
  for (int i = 0; i < kBlocks; ++i) CHECK(d.finalized[i].block == chain[i]);
  // Each block looked up when it arrives and once as the missing link
  // before: linear. Walking from the top again at every fetch takes
  // kBlocks^2 / 2 lookups.
  CHECK(d.core.counters().finality_walk_steps <= 2 * kBlocks + 2);
}

TEST_CASE("finality: a higher finalization during a walk joins it and reports each block once") {
  Driver d = started_four();
  auto keys = keys_for(4);
  std::vector<BlockRef> chain;
  BlockRef at = genesis_anchor();
  for (int i = 1; i <= 12; ++i) chain.push_back(at = make_block(static_cast<View>(i), at));
  // Blocks 11 and 12 are known (their proposals arrived); block 10 and the
  // ones below are fetched.
  d.deliver(propose(keys, d.core.leader(11), chain[10]));
  d.deliver(propose(keys, d.core.leader(12), chain[11]));
  auto step = d.deliver(certify(keys, finalize_vote(10, 10, chain[9].digest), {1, 2, 3}));
  REQUIRE(all_of<FetchBlock>(step).size() == 1);
  for (int i = 9; i >= 5; --i) {
    step = d.run(d.core.on_block_fetched(0, chain[i]));
    REQUIRE(all_of<FetchBlock>(step).size() == 1);
    CHECK(all_of<FetchBlock>(step)[0].height == static_cast<Height>(i));
  }
  const auto steps_before = d.core.counters().finality_walk_steps;
  // Block 12 is finalized meanwhile: the walk goes down 12, 11, then joins
  // what it has found (10 to 6) and still waits for block 5.
  step = d.deliver(certify(keys, finalize_vote(12, 12, chain[11].digest), {1, 2, 3}));
  CHECK(d.core.counters().finality_walk_steps == steps_before + 3);  // 12, 11, and 5 missing
  CHECK(d.finalized.empty());
  for (int i = 4; i >= 0; --i) d.run(d.core.on_block_fetched(0, chain[i]));
  REQUIRE(d.finalized.size() == 12);
  for (int i = 0; i < 12; ++i) CHECK(d.finalized[i].block == chain[i]);
  CHECK_FALSE(d.finalized[9].by_descendant);  // its own finalization
  CHECK(d.finalized[8].by_descendant);        // 12's
  CHECK(d.finalized[8].proof.view == 12);
  CHECK_FALSE(d.finalized[11].by_descendant);
  CHECK(d.core.last_finalized() == chain[11]);
}
