#include "snapshot_server.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>

#include "emledger/crypto/hex.hpp"
#include "snapshots.hpp"

namespace emledger::node {

namespace fs = std::filesystem;

namespace {

void log_line(const std::string& line) {
  std::fprintf(stderr, "emledger-node: snapshot server: %s\n", line.c_str());
}

SnapshotChunk state_only(SnapshotState s, std::uint64_t offset) {
  SnapshotChunk c;
  c.state = static_cast<std::uint8_t>(s);
  c.offset = offset;
  return c;
}

}  // namespace

SnapshotServer::File::~File() {
  if (fd >= 0) ::close(fd);
}

SnapshotServer::SnapshotServer(const ledger::Ledger& ledger, SnapshotServerOptions options)
    : ledger_(ledger), options_(std::move(options)) {}

SnapshotServer::~SnapshotServer() { stop(); }

// Files of an earlier run are not reused: the writer would need to read
// their manifest back, and writing a fresh one costs one snapshot.
Result<std::unique_ptr<SnapshotServer>> SnapshotServer::open(const ledger::Ledger& ledger,
                                                             SnapshotServerOptions options) {
  std::error_code ec;
  fs::remove_all(options.dir, ec);
  if (!ec) fs::create_directories(options.dir, ec);
  if (ec) return Status::error("IO_ERROR", "cannot empty " + options.dir + ": " + ec.message());
  return std::unique_ptr<SnapshotServer>(new SnapshotServer(ledger, std::move(options)));
}

void SnapshotServer::stop() {
  stopping_ = true;
  std::thread writer;
  {
    std::lock_guard lock(mu_);
    writer.swap(writer_);
  }
  if (writer.joinable()) writer.join();
}

SnapshotServerStats SnapshotServer::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

std::optional<SnapshotChunk> SnapshotServer::serve(std::size_t peer, const SnapshotRequest& req,
                                                   std::uint64_t now_ms) {
  std::shared_ptr<File> file;
  {
    std::lock_guard lock(mu_);
    auto& last = served_ms_[peer];
    if (last != 0 && now_ms < last + options_.serve_interval_ms) {
      ++stats_.requests_dropped;
      return std::nullopt;
    }
    last = now_ms;
    if (!stopping_ && !writing_ && write_wanted(req, now_ms)) start_write(now_ms);
    for (const auto& f : files_)
      if (f->height == req.height) file = f;
    if (!file && !files_.empty()) file = files_.back();
    // Never a file from below the last change of set (write_wanted).
    if (file && file->height < last_change_height()) file = nullptr;
    if (!file)
      return state_only(writing_ ? SnapshotState::kPreparing : SnapshotState::kUnavailable,
                        req.offset);
    ++stats_.chunks_served;
  }
  auto chunk = read_chunk(*file, req.offset);
  if (!chunk) return state_only(SnapshotState::kUnavailable, req.offset);
  return chunk;
}

// A new file when there is none, or when a download starts and the newest is
// too far below the head or below the last change of validator set (its
// state names a set that is no longer in force: a validator the change added
// would restore a ledger in which it is not a validator). A joiner in the
// middle of a file never causes a rewrite, so it cannot be made to start
// over by its own requests.
bool SnapshotServer::write_wanted(const SnapshotRequest& req, std::uint64_t now_ms) const {
  const std::uint64_t head = ledger_.head().height;
  if (head == 0) return false;
  if (failed_ms_ && now_ms < *failed_ms_ + options_.retry_after_failure_ms) return false;
  if (files_.empty()) return true;
  const bool starts = req.height == 0 && req.offset == 0;
  if (!starts) return false;
  return head > files_.back()->height + options_.reuse_blocks_max ||
         files_.back()->height < last_change_height();
}

// The height of the block holding the last change of validator set (0 when
// the genesis set is in force). A set that cannot be read counts as changed
// at the head: no old file is served, a new one is written.
std::uint64_t SnapshotServer::last_change_height() const {
  auto set = ledger_.validators();
  if (!set) return ledger_.head().height;
  return set->since_height - 1;
}

void SnapshotServer::start_write(std::uint64_t now_ms) {
  EMLEDGER_ASSERT(!writing_);
  if (writer_.joinable()) writer_.join();  // the previous write, finished
  writing_ = true;
  writer_ = std::thread([this, now_ms] { write_one(now_ms); });
}

// `started_ms` is the serve() clock when the write began: a failure is
// dated by it, which is early enough to hold back the next try.
void SnapshotServer::write_one(std::uint64_t started_ms) {
  const std::string next = (fs::path(options_.dir) / "snapshot.next").string();
  auto info = write_snapshot_file(ledger_, next, [this] { return stopping_.load(); });
  std::shared_ptr<File> f;
  Status st = info.status();
  if (info) {
    f = std::make_shared<File>();
    f->height = info->height;
    f->header_hash = info->header_hash;
    f->total_bytes = info->bytes;
    f->path = (fs::path(options_.dir) / ("snapshot-" + std::to_string(info->height))).string();
    std::error_code ec;
    fs::rename(next, f->path, ec);
    if (ec) st = Status::error("IO_ERROR", "cannot rename " + next + ": " + ec.message());
    if (st.is_ok()) {
      f->fd = ::open(f->path.c_str(), O_RDONLY | O_CLOEXEC);
      if (f->fd < 0) st = Status::error("IO_ERROR", "cannot open " + f->path);
    }
  }
  std::lock_guard lock(mu_);
  writing_ = false;
  if (!st.is_ok()) {
    ++stats_.write_failures;
    failed_ms_ = started_ms;
    if (!stopping_) log_line("writing a snapshot failed: " + st.to_string());
    return;
  }
  ++stats_.files_written;
  log_line("snapshot of height " + std::to_string(f->height) + " ready (" +
           std::to_string(f->total_bytes) + " bytes, header " + to_hex(f->header_hash) + ")");
  files_.push_back(std::move(f));
  while (files_.size() > kSnapshotFilesKept) {
    std::error_code ec;
    fs::remove(files_.front()->path, ec);  // open descriptors keep it readable
    files_.pop_front();
  }
}

std::optional<SnapshotChunk> SnapshotServer::read_chunk(const File& f, std::uint64_t offset) {
  SnapshotChunk c;
  c.state = static_cast<std::uint8_t>(SnapshotState::kReady);
  c.height = f.height;
  c.header_hash = f.header_hash;
  c.total_bytes = f.total_bytes;
  c.offset = offset;
  if (offset >= f.total_bytes) return c;
  const std::uint64_t want =
      std::min<std::uint64_t>(kSnapshotChunkBytesMax, f.total_bytes - offset);
  c.data.resize(want);
  std::size_t got = 0;
  while (got < want) {
    const ssize_t n =
        ::pread(f.fd, c.data.data() + got, want - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      log_line("cannot read " + f.path);
      return std::nullopt;
    }
    got += static_cast<std::size_t>(n);
  }
  return c;
}

}  // namespace emledger::node
