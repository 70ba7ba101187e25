// Holder bindings, grants, recorded access, statute reads, objections and
// archives (issue 3, design.md section 3).
#include "emledger/ledger/json.hpp"
#include "fixture.hpp"

using namespace emledger;
using namespace emledger::ledger;
using emledger::testing::Net;

namespace {

const Hash kHolder = crypto::sha256(as_bytes("holder-1"));  // Net::body's holder_ref

struct AuthNet : Net {
  Hash record{};  // a.issuer's license of kHolder

  AuthNet() {
    REQUIRE(commit_one(tx(identity, "i.identity", TxType::kBindHolder,
                          BindHolder{kHolder, holder.public_key()}))
                .is_ok());
    Tx r = reg("license-of-holder-1");
    REQUIRE(commit_one(r).is_ok());
    record = record_id_for(r.id());
  }

  GrantTerms terms(std::string grantee = "c.consumer") const {
    GrantTerms t;
    t.holder_ref = kHolder;
    t.grantee = std::move(grantee);
    t.record_ids = {record};
    t.service_code = "svc.business-permit";
    t.case_id = "case-42";
    t.not_before_ms = 0;
    t.not_after_ms = clock_ms + 1'000'000;
    t.max_uses = 2;
    return t;
  }

  Hash grant(const GrantTerms& t) {
    Tx g = holder_tx(holder, 1, TxType::kCreateGrant, CreateGrant{t});
    REQUIRE(commit_one(g).is_ok());
    return grant_id_for(g.id());
  }

  Tx access(const Hash& grant_id, std::string case_id = "case-42",
            const crypto::KeyPair* key = nullptr, std::string org = "c.consumer") {
    return tx(key ? *key : consumer, std::move(org), TxType::kRecordAccess,
              RecordAccess{record, grant_id, std::move(case_id)});
  }

  static std::vector<Hash> ids(const Result<std::vector<Ledger::Listed>>& listed) {
    REQUIRE(listed.is_ok());
    std::vector<Hash> out;
    for (const auto& l : *listed) out.push_back(l.id);
    return out;
  }

  template <class T>
  T state(const Bytes& key) {
    auto v = ledger->state_value(key);
    REQUIRE((v.is_ok() && v->has_value()));
    return *decode<T>(**v);
  }
};

}  // namespace

TEST_CASE("authorization: a holder-signed grant covers an access, which is recorded and counted") {
  AuthNet net;
  const Hash g = net.grant(net.terms());
  Tx a = net.access(g);
  REQUIRE(net.commit_one(a).is_ok());
  auto access = net.state<Access>(access_state_key(access_id_for(a.id())));
  CHECK(access.org == "c.consumer");
  CHECK(access.grant_id == g);
  CHECK(access.holder_ref == kHolder);
  CHECK_FALSE(access.statutory);
  CHECK(net.state<Grant>(grant_state_key(g)).uses == 1);

  // The holder's lists and the audit list see it.
  auto listed = net.ledger->holder_list(Ledger::HolderList::kAccesses, kHolder, 10);
  CHECK(AuthNet::ids(listed) == std::vector<Hash>{access_id_for(a.id())});
  CHECK(listed->at(0).pos == ChainPos{access.height, access.tx_index});
  CHECK(AuthNet::ids(net.ledger->holder_list(Ledger::HolderList::kGrants, kHolder, 10)) ==
        std::vector<Hash>{g});
  CHECK(AuthNet::ids(net.ledger->holder_list(Ledger::HolderList::kRecords, kHolder, 10)) ==
        std::vector<Hash>{net.record});
  CHECK(AuthNet::ids(net.ledger->accesses(0, UINT64_MAX, 10)) ==
        std::vector<Hash>{access_id_for(a.id())});
  CHECK(net.ledger->accesses(0, access.height - 1, 10)->empty());

  // A second use, then the grant is spent.
  REQUIRE(net.commit_one(net.access(g)).is_ok());
  CHECK(net.commit_one(net.access(g)).code() == "GRANT_EXHAUSTED");
}

TEST_CASE("authorization: every way an access can fall outside its grant is refused") {
  AuthNet net;
  SUBCASE("expired") {
    GrantTerms t = net.terms();
    t.not_after_ms = net.clock_ms + 1500;  // passes within two blocks
    const Hash g = net.grant(t);
    REQUIRE(net.commit_one(net.reg("tick")).is_ok());
    CHECK(net.commit_one(net.access(g)).code() == "GRANT_EXPIRED");
  }
  SUBCASE("not yet valid") {
    GrantTerms t = net.terms();
    t.not_before_ms = net.clock_ms + 500'000;
    CHECK(net.commit_one(net.access(net.grant(t))).code() == "GRANT_NOT_YET_VALID");
  }
  SUBCASE("revoked by the holder") {
    const Hash g = net.grant(net.terms());
    REQUIRE(
        net.commit_one(net.holder_tx(net.holder, 1, TxType::kRevokeGrant, RevokeGrant{kHolder, g}))
            .is_ok());
    CHECK(net.commit_one(net.access(g)).code() == "GRANT_REVOKED");
  }
  SUBCASE("another grantee") {
    const Hash g = net.grant(net.terms("a.issuer"));
    CHECK(net.commit_one(net.access(g)).code() == "GRANT_WRONG_GRANTEE");
  }
  SUBCASE("scope mismatch") {
    GrantTerms t = net.terms();
    t.record_ids.clear();
    t.type_codes = {"other.type"};
    CHECK(net.commit_one(net.access(net.grant(t))).code() == "GRANT_SCOPE_MISMATCH");
  }
  SUBCASE("another case") {
    CHECK(net.commit_one(net.access(net.grant(net.terms()), "case-99")).code() ==
          "GRANT_PURPOSE_MISMATCH");
  }
  SUBCASE("no grant and no statute") {
    CHECK(net.commit_one(net.access(Hash{})).code() == "NO_GRANT");
  }
  SUBCASE("an org without the consumer role") {
    CHECK(net.commit_one(net.access(net.grant(net.terms()), "case-42", &net.issuer_b, "b.issuer"))
              .code() == "NOT_CONSUMER");
  }
  SUBCASE("replayed access transaction") {
    Tx a = net.access(net.grant(net.terms()));
    REQUIRE(net.commit_one(a).is_ok());
    CHECK(net.commit_one(a).code() == "DUPLICATE_TX");
  }
}

TEST_CASE("authorization: holder signatures and keys") {
  AuthNet net;
  SUBCASE("forged holder signature") {
    Tx g = net.holder_tx(net.holder, 1, TxType::kCreateGrant, CreateGrant{net.terms()});
    g.signature[3] ^= 1;
    CHECK(net.commit_one(g).code() == "BAD_SIGNATURE");
  }
  SUBCASE("a grant signed by someone else's key") {
    Tx g = net.holder_tx(net.consumer, 1, TxType::kCreateGrant, CreateGrant{net.terms()});
    CHECK(net.commit_one(g).code() == "BAD_SIGNATURE");
  }
  SUBCASE("a grant for an unbound holder") {
    GrantTerms t = net.terms();
    t.holder_ref = crypto::sha256(as_bytes("nobody"));
    t.record_ids.clear();
    t.type_codes = {"biz.license"};
    CHECK(
        net.commit_one(net.holder_tx(net.holder, 1, TxType::kCreateGrant, CreateGrant{t})).code() ==
        "HOLDER_NOT_BOUND");
  }
  SUBCASE("a grant naming another holder's record") {
    RecordBody b = Net::body("someone-else");
    b.holder_ref = crypto::sha256(as_bytes("holder-2"));
    Tx r = net.tx(net.issuer_a, "a.issuer", TxType::kRegisterRecord, RegisterRecord{b});
    REQUIRE(net.commit_one(r).is_ok());
    GrantTerms t = net.terms();
    t.record_ids = {record_id_for(r.id())};
    CHECK(
        net.commit_one(net.holder_tx(net.holder, 1, TxType::kCreateGrant, CreateGrant{t})).code() ==
        "GRANT_SCOPE_MISMATCH");
  }
  SUBCASE("rotation: the old key stops working, the new one works") {
    crypto::KeyPair fresh = testing::key_from(9);
    REQUIRE(net.commit_one(net.holder_tx(net.holder, 1, TxType::kRotateHolderKey,
                                         RotateHolderKey{kHolder, fresh.public_key()}))
                .is_ok());
    CHECK(
        net.commit_one(net.holder_tx(net.holder, 1, TxType::kCreateGrant, CreateGrant{net.terms()}))
            .code() == "HOLDER_KEY_STALE");
    CHECK(
        net.commit_one(net.holder_tx(net.holder, 2, TxType::kCreateGrant, CreateGrant{net.terms()}))
            .code() == "BAD_SIGNATURE");
    CHECK(net.commit_one(net.holder_tx(fresh, 2, TxType::kCreateGrant, CreateGrant{net.terms()}))
              .is_ok());
  }
  SUBCASE("re-binding after loss is the identity org's, and only after a binding") {
    crypto::KeyPair lost = testing::key_from(10);
    CHECK(net.commit_one(net.tx(net.consumer, "c.consumer", TxType::kRebindHolder,
                                BindHolder{kHolder, lost.public_key()}))
              .code() == "NOT_IDENTITY");
    CHECK(net.commit_one(net.tx(net.identity, "i.identity", TxType::kBindHolder,
                                BindHolder{kHolder, lost.public_key()}))
              .code() == "HOLDER_ALREADY_BOUND");
    REQUIRE(net.commit_one(net.tx(net.identity, "i.identity", TxType::kRebindHolder,
                                  BindHolder{kHolder, lost.public_key()}))
                .is_ok());
    auto b = net.state<HolderBinding>(holder_state_key(kHolder));
    CHECK(b.key_seq == 2);
    CHECK(b.public_key == lost.public_key());
  }
  SUBCASE("a holder-only type signed by an org is malformed") {
    TxBody body = make_body(TxType::kCreateGrant, CreateGrant{net.terms()});
    body.chain_id = net.genesis.chain_id;
    body.signer_org = "c.consumer";
    body.key_id = 1;
    body.expires_at_height = 50;
    Tx t = sign_tx(body, net.consumer);
    CHECK(net.ledger->check_tx_stateless(t).code() == "TX_MALFORMED");
  }
}

TEST_CASE("authorization: statutory reads need no grant and are marked") {
  AuthNet net;
  RecordBody b = Net::body("public-license");
  b.type_code = "public.license";
  Tx r = net.tx(net.issuer_a, "a.issuer", TxType::kRegisterRecord, RegisterRecord{b});
  REQUIRE(net.commit_one(r).is_ok());
  Tx a = net.tx(net.consumer, "c.consumer", TxType::kRecordAccess,
                RecordAccess{record_id_for(r.id()), Hash{}, "case-7"});
  REQUIRE(net.commit_one(a).is_ok());
  CHECK(net.state<Access>(access_state_key(access_id_for(a.id()))).statutory);
}

TEST_CASE("authorization: objections are visible on the record until resolved") {
  AuthNet net;
  Tx o =
      net.holder_tx(net.holder, 1, TxType::kFileObjection, FileObjection{net.record, kHolder, 3});
  REQUIRE(net.commit_one(o).is_ok());
  CHECK(net.state<Record>(record_state_key(net.record)).objections_open == 1);
  const Hash oid = objection_id_for(o.id());
  // Only the record's issuer resolves it.
  CHECK(net.commit_one(net.tx(net.issuer_b, "b.issuer", TxType::kResolveObjection,
                              ResolveObjection{oid, 1, 4}))
            .code() == "NOT_RECORD_ISSUER");
  SUBCASE("rejected: the record stands") {
    REQUIRE(net.commit_one(net.tx(net.issuer_a, "a.issuer", TxType::kResolveObjection,
                                  ResolveObjection{oid, 2, 4}))
                .is_ok());
    auto rec = net.state<Record>(record_state_key(net.record));
    CHECK(rec.objections_open == 0);
    CHECK(rec.status == static_cast<std::uint8_t>(RecordStatus::kActive));
    CHECK(net.state<Objection>(objection_state_key(oid)).status ==
          static_cast<std::uint8_t>(ObjectionStatus::kRejected));
  }
  SUBCASE("upheld: the record is revoked") {
    REQUIRE(net.commit_one(net.tx(net.issuer_a, "a.issuer", TxType::kResolveObjection,
                                  ResolveObjection{oid, 1, 4}))
                .is_ok());
    auto rec = net.state<Record>(record_state_key(net.record));
    CHECK(rec.status == static_cast<std::uint8_t>(RecordStatus::kRevoked));
    CHECK(rec.revoke_reason == 4);
    CHECK(net.commit_one(net.tx(net.issuer_a, "a.issuer", TxType::kResolveObjection,
                                ResolveObjection{oid, 1, 4}))
              .code() == "ILLEGAL_TRANSITION");
  }
  SUBCASE("a holder cannot contest another holder's record") {
    RecordBody b = Net::body("not-mine");
    b.holder_ref = crypto::sha256(as_bytes("holder-2"));
    Tx r = net.tx(net.issuer_a, "a.issuer", TxType::kRegisterRecord, RegisterRecord{b});
    REQUIRE(net.commit_one(r).is_ok());
    CHECK(net.commit_one(net.holder_tx(net.holder, 1, TxType::kFileObjection,
                                       FileObjection{record_id_for(r.id()), kHolder, 3}))
              .code() == "NOT_RECORD_HOLDER");
  }
}

TEST_CASE("authorization: archives anchor a closed case") {
  AuthNet net;
  AnchorArchive a{"case-42", crypto::sha256(as_bytes("archive package")), {net.record}};
  Tx t = net.tx(net.consumer, "c.consumer", TxType::kAnchorArchive, a);
  REQUIRE(net.commit_one(t).is_ok());
  auto archived = net.state<Archive>(archive_state_key(archive_id_for(t.id())));
  CHECK(archived.case_id == "case-42");
  CHECK(archived.record_ids == std::vector<Hash>{net.record});
  AnchorArchive bad{"case-43", crypto::sha256(as_bytes("x")), {Hash{}}};
  CHECK(net.commit_one(net.tx(net.consumer, "c.consumer", TxType::kAnchorArchive, bad)).code() ==
        "RECORD_NOT_FOUND");
}

TEST_CASE("authorization: values record the positions of their changes within a block") {
  AuthNet net;
  const Hash g = net.grant(net.terms());
  // One block: an access (index 0), the holder revokes the grant (1), a
  // second access under it is refused and takes no position, the issuer
  // revokes the record (2).
  Tx a1 = net.access(g);
  Tx revoke_g = net.holder_tx(net.holder, 1, TxType::kRevokeGrant, RevokeGrant{kHolder, g});
  Tx a2 = net.access(g);  // a fresh nonce: another transaction than a1
  Tx revoke_r =
      net.tx(net.issuer_a, "a.issuer", TxType::kRevokeRecord, RevokeRecord{net.record, 7});
  auto oc = net.commit({a1, revoke_g, a2, revoke_r});
  REQUIRE(oc.size() == 4);
  CHECK(oc[0].status.is_ok());
  CHECK(oc[1].status.is_ok());
  CHECK(oc[2].status.code() == "GRANT_REVOKED");
  CHECK(oc[3].status.is_ok());
  const std::uint64_t h = net.ledger->head().height;

  auto access = net.state<Access>(access_state_key(access_id_for(a1.id())));
  CHECK(access.height == h);
  CHECK(access.tx_index == 0);
  auto grant = net.state<Grant>(grant_state_key(g));
  CHECK(grant.status == static_cast<std::uint8_t>(GrantStatus::kRevoked));
  CHECK((ChainPos{grant.revoked_height, grant.revoked_index} == ChainPos{h, 1}));
  CHECK(grant.created_height < h);
  auto rec = net.state<Record>(record_state_key(net.record));
  CHECK(rec.status == static_cast<std::uint8_t>(RecordStatus::kRevoked));
  CHECK((ChainPos{rec.ended_height, rec.ended_index} == ChainPos{h, 2}));
  CHECK(rec.anchor_index == 0);
  // A state value whose status and end point disagree does not decode.
  rec.ended_height = 0;
  rec.ended_index = 0;
  CHECK_FALSE(decode<Record>(encode(rec)).is_ok());
  grant.revoked_height = 0;
  grant.revoked_index = 0;
  CHECK_FALSE(decode<Grant>(encode(grant)).is_ok());
}

TEST_CASE("authorization: lists page by position, strictly after the cursor") {
  AuthNet net;
  GrantTerms t = net.terms();
  t.max_uses = 10;
  const Hash g = net.grant(t);
  std::vector<Tx> txs;
  for (int i = 0; i < 5; ++i) txs.push_back(net.access(g));
  auto oc = net.commit({txs[0], txs[1], txs[2]});
  for (const auto& o : oc) REQUIRE(o.status.is_ok());
  oc = net.commit({txs[3], txs[4]});
  for (const auto& o : oc) REQUIRE(o.status.is_ok());

  std::vector<Hash> want;
  for (const Tx& tx : txs) want.push_back(access_id_for(tx.id()));
  for (std::size_t page = 1; page <= 6; ++page) {
    CAPTURE(page);
    std::vector<Hash> got;
    std::optional<ChainPos> after;
    for (int guard = 0; guard < 10; ++guard) {
      auto l = net.ledger->accesses(1, UINT64_MAX, page, after);
      REQUIRE(l.is_ok());
      for (const auto& x : *l) got.push_back(x.id);
      if (l->size() < page) break;
      after = l->back().pos;
    }
    CHECK(got == want);
    // The holder's list pages the same way.
    got.clear();
    after.reset();
    for (int guard = 0; guard < 10; ++guard) {
      auto l = net.ledger->holder_list(Ledger::HolderList::kAccesses, kHolder, page, after);
      REQUIRE(l.is_ok());
      for (const auto& x : *l) got.push_back(x.id);
      if (l->size() < page) break;
      after = l->back().pos;
    }
    CHECK(got == want);
  }
  // A cursor beyond the range lists nothing; one before `from` starts at `from`.
  const std::uint64_t h = net.ledger->head().height;
  CHECK(net.ledger->accesses(1, h, 10, ChainPos{h, 1})->size() == 0);
  CHECK(net.ledger->accesses(h, h, 10, ChainPos{1, 0})->size() == 2);
}

TEST_CASE("cursor: HEIGHT.INDEX round-trips; anything else is refused") {
  for (ChainPos p : {ChainPos{0, 0}, ChainPos{17, 3}, ChainPos{UINT64_MAX, UINT32_MAX}}) {
    auto back = parse_cursor(cursor_string(p));
    REQUIRE(back.has_value());
    CHECK(*back == p);
  }
  CHECK(cursor_string(ChainPos{12, 0}) == "12.0");
  for (const char* bad : {"", ".", "1", "1.", ".1", "01.1", "1.01", "1.2.3", "-1.2", "1.4294967296",
                          "18446744073709551616.0", "1 .2", "a.b", "1.2 "})
    CHECK_MESSAGE(!parse_cursor(bad).has_value(), bad);
}
