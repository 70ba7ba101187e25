// The transaction rules: what each transaction type may do to the state, and
// who may do it (docs/api.md, docs/architecture.md); the state keys they use.
// Deterministic like all of ledger/: no clock, no randomness.
#include "tx_rules.hpp"

#include <algorithm>
#include <string>

#include "emledger/crypto/hex.hpp"
#include "emledger/crypto/sha256.hpp"

namespace emledger::ledger {

using namespace detail;  // NOLINT: the key layout of keys.hpp and the rules' types

namespace {

// Loads a record the signer may modify: it exists, the signer issued it.
Result<Record> load_own_record(BlockState& st, const ExecContext& cx, const Hash& id) {
  auto rec = st.get_as<Record>(record_state_key(id));
  if (!rec) return rec.status();
  if (!rec->has_value()) return reject("RECORD_NOT_FOUND", "no record " + to_hex(id));
  if (!cx.signer || (*rec)->issuer != cx.signer->id)
    return reject("NOT_RECORD_ISSUER", "record " + to_hex(id) + " was issued by " + (*rec)->issuer);
  return std::move(**rec);
}

Status index_content(BlockState& st, const Record& rec) {
  Bytes key = hash_index_state_key(rec.body.content_hash);
  auto list = st.get_as<RecordIdList>(key);
  if (!list) return list.status();
  RecordIdList ids = list->value_or(RecordIdList{});
  for (const auto& other_id : ids.ids) {
    auto other = st.get_as<Record>(record_state_key(other_id));
    if (!other) return other.status();
    if (!other->has_value())
      return Status::error("STORAGE_CORRUPT", "index names a missing record");
    if ((*other)->issuer == rec.issuer &&
        (*other)->status == static_cast<std::uint8_t>(RecordStatus::kActive) &&
        (*other)->id != rec.supersedes)
      return reject("DUPLICATE_RECORD", "an active record of " + rec.issuer +
                                            " already anchors this content: " + to_hex(other_id));
  }
  if (ids.ids.size() >= kRecordsPerHashMax)
    return reject("TOO_MANY_RECORDS", "content hash already has the maximum number of records");
  ids.ids.push_back(rec.id);
  st.put(key, ids);
  return Status::ok();
}

Record new_record(const ExecContext& cx, const RecordBody& body) {
  Record r;
  r.id = record_id_for(cx.tx_id);
  r.issuer = cx.signer->id;
  r.body = body;
  r.anchor_tx = cx.tx_id;
  r.anchor_height = cx.height;
  r.anchor_index = cx.index_in_block;
  r.updated_height = cx.height;
  return r;
}

// Marks an active record superseded or revoked at this transaction.
void end_record(Record& r, RecordStatus status, const ExecContext& cx) {
  EMLEDGER_ASSERT(r.status == static_cast<std::uint8_t>(RecordStatus::kActive));
  EMLEDGER_ASSERT(status != RecordStatus::kActive);
  r.status = static_cast<std::uint8_t>(status);
  r.ended_height = cx.height;
  r.ended_index = cx.index_in_block;
  r.updated_height = cx.height;
}

Status apply_register(BlockState& st, const ExecContext& cx) {
  auto p = decode<RegisterRecord>(cx.tx.body.payload);
  if (!p) return reject("INVALID_PAYLOAD", p.status().message());
  Record r = new_record(cx, p->body);
  EMLEDGER_TRY(index_content(st, r));
  st.put(record_state_key(r.id), r);
  cx.index(IndexKind::kHolderRecord, &r.body.holder_ref, r.id);
  return Status::ok();
}

Status apply_change(BlockState& st, const ExecContext& cx) {
  auto p = decode<ChangeLicense>(cx.tx.body.payload);
  if (!p) return reject("INVALID_PAYLOAD", p.status().message());
  auto old = load_own_record(st, cx, p->previous);
  if (!old) return old.status();
  if (old->body.kind != static_cast<std::uint8_t>(RecordKind::kLicense) ||
      p->body.kind != static_cast<std::uint8_t>(RecordKind::kLicense))
    return reject("NOT_A_LICENSE", "only licenses have versions");
  if (old->status != static_cast<std::uint8_t>(RecordStatus::kActive))
    return reject("ILLEGAL_TRANSITION", "only an active license can be changed");
  if (old->body.holder_ref != p->body.holder_ref || old->body.type_code != p->body.type_code)
    return reject("ILLEGAL_TRANSITION", "a change keeps the holder and the type code");
  Record r = new_record(cx, p->body);
  r.version = old->version + 1;
  r.supersedes = old->id;
  EMLEDGER_TRY(index_content(st, r));
  end_record(*old, RecordStatus::kSuperseded, cx);
  old->superseded_by = r.id;
  st.put(record_state_key(old->id), *old);
  st.put(record_state_key(r.id), r);
  cx.index(IndexKind::kHolderRecord, &r.body.holder_ref, r.id);
  return Status::ok();
}

Status apply_renew(BlockState& st, const ExecContext& cx) {
  auto p = decode<RenewLicense>(cx.tx.body.payload);
  if (!p) return reject("INVALID_PAYLOAD", p.status().message());
  auto rec = load_own_record(st, cx, p->record);
  if (!rec) return rec.status();
  if (rec->body.kind != static_cast<std::uint8_t>(RecordKind::kLicense))
    return reject("NOT_A_LICENSE", "only licenses are renewed");
  if (rec->status != static_cast<std::uint8_t>(RecordStatus::kActive))
    return reject("ILLEGAL_TRANSITION", "only an active license can be renewed");
  if (p->valid_until_ms <= cx.time_ms || p->valid_until_ms <= rec->body.valid_from_ms ||
      (rec->body.valid_until_ms != 0 && p->valid_until_ms <= rec->body.valid_until_ms) ||
      rec->body.valid_until_ms == 0)
    return reject("INVALID_PAYLOAD",
                  "a renewal must extend a bounded validity window into the future");
  rec->body.valid_until_ms = p->valid_until_ms;
  rec->updated_height = cx.height;
  st.put(record_state_key(rec->id), *rec);
  return Status::ok();
}

Status apply_revoke(BlockState& st, const ExecContext& cx) {
  auto p = decode<RevokeRecord>(cx.tx.body.payload);
  if (!p) return reject("INVALID_PAYLOAD", p.status().message());
  auto rec = load_own_record(st, cx, p->record);
  if (!rec) return rec.status();
  if (rec->status != static_cast<std::uint8_t>(RecordStatus::kActive))
    return reject("ILLEGAL_TRANSITION", "record is not active");
  end_record(*rec, RecordStatus::kRevoked, cx);
  rec->revoke_reason = p->reason;
  st.put(record_state_key(rec->id), *rec);
  return Status::ok();
}

Status require_role(const ExecContext& cx, std::uint32_t roles, const char* code,
                    const char* what) {
  if (!cx.signer || !(cx.signer->roles & roles))
    return reject(code, "signer lacks the " + std::string(what) + " role");
  return Status::ok();
}

Status apply_bind(BlockState& st, const ExecContext& cx, bool rebind) {
  EMLEDGER_TRY(require_role(cx, kRoleIdentity, "NOT_IDENTITY", "identity"));
  auto p = decode<BindHolder>(cx.tx.body.payload);
  if (!p) return reject("INVALID_PAYLOAD", p.status().message());
  if (is_zero(p->holder_ref)) return reject("INVALID_PAYLOAD", "holder_ref is zero");
  const Bytes key = holder_state_key(p->holder_ref);
  auto cur = st.get_as<HolderBinding>(key);
  if (!cur) return cur.status();
  if (!rebind && cur->has_value())
    return reject("HOLDER_ALREADY_BOUND", "holder is bound; use a rotation or a re-binding");
  if (rebind && !cur->has_value()) return reject("HOLDER_NOT_BOUND", "no binding to replace");
  HolderBinding b;
  b.holder_ref = p->holder_ref;
  b.public_key = p->public_key;
  b.key_seq = rebind ? (*cur)->key_seq + 1 : 1;
  b.bound_by = cx.signer->id;
  b.updated_height = cx.height;
  st.put(key, b);
  return Status::ok();
}

Status apply_rotate(BlockState& st, const ExecContext& cx) {
  auto p = decode<RotateHolderKey>(cx.tx.body.payload);
  if (!p) return reject("INVALID_PAYLOAD", p.status().message());
  HolderBinding b = *cx.holder;
  if (b.public_key == p->new_public_key) return reject("INVALID_PAYLOAD", "the key is unchanged");
  b.public_key = p->new_public_key;
  b.key_seq += 1;
  b.updated_height = cx.height;
  st.put(holder_state_key(b.holder_ref), b);
  return Status::ok();
}

Status apply_create_grant(BlockState& st, const ExecContext& cx) {
  auto p = decode<CreateGrant>(cx.tx.body.payload);
  if (!p) return reject("INVALID_PAYLOAD", p.status().message());
  auto grantee = st.get_as<Org>(org_state_key(p->terms.grantee));
  if (!grantee) return grantee.status();
  if (!grantee->has_value())
    return reject("UNKNOWN_ORG", "grantee " + p->terms.grantee + " is not an org");
  if (p->terms.not_after_ms <= cx.time_ms)
    return reject("GRANT_EXPIRED", "grant window already over");
  // Records named in the scope must be this holder's.
  for (const auto& id : p->terms.record_ids) {
    auto rec = st.get_as<Record>(record_state_key(id));
    if (!rec) return rec.status();
    if (!rec->has_value()) return reject("RECORD_NOT_FOUND", "no record " + to_hex(id));
    if ((*rec)->body.holder_ref != p->terms.holder_ref)
      return reject("GRANT_SCOPE_MISMATCH", "record " + to_hex(id) + " is not the holder's");
  }
  Grant g;
  g.id = grant_id_for(cx.tx_id);
  g.terms = p->terms;
  g.created_by_tx = cx.tx_id;
  g.created_height = cx.height;
  g.created_index = cx.index_in_block;
  g.updated_height = cx.height;
  st.put(grant_state_key(g.id), g);
  cx.index(IndexKind::kHolderGrant, &g.terms.holder_ref, g.id);
  return Status::ok();
}

Status apply_revoke_grant(BlockState& st, const ExecContext& cx) {
  auto p = decode<RevokeGrant>(cx.tx.body.payload);
  if (!p) return reject("INVALID_PAYLOAD", p.status().message());
  auto g = st.get_as<Grant>(grant_state_key(p->grant_id));
  if (!g) return g.status();
  if (!g->has_value()) return reject("GRANT_NOT_FOUND", "no grant " + to_hex(p->grant_id));
  if ((*g)->terms.holder_ref != cx.holder->holder_ref)
    return reject("NOT_GRANT_HOLDER", "the grant is another holder's");
  if ((*g)->status != static_cast<std::uint8_t>(GrantStatus::kActive))
    return reject("GRANT_REVOKED", "the grant is already revoked");
  (*g)->status = static_cast<std::uint8_t>(GrantStatus::kRevoked);
  (*g)->revoked_height = cx.height;
  (*g)->revoked_index = cx.index_in_block;
  (*g)->updated_height = cx.height;
  st.put(grant_state_key(p->grant_id), **g);
  return Status::ok();
}

// Whether `g` lets `org` read `rec` for `case_id` at `time_ms` (design.md 3).
Status covers(const Grant& g, const Record& rec, std::string_view org, std::string_view case_id,
              std::uint64_t time_ms) {
  if (g.status != static_cast<std::uint8_t>(GrantStatus::kActive))
    return reject("GRANT_REVOKED", "the grant was revoked by the holder");
  if (g.terms.grantee != org) return reject("GRANT_WRONG_GRANTEE", "the grant names another org");
  if (time_ms < g.terms.not_before_ms)
    return reject("GRANT_NOT_YET_VALID", "the grant is not valid yet");
  if (time_ms >= g.terms.not_after_ms) return reject("GRANT_EXPIRED", "the grant has expired");
  const bool by_id =
      std::binary_search(g.terms.record_ids.begin(), g.terms.record_ids.end(), rec.id);
  const bool by_type =
      std::binary_search(g.terms.type_codes.begin(), g.terms.type_codes.end(), rec.body.type_code);
  if (g.terms.holder_ref != rec.body.holder_ref || (!by_id && !by_type))
    return reject("GRANT_SCOPE_MISMATCH", "the record is outside the grant's scope");
  if (g.terms.case_id != case_id)
    return reject("GRANT_PURPOSE_MISMATCH", "the grant is for case " + g.terms.case_id);
  if (g.uses >= g.terms.max_uses) return reject("GRANT_EXHAUSTED", "the grant's uses are spent");
  return Status::ok();
}

Status apply_access(BlockState& st, const ExecContext& cx) {
  EMLEDGER_TRY(require_role(cx, kRoleConsumer, "NOT_CONSUMER", "consumer"));
  auto p = decode<RecordAccess>(cx.tx.body.payload);
  if (!p) return reject("INVALID_PAYLOAD", p.status().message());
  if (p->case_id.empty()) return reject("INVALID_PAYLOAD", "an access names its case");
  auto rec = st.get_as<Record>(record_state_key(p->record_id));
  if (!rec) return rec.status();
  if (!rec->has_value()) return reject("RECORD_NOT_FOUND", "no record " + to_hex(p->record_id));
  if ((*rec)->status != static_cast<std::uint8_t>(RecordStatus::kActive))
    return reject("RECORD_NOT_ACTIVE",
                  "the record is " + std::string((*rec)->status == 2 ? "revoked" : "superseded"));
  Access a;
  a.id = access_id_for(cx.tx_id);
  a.org = cx.signer->id;
  a.record_id = p->record_id;
  a.holder_ref = (*rec)->body.holder_ref;
  a.grant_id = p->grant_id;
  a.case_id = p->case_id;
  a.height = cx.height;
  a.tx_index = cx.index_in_block;
  a.time_ms = cx.time_ms;
  if (is_zero(p->grant_id)) {
    const StatutePolicy* law = cx.genesis.find_statute((*rec)->body.type_code);
    if (!law || !(law->roles & cx.signer->roles))
      return reject("NO_GRANT", "no grant named and no statute lets this org read this type");
    a.statutory = true;
  } else {
    auto g = st.get_as<Grant>(grant_state_key(p->grant_id));
    if (!g) return g.status();
    if (!g->has_value()) return reject("GRANT_NOT_FOUND", "no grant " + to_hex(p->grant_id));
    EMLEDGER_TRY(covers(**g, **rec, cx.signer->id, p->case_id, cx.time_ms));
    (*g)->uses += 1;
    (*g)->updated_height = cx.height;
    st.put(grant_state_key(p->grant_id), **g);
  }
  st.put(access_state_key(a.id), a);
  cx.index(IndexKind::kHolderAccess, &a.holder_ref, a.id);
  cx.index(IndexKind::kAccessByHeight, nullptr, a.id);
  return Status::ok();
}

Status apply_objection(BlockState& st, const ExecContext& cx) {
  auto p = decode<FileObjection>(cx.tx.body.payload);
  if (!p) return reject("INVALID_PAYLOAD", p.status().message());
  auto rec = st.get_as<Record>(record_state_key(p->record_id));
  if (!rec) return rec.status();
  if (!rec->has_value()) return reject("RECORD_NOT_FOUND", "no record " + to_hex(p->record_id));
  if (cx.holder && (*rec)->body.holder_ref != cx.holder->holder_ref)
    return reject("NOT_RECORD_HOLDER", "a holder contests only its own records");
  if (cx.signer && !is_zero(p->holder_ref))
    return reject("INVALID_PAYLOAD", "an org's objection names no holder");
  if ((*rec)->status != static_cast<std::uint8_t>(RecordStatus::kActive))
    return reject("RECORD_NOT_ACTIVE", "only an active record can be contested");
  Objection o;
  o.id = objection_id_for(cx.tx_id);
  o.record_id = p->record_id;
  o.filed_by_org = cx.signer ? cx.signer->id : "";
  o.holder_ref = cx.holder ? cx.holder->holder_ref : Hash{};
  o.reason = p->reason;
  o.filed_height = cx.height;
  (*rec)->objections_open += 1;
  (*rec)->updated_height = cx.height;
  st.put(record_state_key(p->record_id), **rec);
  st.put(objection_state_key(o.id), o);
  return Status::ok();
}

Status apply_resolve(BlockState& st, const ExecContext& cx) {
  auto p = decode<ResolveObjection>(cx.tx.body.payload);
  if (!p) return reject("INVALID_PAYLOAD", p.status().message());
  auto o = st.get_as<Objection>(objection_state_key(p->objection_id));
  if (!o) return o.status();
  if (!o->has_value())
    return reject("OBJECTION_NOT_FOUND", "no objection " + to_hex(p->objection_id));
  if ((*o)->status != static_cast<std::uint8_t>(ObjectionStatus::kOpen))
    return reject("ILLEGAL_TRANSITION", "the objection is already resolved");
  auto rec = load_own_record(st, cx, (*o)->record_id);
  if (!rec) return rec.status();
  EMLEDGER_ASSERT(rec->objections_open > 0);
  rec->objections_open -= 1;
  rec->updated_height = cx.height;
  const bool upheld = p->outcome == static_cast<std::uint8_t>(ObjectionOutcome::kUpheld);
  if (upheld && rec->status == static_cast<std::uint8_t>(RecordStatus::kActive)) {
    end_record(*rec, RecordStatus::kRevoked, cx);
    rec->revoke_reason = p->reason;
  }
  (*o)->status =
      static_cast<std::uint8_t>(upheld ? ObjectionStatus::kUpheld : ObjectionStatus::kRejected);
  (*o)->resolution_reason = p->reason;
  (*o)->resolved_height = cx.height;
  st.put(record_state_key(rec->id), *rec);
  st.put(objection_state_key(p->objection_id), **o);
  return Status::ok();
}

Status apply_archive(BlockState& st, const ExecContext& cx) {
  EMLEDGER_TRY(require_role(cx, kRoleConsumer | kRoleIssuer, "NOT_CONSUMER", "consumer or issuer"));
  auto p = decode<AnchorArchive>(cx.tx.body.payload);
  if (!p) return reject("INVALID_PAYLOAD", p.status().message());
  for (const auto& id : p->record_ids) {
    auto rec = st.get_as<Record>(record_state_key(id));
    if (!rec) return rec.status();
    if (!rec->has_value()) return reject("RECORD_NOT_FOUND", "no record " + to_hex(id));
  }
  Archive a;
  a.id = archive_id_for(cx.tx_id);
  a.org = cx.signer->id;
  a.case_id = p->case_id;
  a.package_hash = p->package_hash;
  a.record_ids = p->record_ids;
  a.height = cx.height;
  st.put(archive_state_key(a.id), a);
  return Status::ok();
}

// The set of `epoch` as the block being built sees it: the genesis set for
// epoch 0, else the history kept for it (absent: an epoch not reached yet).
Result<std::optional<ValidatorSet>> block_epoch_set(const BlockState& st, const Genesis& genesis,
                                                    Epoch epoch) {
  if (epoch == kGenesisEpoch) return std::optional<ValidatorSet>(genesis_validator_set(genesis));
  return st.get_as<ValidatorSet>(validators_history_state_key(epoch));
}

// Any org may prove that a validator signed two conflicting votes in one
// epoch. The offence (epoch, validator, view, kind) is recorded once,
// whichever pair proves it.
Status apply_evidence(BlockState& st, const ExecContext& cx) {
  auto p = decode_submit_evidence(cx.tx.body.payload);
  if (!p)
    return p.status().code() == "EVIDENCE_INVALID"
               ? p.status()
               : reject("INVALID_PAYLOAD", p.status().message());
  auto set = block_epoch_set(st, cx.genesis, p->epoch);
  if (!set) return set.status();
  if (!set->has_value())
    return reject("EVIDENCE_INVALID",
                  "epoch " + std::to_string(p->epoch) + " has no validator set");
  EMLEDGER_TRY(verify_evidence(cx.genesis.chain_id, **set, *p));
  EMLEDGER_ASSERT(cx.signer);  // Tx::check: type 14 is org-signed only
  const Bytes key = evidence_state_key(p->epoch, p->first.validator, p->first.view, p->first.kind);
  auto existing = st.get(key);
  if (!existing) return existing.status();
  if (existing->has_value())
    return reject("EVIDENCE_DUPLICATE", "this offence of validator " +
                                            std::to_string(p->first.validator) + " in view " +
                                            std::to_string(p->first.view) + " of epoch " +
                                            std::to_string(p->epoch) + " is already recorded");
  EvidenceRecord r;
  r.epoch = p->epoch;
  r.validator = p->first.validator;
  r.kind = p->first.kind;
  r.view = p->first.view;
  r.validator_key = (*set)->validators[r.validator].public_key;
  r.first = p->first;
  r.second = p->second;
  r.submitted_by = cx.signer->id;
  r.tx = cx.tx_id;
  r.height = cx.height;
  r.index = cx.index_in_block;
  st.put_raw(key, encode_evidence_record(r));
  return Status::ok();
}

// The set in force for the block being built: the "validators" state as this
// transaction sees it (absent: the genesis set).
Result<ValidatorSet> block_validator_set(const BlockState& st, const Genesis& genesis) {
  auto set = st.get_as<ValidatorSet>(validators_state_key());
  if (!set) return set.status();
  if (!set->has_value()) return genesis_validator_set(genesis);
  return std::move(**set);
}

// Any org may submit a change approved by a quorum of the set in force
// (docs/validator-set-changes.md section 2). It ends epoch e with this
// block: heights from the next one are judged by the new set.
Status apply_change_validators(BlockState& st, const ExecContext& cx) {
  EMLEDGER_ASSERT(cx.signer);  // Tx::check: type 15 is org-signed only
  auto p = decode<ChangeValidators>(cx.tx.body.payload);
  if (!p) return reject("INVALID_PAYLOAD", p.status().message());
  auto current = block_validator_set(st, cx.genesis);
  if (!current) return current.status();
  // A change earlier in this block already ended the epoch: the block is the
  // last of its epoch whatever the second change says, so at most one per
  // block (a second one approved by the new set would skip an epoch).
  if (current->since_height > cx.height)
    return reject("VALIDATORS_EPOCH_MISMATCH",
                  "this block already changes the validator set (epoch " +
                      std::to_string(current->epoch) + " starts at height " +
                      std::to_string(current->since_height) + ")");
  EMLEDGER_TRY(verify_validator_change(cx.genesis.chain_id, *current, *p));
  // A succession carries every change since the genesis, at most
  // kEpochChangesMax of them.
  if (current->epoch + 1 > kEpochChangesMax)
    return reject("VALIDATORS_INVALID",
                  "the chain has had its " + std::to_string(kEpochChangesMax) + " epochs");
  for (const Validator& v : p->validators) {
    auto org = st.get_as<Org>(org_state_key(v.org_id));
    if (!org) return org.status();
    if (!org->has_value() || !((*org)->roles & kRoleValidator))
      return reject("VALIDATORS_INVALID",
                    "validator org " + v.org_id + " is unknown or lacks the validator role");
  }
  EMLEDGER_ASSERT(current->epoch < UINT64_MAX && cx.height < UINT64_MAX);
  const ValidatorSet next{current->epoch + 1, cx.height + 1, std::move(p->validators)};
  st.put(validators_state_key(), next);
  st.put(validators_history_state_key(next.epoch), next);
  return Status::ok();
}

}  // namespace

namespace detail {

Status apply_tx(BlockState& st, const ExecContext& cx) {
  switch (static_cast<TxType>(cx.tx.body.type)) {
    case TxType::kRegisterRecord:
    case TxType::kChangeLicense:
    case TxType::kRenewLicense:
    case TxType::kRevokeRecord:
      EMLEDGER_TRY(require_role(cx, kRoleIssuer, "NOT_ISSUER", "issuer"));
      break;
    default:
      break;
  }
  switch (static_cast<TxType>(cx.tx.body.type)) {
    case TxType::kRegisterRecord:
      return apply_register(st, cx);
    case TxType::kChangeLicense:
      return apply_change(st, cx);
    case TxType::kRenewLicense:
      return apply_renew(st, cx);
    case TxType::kRevokeRecord:
      return apply_revoke(st, cx);
    case TxType::kBindHolder:
      return apply_bind(st, cx, /*rebind=*/false);
    case TxType::kRebindHolder:
      return apply_bind(st, cx, /*rebind=*/true);
    case TxType::kRotateHolderKey:
      return apply_rotate(st, cx);
    case TxType::kCreateGrant:
      return apply_create_grant(st, cx);
    case TxType::kRevokeGrant:
      return apply_revoke_grant(st, cx);
    case TxType::kRecordAccess:
      return apply_access(st, cx);
    case TxType::kFileObjection:
      return apply_objection(st, cx);
    case TxType::kResolveObjection:
      return apply_resolve(st, cx);
    case TxType::kAnchorArchive:
      return apply_archive(st, cx);
    case TxType::kSubmitEvidence:
      return apply_evidence(st, cx);
    case TxType::kChangeValidators:
      return apply_change_validators(st, cx);
  }
  return reject("TX_MALFORMED", "unknown transaction type");
}

}  // namespace detail

Result<Hash> holder_ref_of(const Tx& tx) {
  switch (static_cast<TxType>(tx.body.type)) {
    case TxType::kRotateHolderKey:
      if (auto p = decode<RotateHolderKey>(tx.body.payload)) return p->holder_ref;
      break;
    case TxType::kCreateGrant:
      if (auto p = decode<CreateGrant>(tx.body.payload)) return p->terms.holder_ref;
      break;
    case TxType::kRevokeGrant:
      if (auto p = decode<RevokeGrant>(tx.body.payload)) return p->holder_ref;
      break;
    case TxType::kFileObjection:
      if (auto p = decode<FileObjection>(tx.body.payload)) return p->holder_ref;
      break;
    default:
      break;
  }
  return reject("INVALID_PAYLOAD", "payload does not decode or names no holder");
}

Bytes org_state_key(std::string_view org_id) { return prefixed("org/", as_bytes(org_id)); }
Bytes record_state_key(const Hash& id) { return prefixed("rec/", id); }
Bytes hash_index_state_key(const Hash& h) { return prefixed("hash/", h); }
Status grant_covers(const Grant& g, const Record& record, std::string_view org,
                    std::string_view case_id, std::uint64_t time_ms) {
  return covers(g, record, org, case_id, time_ms);
}

Bytes holder_state_key(const Hash& holder_ref) { return prefixed("holder/", holder_ref); }
Bytes grant_state_key(const Hash& id) { return prefixed("grant/", id); }
Bytes access_state_key(const Hash& id) { return prefixed("access/", id); }
Bytes objection_state_key(const Hash& id) { return prefixed("objection/", id); }
Bytes archive_state_key(const Hash& id) { return prefixed("archive/", id); }
Bytes evidence_state_key(Epoch epoch, std::uint16_t validator, std::uint64_t view,
                         std::uint8_t kind) {
  const std::string_view prefix = epoch == kGenesisEpoch ? kEvidencePrefix : kEvidenceEpochPrefix;
  Bytes k(prefix.begin(), prefix.end());
  if (epoch != kGenesisEpoch)
    for (int i = 7; i >= 0; --i) k.push_back(static_cast<std::uint8_t>(epoch >> (8 * i)));
  for (int i = 1; i >= 0; --i) k.push_back(static_cast<std::uint8_t>(validator >> (8 * i)));
  for (int i = 7; i >= 0; --i) k.push_back(static_cast<std::uint8_t>(view >> (8 * i)));
  k.push_back(kind);
  return k;
}
Bytes evidence_state_key(std::uint16_t validator, std::uint64_t view, std::uint8_t kind) {
  return evidence_state_key(kGenesisEpoch, validator, view, kind);
}

}  // namespace emledger::ledger
