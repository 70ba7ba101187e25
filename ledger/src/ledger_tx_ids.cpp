// The Ledger's answers about committed transaction ids: the entry itself,
// and the two ways of knowing an id is absent without reading the store, the
// admission stamps (ADR 022) and the committed-id filter (ADR 023); and the
// filter of state keys with a value (ADR 026), filled by the same scan.
#include <algorithm>

#include "emledger/crypto/sha256.hpp"
#include "emledger/ledger/ledger.hpp"
#include "keys.hpp"

namespace emledger::ledger {

using namespace detail;  // NOLINT: the key layout of keys.hpp

Result<std::optional<TxEntry>> Ledger::tx_entry(const Hash& tx_id) const {
  return get_decoded<TxEntry>(*store_, hash_key(kKeyTx, tx_id));
}

Ledger::~Ledger() {
  tx_filter_stop_.store(true);
  if (tx_filter_scan_.joinable()) tx_filter_scan_.join();
}

void Ledger::start_tx_filter_scan() {
  // The view is taken after the filter exists: an id committed before it is
  // in the view, one committed after it is added by commit().
  tx_filter_scan_ = std::thread([this, view = std::shared_ptr<KvView>(store_->view())] {
    // It reads every 'b' and 's' entry (seconds at ten million records):
    // queries and blocks go first (ADR 033).
    lower_thread_priority();
    constexpr std::size_t kIdsPerAdd = 4096;  // fewer lock turns against commit()
    std::vector<Hash> ids;
    ids.reserve(kIdsPerAdd);
    auto flush = [&] {
      tx_filter_->add(ids);
      ids.clear();
    };
    auto stopped = [this] { return tx_filter_stop_.load(std::memory_order_relaxed); };
    // Every committed block lists its ids under 'b' (32 bytes each, a tenth
    // of reading the 'x' entries).
    bool malformed = false;
    const Bytes by_block{kKeyBlockTxs};
    Status st = view->scan(by_block, by_block, [&](ByteView, ByteView value) {
      if (stopped()) return false;
      auto list = decode<BlockTxIds>(value);
      if (!list) {
        malformed = true;
        return false;
      }
      ids.insert(ids.end(), list->ids.begin(), list->ids.end());
      if (ids.size() >= kIdsPerAdd) flush();
      return true;
    });
    // A store imported from a snapshot holds the entries of the blocks in the
    // window below its base without their lists: those ids are read from the
    // 'x' keys (the window's transactions at most).
    if (st.is_ok() && !malformed && !stopped() && base_height_ > 0) {
      const Bytes by_id{kKeyTx};
      st = view->scan(by_id, by_id, [&](ByteView key, ByteView) {
        if (stopped()) return false;
        if (key.size() != 1 + kHashSize) return true;  // not an id key: left to readers to refuse
        Hash id;
        std::copy(key.begin() + 1, key.end(), id.begin());
        ids.push_back(id);
        if (ids.size() >= kIdsPerAdd) flush();
        return true;
      });
    }
    flush();
    // An unreadable store or a stop leaves it incomplete: every query then
    // goes to the store, as without a filter.
    if (!st.is_ok() || malformed || stopped()) return;
    tx_filter_->set_complete();
    // Then every state key with a value (ADR 026): the 's' index names each
    // once, and nothing erases it.
    std::vector<Hash> keys;
    keys.reserve(kIdsPerAdd);
    const Bytes by_state_key{kKeyStateIndex};
    st = view->scan(by_state_key, by_state_key, [&](ByteView key, ByteView) {
      if (stopped()) return false;
      keys.push_back(crypto::sha256(key.subspan(1)));
      if (keys.size() >= kIdsPerAdd) {
        state_key_filter_->add(keys);
        keys.clear();
      }
      return true;
    });
    state_key_filter_->add(keys);
    if (st.is_ok() && !stopped()) state_key_filter_->set_complete();
  });
}

bool Ledger::state_key_filter_complete() const { return state_key_filter_->complete(); }

bool Ledger::tx_surely_uncommitted(const Hash& tx_id) const {
  return tx_filter_->surely_absent(tx_id);
}

bool Ledger::tx_filter_complete() const { return tx_filter_->complete(); }

Result<bool> Ledger::tx_committed(const KvReader& base, const PreparedBlock* parent, const Hash& id,
                                  std::uint64_t absent_at) const {
  const Bytes key = hash_key(kKeyTx, id);
  const bool stamped =
      absent_at != CandidateFacts::kUnknown && recent_ids_.absent_since(id, absent_at);
  if ((stamped || tx_filter_->surely_absent(id)) && !(parent && parent->writes.find(key)))
    return false;
  auto entry = base.get(key);
  if (!entry) return entry.status();
  return entry->has_value();
}

}  // namespace emledger::ledger
