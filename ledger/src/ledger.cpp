// Block execution, commit and queries. Storage layout: docs/formats/storage.md.
#include "emledger/ledger/ledger.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "emledger/crypto/hex.hpp"
#include "emledger/crypto/sha256.hpp"

namespace emledger::ledger {
namespace {

// Single-byte key prefixes of docs/formats/storage.md.
constexpr std::uint8_t kKeyGenesis = 'G';
constexpr std::uint8_t kKeyHead = 'H';
constexpr std::uint8_t kKeyHeader = 'h';
constexpr std::uint8_t kKeyCert = 'c';
constexpr std::uint8_t kKeyBlockTxs = 'b';
constexpr std::uint8_t kKeyTx = 'x';
// Flat index of the head state: "s" + state key -> SHA-256 of the value (the
// value itself is under "v" + hash). Written in the block's batch, so it always
// equals the state tree at the head; it spares a ~log2(n)-deep tree walk for
// every read the rules and the API make at the head.
constexpr std::uint8_t kKeyStateIndex = 's';

Bytes height_key(std::uint8_t prefix, std::uint64_t height) {
  Bytes k{prefix};
  for (int i = 7; i >= 0; --i) k.push_back(static_cast<std::uint8_t>(height >> (8 * i)));
  return k;
}
Bytes hash_key(std::uint8_t prefix, const Hash& h) {
  Bytes k{prefix};
  k.insert(k.end(), h.begin(), h.end());
  return k;
}
Bytes prefixed(std::string_view prefix, ByteView rest) {
  Bytes k(prefix.begin(), prefix.end());
  k.insert(k.end(), rest.begin(), rest.end());
  return k;
}

// The ids of a block's transactions, in order ("b" + height).
struct BlockTxIds {
  static constexpr std::string_view kDomain = "emledger.block-txs";
  static constexpr std::uint8_t kVersion = 1;
  std::vector<Hash> ids;
  template <class V>
  void describe(V& v) {
    v.hash_list(ids, kBlockTxsMax);
  }
};

template <class T>
Result<std::optional<T>> get_decoded(const KvReader& store, ByteView key) {
  auto raw = store.get(key);
  if (!raw) return raw.status();
  if (!raw->has_value()) return std::optional<T>();
  auto v = decode<T>(**raw);
  if (!v) return Status::error("STORAGE_CORRUPT", "stored value: " + v.status().message());
  return std::optional<T>(std::move(*v));
}

Status reject(const char* code, std::string msg) { return Status::error(code, std::move(msg)); }

Bytes state_index_key(ByteView state_key) {
  Bytes k{kKeyStateIndex};
  k.insert(k.end(), state_key.begin(), state_key.end());
  return k;
}

// The head's value of `state_key` through the flat index.
Result<std::optional<Bytes>> head_state_value(const KvReader& store, ByteView state_key) {
  auto h = store.get(state_index_key(state_key));
  if (!h) return h.status();
  if (!h->has_value()) return std::optional<Bytes>();
  if ((*h)->size() != kHashSize) return Status::error("STORAGE_CORRUPT", "bad state index entry");
  Hash vh;
  std::copy((*h)->begin(), (*h)->end(), vh.begin());
  auto v = load_state_value(store, vh);
  if (!v) return v.status();
  return std::optional<Bytes>(std::move(*v));
}

// Writes the state tree update and the flat index entries for `puts`.
Result<Hash> update_state(Overlay& ov, const Hash& root,
                          const std::vector<std::pair<Bytes, Bytes>>& puts) {
  auto new_root = StateTree(ov).update(root, puts, ov);
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
      if (const Bytes* v = pending_->find(key)) return std::optional<Bytes>(*v);
    return base_.get(key);
  }

 private:
  const KvReader& base_;
  const WriteBatch* pending_;
};

// The state a block sees while it executes: committed state plus the writes
// of the transactions before it in the same block.
class BlockState {
 public:
  explicit BlockState(const KvReader& committed) : committed_(committed) {}
  Result<std::optional<Bytes>> get(const Bytes& key) const {
    auto it = pending_.find(key);
    if (it != pending_.end()) return std::optional<Bytes>(it->second);
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
    pending_[key] = encode(value);
  }
  std::vector<std::pair<Bytes, Bytes>> puts() const { return {pending_.begin(), pending_.end()}; }

 private:
  const KvReader& committed_;
  std::map<Bytes, Bytes> pending_;  // ordered: deterministic
};

struct ExecContext {
  const Tx& tx;
  const Hash& tx_id;
  const Org& signer;
  std::uint64_t height;
  std::uint64_t time_ms;
};

// Loads a record the signer may modify: it exists, the signer issued it.
Result<Record> load_own_record(BlockState& st, const ExecContext& cx, const Hash& id) {
  auto rec = st.get_as<Record>(record_state_key(id));
  if (!rec) return rec.status();
  if (!rec->has_value()) return reject("RECORD_NOT_FOUND", "no record " + to_hex(id));
  if ((*rec)->issuer != cx.signer.id)
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
    if (!other->has_value()) return Status::error("STORAGE_CORRUPT", "index names a missing record");
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
  r.issuer = cx.signer.id;
  r.body = body;
  r.anchor_tx = cx.tx_id;
  r.anchor_height = cx.height;
  r.updated_height = cx.height;
  return r;
}

Status apply_register(BlockState& st, const ExecContext& cx) {
  auto p = decode<RegisterRecord>(cx.tx.body.payload);
  if (!p) return reject("INVALID_PAYLOAD", p.status().message());
  Record r = new_record(cx, p->body);
  EMLEDGER_TRY(index_content(st, r));
  st.put(record_state_key(r.id), r);
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
  old->status = static_cast<std::uint8_t>(RecordStatus::kSuperseded);
  old->superseded_by = r.id;
  old->updated_height = cx.height;
  st.put(record_state_key(old->id), *old);
  st.put(record_state_key(r.id), r);
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
    return reject("INVALID_PAYLOAD", "a renewal must extend a bounded validity window into the future");
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
  rec->status = static_cast<std::uint8_t>(RecordStatus::kRevoked);
  rec->revoke_reason = p->reason;
  rec->updated_height = cx.height;
  st.put(record_state_key(rec->id), *rec);
  return Status::ok();
}

Status apply_tx(BlockState& st, const ExecContext& cx) {
  if (!(cx.signer.roles & kRoleIssuer))
    return reject("NOT_ISSUER", "org " + cx.signer.id + " lacks the issuer role");
  switch (static_cast<TxType>(cx.tx.body.type)) {
    case TxType::kRegisterRecord: return apply_register(st, cx);
    case TxType::kChangeLicense: return apply_change(st, cx);
    case TxType::kRenewLicense: return apply_renew(st, cx);
    case TxType::kRevokeRecord: return apply_revoke(st, cx);
  }
  return reject("TX_MALFORMED", "unknown transaction type");
}

}  // namespace

Bytes org_state_key(std::string_view org_id) { return prefixed("org/", as_bytes(org_id)); }
Bytes record_state_key(const Hash& id) { return prefixed("rec/", id); }
Bytes hash_index_state_key(const Hash& h) { return prefixed("hash/", h); }

Result<Tx> parse_tx(ByteView bytes) {
  if (bytes.size() > kTxBytesMax)
    return Status::error("TX_TOO_LARGE", "transaction of " + std::to_string(bytes.size()) +
                                             " bytes exceeds " + std::to_string(kTxBytesMax));
  auto tx = decode<Tx>(bytes);
  if (!tx) return Status::error("TX_MALFORMED", tx.status().message());
  return tx;
}

Ledger::Ledger(std::unique_ptr<KvStore> store, Genesis genesis)
    : store_(std::move(store)), genesis_(std::move(genesis)), genesis_hash_(genesis_.hash()) {}

Result<std::unique_ptr<Ledger>> Ledger::open(std::unique_ptr<KvStore> store,
                                             const Genesis& genesis) {
  EMLEDGER_TRY(genesis.check());
  std::unique_ptr<Ledger> l(new Ledger(std::move(store), genesis));
  Bytes gkey{kKeyGenesis};
  auto stored = l->store_->get(gkey);
  if (!stored) return stored.status();
  Bytes genc = encode(genesis);
  if (stored->has_value()) {
    if (**stored != genc)
      return Status::error("GENESIS_MISMATCH", "the data directory belongs to another genesis");
    auto head = get_decoded<ChainHead>(*l->store_, Bytes{kKeyHead});
    if (!head) return head.status();
    if (!head->has_value()) return Status::error("STORAGE_CORRUPT", "genesis without head");
    l->head_ = **head;
    return l;
  }
  // First start: the orgs become the initial state; height 0 is the genesis.
  Overlay ov(*l->store_);
  std::vector<std::pair<Bytes, Bytes>> puts;
  for (const auto& org : genesis.orgs) puts.emplace_back(org_state_key(org.id), encode(org));
  auto root = update_state(ov, smt_empty_root(), puts);
  if (!root) return root.status();
  ChainHead head;
  head.header_hash = l->genesis_hash_;
  head.time_ms = genesis.time_ms;
  head.log_root = log_empty_root();
  head.state_root = *root;
  ov.put(gkey, genc);
  ov.put(Bytes{kKeyHead}, encode(head));
  EMLEDGER_TRY(l->store_->write(ov.batch(), /*sync=*/true));
  l->head_ = head;
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
  const Org* org = genesis_.find_org(tx.body.signer_org);
  if (!org) return reject("UNKNOWN_ORG", "unknown org '" + tx.body.signer_org + "'");
  const OrgKey* key = org->find_key(tx.body.key_id);
  if (!key) return reject("UNKNOWN_KEY", "org " + org->id + " has no key " + std::to_string(tx.body.key_id));
  if (!crypto::verify(key->public_key, tx.signing_bytes(), tx.signature))
    return reject("BAD_SIGNATURE", "signature does not verify under " + org->id + " key " +
                                       std::to_string(tx.body.key_id));
  return Status::ok();
}

Result<PreparedBlock> Ledger::prepare(const std::vector<Tx>& candidates, std::uint64_t time_ms,
                                      std::uint64_t view, const PublicKey& proposer,
                                      bool signatures_checked,
                                      std::vector<TxOutcome>& outcomes,
                                      const PreparedBlock* parent) const {
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
  BlockState st(base);
  std::set<Hash> seen;
  std::vector<Hash> leaves;
  outcomes.clear();
  for (const Tx& tx : candidates) {
    TxOutcome oc;
    oc.id = tx.id();
    oc.status = [&]() -> Status {
      if (!signatures_checked) EMLEDGER_TRY(check_tx_stateless(tx));
      if (tx.body.expires_at_height < height)
        return reject("EXPIRED", "transaction expired at height " + std::to_string(tx.body.expires_at_height));
      if (tx.body.expires_at_height > height + kTxLifetimeBlocksMax)
        return reject("EXPIRY_TOO_FAR", "expiry more than " + std::to_string(kTxLifetimeBlocksMax) + " blocks ahead");
      if (seen.count(oc.id)) return reject("DUPLICATE_TX", "transaction repeated in the block");
      auto committed = base.get(hash_key(kKeyTx, oc.id));
      if (!committed) return committed.status();
      if (committed->has_value()) return reject("DUPLICATE_TX", "transaction already committed");
      auto signer = st.get_as<Org>(org_state_key(tx.body.signer_org));
      if (!signer) return signer.status();
      if (!signer->has_value()) return reject("UNKNOWN_ORG", "unknown org " + tx.body.signer_org);
      return apply_tx(st, ExecContext{tx, oc.id, **signer, height, time_ms});
    }();
    if (oc.status.code() == "STORAGE_ERROR" || oc.status.code() == "STORAGE_CORRUPT")
      return oc.status;
    if (oc.status.is_ok()) {
      seen.insert(oc.id);
      Bytes enc = encode(tx);
      leaves.push_back(log_leaf_hash(enc));
      TxEntry e{height, static_cast<std::uint32_t>(out.block.txs.size()), h.log_size + leaves.size() - 1, enc};
      ov.put(hash_key(kKeyTx, oc.id), encode(e));
      out.block.txs.push_back(std::move(enc));
      out.tx_ids.push_back(oc.id);
    }
    outcomes.push_back(std::move(oc));
  }
  MerkleLog log(ov);
  auto log_root = log.append(h.log_size, leaves, ov);
  if (!log_root) return log_root.status();
  auto state_root = update_state(ov, h.state_root, st.puts());
  if (!state_root) return state_root.status();

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
      return Status::error("BLOCK_INVALID", "transaction " + to_hex(oc.id) + ": " + oc.status.to_string());
  if (encode(p->block.header) != encode(block.header))
    return Status::error("BLOCK_INVALID", "header differs from the result of execution");
  return p;
}

Status Ledger::commit(const PreparedBlock& prepared, const Certificate& cert) {
  EMLEDGER_TRY(verify_certificate(genesis_, prepared.block.header, cert));
  const ChainHead h = head();
  if (prepared.new_head.height != h.height + 1 || prepared.block.header.parent != h.header_hash)
    return Status::error("NOT_NEXT_BLOCK", "block does not extend the head");
  WriteBatch cert_batch;
  cert_batch.put(height_key(kKeyCert, prepared.new_head.height), encode(cert));
  const WriteBatch* batches[] = {&prepared.writes, &cert_batch};
  EMLEDGER_TRY(store_->write_all(batches, /*sync=*/true));
  std::lock_guard<std::mutex> lock(head_mu_);
  head_ = prepared.new_head;
  return Status::ok();
}

Result<std::optional<BlockHeader>> Ledger::header(std::uint64_t height) const {
  return get_decoded<BlockHeader>(*store_, height_key(kKeyHeader, height));
}

Result<std::optional<Certificate>> Ledger::certificate(std::uint64_t height) const {
  return get_decoded<Certificate>(*store_, height_key(kKeyCert, height));
}

Result<std::optional<Block>> Ledger::block(std::uint64_t height) const {
  auto hd = header(height);
  if (!hd || !hd->has_value()) return hd.is_ok() ? Result<std::optional<Block>>(std::optional<Block>()) : hd.status();
  auto ids = get_decoded<BlockTxIds>(*store_, height_key(kKeyBlockTxs, height));
  if (!ids) return ids.status();
  if (!ids->has_value()) return Status::error("STORAGE_CORRUPT", "block without its transaction list");
  Block b;
  b.header = **hd;
  for (const auto& id : (*ids)->ids) {
    auto e = tx_entry(id);
    if (!e) return e.status();
    if (!e->has_value()) return Status::error("STORAGE_CORRUPT", "block names a missing transaction");
    b.txs.push_back(std::move((*e)->tx));
  }
  return std::optional<Block>(std::move(b));
}

Result<std::optional<TxEntry>> Ledger::tx_entry(const Hash& tx_id) const {
  return get_decoded<TxEntry>(*store_, hash_key(kKeyTx, tx_id));
}

Result<std::optional<Bytes>> Ledger::state_value(ByteView key) const {
  return head_state_value(*store_, key);
}

Result<std::optional<Record>> Ledger::record(const Hash& record_id) const {
  auto raw = state_value(record_state_key(record_id));
  if (!raw) return raw.status();
  if (!raw->has_value()) return std::optional<Record>();
  auto r = decode<Record>(**raw);
  if (!r) return Status::error("STORAGE_CORRUPT", r.status().message());
  return std::optional<Record>(std::move(*r));
}

Result<std::vector<Record>> Ledger::records_by_hash(const Hash& content_hash) const {
  auto raw = state_value(hash_index_state_key(content_hash));
  if (!raw) return raw.status();
  std::vector<Record> out;
  if (!raw->has_value()) return out;
  auto ids = decode<RecordIdList>(**raw);
  if (!ids) return Status::error("STORAGE_CORRUPT", ids.status().message());
  for (const auto& id : ids->ids) {
    auto r = record(id);
    if (!r) return r.status();
    if (!r->has_value()) return Status::error("STORAGE_CORRUPT", "index names a missing record");
    out.push_back(std::move(**r));
  }
  return out;
}

Result<StateProof> Ledger::state_proof(ByteView key, std::optional<std::uint64_t> height) const {
  Hash root = head().state_root;
  if (height) {
    auto hd = header(*height);
    if (!hd) return hd.status();
    if (!hd->has_value()) return Status::error("NOT_FOUND", "no block at height " + std::to_string(*height));
    root = (*hd)->state_root;
  }
  return StateTree(*store_).prove(root, key);
}

Result<InclusionProof> Ledger::inclusion_proof(std::uint64_t log_index, std::uint64_t size) const {
  if (size > head().log_size) return Status::error("PROOF_OUT_OF_RANGE", "size beyond the log");
  return MerkleLog(*store_).inclusion(log_index, size);
}

Result<Hash> Ledger::log_leaf(std::uint64_t index) const {
  if (index >= head().log_size) return Status::error("PROOF_OUT_OF_RANGE", "index beyond the log");
  return MerkleLog(*store_).leaf(index);
}

Result<Hash> Ledger::log_root(std::uint64_t size) const {
  if (size > head().log_size) return Status::error("PROOF_OUT_OF_RANGE", "size beyond the log");
  return MerkleLog(*store_).root(size);
}

Result<ConsistencyProof> Ledger::consistency_proof(std::uint64_t first, std::uint64_t second) const {
  if (second > head().log_size) return Status::error("PROOF_OUT_OF_RANGE", "size beyond the log");
  return MerkleLog(*store_).consistency(first, second);
}

Result<ProofBundle> Ledger::bundle_for_hash(const Hash& content_hash) const {
  const ChainHead h = head();
  if (h.height == 0) return Status::error("NO_BLOCKS", "no block has been committed yet");
  auto hd = header(h.height);
  auto cert = certificate(h.height);
  if (!hd || !cert) return !hd ? hd.status() : cert.status();
  if (!hd->has_value() || !cert->has_value())
    return Status::error("STORAGE_CORRUPT", "head block missing its header or certificate");
  ProofBundle b;
  b.genesis_hash = genesis_hash_;
  b.content_hash = content_hash;
  b.header = **hd;
  b.certificate = **cert;
  StateTree tree(*store_);
  auto index = tree.prove(h.state_root, hash_index_state_key(content_hash));
  if (!index) return index.status();
  b.index_proof = std::move(*index);
  if (!b.index_proof.present) return b;
  auto ids = decode<RecordIdList>(b.index_proof.value);
  if (!ids) return Status::error("STORAGE_CORRUPT", ids.status().message());
  MerkleLog log(*store_);
  for (const auto& id : ids->ids) {
    RecordEvidence ev;
    auto rp = tree.prove(h.state_root, record_state_key(id));
    if (!rp) return rp.status();
    if (!rp->present) return Status::error("STORAGE_CORRUPT", "index names a missing record");
    auto rec = decode<Record>(rp->value);
    if (!rec) return Status::error("STORAGE_CORRUPT", rec.status().message());
    auto entry = tx_entry(rec->anchor_tx);
    if (!entry) return entry.status();
    if (!entry->has_value()) return Status::error("STORAGE_CORRUPT", "record without its anchor tx");
    auto incl = log.inclusion((*entry)->log_index, h.log_size);
    if (!incl) return incl.status();
    ev.record_proof = std::move(*rp);
    ev.anchor_tx = std::move((*entry)->tx);
    ev.anchor_inclusion = std::move(*incl);
    b.records.push_back(std::move(ev));
  }
  return b;
}

}  // namespace emledger::ledger
