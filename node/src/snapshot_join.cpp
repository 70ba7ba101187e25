#include "snapshot_join.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "block_fetch.hpp"
#include "emledger/crypto/hex.hpp"
#include "snapshots.hpp"

namespace emledger::node {

namespace fs = std::filesystem;

namespace {

// Chunks received and not yet taken; more are dropped (the joiner asks
// again). An honest peer has one answer in flight.
constexpr std::size_t kJoinInboxMax = 8;
// How long the joiner waits for any peer to connect before looking again.
constexpr std::uint64_t kJoinNoPeerWaitMs = 100;
// Pauses before the next peer is asked, so that a network of peers that
// cannot serve (none has a block yet, or every one lies) is not asked in a
// tight loop: after a peer failed, and before a peer whose snapshot did not
// verify is asked again.
constexpr std::uint64_t kJoinNextPeerPauseMs = 250;
constexpr std::uint64_t kJoinRefusedPeerPauseMs = 2'000;
// A progress line per this many bytes downloaded.
constexpr std::uint64_t kJoinProgressBytes = std::uint64_t{256} << 20;

std::uint64_t mono_ms() {
  using namespace std::chrono;
  return static_cast<std::uint64_t>(
      duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count());
}

void log_line(const std::string& line) {
  std::fprintf(stderr, "emledger-node: join: %s\n", line.c_str());
}

class Joiner {
 public:
  Joiner(const Identity& identity, const JoinOptions& options)
      : identity_(identity),
        options_(options),
        path_((fs::path(options.data_dir) / "snapshot-download").string()) {}
  ~Joiner() {
    close_file();
    if (transport_) transport_->stop();
  }

  Result<ledger::SnapshotInfo> run();

 private:
  enum class Outcome { kDownloaded, kNextPeer, kStop };

  Status start_transport();
  bool should_stop() const {
    return (options_.stop_requested && options_.stop_requested()) || mono_ms() >= deadline_ms_;
  }
  void pause(std::uint64_t ms) const;
  std::optional<std::size_t> pick_peer();
  Outcome download(std::size_t peer);
  std::optional<SnapshotChunk> ask(std::size_t peer, const SnapshotRequest& req);
  Outcome take_chunk(std::size_t peer, SnapshotChunk& c, bool& done);

  Status reset_file();
  Status append(const Bytes& data);
  Status finish_file();
  void close_file();

  const Identity& identity_;
  const JoinOptions& options_;
  const std::string path_;
  std::uint64_t deadline_ms_ = 0;
  std::unique_ptr<PeerTransport> transport_;
  // The transport's list: the genesis validators, then this node when a
  // change of set added it (it is not among them); self_ is its index there.
  std::vector<PeerInfo> peers_;
  std::size_t self_ = 0;
  std::size_t next_peer_ = 0;
  std::vector<bool> refused_;  // by peer: its snapshot did not verify
  Status failure_;             // an I/O error of our own ends the join

  std::mutex mu_;  // guards inbox_
  std::condition_variable cv_;
  std::deque<std::pair<std::size_t, SnapshotChunk>> inbox_;

  // The download in progress.
  int fd_ = -1;
  std::uint64_t height_ = 0;
  Hash header_hash_{};
  std::uint64_t total_ = 0;
  std::uint64_t offset_ = 0;
};

// A key among the genesis validators joins as it always did. One that a
// change of set added lists itself after them, at --peer-listen (its address
// in the set in force, where the peers dial it), and dials and accepts in
// both directions: the peers' sets order it, not this list. Its peers are
// the genesis validators still in the set in force.
Status Joiner::start_transport() {
  PeerTransportConfig tc;
  tc.chain_id = identity_.genesis.chain_id;
  tc.key = identity_.validator_key;
  tc.validators = peers_;
  tc.any_direction = !identity_.genesis_index.has_value();
  tc.listen = options_.peer_listen;
  tc.threads = options_.peer_threads;
  // Only chunks matter here; consensus messages the peers already send us
  // are dropped (consensus retransmits once the validator runs).
  tc.on_message = [this](std::size_t peer, Bytes message) {
    if (leading_domain(message) != SnapshotChunk::kDomain) return;
    auto chunk = ledger::decode<SnapshotChunk>(message);
    if (!chunk) return;
    std::lock_guard lock(mu_);
    if (inbox_.size() >= kJoinInboxMax) return;
    inbox_.emplace_back(peer, std::move(*chunk));
    cv_.notify_one();
  };
  auto transport = PeerTransport::start(std::move(tc));
  if (!transport) return transport.status();
  transport_ = std::move(*transport);
  return Status::ok();
}

void Joiner::pause(std::uint64_t ms) const {
  const std::uint64_t until = mono_ms() + ms;
  while (!should_stop() && mono_ms() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min<std::uint64_t>(ms, 50)));
}

// The next connected peer from next_peer_ on, passing over those whose
// snapshot did not verify while there is another.
std::optional<std::size_t> Joiner::pick_peer() {
  const std::size_t n = peers_.size();
  for (int pass = 0; pass < 2; ++pass) {
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t p = (next_peer_ + k) % n;
      if (p == self_ || !transport_->connected(p)) continue;
      if (pass == 0 && refused_[p]) continue;
      return p;
    }
  }
  return std::nullopt;
}

// Sends `req` and waits for the chunk that answers it (same peer, same
// offset); late answers to earlier requests are discarded.
std::optional<SnapshotChunk> Joiner::ask(std::size_t peer, const SnapshotRequest& req) {
  if (!transport_->send(peer, ledger::encode(req)).is_ok()) return std::nullopt;
  const auto until =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(kSnapshotRequestTimeoutMs);
  std::unique_lock lock(mu_);
  for (;;) {
    while (!inbox_.empty()) {
      auto [from, chunk] = std::move(inbox_.front());
      inbox_.pop_front();
      if (from == peer && chunk.offset == req.offset) return std::move(chunk);
    }
    if (cv_.wait_until(lock, until) == std::cv_status::timeout && inbox_.empty())
      return std::nullopt;
  }
}

// Downloads the peer's snapshot to path_, resuming by offset after a lost
// answer; starts again from 0 if the peer's snapshot changes underneath.
Joiner::Outcome Joiner::download(std::size_t peer) {
  const std::string who = "peer " + std::to_string(peer);
  height_ = 0;
  header_hash_ = Hash{};
  total_ = 0;
  offset_ = 0;
  if (Status st = reset_file(); !st.is_ok()) {
    failure_ = st;
    return Outcome::kStop;
  }
  std::uint64_t preparing_since = 0;
  std::uint64_t last_sent = 0;
  int timeouts = 0;
  for (;;) {
    if (should_stop()) return Outcome::kStop;
    if (!transport_->connected(peer)) {
      log_line(who + " disconnected at byte " + std::to_string(offset_));
      return Outcome::kNextPeer;
    }
    const std::uint64_t now = mono_ms();
    if (now < last_sent + kSnapshotChunkIntervalMs)
      pause(last_sent + kSnapshotChunkIntervalMs - now);
    last_sent = mono_ms();
    auto chunk = ask(peer, SnapshotRequest{height_, offset_});
    if (!chunk) {
      if (++timeouts >= kSnapshotRetriesPerPeer) {
        log_line(who + " does not answer; trying another peer");
        return Outcome::kNextPeer;
      }
      continue;
    }
    timeouts = 0;
    if (chunk->state == static_cast<std::uint8_t>(SnapshotState::kPreparing)) {
      if (preparing_since == 0) {
        preparing_since = mono_ms();
        log_line(who + " is writing a snapshot; waiting");
      }
      if (mono_ms() > preparing_since + kSnapshotPreparingWaitMaxMs) {
        log_line(who + " is still writing its snapshot; trying another peer");
        return Outcome::kNextPeer;
      }
      pause(kSnapshotPreparingRetryMs);
      continue;
    }
    if (chunk->state != static_cast<std::uint8_t>(SnapshotState::kReady)) {
      log_line(who + " has no snapshot to serve; trying another peer");
      return Outcome::kNextPeer;
    }
    bool done = false;
    const Outcome out = take_chunk(peer, *chunk, done);
    if (out != Outcome::kDownloaded || done) return out;
  }
}

// One kReady chunk: kDownloaded with `done` false to go on, `done` true once
// the file is complete and durable.
Joiner::Outcome Joiner::take_chunk(std::size_t peer, SnapshotChunk& c, bool& done) {
  const std::string who = "peer " + std::to_string(peer);
  if (c.total_bytes == 0 || c.total_bytes > options_.snapshot_bytes_max || c.height == 0) {
    log_line(who + " offers a snapshot of " + std::to_string(c.total_bytes) + " bytes at height " +
             std::to_string(c.height) + "; trying another peer");
    return Outcome::kNextPeer;
  }
  if (c.height != height_ || c.header_hash != header_hash_ || c.total_bytes != total_) {
    if (height_ != 0)
      log_line(who + "'s snapshot moved from height " + std::to_string(height_) + " to " +
               std::to_string(c.height) + "; starting again");
    else
      log_line("downloading the snapshot of height " + std::to_string(c.height) + " (" +
               std::to_string(c.total_bytes) + " bytes) from " + who);
    height_ = c.height;
    header_hash_ = c.header_hash;
    total_ = c.total_bytes;
    offset_ = 0;
    if (Status st = reset_file(); !st.is_ok()) {
      failure_ = st;
      return Outcome::kStop;
    }
    if (c.offset != 0) return Outcome::kDownloaded;  // ask again from the start
  }
  // Any non-empty range that stays inside the file (the decoder bounds it
  // by kSnapshotChunkBytesMax): servers may send less than the maximum.
  if (c.data.empty() || c.data.size() > total_ - offset_) {
    log_line(who + " sent " + std::to_string(c.data.size()) + " bytes at offset " +
             std::to_string(offset_) + " of " + std::to_string(total_) + "; trying another peer");
    return Outcome::kNextPeer;
  }
  if (Status st = append(c.data); !st.is_ok()) {
    failure_ = st;
    return Outcome::kStop;
  }
  if ((offset_ + c.data.size()) / kJoinProgressBytes != offset_ / kJoinProgressBytes)
    log_line("downloaded " + std::to_string((offset_ + c.data.size()) >> 20) + " of " +
             std::to_string(total_ >> 20) + " MiB from " + who);
  offset_ += c.data.size();
  if (offset_ < total_) return Outcome::kDownloaded;
  if (Status st = finish_file(); !st.is_ok()) {
    failure_ = st;
    return Outcome::kStop;
  }
  log_line("downloaded the snapshot of height " + std::to_string(height_) + " from " + who);
  done = true;
  return Outcome::kDownloaded;
}

Status Joiner::reset_file() {
  close_file();
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd_ < 0)
    return Status::error("IO_ERROR", "cannot create " + path_ + ": " + std::strerror(errno));
  return Status::ok();
}

Status Joiner::append(const Bytes& data) {
  std::size_t put = 0;
  while (put < data.size()) {
    const ssize_t n = ::write(fd_, data.data() + put, data.size() - put);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      return Status::error("IO_ERROR", "cannot write " + path_ + ": " + std::strerror(errno));
    put += static_cast<std::size_t>(n);
  }
  return Status::ok();
}

// The import reads the file back; it need not survive a crash (a restart
// starts the join over), but a short read from a failed write must not pass
// for a truncated snapshot, so errors of the final flush count.
Status Joiner::finish_file() {
  int rc;
  do {
    rc = ::fdatasync(fd_);
  } while (rc != 0 && errno == EINTR);
  const int err = errno;
  close_file();
  if (rc != 0) return Status::error("IO_ERROR", "cannot sync " + path_ + ": " + std::strerror(err));
  return Status::ok();
}

void Joiner::close_file() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Result<ledger::SnapshotInfo> Joiner::run() {
  peers_ = peers_from_genesis(identity_.genesis);
  if (identity_.genesis_index) {
    self_ = *identity_.genesis_index;
  } else {
    if (options_.peer_listen.empty())
      return Status::error("CONFIG_ERROR",
                           "a key that is not a genesis validator joins with --peer-listen, its "
                           "address in the validator set in force");
    self_ = peers_.size();
    peers_.push_back(PeerInfo{identity_.validator_key.public_key(), options_.peer_listen});
  }
  const std::size_t n = peers_.size();
  if (n < 2) return Status::error("CONFIG_ERROR", "joining from a snapshot needs peers");
  deadline_ms_ = mono_ms() + options_.timeout_ms;
  refused_.assign(n, false);
  std::error_code ec;
  fs::create_directories(options_.data_dir, ec);
  if (ec)
    return Status::error("IO_ERROR", "cannot create " + options_.data_dir + ": " + ec.message());
  next_peer_ = (self_ + 1) % n;
  EMLEDGER_TRY(start_transport());
  log_line("no ledger in " + db_path(options_.data_dir) + ": fetching a snapshot from a peer");
  while (!should_stop()) {
    auto peer = pick_peer();
    if (!peer) {
      pause(kJoinNoPeerWaitMs);
      continue;
    }
    if (refused_[*peer]) pause(kJoinRefusedPeerPauseMs);
    const Outcome out = download(*peer);
    next_peer_ = (*peer + 1) % n;
    if (out == Outcome::kStop) break;
    if (out == Outcome::kNextPeer) {
      pause(kJoinNextPeerPauseMs);
      continue;
    }
    auto info = restore_snapshot_file(path_, identity_.genesis, options_.data_dir);
    fs::remove(path_, ec);
    if (info) {
      log_line("restored the snapshot of height " + std::to_string(info->height) + " (header " +
               to_hex(info->header_hash) + ") from peer " + std::to_string(*peer));
      return info;
    }
    if (!is_snapshot_verification_failure(info.status())) return info.status();
    log_line("the snapshot of peer " + std::to_string(*peer) +
             " does not verify: " + info.status().to_string() + "; trying another peer");
    refused_[*peer] = true;
  }
  close_file();
  fs::remove(path_, ec);
  if (!failure_.is_ok()) return failure_;
  if (options_.stop_requested && options_.stop_requested())
    return Status::error("CANCELLED", "the join was stopped");
  return Status::error(
      "JOIN_TIMEOUT", "no snapshot restored within " + std::to_string(options_.timeout_ms) + " ms");
}

}  // namespace

Result<ledger::SnapshotInfo> join_from_snapshot(const Identity& identity,
                                                const JoinOptions& options) {
  Joiner joiner(identity, options);
  return joiner.run();
}

}  // namespace emledger::node
