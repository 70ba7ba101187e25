// The transaction rules' view of a block (internal to ledger/): the state a
// block sees while it executes, what one transaction's rules see, and the
// rules themselves (tx_rules.cpp). Block execution (ledger.cpp) builds a
// BlockState per block and calls apply_tx for each candidate in order.
#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "emledger/crypto/sha256.hpp"
#include "emledger/ledger/committed_tx_filter.hpp"
#include "emledger/ledger/ledger.hpp"
#include "keys.hpp"

namespace emledger::ledger::detail {

inline Status reject(const char* code, std::string msg) {
  return Status::error(code, std::move(msg));
}

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

// Applies one transaction to `st` if its rules allow it; a refusal leaves
// `st` and the index writes unchanged.
Status apply_tx(BlockState& st, const ExecContext& cx);

}  // namespace emledger::ledger::detail
