// Block execution and commit; the read side is in ledger_queries.cpp. Storage layout:
// docs/formats/storage.md.
#include "emledger/ledger/ledger.hpp"

#include <algorithm>
#include <map>
#include <new>
#include <unordered_set>

#include "emledger/crypto/hex.hpp"
#include "emledger/crypto/sha256.hpp"
#include "keys.hpp"
#include "store_upgrade.hpp"
#include "tx_rules.hpp"

namespace emledger::ledger {
namespace {

using namespace detail;  // NOLINT: the key layout of keys.hpp

// Writes the state tree update and, through it, the flat index entries of
// the keys whose value changes.
Result<Hash> update_state(Overlay& ov, const SmtPageCache* cache, const Hash& root,
                          const std::vector<std::pair<Bytes, Bytes>>& puts,
                          std::vector<Hash>& put_paths, StateUpdateTrace* trace = nullptr,
                          unsigned threads = 1) {
  return StateTree(ov, cache, threads).update(root, puts, ov, trace, &put_paths);
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

}  // namespace

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
      state_pages_(options.state_cache_mib << 20, options.state_cache_huge_pages),
      state_update_threads_(options.state_update_threads),
      recent_ids_(kRecentTxBlocksMax, 0),
      retention_(options.state_retention_blocks) {}

namespace {

// Brings the store to this release's format or refuses it. The format entry
// is written with the genesis entry, in the same batch, so a store with a
// genesis and without the entry was written by a release before it (format 1),
// which this one cannot read. Format 2 differs by its log and its flat
// index, which are upgraded in place (ADR 029), to format 3; format 3 by its
// flat index entries, upgraded in place to format 4 (ADR 032). Formats 3 and
// 4 may still hold format 2's per-node log entries when an upgrade stopped
// before it had erased them.
Status settle_store_format(KvStore& store, const UpgradeProgress& progress) {
  auto format = store.get(Bytes{kKeyFormat});
  if (!format) return format.status();
  if (!format->has_value())
    return Status::error("STORAGE_FORMAT",
                         "the data directory keeps the state tree one node per entry (format 1, "
                         "before ADR 027); this release reads format " +
                             std::to_string(kStoreFormat) +
                             ": create a snapshot of it with the release that wrote it and "
                             "restore that snapshot with this one (docs/formats/storage.md)");
  if (**format == Bytes{2}) {
    auto head = get_decoded<ChainHead>(store, Bytes{kKeyHead});
    if (!head) return head.status();
    if (!head->has_value()) return Status::error("STORAGE_CORRUPT", "genesis without head");
    EMLEDGER_TRY(upgrade_from_format_2(store, (*head)->log_size, (*head)->log_root, progress));
    return upgrade_from_format_3(store, progress);
  }
  if (**format == Bytes{3}) {
    EMLEDGER_TRY(erase_per_node_log_entries(store));
    return upgrade_from_format_3(store, progress);
  }
  if (**format != Bytes{kStoreFormat})
    return Status::error("STORAGE_FORMAT", "the data directory's store format is not format " +
                                               std::to_string(kStoreFormat));
  return erase_per_node_log_entries(store);
}

}  // namespace

Result<std::unique_ptr<Ledger>> Ledger::open(std::unique_ptr<KvStore> store, const Genesis& genesis,
                                             const LedgerOptions& options) {
  EMLEDGER_TRY(genesis.check());
  if (options.state_cache_mib < kStateCacheMibMin || options.state_cache_mib > kStateCacheMibMax)
    return Status::error("CONFIG_ERROR", "state cache of " +
                                             std::to_string(options.state_cache_mib) +
                                             " MiB outside [" + std::to_string(kStateCacheMibMin) +
                                             ", " + std::to_string(kStateCacheMibMax) + "]");
  if (options.state_update_threads < 1 || options.state_update_threads > kStateUpdateThreadsMax)
    return Status::error("CONFIG_ERROR",
                         "state update threads " + std::to_string(options.state_update_threads) +
                             " outside [1, " + std::to_string(kStateUpdateThreadsMax) + "]");
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
    return Status::error("CONFIG_ERROR", "no memory for a state cache of " +
                                             std::to_string(options.state_cache_mib) + " MiB");
  }
  Bytes gkey{kKeyGenesis};
  auto stored = l->store_->get(gkey);
  if (!stored) return stored.status();
  Bytes genc = encode(genesis);
  if (stored->has_value()) {
    if (**stored != genc)
      return Status::error("GENESIS_MISMATCH", "the data directory belongs to another genesis");
    EMLEDGER_TRY(settle_store_format(*l->store_, options.progress));
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
  std::vector<Hash> org_paths;
  auto root = update_state(ov, nullptr, smt_empty_root(), puts, org_paths);
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
  l->state_key_filter_->add(org_paths);
  l->state_key_filter_->set_complete();
  return l;
}

ChainHead Ledger::head() const {
  std::lock_guard<std::mutex> lock(head_mu_);
  return head_;
}

Status Ledger::check_tx_signer(const Tx& tx, const PublicKey*& org_key) const {
  org_key = nullptr;
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
  org_key = &key->public_key;
  return Status::ok();
}

namespace {

Status bad_org_signature(const Tx& tx) {
  return reject("BAD_SIGNATURE", "signature does not verify under " + tx.body.signer_org + " key " +
                                     std::to_string(tx.body.key_id));
}

}  // namespace

Status Ledger::check_tx_stateless(const Tx& tx) const {
  const PublicKey* key = nullptr;
  EMLEDGER_TRY(check_tx_signer(tx, key));
  if (key && !crypto::verify(*key, tx.signing_bytes(), tx.signature)) return bad_org_signature(tx);
  return Status::ok();
}

std::vector<Status> Ledger::check_txs_stateless(std::span<const Tx* const> txs) const {
  std::vector<Status> out(txs.size());
  std::vector<Bytes> signed_bytes;
  signed_bytes.reserve(txs.size());
  std::vector<crypto::SignedMessage> items;
  std::vector<std::size_t> item_tx;
  for (std::size_t i = 0; i < txs.size(); ++i) {
    const PublicKey* key = nullptr;
    out[i] = check_tx_signer(*txs[i], key);
    if (!out[i].is_ok() || !key) continue;
    signed_bytes.push_back(txs[i]->signing_bytes());
    items.push_back({key, ByteView(signed_bytes.back()), &txs[i]->signature});
    item_tx.push_back(i);
  }
  const auto valid = crypto::verify_batch(items);
  for (std::size_t j = 0; j < items.size(); ++j)
    if (!valid[j]) out[item_tx[j]] = bad_org_signature(*txs[item_tx[j]]);
  return out;
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
  // Membership only: nothing iterates it, so its order cannot reach the block.
  std::unordered_set<Hash, HashHasher> seen;
  seen.reserve(candidates.size());
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
      leaves.push_back(known.encoding.empty() || !known.leaf ? log_leaf_hash(enc) : *known.leaf);
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
  auto state_root =
      update_state(ov, &state_pages_, h.state_root, st.puts(), out.state_paths,
                   retention_ != kStateRetentionKeepAll ? &trace : nullptr, state_update_threads_);
  if (!state_root) return state_root.status();
  if (ov.batch().find(state_index_key(validators_state_key()))) {
    auto vp = StateTree(ov, &state_pages_).prove(*state_root, validators_state_key());
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
  state_key_filter_->add(prepared.state_paths);
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
    auto proof = StateTree(*store_, &state_pages_).prove((*hd)->state_root, validators_state_key());
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
  auto next = StateTree(*store_, &state_pages_).prove((*hd)->state_root, validators_state_key());
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
