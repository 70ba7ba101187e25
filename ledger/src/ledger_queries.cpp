// The ledger's read side: headers, blocks, records, state and log proofs,
// index listings, evidence and proof bundles, all from committed data.
// Storage layout: docs/formats/storage.md.
#include <algorithm>

#include "emledger/crypto/sha256.hpp"
#include "emledger/ledger/ledger.hpp"
#include "keys.hpp"

namespace emledger::ledger {

using namespace detail;  // NOLINT: the key layout of keys.hpp

Result<std::optional<BlockHeader>> Ledger::header(std::uint64_t height) const {
  return get_decoded<BlockHeader>(*store_, height_key(kKeyHeader, height));
}

Result<std::optional<Certificate>> Ledger::certificate(std::uint64_t height) const {
  return get_decoded<Certificate>(*store_, height_key(kKeyCert, height));
}

Result<std::optional<Block>> Ledger::block(std::uint64_t height) const {
  auto hd = header(height);
  if (!hd || !hd->has_value())
    return hd.is_ok() ? Result<std::optional<Block>>(std::optional<Block>()) : hd.status();
  auto ids = get_decoded<BlockTxIds>(*store_, height_key(kKeyBlockTxs, height));
  if (!ids) return ids.status();
  if (!ids->has_value())
    return Status::error("STORAGE_CORRUPT", "block without its transaction list");
  Block b;
  b.header = **hd;
  for (const auto& id : (*ids)->ids) {
    auto e = tx_entry(id);
    if (!e) return e.status();
    if (!e->has_value())
      return Status::error("STORAGE_CORRUPT", "block names a missing transaction");
    b.txs.push_back(std::move((*e)->tx));
  }
  return std::optional<Block>(std::move(b));
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
  auto pruned = [&]() -> Status {
    return Status::error("PRUNED", "the state tree of height " + std::to_string(*height) +
                                       " is pruned; this node keeps heights from " +
                                       std::to_string(pruned_below()));
  };
  if (height) {
    if (*height < pruned_below()) return pruned();
    auto hd = header(*height);
    if (!hd) return hd.status();
    if (!hd->has_value())
      return Status::error("NOT_FOUND", "no block at height " + std::to_string(*height));
    root = (*hd)->state_root;
  }
  auto proof = StateTree(*store_, &state_pages_).prove(root, key);
  // The window may have moved past `height` during the walk.
  if (!proof && proof.status().code() == "STORAGE_CORRUPT" && height && *height < pruned_below())
    return pruned();
  return proof;
}

Result<InclusionProof> Ledger::inclusion_proof(std::uint64_t log_index, std::uint64_t size) const {
  if (size > head().log_size) return Status::error("PROOF_OUT_OF_RANGE", "size beyond the log");
  return MerkleLog(*store_).inclusion(log_index, size);
}

Result<Hash> Ledger::log_leaf(std::uint64_t index) const {
  if (index >= head().log_size) return Status::error("PROOF_OUT_OF_RANGE", "index beyond the log");
  return MerkleLog(*store_).leaf(index);
}

Result<std::vector<Hash>> Ledger::log_frontier(std::uint64_t size) const {
  if (size > head().log_size) return Status::error("PROOF_OUT_OF_RANGE", "size beyond the log");
  return MerkleLog(*store_).frontier(size);
}

Result<Hash> Ledger::log_root(std::uint64_t size) const {
  if (size > head().log_size) return Status::error("PROOF_OUT_OF_RANGE", "size beyond the log");
  return MerkleLog(*store_).root(size);
}

Result<ConsistencyProof> Ledger::consistency_proof(std::uint64_t first,
                                                   std::uint64_t second) const {
  if (second > head().log_size) return Status::error("PROOF_OUT_OF_RANGE", "size beyond the log");
  return MerkleLog(*store_).consistency(first, second);
}

namespace {

void put_be(Bytes& k, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) k.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

std::uint64_t get_be(ByteView k, std::size_t at, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | k[at + static_cast<std::size_t>(i)];
  return v;
}

// Lists index entries under `prefix` (each key is prefix + height (8) +
// index (4), each value an id) from `start`, stopping before `stop` (empty:
// to the end of the prefix) or at `limit`.
Result<std::vector<Ledger::Listed>> scan_index(const KvStore& store, const Bytes& prefix,
                                               const Bytes& start, const Bytes& stop,
                                               std::size_t limit) {
  std::vector<Ledger::Listed> out;
  Status bad;
  Status st = store.scan(prefix, start, [&](ByteView k, ByteView v) {
    if (!stop.empty() &&
        !std::lexicographical_compare(k.begin(), k.end(), stop.begin(), stop.end()))
      return false;
    if (v.size() != kHashSize || k.size() != prefix.size() + 12) {
      bad = Status::error("STORAGE_CORRUPT", "bad index entry");
      return false;
    }
    Ledger::Listed l;
    l.pos.height = get_be(k, prefix.size(), 8);
    l.pos.index = static_cast<std::uint32_t>(get_be(k, prefix.size() + 8, 4));
    std::copy(v.begin(), v.end(), l.id.begin());
    out.push_back(l);
    return out.size() < limit;
  });
  if (!st.is_ok()) return st;
  if (!bad.is_ok()) return bad;
  return out;
}

// The first key strictly after the entry at `pos`: keys under one prefix all
// have the same length, so appending a zero byte is the next possible key.
Bytes key_after(const Bytes& prefix, ChainPos pos) {
  Bytes k = prefix;
  put_be(k, pos.height, 8);
  put_be(k, pos.index, 4);
  k.push_back(0);
  return k;
}

}  // namespace

Result<std::vector<Ledger::Listed>> Ledger::holder_list(HolderList list, const Hash& holder_ref,
                                                        std::size_t limit,
                                                        std::optional<ChainPos> after) const {
  Bytes prefix{kKeyIndex, static_cast<std::uint8_t>(list)};
  prefix.insert(prefix.end(), holder_ref.begin(), holder_ref.end());
  return scan_index(*store_, prefix, after ? key_after(prefix, *after) : prefix, {}, limit);
}

Result<std::vector<Ledger::Listed>> Ledger::accesses(std::uint64_t from_height,
                                                     std::uint64_t to_height, std::size_t limit,
                                                     std::optional<ChainPos> after) const {
  const Bytes prefix{kKeyIndex, static_cast<std::uint8_t>(IndexKind::kAccessByHeight)};
  Bytes start = prefix;
  put_be(start, from_height, 8);
  if (after) start = std::max(start, key_after(prefix, *after));
  Bytes stop = prefix;
  if (to_height == UINT64_MAX) {
    stop.clear();
  } else {
    put_be(stop, to_height + 1, 8);
  }
  return scan_index(*store_, prefix, start, stop, limit);
}

// The flat index holds every head state key ('s' + key -> value hash, value), so
// the evidence keys of epoch 0 ("evidence/" + u16 validator + u64 view + u8
// kind) are one ordered range of it and those of later epochs ("evidence@" +
// u64 epoch + the same) another, read in that order.
Result<std::vector<EvidenceRecord>> Ledger::evidence(std::optional<std::uint16_t> validator,
                                                     std::size_t limit,
                                                     std::optional<Offence> after) const {
  std::vector<EvidenceRecord> out;
  if (limit == 0) return out;
  std::vector<Bytes> values;
  Status bad;
  // Reads one range from `start` until `limit` values; `validator_at` is the
  // offset of the u16 validator in its keys when the range's prefix does not
  // already name the validator asked for.
  const auto read = [&](const Bytes& prefix, const Bytes& start, std::size_t key_size,
                        std::optional<std::size_t> validator_at) {
    return store_->scan(prefix, start, [&](ByteView k, ByteView v) {
      if (k.size() != key_size) {
        bad = Status::error("STORAGE_CORRUPT", "bad evidence index entry");
        return false;
      }
      if (validator_at && (k[*validator_at] << 8 | k[*validator_at + 1]) != *validator)
        return true;  // another validator's offence of a later epoch
      auto entry = parse_state_index_entry(v);
      if (!entry) {
        bad = entry.status();
        return false;
      }
      values.push_back(std::move(*entry));
      return values.size() < limit;
    });
  };
  // The key just after `o`'s (keys of one range have one length).
  const auto next_key = [](const Offence& o) {
    Bytes k = state_index_key(evidence_state_key(o.epoch, o.validator, o.view, o.kind));
    k.push_back(0);
    return k;
  };
  const Bytes zero = state_index_key(Bytes(kEvidencePrefix.begin(), kEvidencePrefix.end()));
  const Bytes later =
      state_index_key(Bytes(kEvidenceEpochPrefix.begin(), kEvidenceEpochPrefix.end()));
  constexpr std::size_t kZeroKeySize = 1 + kEvidencePrefix.size() + 2 + 8 + 1;
  constexpr std::size_t kLaterKeySize = 1 + kEvidenceEpochPrefix.size() + 8 + 2 + 8 + 1;
  if (!after || after->epoch == kGenesisEpoch) {
    Bytes prefix = zero;
    if (validator) put_be(prefix, *validator, 2);
    Bytes start = after ? std::max(prefix, next_key(*after)) : prefix;
    EMLEDGER_TRY(read(prefix, start, kZeroKeySize, std::nullopt));
    if (!bad.is_ok()) return bad;
  }
  if (values.size() < limit) {
    const Bytes start = after && after->epoch != kGenesisEpoch ? next_key(*after) : later;
    const auto validator_at =
        validator ? std::optional<std::size_t>(later.size() + 8) : std::nullopt;
    EMLEDGER_TRY(read(later, start, kLaterKeySize, validator_at));
    if (!bad.is_ok()) return bad;
  }
  for (const Bytes& raw : values) {
    auto r = decode_evidence_record(raw);
    if (!r) return Status::error("STORAGE_CORRUPT", "evidence record: " + r.status().message());
    out.push_back(std::move(*r));
  }
  return out;
}

Result<ProofBundle> Ledger::bundle_for_hash(const Hash& content_hash) const {
  const ChainHead h = head();
  if (h.height == 0) return Status::error("NO_BLOCKS", "no block has been committed yet");
  auto hd = header(h.height);
  auto proof = finality_proof(h.height);
  if (!hd || !proof) return !hd ? hd.status() : proof.status();
  if (!hd->has_value() || !proof->has_value())
    return Status::error("STORAGE_CORRUPT", "head block missing its header or finality proof");
  ProofBundle b;
  b.genesis_hash = genesis_hash_;
  b.content_hash = content_hash;
  b.header = **hd;
  b.finality = std::move(**proof);
  auto succession = this->succession();
  if (!succession) return succession.status();
  // Changes above the head's height were committed after it was read.
  for (EpochChange& c : succession->changes)
    if (c.header.height <= h.height) b.succession.changes.push_back(std::move(c));
  StateTree tree(*store_, &state_pages_);
  auto validators_proof = tree.prove(h.state_root, validators_state_key());
  if (!validators_proof) return validators_proof.status();
  b.validators_proof = std::move(*validators_proof);
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
    if (!entry->has_value())
      return Status::error("STORAGE_CORRUPT", "record without its anchor tx");
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
