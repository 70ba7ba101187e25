// Storage behind an interface (docs/formats/storage.md). The kernel reads
// through KvReader and writes through WriteBatch; LevelDbStore is the real
// implementation. Keys are compared as unsigned bytes.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "emledger/crypto/bytes.hpp"
#include "emledger/crypto/result.hpp"

namespace emledger::ledger {

// Read access. get() returns nullopt for a missing key; an I/O or corruption
// error is fatal to the caller's operation and reported as STORAGE_ERROR.
class KvReader {
 public:
  virtual ~KvReader() = default;
  virtual Result<std::optional<Bytes>> get(ByteView key) const = 0;
};

// A set of puts, applied atomically by KvStore::write. The last put of a key
// wins. Lookups are O(1) and allocation-free: block execution reads through
// tens of thousands of pending entries. Iteration is in first-put order, which
// is deterministic; LevelDB does not depend on the order of distinct keys.
class WriteBatch {
 public:
  WriteBatch() = default;
  WriteBatch(const WriteBatch& other) { *this = other; }
  WriteBatch& operator=(const WriteBatch& other) {
    if (this == &other) return *this;
    entries_.clear();
    index_.clear();
    for (const auto& [k, v] : other.entries_) put(k, v);
    return *this;
  }
  WriteBatch(WriteBatch&&) noexcept = default;
  WriteBatch& operator=(WriteBatch&&) noexcept = default;

  void put(ByteView key, ByteView value) {
    auto it = index_.find(view(key));
    if (it != index_.end()) {
      entries_[it->second].second.assign(value.begin(), value.end());
      return;
    }
    entries_.emplace_back(Bytes(key.begin(), key.end()), Bytes(value.begin(), value.end()));
    // The view points into the key's own heap buffer, which moves with the
    // Bytes object (never copied) when entries_ grows.
    index_.emplace(view(entries_.back().first), entries_.size() - 1);
  }
  // The pending value of `key`, or nullptr.
  const Bytes* find(ByteView key) const {
    auto it = index_.find(view(key));
    return it == index_.end() ? nullptr : &entries_[it->second].second;
  }
  const std::vector<std::pair<Bytes, Bytes>>& entries() const { return entries_; }
  // Sizes the batch for about `entries` puts, sparing rehashes of a big batch.
  void reserve(std::size_t entries) {
    entries_.reserve(entries);
    index_.reserve(entries);
  }
  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }

 private:
  static std::string_view view(ByteView b) {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
  }
  std::vector<std::pair<Bytes, Bytes>> entries_;
  std::unordered_map<std::string_view, std::size_t> index_;
};

class KvStore : public KvReader {
 public:
  // Applies `batches` together, atomically, as one batch (a later batch's put
  // of a key wins). sync = true returns only after the data is durable
  // (fsync). Thread safe.
  virtual Status write_all(std::span<const WriteBatch* const> batches, bool sync) = 0;
  Status write(const WriteBatch& batch, bool sync) {
    const WriteBatch* one[] = {&batch};
    return write_all(one, sync);
  }
  // Visits keys with `prefix` in order, starting at `start` (>= prefix), until
  // `visit` returns false. Thread safe; sees a consistent snapshot.
  virtual Status scan(ByteView prefix, ByteView start,
                      const std::function<bool(ByteView key, ByteView value)>& visit) const = 0;
};

// Opens (creating if missing) a LevelDB database in `dir`.
// Errors: STORAGE_ERROR with LevelDB's message (e.g. locked by another process).
Result<std::unique_ptr<KvStore>> open_leveldb(const std::string& dir);

// Reads through pending writes to a base reader: what block execution uses, so
// that a block sees its own earlier writes before they are committed.
class Overlay : public KvReader {
 public:
  explicit Overlay(const KvReader& base) : base_(base) {}
  Result<std::optional<Bytes>> get(ByteView key) const override {
    if (const Bytes* pending = batch_.find(key)) return std::optional<Bytes>(*pending);
    return base_.get(key);
  }
  void put(ByteView key, ByteView value) { batch_.put(key, value); }
  WriteBatch& batch() { return batch_; }
  const WriteBatch& batch() const { return batch_; }

 private:
  const KvReader& base_;
  WriteBatch batch_;
};

}  // namespace emledger::ledger
