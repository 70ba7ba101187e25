// The file system as the vote WAL sees it (style.md, LevelDB's `Env` habit):
// just the operations the WAL needs, behind an interface, so that tests and
// the deterministic simulator can lose unsynced writes, tear tails, fail a
// sync and flip bytes, while the node runs the same WAL code on real files.
//
// Durability contract, for both implementations:
//   - bytes appended to a file are durable only after AppendFile::sync();
//   - a truncate is durable only after a sync of a handle on that file;
//   - a create, rename or remove is durable only after sync_dir() of the
//     directory that holds the name (after a crash an unsynced new name is
//     gone, and an unsynced rename is undone).
// Every failure is a Status with code IO_ERROR (or FILE_TOO_LARGE from
// read_all) whose message names the operation and the path (PosixFsEnv adds
// the errno text).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "emledger/crypto/bytes.hpp"
#include "emledger/crypto/result.hpp"

namespace emledger::consensus {

// The directory that holds `path` ("." for a bare name, "/" for "/x").
std::string parent_dir(const std::string& path);

// A file opened for writing in sequence: at its end (create, open_append),
// or from its first byte over what it holds (open_overwrite). Owned by the
// caller; closed on destruction. Not thread-safe: one writer at a time.
class AppendFile {
 public:
  virtual ~AppendFile() = default;
  // Writes all of `data` where the previous write ended: at the end of the
  // file, or for a handle from open_overwrite, at offset 0 first (not
  // durable until sync()). After an error the file may hold any prefix of
  // `data`.
  virtual Status append(ByteView data) = 0;
  // Makes the file's bytes and size durable (fdatasync). After an error the
  // unsynced bytes may or may not be durable, and a later successful sync
  // does not prove they are: callers must treat the file as unknown.
  virtual Status sync() = 0;
};

class FsEnv {
 public:
  virtual ~FsEnv() = default;
  // Creates an empty file at `path` for appending; IO_ERROR if it exists.
  virtual Result<std::unique_ptr<AppendFile>> create(const std::string& path) = 0;
  // Opens the existing file at `path` for appending at its end.
  virtual Result<std::unique_ptr<AppendFile>> open_append(const std::string& path) = 0;
  // Opens the file at `path`, created empty if absent, for writing from its
  // first byte over its old bytes; bytes past the last one written stay.
  // Rewriting bytes the file already holds changes neither its size nor
  // its blocks, so their sync() has no metadata to commit (ext4 then waits
  // for no journal commit; docs/adr/042). Until the sync, a crash may leave
  // any mix of old and new bytes. A name it created is durable only after
  // sync_dir().
  virtual Result<std::unique_ptr<AppendFile>> open_overwrite(const std::string& path) = 0;
  // The whole content of `path`; FILE_TOO_LARGE if it holds more than
  // `bytes_max` (nothing past that many bytes is read into memory).
  virtual Result<Bytes> read_all(const std::string& path, std::uint64_t bytes_max) = 0;
  // Cuts `path` to `size_bytes` (<= its size); durable after a sync on it.
  virtual Status truncate(const std::string& path, std::uint64_t size_bytes) = 0;
  // Atomically replaces `to` with `from` (POSIX rename); open handles follow
  // the file, not the name.
  virtual Status rename(const std::string& from, const std::string& to) = 0;
  // Makes the creates, renames and removes of names in `dir` durable.
  virtual Status sync_dir(const std::string& dir) = 0;
  virtual Result<bool> exists(const std::string& path) = 0;
  // Removes the name `path` (IO_ERROR if it does not exist).
  virtual Status remove(const std::string& path) = 0;
};

// Real files through POSIX calls: O_CLOEXEC everywhere, EINTR retried, short
// writes continued, fdatasync for files and fsync for directories. Holds no
// state; thread-safe as far as the file system is.
class PosixFsEnv final : public FsEnv {
 public:
  Result<std::unique_ptr<AppendFile>> create(const std::string& path) override;
  Result<std::unique_ptr<AppendFile>> open_append(const std::string& path) override;
  Result<std::unique_ptr<AppendFile>> open_overwrite(const std::string& path) override;
  Result<Bytes> read_all(const std::string& path, std::uint64_t bytes_max) override;
  Status truncate(const std::string& path, std::uint64_t size_bytes) override;
  Status rename(const std::string& from, const std::string& to) override;
  Status sync_dir(const std::string& dir) override;
  Result<bool> exists(const std::string& path) override;
  Status remove(const std::string& path) override;
};

// An in-memory file system with a crash model, for tests and the
// deterministic simulator. Deterministic: ordered maps, no clock, no
// randomness of its own (crash() takes the caller's choices). Directories are
// implicit (every directory exists). Not thread-safe. Handles must not outlive
// the env, and after crash() every handle from before fails with IO_ERROR.
//
// Model: each file is an inode holding its current bytes and the bytes as of
// its last sync; names map to inodes, and a second map holds the names as of
// each directory's last sync_dir(). crash() keeps only the durable names, and
// for each surviving file its synced bytes plus, if the file was only appended
// to since its last sync, a prefix of the unsynced tail chosen by the caller
// (a torn write). A file truncated below its synced size, or written over
// within its synced bytes (open_overwrite), and not synced since comes back
// as it was synced (the model keeps no mix of old and new bytes).
class SimFsEnv final : public FsEnv {
 public:
  enum class Op { kCreate, kOpen, kAppend, kSync, kRead, kTruncate, kRename, kSyncDir, kRemove };

  // How many of a file's `unsynced_bytes` survive the crash (<= unsynced_bytes),
  // asked once per surviving file that was only appended to since its sync.
  using KeepUnsynced =
      std::function<std::size_t(const std::string& path, std::size_t unsynced_bytes)>;

  Result<std::unique_ptr<AppendFile>> create(const std::string& path) override;
  Result<std::unique_ptr<AppendFile>> open_append(const std::string& path) override;
  Result<std::unique_ptr<AppendFile>> open_overwrite(const std::string& path) override;
  Result<Bytes> read_all(const std::string& path, std::uint64_t bytes_max) override;
  Status truncate(const std::string& path, std::uint64_t size_bytes) override;
  Status rename(const std::string& from, const std::string& to) override;
  Status sync_dir(const std::string& dir) override;
  Result<bool> exists(const std::string& path) override;
  Status remove(const std::string& path) override;

  // The process dies and the machine restarts: unsynced state is lost as the
  // model above says, and pending fail_next() faults are dropped. The
  // no-argument form keeps no unsynced byte.
  void crash(const KeepUnsynced& keep);
  void crash();
  // The process dies and the machine does not (kill -9): every name and
  // byte stays as it is, since the page cache survives, but every handle from
  // before fails with IO_ERROR and pending fail_next() faults are dropped.
  // What a rewrite left under its temporary name is still there.
  void kill_process();
  // A KeepUnsynced derived from `seed` alone (splitmix64 of the seed and the
  // path), for the simulator: same seed, same crash.
  static KeepUnsynced torn_by_seed(std::uint64_t seed);

  // The next call of `op` fails with IO_ERROR and changes nothing; several
  // calls queue several failures.
  void fail_next(Op op);
  // XORs `mask` (non-zero) into the byte at `offset` of `path`, in both the
  // current and the synced bytes: media corruption under synced data.
  // IO_ERROR if there is no such file or the byte is not synced yet.
  Status flip_byte(const std::string& path, std::uint64_t offset, std::uint8_t mask);
  // Bytes appended to `path` since its last sync (0 if it was truncated since
  // or does not exist): what a crash could lose.
  std::uint64_t unsynced_bytes(const std::string& path) const;
  // Total successful AppendFile::sync() and sync_dir() calls, for tests that
  // check an operation is durable before it returns.
  std::uint64_t syncs() const { return syncs_; }

 private:
  class File;
  friend class File;
  // Appends cost O(appended bytes) and syncs O(1), so the simulator can run
  // long WALs: the synced bytes are a prefix of `current` unless a truncate
  // cut into them since the last sync, and only then kept apart.
  struct Inode {
    Bytes current;                 // what reads see
    std::size_t synced_bytes = 0;  // current[0, synced_bytes) is durable
    // The durable bytes, after a truncate cut them or a write went over them.
    std::optional<Bytes> synced_before_truncate;
  };
  Status take_failure(Op op, const char* what, const std::string& path);
  Result<std::uint64_t> inode_of(const std::string& path, const char* what) const;
  // Appends `data` at the end, or with `at`, writes it from *at on and
  // advances *at.
  Status append_to(std::uint64_t epoch, std::uint64_t inode, const std::string& path, ByteView data,
                   std::uint64_t* at);
  Status sync_inode(std::uint64_t epoch, std::uint64_t inode, const std::string& path);

  std::map<std::uint64_t, Inode> inodes_;
  std::map<std::string, std::uint64_t> names_;
  std::map<std::string, std::uint64_t> durable_names_;
  std::map<Op, std::uint64_t> failures_;
  std::uint64_t next_inode_ = 1;
  std::uint64_t epoch_ = 0;  // bumped by crash(): older handles are dead
  std::uint64_t syncs_ = 0;
};

}  // namespace emledger::consensus
