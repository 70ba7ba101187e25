// Ledger::evidence: the recorded equivocation evidence, listed from the flat
// state index in (validator, view, kind) order, by validator, with a cursor.
#include "emledger/ledger/votes.hpp"
#include "fixture.hpp"

using namespace emledger;
using namespace emledger::ledger;
using emledger::testing::Net;

namespace {

struct ListNet : Net {
  EvidenceVote vote(VoteKind kind, std::uint64_t view, std::uint8_t block) {
    const bool nullify = kind == VoteKind::kNullify;
    Hash digest{};
    if (!nullify) digest.fill(block);
    EvidenceVote v{0, static_cast<std::uint8_t>(kind), view, nullify ? 0u : 7u, digest, {}};
    v.signature = validator.sign(v.statement_bytes(genesis.chain_id, kGenesisEpoch));
    return v;
  }
  // Records the offence (validator 0, view, kind) in its own block.
  void record(VoteKind kind, std::uint64_t view) {
    TxBody b = make_body(
        TxType::kSubmitEvidence,
        make_submit_evidence(kGenesisEpoch, vote(kind, view, 0xa1), vote(kind, view, 0xa2)));
    b.chain_id = genesis.chain_id;
    b.signer_org = "c.consumer";
    b.key_id = 1;
    b.expires_at_height = ledger->head().height + 10;
    b.nonce = ++nonce;
    REQUIRE(commit_one(sign_tx(std::move(b), consumer)).is_ok());
  }
};

std::vector<std::pair<std::uint64_t, std::uint8_t>> views_kinds(
    const std::vector<EvidenceRecord>& rs) {
  std::vector<std::pair<std::uint64_t, std::uint8_t>> out;
  for (const auto& r : rs) out.emplace_back(r.view, r.kind);
  return out;
}

constexpr std::uint8_t kN = static_cast<std::uint8_t>(VoteKind::kNotarize);
constexpr std::uint8_t kF = static_cast<std::uint8_t>(VoteKind::kFinalize);

}  // namespace

TEST_CASE("ledger evidence list: recorded offences in (validator, view, kind) order, paged") {
  ListNet net;
  auto none = net.ledger->evidence(std::nullopt, 100);
  REQUIRE(none.is_ok());
  CHECK(none->empty());

  // Committed out of order; listed in key order (views big-endian: 300 > 9).
  net.record(VoteKind::kFinalize, 300);
  net.record(VoteKind::kNotarize, 9);
  net.record(VoteKind::kFinalize, 9);
  net.record(VoteKind::kNotarize, 12);

  auto all = net.ledger->evidence(std::nullopt, 100);
  REQUIRE(all.is_ok());
  using VK = std::vector<std::pair<std::uint64_t, std::uint8_t>>;
  CHECK(views_kinds(*all) == VK{{9, kN}, {9, kF}, {12, kN}, {300, kF}});
  for (const auto& r : *all) {
    CHECK(r.validator == 0);
    CHECK(r.submitted_by == "c.consumer");
    // The very value under its state key.
    auto raw = net.ledger->state_value(evidence_state_key(r.validator, r.view, r.kind));
    REQUIRE((raw.is_ok() && raw->has_value()));
    CHECK(**raw == encode_evidence_record(r));
  }

  // Pages of two: the second starts strictly after the first's last offence.
  auto first = net.ledger->evidence(std::nullopt, 2);
  REQUIRE(first.is_ok());
  CHECK(views_kinds(*first) == VK{{9, kN}, {9, kF}});
  const auto& last = first->back();
  auto second =
      net.ledger->evidence(std::nullopt, 2, Ledger::Offence{last.validator, last.view, last.kind});
  REQUIRE(second.is_ok());
  CHECK(views_kinds(*second) == VK{{12, kN}, {300, kF}});
  auto end = net.ledger->evidence(std::nullopt, 2, Ledger::Offence{0, 300, kF});
  REQUIRE(end.is_ok());
  CHECK(end->empty());

  // By validator: 0 has all four, 1 (no such validator here) none, and a
  // cursor of another validator does not leak into the range.
  auto v0 = net.ledger->evidence(std::uint16_t{0}, 100);
  REQUIRE(v0.is_ok());
  CHECK(v0->size() == 4);
  auto v1 = net.ledger->evidence(std::uint16_t{1}, 100);
  REQUIRE(v1.is_ok());
  CHECK(v1->empty());
  auto v0_after_v1 = net.ledger->evidence(std::uint16_t{0}, 100, Ledger::Offence{1, 0, 0});
  REQUIRE(v0_after_v1.is_ok());
  CHECK(v0_after_v1->empty());
  auto v1_after_v0 = net.ledger->evidence(std::uint16_t{1}, 100, Ledger::Offence{0, 5, 0});
  REQUIRE(v1_after_v0.is_ok());
  CHECK(v1_after_v0->empty());
  CHECK(net.ledger->evidence(std::nullopt, 0)->empty());
}
