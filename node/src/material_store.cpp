#include "material_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "emledger/crypto/hex.hpp"
#include "emledger/crypto/sha256.hpp"

namespace emledger::node {

namespace fs = std::filesystem;

namespace {

Status io_error(const std::string& what, const std::string& path) {
  return Status::error("IO_ERROR", what + " " + path + ": " + std::strerror(errno));
}

Status fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return io_error("open directory", dir);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return io_error("fsync directory", dir);
  return Status::ok();
}

Status write_all(int fd, const char* data, std::size_t n, const std::string& path) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return io_error("write", path);
    }
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<MaterialStore>> MaterialStore::open(const std::string& dir) {
  std::error_code ec;
  for (const char* sub : {"", "tmp", "released"}) {
    fs::create_directories(fs::path(dir) / sub, ec);
    if (ec) return Status::error("IO_ERROR", "create " + dir + "/" + sub + ": " + ec.message());
  }
  // Uploads cut short by a crash are garbage: nothing refers to them.
  for (const auto& e : fs::directory_iterator(fs::path(dir) / "tmp", ec)) fs::remove(e.path(), ec);
  return std::unique_ptr<MaterialStore>(new MaterialStore(dir));
}

std::string MaterialStore::file_path(const Hash& h) const {
  return (fs::path(dir_) / to_hex(h)).string();
}

bool MaterialStore::contains(const Hash& content_hash) const {
  struct stat st {};
  return ::stat(file_path(content_hash).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Result<bool> MaterialStore::put(const Hash& content_hash, std::string_view bytes) {
  if (bytes.size() > kMaterialBytesMax)
    return Status::error("BODY_TOO_LARGE",
                         "a material is at most " + std::to_string(kMaterialBytesMax) + " bytes");
  static std::atomic<std::uint64_t> counter{0};
  const std::string tmp = (fs::path(dir_) / "tmp" /
                           (to_hex(content_hash) + "." + std::to_string(::getpid()) + "." +
                            std::to_string(counter.fetch_add(1))))
                              .string();
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return io_error("create", tmp);
  // Hash while writing, chunk by chunk, so that the bytes hashed are the
  // bytes written.
  crypto::Sha256 hasher;
  Status st = Status::ok();
  for (std::size_t off = 0; off < bytes.size() && st.is_ok(); off += kMaterialChunkBytes) {
    auto chunk = bytes.substr(off, kMaterialChunkBytes);
    hasher.update(ByteView(reinterpret_cast<const std::uint8_t*>(chunk.data()), chunk.size()));
    st = write_all(fd, chunk.data(), chunk.size(), tmp);
  }
  if (st.is_ok() && ::fsync(fd) != 0) st = io_error("fsync", tmp);
  ::close(fd);
  if (st.is_ok() && hasher.finish() != content_hash)
    st =
        Status::error("CONTENT_HASH_MISMATCH", "the body does not hash to " + to_hex(content_hash));
  if (!st.is_ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  const bool existed = contains(content_hash);
  // Same name, same bytes: replacing an existing file changes nothing a
  // reader can see, and rename() is atomic.
  if (::rename(tmp.c_str(), file_path(content_hash).c_str()) != 0) {
    Status err = io_error("rename", tmp);
    ::unlink(tmp.c_str());
    return err;
  }
  if (auto s = fsync_dir(dir_); !s.is_ok()) return s;
  return !existed;
}

Result<std::optional<std::string>> MaterialStore::get(const Hash& content_hash) const {
  const std::string path = file_path(content_hash);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return io_error("open", path);
  }
  std::string out;
  crypto::Sha256 hasher;
  char buf[kMaterialChunkBytes];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      Status err = io_error("read", path);
      ::close(fd);
      return err;
    }
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > kMaterialBytesMax) {
      ::close(fd);
      return Status::error("STORAGE_CORRUPT", path + " exceeds the material size limit");
    }
    hasher.update(
        ByteView(reinterpret_cast<const std::uint8_t*>(buf), static_cast<std::size_t>(n)));
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  // Never release bytes that are not what the ledger anchors.
  if (hasher.finish() != content_hash)
    return Status::error("STORAGE_CORRUPT", path + " no longer hashes to its name");
  return std::optional<std::string>(std::move(out));
}

Status MaterialStore::mark_released(const Hash& access_id) {
  const std::string released = (fs::path(dir_) / "released").string();
  const std::string path = (fs::path(released) / to_hex(access_id)).string();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST)
      return Status::error("ACCESS_ALREADY_USED",
                           "access " + to_hex(access_id) + " has already released its file");
    return io_error("create", path);
  }
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return io_error("fsync", path);
  return fsync_dir(released);
}

}  // namespace emledger::node
