// Storage behind an interface (docs/formats/storage.md). The kernel reads
// through KvReader and writes through WriteBatch; LevelDbStore is the real
// implementation. Keys are compared as unsigned bytes.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

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

// An ordered set of puts, applied atomically by KvStore::write.
class WriteBatch {
 public:
  void put(ByteView key, ByteView value) {
    ops_[Bytes(key.begin(), key.end())] = Bytes(value.begin(), value.end());
  }
  const std::map<Bytes, Bytes>& ops() const { return ops_; }
  std::size_t size() const { return ops_.size(); }
  bool empty() const { return ops_.empty(); }

 private:
  std::map<Bytes, Bytes> ops_;  // ordered: deterministic, last put wins
};

class KvStore : public KvReader {
 public:
  // Applies `batch` atomically. sync = true returns only after the data is
  // durable (fsync). Thread safe.
  virtual Status write(const WriteBatch& batch, bool sync) = 0;
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
    auto it = batch_.ops().find(Bytes(key.begin(), key.end()));
    if (it != batch_.ops().end()) return std::optional<Bytes>(it->second);
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
