// Canonical encoding (docs/formats/encoding.md): every top-level type round
// trips byte for byte, and decode refuses every non-canonical input we can
// name: wrong tag or version, truncation anywhere, trailing bytes, fields over
// their maxima, booleans other than 0/1, invalid UTF-8, out-of-range enums.
#include <doctest/doctest.h>

#include <cstdio>
#include <string>

#include "emledger/crypto/sha256.hpp"
#include "encoding_samples.hpp"

using namespace emledger;
using namespace emledger::ledger;
namespace s = emledger::samples;

namespace {

// Writes like Encoder but without its maxima assertions, so that tests can
// produce the over-long inputs a hostile peer would send: its own bytes and
// str, and UncheckedWalk's composites in place of Encoder's.
class LooseEncoder : public Encoder, public UncheckedWalk<LooseEncoder> {
 public:
  using UncheckedWalk<LooseEncoder>::object;
  using UncheckedWalk<LooseEncoder>::list;
  using UncheckedWalk<LooseEncoder>::hash_list;
  using UncheckedWalk<LooseEncoder>::bytes_list;
  using UncheckedWalk<LooseEncoder>::str_list;
  void bytes(const Bytes& v, std::size_t) {
    u32(static_cast<std::uint32_t>(v.size()));
    out().insert(out().end(), v.begin(), v.end());
  }
  void str(const std::string& v, std::size_t) {
    u32(static_cast<std::uint32_t>(v.size()));
    out().insert(out().end(), v.begin(), v.end());
  }
};

template <class T>
Bytes loose_encode(const T& v) {
  LooseEncoder e;
  e.tag(T::kDomain, T::kVersion);
  e.object(v);
  return std::move(e.out());
}

std::size_t tag_size(std::string_view domain) { return 1 + domain.size() + 1; }

template <class T>
bool decodes(const Bytes& b) {
  return decode<T>(ByteView(b)).is_ok();
}

// encode -> decode -> encode is the identity, and every cut, extension and
// tag or version change of the encoding is refused.
template <class T>
void check_canonical(const T& value) {
  CAPTURE(T::kDomain);
  const Bytes bytes = encode(value);
  auto decoded = decode<T>(ByteView(bytes));
  REQUIRE_MESSAGE(decoded.is_ok(), decoded.status().to_string());
  CHECK(encode(decoded.value()) == bytes);
  // The loose encoder writes what Encoder writes (the tests below rely on it).
  CHECK(loose_encode(value) == bytes);
  // encode() sizes its output with EncodedSize, and decode() compares with
  // EncodingMatch: both must follow Encoder byte for byte.
  EncodedSize size;
  size.tag(T::kDomain, T::kVersion);
  size.object(value);
  CHECK(size.size() == bytes.size());
  CHECK(is_encoding_of(value, ByteView(bytes)));
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    Bytes changed = bytes;
    changed[i] ^= 0x20;
    CAPTURE(i);
    CHECK_FALSE(is_encoding_of(value, ByteView(changed)));
  }
  CHECK_FALSE(is_encoding_of(value, ByteView(bytes.data(), bytes.size() - 1)));
  Bytes extended = bytes;
  extended.push_back(0);
  CHECK_FALSE(is_encoding_of(value, ByteView(extended)));

  for (std::size_t n = 0; n < bytes.size(); ++n) {
    auto r = decode<T>(ByteView(bytes.data(), n));
    CAPTURE(n);
    CHECK_FALSE(r.is_ok());
  }
  for (std::uint8_t extra : {0x00, 0x01, 0xff}) {
    Bytes longer = bytes;
    longer.push_back(extra);
    auto r = decode<T>(ByteView(longer));
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().code() == "MALFORMED_ENCODING");
  }
  // Every byte of the tag: length, domain characters, version.
  for (std::size_t i = 0; i < tag_size(T::kDomain); ++i) {
    Bytes wrong = bytes;
    wrong[i] ^= 0x01;
    CAPTURE(i);
    auto r = decode<T>(ByteView(wrong));
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().code() == "MALFORMED_ENCODING");
  }
  Bytes next_version = bytes;
  next_version[tag_size(T::kDomain) - 1] = static_cast<std::uint8_t>(T::kVersion + 1);
  CHECK_FALSE(decodes<T>(next_version));
  Bytes version_zero = bytes;
  version_zero[tag_size(T::kDomain) - 1] = 0;
  CHECK_FALSE(decodes<T>(version_zero));
}

// Sets a field to `max` items (accepted) and to `max + 1` (refused).
template <class T, class Set>
void check_max(T base, std::size_t max, Set set) {
  CAPTURE(T::kDomain);
  CAPTURE(max);
  T at = base;
  set(at, max);
  auto ok = decode<T>(ByteView(encode(at)));
  CHECK_MESSAGE(ok.is_ok(), ok.status().to_string());
  T over = std::move(base);
  set(over, max + 1);
  auto r = decode<T>(ByteView(loose_encode(over)));
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().code() == "MALFORMED_ENCODING");
  CHECK(r.status().message().find("maximum") != std::string::npos);
}

std::string ident(std::size_t n) { return std::string(n, 'a'); }

Hash nth_hash(std::size_t i) {
  Hash h{};
  h[0] = static_cast<std::uint8_t>(i >> 8);
  h[1] = static_cast<std::uint8_t>(i);
  h[31] = 1;
  return h;
}

// n orgs with distinct sorted ids, the first n_validators of them validators.
Genesis genesis_with(std::size_t n_orgs, std::size_t n_validators) {
  Genesis g = s::genesis();
  g.orgs.clear();
  g.validators.clear();
  for (std::size_t i = 0; i < n_orgs; ++i) {
    char id[32];
    std::snprintf(id, sizeof id, "org%05zu", i);
    PublicKey pk{};
    pk[0] = static_cast<std::uint8_t>(i >> 8);
    pk[1] = static_cast<std::uint8_t>(i);
    g.orgs.push_back(Org{id, "r", kRoleValidator, {OrgKey{1, pk}}});
    if (i < n_validators) g.validators.push_back(Validator{id, pk, ""});
  }
  return g;
}

}  // namespace

TEST_CASE("encoding: every top-level type round trips and refuses cuts, extensions and tags") {
  check_canonical(s::org());
  check_canonical(s::genesis());
  check_canonical(s::record());
  check_canonical(s::record_id_list());
  check_canonical(RecordIdList{});
  check_canonical(s::register_record());
  check_canonical(s::change_license());
  check_canonical(s::renew_license());
  check_canonical(s::revoke_record());
  check_canonical(s::signed_body_view());
  check_canonical(s::tx());
  check_canonical(s::header());
  check_canonical(s::block());
  check_canonical(Block{s::header(), {}});
  check_canonical(s::finalize_vote());
  check_canonical(s::certificate());
  check_canonical(s::inclusion_proof());
  check_canonical(s::consistency_proof());
  check_canonical(s::state_proof_present());
  check_canonical(s::state_proof_other_leaf());
  check_canonical(StateProof{});  // an empty tree: absent, terminal 0, no siblings
  check_canonical(s::bundle());
  check_canonical(s::tx_entry());
  check_canonical(s::chain_head());
  check_canonical(ChainHead{});
  check_canonical(s::bind_holder());
  check_canonical(s::rotate_holder_key());
  check_canonical(s::create_grant());
  check_canonical(s::revoke_grant());
  check_canonical(s::record_access());
  check_canonical(s::file_objection());
  check_canonical(s::resolve_objection());
  check_canonical(s::anchor_archive());
  check_canonical(s::holder_binding());
  check_canonical(s::grant());
  check_canonical(s::access());
  check_canonical(s::objection());
  check_canonical(s::archive());
  check_canonical(s::finality_by_descendant());
  check_canonical(s::bundle_by_descendant());
  check_canonical(s::bundle_v1());
  check_canonical(s::bundle_v2());
  check_canonical(s::validator_set());
  check_canonical(s::validator_list());
  check_canonical(s::validator_set_change());
  check_canonical(s::change_validators());
  check_canonical(ChangeValidators{});
  check_canonical(s::epoch_change());
  check_canonical(s::succession());
  check_canonical(Succession{});
  check_canonical(s::notarize_statement());
  check_canonical(s::nullify_statement());
  check_canonical(s::submit_evidence());
  check_canonical(s::submit_evidence_v1());
  check_canonical(s::evidence_record());
  check_canonical(s::evidence_record_v1());
  check_canonical(s::snapshot_manifest());
  check_canonical(s::snapshot_headers());
  check_canonical(s::snapshot_leaves());
  check_canonical(s::snapshot_state());
  check_canonical(s::snapshot_txs());
  check_canonical(s::snapshot_block_txs());
  check_canonical(s::snapshot_end());
  check_canonical(SnapshotTxs{});
}

TEST_CASE("encoding: authorization payloads refuse what their rules forbid") {
  CreateGrant g = s::create_grant();
  g.terms.record_ids = {s::filled(0xb2), s::filled(0xb1)};  // unsorted
  CHECK(decode<CreateGrant>(encode(g)).status().code() == "INVALID_PAYLOAD");
  g = s::create_grant();
  g.terms.max_uses = 0;
  CHECK(decode<CreateGrant>(encode(g)).status().code() == "INVALID_PAYLOAD");
  g = s::create_grant();
  g.terms.not_after_ms = g.terms.not_before_ms;
  CHECK(decode<CreateGrant>(encode(g)).status().code() == "INVALID_PAYLOAD");
  g = s::create_grant();
  g.terms.record_ids.clear();
  g.terms.type_codes.clear();
  CHECK(decode<CreateGrant>(encode(g)).status().code() == "INVALID_PAYLOAD");
  ResolveObjection r = s::resolve_objection();
  r.outcome = 3;
  CHECK(decode<ResolveObjection>(encode(r)).status().code() == "INVALID_PAYLOAD");
  FileObjection o = s::file_objection();
  o.reason = 0;
  CHECK(decode<FileObjection>(encode(o)).status().code() == "INVALID_PAYLOAD");
  Genesis gen = s::genesis();
  gen.statutes.push_back(StatutePolicy{"a.first", kRoleConsumer});  // out of order
  CHECK(decode<Genesis>(encode(gen)).status().code() == "GENESIS_MALFORMED");
}

TEST_CASE("encoding: the layout is fixed-width big-endian after a length-prefixed tag") {
  const ChainHead head = s::chain_head();
  const Bytes b = encode(head);
  const std::string_view domain = ChainHead::kDomain;
  REQUIRE(b.size() == tag_size(domain) + 8 + 32 + 8 + 8 + 32 + 32);
  CHECK(b[0] == domain.size());
  CHECK(std::string(b.begin() + 1, b.begin() + 1 + static_cast<long>(domain.size())) == domain);
  CHECK(b[1 + domain.size()] == ChainHead::kVersion);
  const std::size_t p = tag_size(domain);
  CHECK(Bytes(b.begin() + static_cast<long>(p), b.begin() + static_cast<long>(p) + 8) ==
        Bytes{0, 0, 0, 0, 0, 0, 0, 5});  // height 5

  // A string: u32 big-endian length, then the UTF-8 bytes.
  RenewLicense renew{s::filled(1), 0x0102030405060708};
  const Bytes rb = encode(renew);
  const std::size_t q = tag_size(RenewLicense::kDomain) + 32;
  CHECK(Bytes(rb.begin() + static_cast<long>(q), rb.end()) == Bytes{1, 2, 3, 4, 5, 6, 7, 8});
  FinalizeVote vote{"ab", 0, 0, 0, Hash{}};
  const Bytes vb = encode(vote);
  const std::size_t v = tag_size(FinalizeVote::kDomain);
  CHECK(Bytes(vb.begin() + static_cast<long>(v), vb.begin() + static_cast<long>(v) + 6) ==
        Bytes{0, 0, 0, 2, 'a', 'b'});
}

TEST_CASE("encoding: evidence version 2 names the epoch; version 1 reads as epoch 0") {
  // SubmitEvidence: version 2 is version 1's fields after a u64 epoch.
  const SubmitEvidenceV1 v1 = s::submit_evidence_v1();
  const Bytes v1_bytes = encode(v1);
  const std::size_t t = tag_size(SubmitEvidence::kDomain);
  REQUIRE(v1_bytes[t - 1] == 1);
  const Bytes v2_bytes = encode(SubmitEvidence{kGenesisEpoch, v1.first, v1.second});
  REQUIRE(v2_bytes[t - 1] == 2);
  CHECK(Bytes(v2_bytes.begin() + static_cast<long>(t),
              v2_bytes.begin() + static_cast<long>(t) + 8) == Bytes(8, 0));
  CHECK(Bytes(v2_bytes.begin() + static_cast<long>(t) + 8, v2_bytes.end()) ==
        Bytes(v1_bytes.begin() + static_cast<long>(t), v1_bytes.end()));
  for (const Bytes& b : {v1_bytes, v2_bytes}) {
    auto e = decode_submit_evidence(b);
    REQUIRE_MESSAGE(e.is_ok(), e.status().to_string());
    CHECK(e->epoch == kGenesisEpoch);
    CHECK(e->first == v1.first);
    CHECK(e->second == v1.second);
  }
  CHECK_FALSE(decodes<SubmitEvidence>(v1_bytes));  // only through decode_submit_evidence
  auto later = decode_submit_evidence(encode(s::submit_evidence()));
  REQUIRE(later.is_ok());
  CHECK(later->epoch == 2);
  // A version 1 payload still has its shape checked.
  SubmitEvidenceV1 swapped{v1.second, v1.first};
  CHECK(decode_submit_evidence(encode(swapped)).status().code() == "EVIDENCE_INVALID");
  Bytes v3 = v2_bytes;
  v3[t - 1] = 3;
  CHECK_FALSE(decode_submit_evidence(v3).is_ok());

  // EvidenceRecord: epoch 0 is written as version 1 (the bytes recorded
  // before epochs), a later epoch as version 2; each decodes back.
  EvidenceRecord zero = s::evidence_record_v1().r;
  const Bytes zero_bytes = encode_evidence_record(zero);
  CHECK(zero_bytes == encode(EvidenceRecordV1{zero}));
  CHECK(zero_bytes[tag_size(EvidenceRecord::kDomain) - 1] == 1);
  const EvidenceRecord two = s::evidence_record();
  const Bytes two_bytes = encode_evidence_record(two);
  CHECK(two_bytes == encode(two));
  CHECK(two_bytes[tag_size(EvidenceRecord::kDomain) - 1] == 2);
  auto zero_back = decode_evidence_record(zero_bytes);
  auto two_back = decode_evidence_record(two_bytes);
  REQUIRE((zero_back.is_ok() && two_back.is_ok()));
  CHECK(zero_back->epoch == kGenesisEpoch);
  CHECK(encode_evidence_record(*zero_back) == zero_bytes);
  CHECK(two_back->epoch == 2);
  CHECK(encode_evidence_record(*two_back) == two_bytes);
  // Epoch 0 in version 2 would be a second encoding of one record.
  CHECK(encode(zero) != zero_bytes);
  CHECK(decode_evidence_record(encode(zero)).status().code() == "MALFORMED_ENCODING");
}

TEST_CASE("encoding: decoding one type's bytes as another is refused") {
  const Bytes record = encode(s::record());
  CHECK_FALSE(decodes<Org>(record));
  CHECK_FALSE(decodes<Tx>(record));
  CHECK_FALSE(decodes<ChainHead>(encode(s::tx_entry())));
  CHECK_FALSE(decodes<InclusionProof>(encode(s::consistency_proof())));
  CHECK_FALSE(decodes<ConsistencyProof>(encode(s::inclusion_proof())));
  CHECK_FALSE(decodes<SignedBodyView>(encode(s::tx())));
  CHECK_FALSE(decodes<Tx>(Bytes{}));
}

TEST_CASE("encoding: every stated maximum is accepted and one more is refused") {
  // Strings.
  check_max(s::genesis(), kChainIdBytesMax,
            [](Genesis& g, std::size_t n) { g.chain_id = ident(n); });
  check_max(s::org(), kOrgIdBytesMax, [](Org& o, std::size_t n) { o.id = ident(n); });
  check_max(s::org(), kRegionBytesMax, [](Org& o, std::size_t n) { o.region = ident(n); });
  check_max(s::record(), kOrgIdBytesMax, [](Record& r, std::size_t n) { r.issuer = ident(n); });
  check_max(s::record(), kTypeCodeBytesMax,
            [](Record& r, std::size_t n) { r.body.type_code = ident(n); });
  check_max(s::record(), kMediaTypeBytesMax,
            [](Record& r, std::size_t n) { r.body.media_type = ident(n); });
  check_max(s::record(), kLocatorBytesMax,
            [](Record& r, std::size_t n) { r.body.locator = ident(n); });
  check_max(s::genesis(), kAddressBytesMax,
            [](Genesis& g, std::size_t n) { g.validators[0].address = ident(n); });
  check_max(s::tx(), kChainIdBytesMax, [](Tx& t, std::size_t n) { t.body.chain_id = ident(n); });
  check_max(s::tx(), kOrgIdBytesMax, [](Tx& t, std::size_t n) { t.body.signer_org = ident(n); });
  check_max(s::header(), kChainIdBytesMax,
            [](BlockHeader& h, std::size_t n) { h.chain_id = ident(n); });
  check_max(s::finalize_vote(), kChainIdBytesMax,
            [](FinalizeVote& v, std::size_t n) { v.chain_id = ident(n); });
  // Byte strings.
  check_max(s::tx(), kPayloadBytesMax, [](Tx& t, std::size_t n) { t.body.payload = Bytes(n, 7); });
  check_max(s::tx_entry(), kTxBytesMax, [](TxEntry& e, std::size_t n) { e.tx = Bytes(n, 7); });
  check_max(s::block(), kTxBytesMax, [](Block& b, std::size_t n) { b.txs[1] = Bytes(n, 7); });
  check_max(s::state_proof_present(), kStateKeyBytesMax,
            [](StateProof& p, std::size_t n) { p.key = Bytes(n, 7); });
  check_max(s::state_proof_present(), kStateValueBytesMax,
            [](StateProof& p, std::size_t n) { p.value = Bytes(n, 7); });
  check_max(s::bundle(), kTxBytesMax,
            [](ProofBundle& b, std::size_t n) { b.records[0].anchor_tx = Bytes(n, 7); });
  // Lists.
  check_max(s::org(), kOrgKeysMax, [](Org& o, std::size_t n) {
    o.keys.clear();
    for (std::size_t i = 0; i < n; ++i)
      o.keys.push_back(OrgKey{static_cast<std::uint32_t>(i + 1), s::key_filled(1)});
  });
  check_max(Genesis{}, kOrgsMax, [](Genesis& g, std::size_t n) { g = genesis_with(n, 1); });
  check_max(Genesis{}, kValidatorsMax, [](Genesis& g, std::size_t n) { g = genesis_with(n, n); });
  check_max(s::block(), kBlockTxsMax, [](Block& b, std::size_t n) { b.txs.assign(n, Bytes{}); });
  check_max(s::certificate(), kValidatorsMax, [](Certificate& c, std::size_t n) {
    c.signatures.clear();
    for (std::size_t i = 0; i < n; ++i)
      c.signatures.push_back(CertSignature{static_cast<std::uint16_t>(i), s::sig_filled(1)});
  });
  check_max(s::record_id_list(), kRecordsPerHashMax, [](RecordIdList& l, std::size_t n) {
    l.ids.clear();
    for (std::size_t i = 0; i < n; ++i) l.ids.push_back(nth_hash(i));
  });
  check_max(s::inclusion_proof(), kProofHashesMax,
            [](InclusionProof& p, std::size_t n) { p.path.assign(n, s::filled(1)); });
  check_max(s::consistency_proof(), kProofHashesMax,
            [](ConsistencyProof& p, std::size_t n) { p.path.assign(n, s::filled(1)); });
  check_max(s::state_proof_present(), std::size_t{256},
            [](StateProof& p, std::size_t n) { p.siblings.assign(n, s::filled(1)); });
  check_max(s::bundle(), kBundleRecordsMax,
            [](ProofBundle& b, std::size_t n) { b.records.assign(n, b.records[0]); });
  check_max(s::finality_by_descendant(), kFinalityLinksMax,
            [](FinalityProof& p, std::size_t n) { p.links.assign(n, s::header()); });
  check_max(s::bundle_by_descendant(), kFinalityLinksMax,
            [](ProofBundle& b, std::size_t n) { b.finality.links.assign(n, s::header()); });
  check_max(s::validator_set(), kValidatorsMax,
            [](ValidatorSet& v, std::size_t n) { v.validators.assign(n, v.validators[0]); });
  check_max(s::change_validators(), kValidatorsMax,
            [](ChangeValidators& c, std::size_t n) { c.approvals.assign(n, c.approvals[0]); });
  check_max(s::succession(), kEpochChangesMax,
            [](Succession& v, std::size_t n) { v.changes.assign(n, v.changes[1]); });
  check_max(s::validator_set_change(), kChainIdBytesMax,
            [](ValidatorSetChange& v, std::size_t n) { v.chain_id = ident(n); });
  check_max(s::notarize_statement(), kChainIdBytesMax,
            [](NotarizeStatement& v, std::size_t n) { v.chain_id = ident(n); });
  check_max(s::nullify_statement(), kChainIdBytesMax,
            [](NullifyStatement& v, std::size_t n) { v.chain_id = ident(n); });
  check_max(s::evidence_record(), kOrgIdBytesMax,
            [](EvidenceRecord& r, std::size_t n) { r.submitted_by = ident(n); });
  check_max(s::evidence_record_v1(), kOrgIdBytesMax,
            [](EvidenceRecordV1& r, std::size_t n) { r.r.submitted_by = ident(n); });
}

TEST_CASE("encoding: a huge length prefix is refused before anything is read") {
  Bytes b = encode(Block{s::header(), {}});
  // The tx count is the last four bytes of an empty block.
  for (std::size_t i = b.size() - 4; i < b.size(); ++i) b[i] = 0xff;
  auto r = decode<Block>(ByteView(b));
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().code() == "MALFORMED_ENCODING");
}

TEST_CASE("encoding: a boolean is 0 or 1") {
  StateProof p;  // empty key: `present` sits right after the key's length
  const Bytes b = encode(p);
  const std::size_t at = tag_size(StateProof::kDomain) + 4;
  REQUIRE(b[at] == 0);
  for (int v : {2, 0x80, 0xff}) {
    Bytes bad = b;
    bad[at] = static_cast<std::uint8_t>(v);
    CAPTURE(v);
    auto r = decode<StateProof>(ByteView(bad));
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().code() == "MALFORMED_ENCODING");
  }
}

TEST_CASE("encoding: strings must be valid UTF-8") {
  const char* invalid[] = {
      "\xff",              // never valid
      "\x80",              // lone continuation byte
      "\xc0\x80",          // overlong NUL
      "\xe0\x80\xaf",      // overlong '/'
      "\xed\xa0\x80",      // UTF-16 surrogate
      "\xf4\x90\x80\x80",  // above U+10FFFF
      "\xe4\xb8",          // truncated sequence
      "ok\xe4",            // truncated at the end
  };
  for (const char* bad : invalid) {
    CAPTURE(std::string(bad));
    Org o = s::org();
    o.region = bad;
    auto r = decode<Org>(ByteView(encode(o)));
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().code() == "MALFORMED_ENCODING");
    Record rec = s::record();
    rec.body.locator = std::string("x") + bad;
    CHECK_FALSE(decodes<Record>(encode(rec)));
  }
  // Multi-byte characters of every length are fine.
  Org o = s::org();
  o.region = "a\xc3\xa9\xe4\xb8\x8a\xf0\x9f\x98\x80";  // a é 上 😀
  CHECK(decodes<Org>(encode(o)));
}

TEST_CASE("encoding: out-of-range enums are refused by check()") {
  for (std::uint8_t status : {0, 4, 0xff}) {
    Record r = s::record();
    r.status = status;
    CHECK_FALSE(decodes<Record>(encode(r)));
  }
  for (std::uint8_t kind : {0, 3, 0xff}) {
    Record r = s::record();
    r.body.kind = kind;
    CHECK_FALSE(decodes<Record>(encode(r)));
    RegisterRecord reg = s::register_record();
    reg.body.kind = kind;
    CHECK_FALSE(decodes<RegisterRecord>(encode(reg)));
    ChangeLicense ch = s::change_license();
    ch.body.kind = kind;
    CHECK_FALSE(decodes<ChangeLicense>(encode(ch)));
  }
  for (std::uint8_t type : {std::uint8_t{0}, std::uint8_t(kTxTypeMax + 1), std::uint8_t{0xff}}) {
    Tx t = s::tx();
    t.body.type = type;
    auto r = decode<Tx>(ByteView(encode(t)));
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().code() == "TX_MALFORMED");
  }
  for (std::uint8_t terminal : {2, 0xff}) {
    StateProof p = s::state_proof_present();
    p.terminal = terminal;
    CHECK_FALSE(decodes<StateProof>(encode(p)));
  }
  RevokeRecord revoke = s::revoke_record();
  revoke.reason = 0;
  CHECK_FALSE(decodes<RevokeRecord>(encode(revoke)));
  Org org = s::org();
  org.roles = kRolesAll + 1;
  CHECK_FALSE(decodes<Org>(encode(org)));
  // Every valid value of each enum is accepted.
  for (auto st : {RecordStatus::kActive, RecordStatus::kRevoked, RecordStatus::kSuperseded}) {
    Record r = s::record();
    r.status = static_cast<std::uint8_t>(st);
    if (st == RecordStatus::kActive) r.ended_height = r.ended_index = 0;  // active: no end point
    CHECK(decodes<Record>(encode(r)));
  }
  for (std::uint8_t type = 1; type <= kTxTypeMax; ++type) {
    if (!org_may_sign(type)) continue;  // the sample is signed by an org
    Tx t = s::tx();
    t.body.type = type;
    CHECK(decodes<Tx>(encode(t)));
  }
}

TEST_CASE("encoding: ids are SHA-256 of the encoding") {
  const Tx t = s::tx();
  CHECK(t.id() == crypto::sha256(ByteView(encode(t))));
  CHECK(s::header().hash() == crypto::sha256(ByteView(encode(s::header()))));
  CHECK(s::genesis().hash() == crypto::sha256(ByteView(encode(s::genesis()))));
  // The signed bytes are a different domain from the transaction's own.
  CHECK(t.signing_bytes() == encode(SignedBodyView{t.body}));
  CHECK(t.signing_bytes() != encode(t));
}
