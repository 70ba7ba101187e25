// Block execution and commit; the read side is in ledger_queries.cpp. Storage layout:
// docs/formats/storage.md.
#include "emledger/ledger/ledger.hpp"

#include <algorithm>
#include <map>
#include <new>
#include <set>

#include "emledger/crypto/hex.hpp"
#include "emledger/crypto/sha256.hpp"
#include "keys.hpp"

namespace emledger::ledger {
namespace {

using namespace detail;  // NOLINT: the key layout of keys.hpp

Status reject(const char* code, std::string msg) { return Status::error(code, std::move(msg)); }

// Writes the state tree update and the flat index entries for `puts`.
Result<Hash> update_state(Overlay& ov, const SmtNodeCache* cache, const Hash& root,
                          const std::vector<std::pair<Bytes, Bytes>>& puts,
                          StateUpdateTrace* trace = nullptr) {
  auto new_root = StateTree(ov, cache).update(root, puts, ov, trace);
  if (!new_root) return new_root;
  for (const auto& [key, value] : puts) ov.put(state_index_key(key), crypto::sha256(value));
  return new_root;
}

// Committed data seen through the writes of a block still in flight.
class PendingReader : public KvReader {
 public:
  PendingReader(const KvReader& base, const WriteBatch* pending) : base_(base), pending_(pending) {}
  Result<std::optional<Bytes>> get(ByteView key) const override {
    if (pending_)
      if (auto v = pending_->find(key)) return std::optional<Bytes>(Bytes(v->begin(), v->end()));
    return base_.get(key);
  }

 private:
  const KvReader& base_;
  const WriteBatch* pending_;
};

// Whether a state key surely has no value in the committed state nor in the
// writes of the parent still in flight, known without reading the store
// (ADR 026). The filter holds every committed state key once its scan ends;
// the parent's writes are looked at only when it says "absent".
class StateKeyAbsence {
 public:
  StateKeyAbsence(const CommittedTxFilter& filter, const WriteBatch* parent_writes)
      : filter_(filter), parent_writes_(parent_writes) {}
  bool surely_absent(const Bytes& state_key) const {
    if (!filter_.complete() || !filter_.surely_absent(crypto::sha256(state_key))) return false;
    return !(parent_writes_ && parent_writes_->find(state_index_key(state_key)));
  }

 private:
  const CommittedTxFilter& filter_;
  const WriteBatch* parent_writes_;
};

// The state a block sees while it executes: committed state plus the writes
// of the transactions before it in the same block.
class BlockState {
 public:
  BlockState(const KvReader& committed, const StateKeyAbsence& absence)
      : committed_(committed), absence_(absence) {}
  Result<std::optional<Bytes>> get(const Bytes& key) const {
    auto it = pending_.find(key);
    if (it != pending_.end()) return std::optional<Bytes>(it->second);
    if (absence_.surely_absent(key)) return std::optional<Bytes>();
    return head_state_value(committed_, key);
  }
  template <class T>
  Result<std::optional<T>> get_as(const Bytes& key) const {
    auto raw = get(key);
    if (!raw) return raw.status();
    if (!raw->has_value()) return std::optional<T>();
    auto v = decode<T>(**raw);
    if (!v) return Status::error("STORAGE_CORRUPT", "state value: " + v.status().message());
    return std::optional<T>(std::move(*v));
  }
  template <class T>
  void put(const Bytes& key, const T& value) {
    static constexpr std::string_view kOrgPrefix = "org/";
    EMLEDGER_ASSERT(!(key.size() >= kOrgPrefix.size() &&
                      std::equal(kOrgPrefix.begin(), kOrgPrefix.end(), key.begin())));
    pending_[key] = encode(value);
  }
  // For values whose encoding depends on their content (EvidenceRecord).
  void put_raw(const Bytes& key, Bytes value) { pending_[key] = std::move(value); }
  std::vector<std::pair<Bytes, Bytes>> puts() const { return {pending_.begin(), pending_.end()}; }

 private:
  const KvReader& committed_;
  const StateKeyAbsence& absence_;
  std::map<Bytes, Bytes> pending_;  // ordered: deterministic
};

// Everything one transaction's rules see.
struct ExecContext {
  const Tx& tx;
  const Hash& tx_id;
  const Org* signer;            // the signing org, or null for a holder
  const HolderBinding* holder;  // the signing holder's binding, or null
  std::uint64_t height;
  std::uint64_t time_ms;
  std::uint32_t index_in_block;  // the position the tx takes if it applies
  const Genesis& genesis;
  std::vector<std::pair<Bytes, Bytes>>* index_puts;  // secondary index writes
  void index(IndexKind kind, const Hash* holder_ref, const Hash& id) const {
    index_puts->emplace_back(index_key(kind, holder_ref, ChainPos{height, index_in_block}),
                             Bytes(id.begin(), id.end()));
  }
};

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

}  // namespace

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

Result<Tx> parse_tx(ByteView bytes) {
  if (bytes.size() > kTxBytesMax)
    return Status::error("TX_TOO_LARGE", "transaction of " + std::to_string(bytes.size()) +
                                             " bytes exceeds " + std::to_string(kTxBytesMax));
  auto tx = decode<Tx>(bytes);
  if (!tx) return Status::error("TX_MALFORMED", tx.status().message());
  return tx;
}

Ledger::Ledger(std::unique_ptr<KvStore> store, Genesis genesis, const LedgerOptions& options)
    : store_(std::move(store)),
      genesis_(std::move(genesis)),
      genesis_hash_(genesis_.hash()),
      state_nodes_(options.state_cache_slot_bits, options.state_cache_huge_pages),
      recent_ids_(kRecentTxBlocksMax, 0),
      retention_(options.state_retention_blocks) {}

namespace {

// A store this release can read: the format entry is written with the
// genesis entry, in the same batch, so a store with a genesis and without the
// entry was written by a release before it.
Status check_store_format(const KvStore& store) {
  auto format = store.get(Bytes{kKeyFormat});
  if (!format) return format.status();
  if (!format->has_value())
    return Status::error("STORAGE_FORMAT",
                         "the data directory keeps the state tree one node per entry (format 1, "
                         "before ADR 027); this release reads format " +
                             std::to_string(kStoreFormat) +
                             ": create a snapshot of it with the release that wrote it and "
                             "restore that snapshot with this one (docs/formats/storage.md)");
  if (**format != Bytes{kStoreFormat})
    return Status::error("STORAGE_FORMAT", "the data directory's store format is not format " +
                                               std::to_string(kStoreFormat));
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<Ledger>> Ledger::open(std::unique_ptr<KvStore> store, const Genesis& genesis,
                                             const LedgerOptions& options) {
  EMLEDGER_TRY(genesis.check());
  if (options.state_cache_slot_bits < kStateCacheSlotBitsMin ||
      options.state_cache_slot_bits > kStateCacheSlotBitsMax)
    return Status::error("CONFIG_ERROR", "state cache slot bits " +
                                             std::to_string(options.state_cache_slot_bits) +
                                             " outside [" + std::to_string(kStateCacheSlotBitsMin) +
                                             ", " + std::to_string(kStateCacheSlotBitsMax) + "]");
  if (options.state_retention_blocks != kStateRetentionKeepAll &&
      (options.state_retention_blocks < kStateRetentionBlocksMin ||
       options.state_retention_blocks > kStateRetentionBlocksMax))
    return Status::error("CONFIG_ERROR", "state retention of " +
                                             std::to_string(options.state_retention_blocks) +
                                             " blocks: 0 (keep all) or in [" +
                                             std::to_string(kStateRetentionBlocksMin) + ", " +
                                             std::to_string(kStateRetentionBlocksMax) + "]");
  std::unique_ptr<Ledger> l;
  try {
    l.reset(new Ledger(std::move(store), genesis, options));
  } catch (const std::bad_alloc&) {
    return Status::error("CONFIG_ERROR", "no memory for a state cache of 2^" +
                                             std::to_string(options.state_cache_slot_bits) +
                                             " slots");
  }
  Bytes gkey{kKeyGenesis};
  auto stored = l->store_->get(gkey);
  if (!stored) return stored.status();
  Bytes genc = encode(genesis);
  if (stored->has_value()) {
    if (**stored != genc)
      return Status::error("GENESIS_MISMATCH", "the data directory belongs to another genesis");
    EMLEDGER_TRY(check_store_format(*l->store_));
    auto head = get_decoded<ChainHead>(*l->store_, Bytes{kKeyHead});
    if (!head) return head.status();
    if (!head->has_value()) return Status::error("STORAGE_CORRUPT", "genesis without head");
    l->head_ = **head;
    auto base = l->store_->get(Bytes{kKeyBase});
    if (!base) return base.status();
    if (base->has_value()) {
      if ((*base)->size() != 16) return Status::error("STORAGE_CORRUPT", "bad base entry");
      for (std::size_t i = 0; i < 8; ++i) l->base_height_ = (l->base_height_ << 8) | (**base)[i];
      for (std::size_t i = 8; i < 16; ++i)
        l->base_parent_view_ = (l->base_parent_view_ << 8) | (**base)[i];
      if (l->base_height_ > l->head_.height)
        return Status::error("STORAGE_CORRUPT", "base height above the head");
    }
    auto set = l->load_validators(*l->store_);
    if (!set) return set.status();
    l->validators_ = std::move(*set);
    EMLEDGER_TRY(l->load_prune_state());
    EMLEDGER_TRY(l->backfill_validator_proofs());
    l->recent_ids_.reset(l->head_.height);
    l->tx_filter_ = std::make_unique<CommittedTxFilter>(2 * l->head_.log_size);
    l->state_key_filter_ = std::make_unique<CommittedTxFilter>(4 * l->head_.log_size);
    if (options.scan_committed_ids) l->start_tx_filter_scan();
    return l;
  }
  // First start: the orgs become the initial state; height 0 is the genesis.
  Overlay ov(*l->store_);
  std::vector<std::pair<Bytes, Bytes>> puts;
  for (const auto& org : genesis.orgs) puts.emplace_back(org_state_key(org.id), encode(org));
  auto root = update_state(ov, nullptr, smt_empty_root(), puts);
  if (!root) return root.status();
  ChainHead head;
  head.header_hash = l->genesis_hash_;
  head.time_ms = genesis.time_ms;
  head.log_root = log_empty_root();
  head.state_root = *root;
  ov.put(gkey, genc);
  ov.put(Bytes{kKeyFormat}, Bytes{kStoreFormat});
  ov.put(Bytes{kKeyHead}, encode(head));
  EMLEDGER_TRY(l->store_->write(ov.batch(), /*sync=*/true));
  l->head_ = head;
  l->validators_ = genesis_validator_set(genesis);
  l->tx_filter_ = std::make_unique<CommittedTxFilter>(0);
  l->tx_filter_->set_complete();  // nothing is committed yet
  l->state_key_filter_ = std::make_unique<CommittedTxFilter>(0);
  l->add_state_keys(ov.batch());  // the orgs
  l->state_key_filter_->set_complete();
  return l;
}

ChainHead Ledger::head() const {
  std::lock_guard<std::mutex> lock(head_mu_);
  return head_;
}

Status Ledger::check_tx_stateless(const Tx& tx) const {
  EMLEDGER_TRY(tx.check());
  if (tx.body.chain_id != genesis_.chain_id)
    return reject("WRONG_CHAIN", "transaction is for chain '" + tx.body.chain_id + "'");
  // A holder's key is in state: prepare() checks those signatures.
  if (tx.body.signer_org.empty()) return Status::ok();
  const Org* org = genesis_.find_org(tx.body.signer_org);
  if (!org) return reject("UNKNOWN_ORG", "unknown org '" + tx.body.signer_org + "'");
  const OrgKey* key = org->find_key(tx.body.key_id);
  if (!key)
    return reject("UNKNOWN_KEY",
                  "org " + org->id + " has no key " + std::to_string(tx.body.key_id));
  if (!crypto::verify(key->public_key, tx.signing_bytes(), tx.signature))
    return reject("BAD_SIGNATURE", "signature does not verify under " + org->id + " key " +
                                       std::to_string(tx.body.key_id));
  return Status::ok();
}

Result<PreparedBlock> Ledger::prepare(const std::vector<Tx>& candidates, std::uint64_t time_ms,
                                      std::uint64_t view, const PublicKey& proposer,
                                      bool signatures_checked, std::vector<TxOutcome>& outcomes,
                                      const PreparedBlock* parent,
                                      std::span<const CandidateFacts> facts) const {
  EMLEDGER_ASSERT(candidates.size() <= kBlockTxsMax);
  const ChainHead h = parent ? parent->new_head : head();
  if (time_ms < h.time_ms) return Status::error("BLOCK_INVALID", "block time goes backwards");
  const std::uint64_t height = h.height + 1;
  // Committed data, plus the parent's writes when it is still in flight.
  PendingReader base(*store_, parent ? &parent->writes : nullptr);
  PreparedBlock out;
  Overlay ov(base);
  // A register writes about 20 keys (state nodes, value, index, entry).
  constexpr std::size_t kWritesPerTxEstimate = 24;
  ov.batch().reserve(candidates.size() * kWritesPerTxEstimate + 64);
  const StateKeyAbsence absence(*state_key_filter_, parent ? &parent->writes : nullptr);
  BlockState st(base, absence);
  std::set<Hash> seen;
  std::vector<Hash> leaves;
  outcomes.clear();
  // Orgs change only through the genesis today (no governance transaction
  // writes "org/" keys; BlockState::put asserts so), so a block decodes each
  // signing org once.
  std::map<std::string, Org, std::less<>> orgs;
  EMLEDGER_ASSERT(facts.empty() || facts.size() == candidates.size());
  for (std::size_t ci = 0; ci < candidates.size(); ++ci) {
    const Tx& tx = candidates[ci];
    const CandidateFacts known = facts.empty() ? CandidateFacts{} : facts[ci];
    TxOutcome oc;
    // Once: the id, the log leaf and the entry.
    Bytes enc =
        known.encoding.empty() ? encode(tx) : Bytes(known.encoding.begin(), known.encoding.end());
    oc.id = known.encoding.empty() ? crypto::sha256(enc) : known.id;
    std::vector<std::pair<Bytes, Bytes>> index_puts;
    oc.status = [&]() -> Status {
      if (!signatures_checked) EMLEDGER_TRY(check_tx_stateless(tx));
      if (tx.body.expires_at_height < height)
        return reject("EXPIRED",
                      "transaction expired at height " + std::to_string(tx.body.expires_at_height));
      if (tx.body.expires_at_height > height + kTxLifetimeBlocksMax)
        return reject("EXPIRY_TOO_FAR",
                      "expiry more than " + std::to_string(kTxLifetimeBlocksMax) + " blocks ahead");
      if (seen.count(oc.id)) return reject("DUPLICATE_TX", "transaction repeated in the block");
      auto committed = tx_committed(base, parent, oc.id, known.absent_at);
      if (!committed) return committed.status();
      if (*committed) return reject("DUPLICATE_TX", "transaction already committed");
      ExecContext cx{tx,
                     oc.id,
                     nullptr,
                     nullptr,
                     height,
                     time_ms,
                     static_cast<std::uint32_t>(out.block.txs.size()),
                     genesis_,
                     &index_puts};
      std::optional<HolderBinding> holder;
      if (tx.body.signer_org.empty()) {
        // A holder's key lives in state, so its signature is checked here,
        // always, by every node.
        auto ref = holder_ref_of(tx);
        if (!ref) return ref.status();
        auto b = st.get_as<HolderBinding>(holder_state_key(*ref));
        if (!b) return b.status();
        if (!b->has_value()) return reject("HOLDER_NOT_BOUND", "no key is bound to this holder");
        if ((*b)->key_seq != tx.body.key_id)
          return reject("HOLDER_KEY_STALE",
                        "holder key " + std::to_string(tx.body.key_id) + " is not the current one");
        if (!crypto::verify((*b)->public_key, tx.signing_bytes(), tx.signature))
          return reject("BAD_SIGNATURE", "holder signature does not verify");
        holder = std::move(**b);
        cx.holder = &*holder;
      } else if (auto known = orgs.find(tx.body.signer_org); known != orgs.end()) {
        cx.signer = &known->second;
      } else {
        auto o = st.get_as<Org>(org_state_key(tx.body.signer_org));
        if (!o) return o.status();
        if (!o->has_value()) return reject("UNKNOWN_ORG", "unknown org " + tx.body.signer_org);
        cx.signer = &orgs.emplace(tx.body.signer_org, std::move(**o)).first->second;
      }
      return apply_tx(st, cx);
    }();
    if (oc.status.code() == "STORAGE_ERROR" || oc.status.code() == "STORAGE_CORRUPT")
      return oc.status;
    if (oc.status.is_ok()) {
      for (const auto& [k, v] : index_puts) ov.put(k, v);
      seen.insert(oc.id);
      leaves.push_back(log_leaf_hash(enc));
      TxEntry e{height, static_cast<std::uint32_t>(out.block.txs.size()),
                h.log_size + leaves.size() - 1, enc};
      ov.put(hash_key(kKeyTx, oc.id), encode(e));
      out.block.txs.push_back(std::move(enc));
      out.tx_ids.push_back(oc.id);
    }
    outcomes.push_back(std::move(oc));
  }
  MerkleLog log(ov);
  auto log_root = log.append(h.log_size, leaves, ov);
  if (!log_root) return log_root.status();
  StateUpdateTrace trace;
  auto state_root = update_state(ov, &state_nodes_, h.state_root, st.puts(),
                                 retention_ != kStateRetentionKeepAll ? &trace : nullptr);
  if (!state_root) return state_root.status();
  if (ov.batch().find(state_index_key(validators_state_key()))) {
    auto vp = StateTree(ov, &state_nodes_).prove(*state_root, validators_state_key());
    if (!vp) return vp.status();
    ov.put(height_key(kKeyValidatorsProof, height), encode(*vp));
  }
  if (retention_ != kStateRetentionKeepAll) {
    EMLEDGER_TRY(prune_step(height, trace, parent, ov, out));
  } else {
    std::lock_guard<std::mutex> lock(head_mu_);
    out.prune_next = parent ? parent->prune_next : prune_next_;
    out.pruned_through = parent ? parent->pruned_through : pruned_through_;
  }

  BlockHeader& hd = out.block.header;
  hd.chain_id = genesis_.chain_id;
  hd.height = height;
  hd.view = view;
  hd.time_ms = time_ms;
  hd.parent = h.header_hash;
  hd.log_size = h.log_size + leaves.size();
  hd.log_root = *log_root;
  hd.state_root = *state_root;
  hd.proposer = proposer;
  hd.payload_digest = payload_digest(out.tx_ids);
  ov.put(height_key(kKeyHeader, height), encode(hd));
  ov.put(height_key(kKeyBlockTxs, height), encode(BlockTxIds{out.tx_ids}));
  out.new_head = ChainHead{height, hd.hash(), time_ms, hd.log_size, hd.log_root, hd.state_root};
  ov.put(Bytes{kKeyHead}, encode(out.new_head));
  out.writes = std::move(ov.batch());
  return out;
}

Result<PreparedBlock> Ledger::execute(const Block& block) const {
  std::vector<Tx> txs;
  for (const auto& raw : block.txs) {
    auto tx = parse_tx(raw);
    if (!tx) return Status::error("BLOCK_INVALID", tx.status().message());
    txs.push_back(std::move(*tx));
  }
  std::vector<TxOutcome> outcomes;
  auto p = prepare(txs, block.header.time_ms, block.header.view, block.header.proposer,
                   /*signatures_checked=*/false, outcomes);
  if (!p) return p;
  for (const auto& oc : outcomes)
    if (!oc.status.is_ok())
      return Status::error("BLOCK_INVALID",
                           "transaction " + to_hex(oc.id) + ": " + oc.status.to_string());
  if (encode(p->block.header) != encode(block.header))
    return Status::error("BLOCK_INVALID", "header differs from the result of execution");
  return p;
}

Status Ledger::commit(const PreparedBlock& prepared, const Certificate& cert) {
  return commit(prepared, FinalityProof::own(cert));
}

Status Ledger::commit(const PreparedBlock& prepared, const FinalityProof& proof) {
  // The set that judges this height: a block holding a change is still
  // judged by the set it ends (its since_height is the next height).
  auto judge = validators_at(prepared.block.header.height);
  if (!judge) return judge.status();
  EMLEDGER_TRY(verify_finality_in_set(genesis_.chain_id, *judge, prepared.block.header, proof));
  const ChainHead h = head();
  if (prepared.new_head.height != h.height + 1 || prepared.block.header.parent != h.header_hash)
    return Status::error("NOT_NEXT_BLOCK", "block does not extend the head");
  const std::uint64_t height = prepared.new_head.height;
  // The set after this block: read through its writes only when it changes.
  std::optional<ValidatorSet> next_set;
  if (prepared.writes.find(state_index_key(validators_state_key()))) {
    auto set = load_validators(PendingReader(*store_, &prepared.writes));
    if (!set) return set.status();
    EMLEDGER_ASSERT(set->epoch == judge->epoch + 1 && set->since_height == height + 1);
    next_set = std::move(*set);
  }
  WriteBatch finality_batch;
  if (!proof.by_descendant()) {
    finality_batch.put(height_key(kKeyCert, height), encode(proof.certificate));
  } else {
    const Hash& descendant = proof.certificate.header_hash;
    finality_batch.put(height_key(kKeyFinalizedBy, height),
                       Bytes(descendant.begin(), descendant.end()));
    // The first block committed through this descendant stores the link; it
    // covers every later one (both links end at one header hash, so they
    // share their headers above the later block).
    const Bytes key = hash_key(kKeyDescendantProof, descendant);
    auto stored = store_->get(key);
    if (!stored) return stored.status();
    if (!stored->has_value()) finality_batch.put(key, encode(proof));
  }
  const WriteBatch* batches[] = {&prepared.writes, &finality_batch};
  // Before the write: a prepare that reads the new head must find these ids
  // here (a failed write leaves them, which only costs lookups).
  recent_ids_.add_block(height, prepared.tx_ids);
  tx_filter_->add(prepared.tx_ids);
  add_state_keys(prepared.writes);
  EMLEDGER_TRY(store_->write_all(batches, /*sync=*/true));
  std::lock_guard<std::mutex> lock(head_mu_);
  head_ = prepared.new_head;
  if (next_set) validators_ = std::move(*next_set);
  prune_next_ = prepared.prune_next;
  pruned_through_ = prepared.pruned_through;
  for (const Hash& x : prepared.revived) {
    auto [it, fresh] = revived_.emplace(x, height);
    if (!fresh) {
      revived_order_.erase({it->second, x});
      it->second = height;
    }
    revived_order_.insert({height, x});
  }
  while (!revived_order_.empty() && revived_order_.begin()->first <= pruned_through_) {
    revived_.erase(revived_order_.begin()->second);
    revived_order_.erase(revived_order_.begin());
  }
  return Status::ok();
}

Status Ledger::backfill_validator_proofs() {
  const ValidatorSet current = validators_;
  WriteBatch batch;
  for (Epoch e = kGenesisEpoch; e < current.epoch; ++e) {
    auto stored = store_->get(height_key(kKeyEpochChange, e));
    if (!stored) return stored.status();
    if (stored->has_value()) continue;  // below a snapshot's base: kept whole
    auto raw = head_state_value(*store_, validators_history_state_key(e + 1));
    if (!raw) return raw.status();
    if (!raw->has_value()) continue;  // epoch_change() reports it
    auto set = decode<ValidatorSet>(**raw);
    if (!set || set->since_height < 2) continue;
    const std::uint64_t h = set->since_height - 1;
    const Bytes key = height_key(kKeyValidatorsProof, h);
    auto have = store_->get(key);
    if (!have) return have.status();
    if (have->has_value()) continue;
    auto hd = header(h);
    if (!hd) return hd.status();
    if (!hd->has_value()) continue;
    auto proof = StateTree(*store_, &state_nodes_).prove((*hd)->state_root, validators_state_key());
    if (!proof) return proof.status();
    batch.put(key, encode(*proof));
  }
  if (batch.empty()) return Status::ok();
  return store_->write(batch, /*sync=*/true);
}

Result<ValidatorSet> Ledger::load_validators(const KvReader& reader) const {
  auto raw = head_state_value(reader, validators_state_key());
  if (!raw) return raw.status();
  if (!raw->has_value()) return genesis_validator_set(genesis_);
  auto set = decode<ValidatorSet>(**raw);
  if (!set) return Status::error("STORAGE_CORRUPT", "validators: " + set.status().message());
  return set;
}

Result<ValidatorSet> Ledger::validators() const {
  std::lock_guard<std::mutex> lock(head_mu_);
  return validators_;
}

Result<ValidatorSet> Ledger::validators_after(const PreparedBlock* parent) const {
  if (!parent) return validators();
  return load_validators(PendingReader(*store_, &parent->writes));
}

Result<ValidatorSet> Ledger::validators_at(std::uint64_t height) const {
  EMLEDGER_ASSERT(height >= 1);
  auto current = validators();
  if (!current) return current;
  if (height >= current->since_height || current->epoch == kGenesisEpoch) return current;
  // Walk the history down; epoch 0 (the genesis set) is never stored.
  for (Epoch e = current->epoch - 1; e > kGenesisEpoch; --e) {
    auto raw = head_state_value(*store_, validators_history_state_key(e));
    if (!raw) return raw.status();
    if (!raw->has_value())
      return Status::error("STORAGE_CORRUPT",
                           "no validators history of epoch " + std::to_string(e));
    auto set = decode<ValidatorSet>(**raw);
    if (!set || set->epoch != e)
      return Status::error("STORAGE_CORRUPT",
                           "bad validators history of epoch " + std::to_string(e));
    if (height >= set->since_height) return set;
  }
  return genesis_validator_set(genesis_);
}

Result<EpochChange> Ledger::epoch_change(Epoch ending) const {
  auto stored = get_decoded<EpochChange>(*store_, height_key(kKeyEpochChange, ending));
  if (!stored) return stored.status();
  if (stored->has_value()) return std::move(**stored);
  auto raw = head_state_value(*store_, validators_history_state_key(ending + 1));
  if (!raw) return raw.status();
  if (!raw->has_value())
    return Status::error("STORAGE_CORRUPT",
                         "no validators history of epoch " + std::to_string(ending + 1));
  auto set = decode<ValidatorSet>(**raw);
  if (!set || set->epoch != ending + 1 || set->since_height < 2)
    return Status::error("STORAGE_CORRUPT",
                         "bad validators history of epoch " + std::to_string(ending + 1));
  const std::uint64_t h = set->since_height - 1;
  auto hd = header(h);
  if (!hd) return hd.status();
  auto proof = finality_proof(h);
  if (!proof) return proof.status();
  if (!hd->has_value() || !proof->has_value())
    return Status::error("STORAGE_CORRUPT", "the change block " + std::to_string(h) + " of epoch " +
                                                std::to_string(ending) +
                                                " is neither held nor stored as a change");
  // Stored at the change block (what a pruned tree can no longer give);
  // proven from the tree on a ledger written before that.
  auto kept = get_decoded<StateProof>(*store_, height_key(kKeyValidatorsProof, h));
  if (!kept) return kept.status();
  if (kept->has_value()) return EpochChange{std::move(**hd), std::move(**proof), std::move(**kept)};
  auto next = StateTree(*store_, &state_nodes_).prove((*hd)->state_root, validators_state_key());
  if (!next) return next.status();
  return EpochChange{std::move(**hd), std::move(**proof), std::move(*next)};
}

Result<Succession> Ledger::succession() const {
  auto current = validators();
  if (!current) return current.status();
  Succession s;
  for (Epoch e = kGenesisEpoch; e < current->epoch; ++e) {
    auto c = epoch_change(e);
    if (!c) return c.status();
    s.changes.push_back(std::move(*c));
  }
  return s;
}

Result<std::optional<FinalityProof>> Ledger::finality_proof(std::uint64_t height) const {
  auto cert = certificate(height);
  if (!cert) return cert.status();
  if (cert->has_value()) return std::optional<FinalityProof>(FinalityProof::own(std::move(**cert)));
  auto by = store_->get(height_key(kKeyFinalizedBy, height));
  if (!by) return by.status();
  if (!by->has_value()) return std::optional<FinalityProof>();
  if ((*by)->size() != kHashSize)
    return Status::error("STORAGE_CORRUPT",
                         "bad finalized-by entry at height " + std::to_string(height));
  Hash descendant;
  std::copy((*by)->begin(), (*by)->end(), descendant.begin());
  auto stored = get_decoded<FinalityProof>(*store_, hash_key(kKeyDescendantProof, descendant));
  if (!stored) return stored.status();
  auto hd = header(height);
  if (!hd) return hd.status();
  if (!stored->has_value() || !hd->has_value())
    return Status::error("STORAGE_CORRUPT", "block " + std::to_string(height) +
                                                " lacks its header or its descendant's proof");
  FinalityProof p = std::move(**stored);
  // Keep the links above `height`: heights height+1 .. d.
  const std::uint64_t first = p.links.empty() ? 0 : p.links.front().height;
  if (p.links.empty() || first > height + 1 || height + 1 - first >= p.links.size())
    return Status::error("STORAGE_CORRUPT",
                         "the stored link does not cover height " + std::to_string(height));
  p.links.erase(p.links.begin(), p.links.begin() + static_cast<std::ptrdiff_t>(height + 1 - first));
  if (p.links.front().parent != (*hd)->hash())
    return Status::error("STORAGE_CORRUPT",
                         "the stored link does not start at height " + std::to_string(height));
  return std::optional<FinalityProof>(std::move(p));
}

}  // namespace emledger::ledger
