#include "emledger/consensus/fs_env.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

namespace emledger::consensus {

std::string parent_dir(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// ---------------------------------------------------------------------------
// PosixFsEnv

namespace {

// Reads errno, so call it right after the failing call.
Status posix_error(const char* what, const std::string& path) {
  const int err = errno;
  return Status::error("IO_ERROR",
                       std::string(what) + " " + path + ": " + std::system_category().message(err));
}

// close(2) is not retried on EINTR: on Linux the descriptor is released
// anyway and a retry could close a descriptor another thread just opened.
Status close_fd(int fd, const std::string& path) {
  if (::close(fd) != 0 && errno != EINTR) return posix_error("close", path);
  return Status::ok();
}

class PosixAppendFile final : public AppendFile {
 public:
  PosixAppendFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  // A close error is dropped: durability is decided by sync(), whose result
  // the caller has, and close cannot undo a completed fdatasync.
  ~PosixAppendFile() override { (void)close_fd(fd_, path_); }
  PosixAppendFile(const PosixAppendFile&) = delete;
  PosixAppendFile& operator=(const PosixAppendFile&) = delete;

  Status append(ByteView data) override {
    std::size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        return posix_error("write", path_);
      }
      if (n == 0) return Status::error("IO_ERROR", "write " + path_ + ": wrote nothing");
      done += static_cast<std::size_t>(n);
    }
    return Status::ok();
  }

  // fdatasync also flushes the file size, which is all the metadata an
  // append-only file needs for its data to be read back.
  Status sync() override {
    while (::fdatasync(fd_) != 0) {
      if (errno != EINTR) return posix_error("fdatasync", path_);
    }
    return Status::ok();
  }

 private:
  int fd_;
  std::string path_;
};

// `flags` besides O_WRONLY and O_CLOEXEC. Without O_APPEND, writes start at
// offset 0 and go on from where the last one ended.
Result<std::unique_ptr<AppendFile>> open_fd(const std::string& path, int flags, const char* what) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_WRONLY | O_CLOEXEC, 0600);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return posix_error(what, path);
  return std::unique_ptr<AppendFile>(std::make_unique<PosixAppendFile>(fd, path));
}

}  // namespace

Result<std::unique_ptr<AppendFile>> PosixFsEnv::create(const std::string& path) {
  return open_fd(path, O_CREAT | O_EXCL | O_APPEND, "create");
}

Result<std::unique_ptr<AppendFile>> PosixFsEnv::open_append(const std::string& path) {
  return open_fd(path, O_APPEND, "open");
}

Result<std::unique_ptr<AppendFile>> PosixFsEnv::open_overwrite(const std::string& path) {
  return open_fd(path, O_CREAT, "open for overwrite");
}

Result<Bytes> PosixFsEnv::read_all(const std::string& path, std::uint64_t bytes_max) {
  int fd;
  do {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return posix_error("open", path);
  // Read to the end, never trusting fstat's size: one byte past the maximum
  // is enough to refuse.
  Bytes out;
  std::uint8_t buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      Status st = posix_error("read", path);
      (void)close_fd(fd, path);
      return st;
    }
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > bytes_max) {
      (void)close_fd(fd, path);
      return Status::error("FILE_TOO_LARGE",
                           path + " holds more than " + std::to_string(bytes_max) + " bytes");
    }
    out.insert(out.end(), buf, buf + n);
  }
  EMLEDGER_TRY(close_fd(fd, path));
  return out;
}

Status PosixFsEnv::truncate(const std::string& path, std::uint64_t size_bytes) {
  while (::truncate(path.c_str(), static_cast<off_t>(size_bytes)) != 0) {
    if (errno != EINTR) return posix_error("truncate", path);
  }
  return Status::ok();
}

Status PosixFsEnv::rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return posix_error("rename", from + " to " + to);
  return Status::ok();
}

Status PosixFsEnv::sync_dir(const std::string& dir) {
  int fd;
  do {
    fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return posix_error("open directory", dir);
  while (::fsync(fd) != 0) {
    if (errno == EINTR) continue;
    Status st = posix_error("fsync directory", dir);
    (void)close_fd(fd, dir);
    return st;
  }
  return close_fd(fd, dir);
}

Result<bool> PosixFsEnv::exists(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT) return false;
  return posix_error("stat", path);
}

Status PosixFsEnv::remove(const std::string& path) {
  if (::unlink(path.c_str()) != 0) return posix_error("unlink", path);
  return Status::ok();
}

// ---------------------------------------------------------------------------
// SimFsEnv

// A handle names its inode and the epoch it was opened in; a crash ends the
// epoch, as it ends the process that held the descriptor.
class SimFsEnv::File final : public AppendFile {
 public:
  File(SimFsEnv& env, std::uint64_t inode, std::string path, bool overwrite = false)
      : env_(env), inode_(inode), epoch_(env.epoch_), path_(std::move(path)) {
    if (overwrite) at_.emplace(0);
  }
  Status append(ByteView data) override {
    return env_.append_to(epoch_, inode_, path_, data, at_ ? &*at_ : nullptr);
  }
  Status sync() override { return env_.sync_inode(epoch_, inode_, path_); }

 private:
  SimFsEnv& env_;
  std::uint64_t inode_;
  std::uint64_t epoch_;
  std::string path_;                 // the name it was opened by, for messages
  std::optional<std::uint64_t> at_;  // where the next write goes (open_overwrite)
};

namespace {

Status sim_error(const std::string& what, const std::string& path) {
  return Status::error("IO_ERROR", what + " " + path);
}

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

Status SimFsEnv::take_failure(Op op, const char* what, const std::string& path) {
  auto it = failures_.find(op);
  if (it == failures_.end()) return Status::ok();
  if (--it->second == 0) failures_.erase(it);
  return sim_error(std::string(what) + " (injected fault)", path);
}

Result<std::uint64_t> SimFsEnv::inode_of(const std::string& path, const char* what) const {
  auto it = names_.find(path);
  if (it == names_.end()) return sim_error(std::string(what) + ": no such file", path);
  return it->second;
}

Result<std::unique_ptr<AppendFile>> SimFsEnv::create(const std::string& path) {
  EMLEDGER_TRY(take_failure(Op::kCreate, "create", path));
  if (names_.count(path)) return sim_error("create: file exists", path);
  const std::uint64_t id = next_inode_++;
  inodes_[id] = Inode{};
  names_[path] = id;
  return std::unique_ptr<AppendFile>(std::make_unique<File>(*this, id, path));
}

Result<std::unique_ptr<AppendFile>> SimFsEnv::open_append(const std::string& path) {
  EMLEDGER_TRY(take_failure(Op::kOpen, "open", path));
  auto id = inode_of(path, "open");
  if (!id) return id.status();
  return std::unique_ptr<AppendFile>(std::make_unique<File>(*this, *id, path));
}

Result<std::unique_ptr<AppendFile>> SimFsEnv::open_overwrite(const std::string& path) {
  EMLEDGER_TRY(take_failure(Op::kOpen, "open for overwrite", path));
  if (!names_.count(path)) {
    const std::uint64_t id = next_inode_++;
    inodes_[id] = Inode{};
    names_[path] = id;
  }
  return std::unique_ptr<AppendFile>(std::make_unique<File>(*this, names_.at(path), path, true));
}

Result<Bytes> SimFsEnv::read_all(const std::string& path, std::uint64_t bytes_max) {
  EMLEDGER_TRY(take_failure(Op::kRead, "read", path));
  auto id = inode_of(path, "read");
  if (!id) return id.status();
  const Bytes& data = inodes_.at(*id).current;
  if (data.size() > bytes_max)
    return Status::error("FILE_TOO_LARGE",
                         path + " holds more than " + std::to_string(bytes_max) + " bytes");
  return data;
}

Status SimFsEnv::truncate(const std::string& path, std::uint64_t size_bytes) {
  EMLEDGER_TRY(take_failure(Op::kTruncate, "truncate", path));
  auto id = inode_of(path, "truncate");
  if (!id) return id.status();
  Inode& node = inodes_.at(*id);
  if (size_bytes > node.current.size()) return sim_error("truncate: beyond the end", path);
  const auto size = static_cast<std::size_t>(size_bytes);
  if (!node.synced_before_truncate && size < node.synced_bytes) {
    node.synced_before_truncate.emplace(node.current.begin(),
                                        node.current.begin() + node.synced_bytes);
  }
  node.current.resize(size);
  return Status::ok();
}

Status SimFsEnv::rename(const std::string& from, const std::string& to) {
  EMLEDGER_TRY(take_failure(Op::kRename, "rename", from));
  auto id = inode_of(from, "rename");
  if (!id) return id.status();
  names_.erase(from);
  names_[to] = *id;
  return Status::ok();
}

Status SimFsEnv::sync_dir(const std::string& dir) {
  EMLEDGER_TRY(take_failure(Op::kSyncDir, "sync directory", dir));
  for (auto it = durable_names_.begin(); it != durable_names_.end();) {
    it = parent_dir(it->first) == dir ? durable_names_.erase(it) : std::next(it);
  }
  for (const auto& [name, id] : names_) {
    if (parent_dir(name) == dir) durable_names_[name] = id;
  }
  ++syncs_;
  return Status::ok();
}

Result<bool> SimFsEnv::exists(const std::string& path) { return names_.count(path) == 1; }

Status SimFsEnv::remove(const std::string& path) {
  EMLEDGER_TRY(take_failure(Op::kRemove, "remove", path));
  if (names_.erase(path) == 0) return sim_error("remove: no such file", path);
  return Status::ok();
}

Status SimFsEnv::append_to(std::uint64_t epoch, std::uint64_t inode, const std::string& path,
                           ByteView data, std::uint64_t* at) {
  if (epoch != epoch_) return sim_error("append: handle from before a crash", path);
  EMLEDGER_TRY(take_failure(Op::kAppend, "append", path));
  Inode& node = inodes_.at(inode);
  Bytes& current = node.current;
  if (at == nullptr) {
    current.insert(current.end(), data.begin(), data.end());
    return Status::ok();
  }
  const auto from = static_cast<std::size_t>(*at);
  EMLEDGER_ASSERT(from <= current.size());
  // A write over synced bytes: the durable ones are kept apart until a sync.
  if (!node.synced_before_truncate && from < node.synced_bytes && !data.empty()) {
    node.synced_before_truncate.emplace(
        current.begin(), current.begin() + static_cast<std::ptrdiff_t>(node.synced_bytes));
  }
  if (current.size() < from + data.size()) current.resize(from + data.size());
  std::copy(data.begin(), data.end(), current.begin() + static_cast<std::ptrdiff_t>(from));
  *at += data.size();
  return Status::ok();
}

// A failed sync leaves the tail unsynced, so a later crash loses it: the
// fsync-error behaviour of Linux, where the dirty pages may be dropped.
Status SimFsEnv::sync_inode(std::uint64_t epoch, std::uint64_t inode, const std::string& path) {
  if (epoch != epoch_) return sim_error("sync: handle from before a crash", path);
  EMLEDGER_TRY(take_failure(Op::kSync, "sync", path));
  Inode& node = inodes_.at(inode);
  node.synced_bytes = node.current.size();
  node.synced_before_truncate.reset();
  ++syncs_;
  return Status::ok();
}

void SimFsEnv::crash(const KeepUnsynced& keep) {
  std::map<std::uint64_t, Inode> survivors;
  for (const auto& [name, id] : durable_names_) {
    if (survivors.count(id)) continue;  // one inode under two durable names
    Inode node = std::move(inodes_.at(id));
    if (node.synced_before_truncate) {
      node.current = std::move(*node.synced_before_truncate);
    } else {
      EMLEDGER_ASSERT(node.current.size() >= node.synced_bytes);
      const std::size_t unsynced = node.current.size() - node.synced_bytes;
      const std::size_t kept = unsynced == 0 ? 0 : keep(name, unsynced);
      EMLEDGER_ASSERT(kept <= unsynced);
      node.current.resize(node.synced_bytes + kept);
    }
    // What reached the platter is all there is now.
    node.synced_bytes = node.current.size();
    node.synced_before_truncate.reset();
    survivors[id] = std::move(node);
  }
  inodes_ = std::move(survivors);
  names_ = durable_names_;
  failures_.clear();
  ++epoch_;
}

void SimFsEnv::kill_process() {
  failures_.clear();
  ++epoch_;
}

void SimFsEnv::crash() {
  crash([](const std::string&, std::size_t) { return std::size_t{0}; });
}

SimFsEnv::KeepUnsynced SimFsEnv::torn_by_seed(std::uint64_t seed) {
  return [seed](const std::string& path, std::size_t unsynced_bytes) {
    std::uint64_t h = splitmix64(seed);
    for (char c : path) h = splitmix64(h ^ static_cast<std::uint8_t>(c));
    return static_cast<std::size_t>(h % (static_cast<std::uint64_t>(unsynced_bytes) + 1));
  };
}

void SimFsEnv::fail_next(Op op) { ++failures_[op]; }

Status SimFsEnv::flip_byte(const std::string& path, std::uint64_t offset, std::uint8_t mask) {
  EMLEDGER_ASSERT(mask != 0);
  auto id = inode_of(path, "flip byte");
  if (!id) return id.status();
  Inode& node = inodes_.at(*id);
  const std::size_t synced =
      node.synced_before_truncate ? node.synced_before_truncate->size() : node.synced_bytes;
  if (offset >= synced)
    return sim_error("flip byte: offset " + std::to_string(offset) + " is not synced data of",
                     path);
  const auto at = static_cast<std::size_t>(offset);
  if (node.synced_before_truncate) (*node.synced_before_truncate)[at] ^= mask;
  if (at < node.current.size()) node.current[at] ^= mask;
  return Status::ok();
}

std::uint64_t SimFsEnv::unsynced_bytes(const std::string& path) const {
  auto it = names_.find(path);
  if (it == names_.end()) return 0;
  const Inode& node = inodes_.at(it->second);
  if (node.synced_before_truncate) return 0;
  return node.current.size() - node.synced_bytes;
}

}  // namespace emledger::consensus
