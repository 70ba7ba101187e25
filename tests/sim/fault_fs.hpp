// A file system for one simulated node: a SimFsEnv behind a wrapper that can
// crash the node at its k-th file-system operation (the persistence
// boundaries of the WAL: create, append, sync, rename, directory sync, ...),
// or at the k-th operation of its next WAL rewrite (compaction), and, for a
// negative control, make syncs do nothing.
#pragma once

#include <iterator>
#include <memory>
#include <string>
#include <utility>

#include "emledger/consensus/fs_env.hpp"
#include "emledger/consensus/wal.hpp"

namespace emledger::consensus::sim {

// The operations a crash can hit, for the summary.
enum class FsOp : std::size_t {
  kCreate,
  kOpen,
  kRead,
  kAppend,
  kSync,
  kTruncate,
  kRename,
  kSyncDir,
  kExists,
  kRemove,
  kCount,
};
inline constexpr std::size_t kFsOps = static_cast<std::size_t>(FsOp::kCount);
inline const char* fs_op_name(FsOp op) {
  static constexpr const char* kNames[] = {"create",   "open",   "read",     "append", "sync",
                                           "truncate", "rename", "sync dir", "exists", "remove"};
  static_assert(std::size(kNames) == kFsOps);
  return kNames[static_cast<std::size_t>(op)];
}

class FaultFs final : public FsEnv {
 public:
  explicit FaultFs(SimFsEnv& disk) : disk_(&disk) {}

  // The `ops`-th operation from now (>= 1) fails, and so does every one after
  // it until reset(): the process died there. An append that trips writes
  // `torn_bytes` % (its size + 1) bytes of its data first.
  void arm(std::uint64_t ops, std::uint64_t torn_bytes) {
    countdown_ = ops;
    torn_bytes_ = torn_bytes;
  }
  // The `ops`-th operation (>= 1) counted from the next create of a rewrite
  // file (VoteWal::rewrite's temporary, kWalRewriteSuffix) fails, and every
  // one after it: 1 is that create, then the image's append, its sync, the
  // rename, the directory sync, and 6 the first operation after the rewrite.
  void arm_in_rewrite(std::uint64_t ops, std::uint64_t torn_bytes) {
    rewrite_countdown_ = ops;
    torn_bytes_ = torn_bytes;
  }
  bool tripped() const { return tripped_; }
  // The operation the crash hit (meaningful once tripped()).
  FsOp tripped_at() const { return tripped_at_; }
  // True if the crash hit a rewrite, from its create to its directory sync.
  bool tripped_in_rewrite() const { return tripped_in_rewrite_; }
  // Rewrites begun (creates of a rewrite file), over every process.
  std::uint64_t rewrites_begun() const { return rewrites_begun_; }
  // After the crash: a new process, nothing armed.
  void reset() {
    tripped_ = false;
    tripped_in_rewrite_ = false;
    in_rewrite_ = false;
    countdown_ = 0;
    rewrite_countdown_ = 0;
  }
  // Negative control: sync() and sync_dir() report success and do nothing.
  void set_sync_noop(bool on) { sync_noop_ = on; }

  Result<std::unique_ptr<AppendFile>> create(const std::string& path) override {
    if (!tripped_ && path.ends_with(kWalRewriteSuffix)) {
      in_rewrite_ = true;
      ++rewrites_begun_;
      if (rewrite_countdown_ > 0) countdown_ = std::exchange(rewrite_countdown_, 0);
    }
    if (trip(FsOp::kCreate)) return dead("create", path);
    return wrap(disk_->create(path));
  }
  Result<std::unique_ptr<AppendFile>> open_append(const std::string& path) override {
    if (trip(FsOp::kOpen)) return dead("open", path);
    return wrap(disk_->open_append(path));
  }
  Result<std::unique_ptr<AppendFile>> open_overwrite(const std::string& path) override {
    if (trip(FsOp::kOpen)) return dead("open for overwrite", path);
    return wrap(disk_->open_overwrite(path));
  }
  Result<Bytes> read_all(const std::string& path, std::uint64_t bytes_max) override {
    if (trip(FsOp::kRead)) return dead("read", path);
    return disk_->read_all(path, bytes_max);
  }
  Status truncate(const std::string& path, std::uint64_t size_bytes) override {
    if (trip(FsOp::kTruncate)) return dead("truncate", path);
    return disk_->truncate(path, size_bytes);
  }
  Status rename(const std::string& from, const std::string& to) override {
    if (trip(FsOp::kRename)) return dead("rename", from);
    return disk_->rename(from, to);
  }
  Status sync_dir(const std::string& dir) override {
    if (trip(FsOp::kSyncDir)) return dead("sync dir", dir);
    in_rewrite_ = false;  // a rewrite ends with its directory sync
    if (sync_noop_) return Status::ok();
    return disk_->sync_dir(dir);
  }
  Result<bool> exists(const std::string& path) override {
    if (trip(FsOp::kExists)) return dead("exists", path);
    return disk_->exists(path);
  }
  Status remove(const std::string& path) override {
    if (trip(FsOp::kRemove)) return dead("remove", path);
    return disk_->remove(path);
  }

 private:
  class File final : public AppendFile {
   public:
    File(FaultFs& fs, std::unique_ptr<AppendFile> inner) : fs_(&fs), inner_(std::move(inner)) {}
    Status append(ByteView data) override {
      if (fs_->trip(FsOp::kAppend)) {
        // A torn write: part of the data reached the page cache.
        const std::size_t keep = fs_->torn_bytes_ % (data.size() + 1);
        if (keep > 0) (void)inner_->append(data.first(keep));
        return dead("append", "wal");
      }
      return inner_->append(data);
    }
    Status sync() override {
      if (fs_->trip(FsOp::kSync)) return dead("sync", "wal");
      if (fs_->sync_noop_) return Status::ok();
      return inner_->sync();
    }

   private:
    FaultFs* fs_;
    std::unique_ptr<AppendFile> inner_;
  };

  static Status dead(const char* op, const std::string& path) {
    return Status::error("IO_ERROR", std::string("simulated crash at ") + op + " " + path);
  }
  Result<std::unique_ptr<AppendFile>> wrap(Result<std::unique_ptr<AppendFile>> f) {
    if (!f.is_ok()) return f.status();
    return std::unique_ptr<AppendFile>(std::make_unique<File>(*this, std::move(f).value()));
  }
  bool trip(FsOp op) {
    if (tripped_) return true;
    if (countdown_ == 0) return false;  // not armed
    if (--countdown_ > 0) return false;
    tripped_ = true;
    tripped_at_ = op;
    tripped_in_rewrite_ = in_rewrite_;
    return true;
  }

  SimFsEnv* disk_;
  std::uint64_t countdown_ = 0;
  std::uint64_t torn_bytes_ = 0;
  std::uint64_t rewrite_countdown_ = 0;
  std::uint64_t rewrites_begun_ = 0;
  bool tripped_ = false;
  bool tripped_in_rewrite_ = false;
  bool in_rewrite_ = false;
  FsOp tripped_at_ = FsOp::kCreate;
  bool sync_noop_ = false;
};

}  // namespace emledger::consensus::sim
