// The central-database baseline of issue 5: a PostgreSQL 15 server of its
// own, and a loader that does what an application in front of it would do
// with each register transaction it receives: decode it, check its Ed25519
// signature against the issuer's key (on a pool of one thread per core), and
// insert the index row emledger's state keeps for it, in batches the size of
// our blocks, each batch one durable transaction.
//
// The server: `initdb` into a temp dir, `postgres` on a free loopback port,
// TCP only (no Unix socket, no system service, nothing outside the dir), with
// fsync=on and synchronous_commit=on, so that COMMIT returns only once the
// WAL is on disk, as a block is before emledger answers ?wait=commit.
// PostgreSQL refuses to run as root: then both run as the `postgres` account
// the Debian package creates (else `nobody`), switched to in the forked child,
// with the dir handed to that account.
#pragma once

#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "../bench_common.hpp"
#include "../network_setup.hpp"
#include "child_process.hpp"
#include "emledger/ledger/ledger.hpp"
#include "workload.hpp"

namespace emledger::bench {

inline constexpr const char* kPgBinDirDefault = "/usr/lib/postgresql/15/bin";
inline constexpr const char* kPgUser = "bench";
inline constexpr int kPgStartTimeoutS = 30;
inline constexpr auto kPgStopGrace = std::chrono::seconds(10);

// The index row of one RegisterRecord, with the indexes emledger's state has
// for it: by record id ("rec/"), by content hash ("hash/"), and by
// transaction id (a committed id never applies twice). The signed
// transaction is kept whole, as emledger's log keeps it: it is the e-seal.
inline constexpr const char* kPgSchema = R"(
DROP TABLE IF EXISTS records;
CREATE TABLE records (
  record_id      bytea    PRIMARY KEY,
  tx_id          bytea    NOT NULL UNIQUE,
  content_hash   bytea    NOT NULL,
  holder_ref     bytea    NOT NULL,
  kind           smallint NOT NULL,
  type_code      text     NOT NULL,
  issuer         text     NOT NULL,
  key_id         integer  NOT NULL,
  size_bytes     bigint   NOT NULL,
  media_type     text     NOT NULL,
  locator        text     NOT NULL,
  issued_at_ms   bigint   NOT NULL,
  valid_from_ms  bigint   NOT NULL,
  valid_until_ms bigint   NOT NULL,
  signature      bytea    NOT NULL,
  tx             bytea    NOT NULL
);
CREATE INDEX records_content_hash ON records (content_hash);
)";
inline constexpr int kPgColumns = 16;
inline constexpr const char* kPgCopy = "COPY records FROM STDIN (FORMAT binary)";

// PostgreSQL's binary COPY stream (the server's docs, "COPY", "Binary
// Format"): a header, per row a column count and length-prefixed big-endian
// fields, a trailer. Binary, so that the server parses no text.
class CopyStream {
 public:
  CopyStream() {
    static constexpr char kSignature[] = "PGCOPY\n\377\r\n";  // and its terminating 0
    buf_.append(kSignature, sizeof kSignature);
    be(std::uint32_t{0});  // flags
    be(std::uint32_t{0});  // header extension length
  }
  void row() { be(static_cast<std::uint16_t>(kPgColumns)); }
  void bytes(ByteView b) {
    be(static_cast<std::uint32_t>(b.size()));
    buf_.append(reinterpret_cast<const char*>(b.data()), b.size());
  }
  void text(const std::string& s) { bytes(as_bytes(s)); }
  void i16(std::uint16_t v) { field(v); }
  void i32(std::uint32_t v) { field(v); }
  void i64(std::uint64_t v) { field(v); }
  std::string finish() && {
    be(static_cast<std::uint16_t>(0xffff));  // -1: the trailer
    return std::move(buf_);
  }

 private:
  template <class U>
  void field(U v) {
    be(static_cast<std::uint32_t>(sizeof v));
    be(v);
  }
  template <class U>
  void be(U v) {
    for (int i = static_cast<int>(sizeof v) - 1; i >= 0; --i)
      buf_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  std::string buf_;
};

// The row of one decoded RegisterRecord transaction. Errors: INVALID_PAYLOAD
// and the payload decoder's.
inline Status append_parsed(const emledger::ledger::Tx& t, ByteView tx_bytes, CopyStream& out);

// The application's work on one received transaction: decode, look the key
// up, check the signature (if `verify`), derive the row. Errors: the
// decoder's, UNKNOWN_KEY, BAD_SIGNATURE, INVALID_PAYLOAD.
inline Status append_row(ByteView tx_bytes, const KeyDirectory& keys, bool verify,
                         CopyStream& out) {
  using namespace emledger::ledger;
  auto tx = parse_tx(tx_bytes);
  if (!tx) return tx.status();
  const auto key = keys.find({tx->body.signer_org, tx->body.key_id});
  if (key == keys.end()) return Status::error("UNKNOWN_KEY", tx->body.signer_org);
  if (verify && !crypto::verify(key->second, tx->signing_bytes(), tx->signature))
    return Status::error("BAD_SIGNATURE", "signature does not verify");
  return append_parsed(*tx, tx_bytes, out);
}

// append_row for each of `txs`, the signatures verified together by
// crypto::verify_batch, as the node's admission does (ADR 039).
inline Status append_rows_batch_verified(std::span<const Bytes> txs, const KeyDirectory& keys,
                                         CopyStream& out) {
  using namespace emledger::ledger;
  std::vector<Tx> parsed;
  parsed.reserve(txs.size());
  std::vector<Bytes> signed_bytes;
  signed_bytes.reserve(txs.size());
  std::vector<crypto::SignedMessage> items;
  items.reserve(txs.size());
  for (const Bytes& b : txs) {
    auto tx = parse_tx(b);
    if (!tx) return tx.status();
    const auto key = keys.find({tx->body.signer_org, tx->body.key_id});
    if (key == keys.end()) return Status::error("UNKNOWN_KEY", tx->body.signer_org);
    parsed.push_back(std::move(*tx));
    signed_bytes.push_back(parsed.back().signing_bytes());
    items.push_back({&key->second, ByteView(signed_bytes.back()), &parsed.back().signature});
  }
  const auto valid = crypto::verify_batch(items);
  for (std::size_t i = 0; i < txs.size(); ++i) {
    if (!valid[i]) return Status::error("BAD_SIGNATURE", "signature does not verify");
    EMLEDGER_TRY(append_parsed(parsed[i], txs[i], out));
  }
  return Status::ok();
}

inline Status append_parsed(const emledger::ledger::Tx& t, ByteView tx_bytes, CopyStream& out) {
  using namespace emledger::ledger;
  const Tx* tx = &t;
  if (tx->body.type != static_cast<std::uint8_t>(TxType::kRegisterRecord))
    return Status::error("INVALID_PAYLOAD", "not a RegisterRecord");
  auto reg = decode<RegisterRecord>(tx->body.payload);
  if (!reg) return reg.status();
  const Hash tx_id = tx->id();
  const RecordBody& b = reg->body;
  out.row();
  out.bytes(record_id_for(tx_id));
  out.bytes(tx_id);
  out.bytes(b.content_hash);
  out.bytes(b.holder_ref);
  out.i16(b.kind);
  out.text(b.type_code);
  out.text(tx->body.signer_org);
  out.i32(tx->body.key_id);
  out.i64(b.size_bytes);
  out.text(b.media_type);
  out.text(b.locator);
  out.i64(b.issued_at_ms);
  out.i64(b.valid_from_ms);
  out.i64(b.valid_until_ms);
  out.bytes(tx->signature);
  out.bytes(tx_bytes);
  return Status::ok();
}

// One libpq connection, closed by the destructor.
class PgConn {
 public:
  explicit PgConn(const std::string& conninfo) : conn_(PQconnectdb(conninfo.c_str())) {}
  ~PgConn() { PQfinish(conn_); }
  PgConn(const PgConn&) = delete;
  PgConn& operator=(const PgConn&) = delete;

  Status connected() const {
    if (PQstatus(conn_) == CONNECTION_OK) return Status::ok();
    return Status::error("PG_CONNECT", PQerrorMessage(conn_));
  }
  // Runs `sql` (one or more statements). Errors: PG_ERROR.
  Status exec(const char* sql) {
    PGresult* r = PQexec(conn_, sql);
    const auto st = PQresultStatus(r);
    Status out = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK
                     ? Status::ok()
                     : Status::error("PG_ERROR", std::string(sql).substr(0, 40) + ": " +
                                                     PQresultErrorMessage(r));
    PQclear(r);
    return out;
  }
  // The first column of the first row of `sql`'s answer.
  Result<std::string> scalar(const char* sql) {
    PGresult* r = PQexec(conn_, sql);
    Result<std::string> out =
        PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0
            ? Result<std::string>(std::string(PQgetvalue(r, 0, 0)))
            : Result<std::string>(Status::error("PG_ERROR", PQresultErrorMessage(r)));
    PQclear(r);
    return out;
  }
  // BEGIN; COPY the stream; COMMIT. Errors: PG_ERROR (the batch rolled back).
  Status copy_batch(const std::string& stream) {
    EMLEDGER_TRY(exec("BEGIN"));
    PGresult* r = PQexec(conn_, kPgCopy);
    const bool copy_in = PQresultStatus(r) == PGRES_COPY_IN;
    PQclear(r);
    if (!copy_in) return rollback("COPY did not start");
    if (PQputCopyData(conn_, stream.data(), static_cast<int>(stream.size())) != 1 ||
        PQputCopyEnd(conn_, nullptr) != 1)
      return rollback("sending the COPY data failed");
    bool ok = true;
    while ((r = PQgetResult(conn_)) != nullptr) {
      ok = ok && PQresultStatus(r) == PGRES_COMMAND_OK;
      PQclear(r);
    }
    if (!ok) return rollback("COPY failed");
    return exec("COMMIT");
  }
  const char* server_version() const { return PQparameterStatus(conn_, "server_version"); }

 private:
  Status rollback(const std::string& what) {
    const std::string why = what + ": " + PQerrorMessage(conn_);
    (void)exec("ROLLBACK");
    return Status::error("PG_ERROR", why);
  }
  PGconn* conn_;
};

// A PostgreSQL cluster in a directory of its own. The destructor kills the
// server if stop() has not stopped it.
class PgServer {
 public:
  // initdb DIR/data and start the server on a free loopback port; returns once
  // it accepts connections. Errors: NO_USER, IO_ERROR, SPAWN_FAILED,
  // PG_INITDB, PG_START (with the end of the server's log).
  Status start(const std::filesystem::path& dir, const std::string& bin_dir) {
    auto as = unprivileged_user("postgres");
    if (!as) return as.status();
    std::filesystem::create_directories(dir);
    if (*as && ::chown(dir.c_str(), (*as)->uid, (*as)->gid) != 0)
      return Status::error("IO_ERROR", "cannot chown " + dir.string());
    const auto data = dir / "data";
    ChildProcess initdb;
    // --no-sync: initdb's own files only; every row after it is under fsync=on.
    EMLEDGER_TRY(initdb.start({bin_dir + "/initdb", "-D", data.string(), "-U", kPgUser, "-A",
                               "trust", "-E", "UTF8", "--no-sync", "--no-instructions"},
                              dir / "initdb.log", *as));
    if (initdb.wait() != 0)
      return Status::error("PG_INITDB", "initdb failed:\n" + log_tail(dir / "initdb.log"));
    auto port = free_loopback_port();
    if (!port) return port.status();
    port_ = *port;
    EMLEDGER_TRY(postmaster_.start(
        {bin_dir + "/postgres", "-D", data.string(), "-p", std::to_string(port_), "-c",
         "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "fsync=on", "-c",
         "synchronous_commit=on", "-c", "full_page_writes=on"},
        dir / "postgres.log", *as));
    return wait_ready();
  }

  std::string conninfo() const {
    return "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=postgres user=" + kPgUser +
           " connect_timeout=5 options='-c client_min_messages=warning'";
  }

  // A fast shutdown (SIGINT), then SIGKILL if it has not ended in time.
  void stop() { postmaster_.stop(SIGINT, kPgStopGrace); }

 private:
  Status wait_ready() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kPgStartTimeoutS);
    while (std::chrono::steady_clock::now() < deadline) {
      if (PQping(conninfo().c_str()) == PQPING_OK) return Status::ok();
      if (postmaster_.exited()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    postmaster_.stop(SIGKILL, std::chrono::milliseconds(0));
    return Status::error("PG_START", "postgres did not come up on port " + std::to_string(port_) +
                                         ":\n" + log_tail(postmaster_.log()));
  }

  ChildProcess postmaster_;
  int port_ = 0;
};

// A queue of COPY streams between the verifying pool and the loaders, bounded
// so that verification runs at most `capacity` batches ahead of the commits.
class BatchQueue {
 public:
  explicit BatchQueue(std::size_t capacity) : capacity_(capacity) {}
  // False once closed.
  bool push(std::string s) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return closed_ || q_.size() < capacity_; });
    if (closed_) return false;
    q_.push_back(std::move(s));
    cv_.notify_all();
    return true;
  }
  // nullopt once closed and drained.
  std::optional<std::string> pop() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return closed_ || !q_.empty(); });
    if (q_.empty()) return std::nullopt;
    std::string s = std::move(q_.front());
    q_.pop_front();
    cv_.notify_all();
    return s;
  }
  void close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  void abort() {
    std::lock_guard lock(mu_);
    closed_ = true;
    q_.clear();
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> q_;
  std::size_t capacity_;
  bool closed_ = false;
};

struct PgLoadOptions {
  std::size_t batch = 1000;
  std::size_t clients = 8;  // connections committing batches concurrently
  bool verify = true;
  bool in_batches = false;  // with verify: each batch's signatures through crypto::verify_batch
};

// A load batch's rows of w.txs[begin, end) as `o` says to check them.
inline Status append_load_batch(const Workload& w, std::size_t begin, std::size_t end,
                                const PgLoadOptions& o, CopyStream& s) {
  if (o.verify && o.in_batches)
    return append_rows_batch_verified(std::span(w.txs).subspan(begin, end - begin), w.keys, s);
  for (std::size_t i = begin; i < end; ++i) EMLEDGER_TRY(append_row(w.txs[i], w.keys, o.verify, s));
  return Status::ok();
}

struct PgLoadResult {
  std::size_t rows = 0;
  double seconds = 0;
  std::vector<double>
      batch_ms;  // BEGIN to COMMIT's answer, per batch (paced: decode and verify too)
  double offered_rows_per_s = 0;  // paced loads only
  std::size_t late_starts = 0;    // paced batches started a slot or more after their due time
  double loader_cpu_s = 0;        // this process (decode, verify, COPY), user + system
  double rows_per_s() const { return seconds > 0 ? static_cast<double>(rows) / seconds : 0; }
};

// The first error any thread of a load saw, and the flag that stops them all.
class LoadErrors {
 public:
  explicit LoadErrors(BatchQueue& q) : q_(q) {}
  void fail(Status st) {
    std::lock_guard lock(mu_);
    if (first_.is_ok()) first_ = std::move(st);
    stop_ = true;
    q_.abort();
  }
  bool stopped() const { return stop_.load(); }
  Status first() {
    std::lock_guard lock(mu_);
    return first_;
  }

 private:
  BatchQueue& q_;
  std::mutex mu_;
  Status first_;
  std::atomic<bool> stop_{false};
};

// The connections of one load: `admin` recreates the `records` table and
// checkpoints, so that every load starts from the same empty, flushed table;
// `conns` are the loading connections.
struct PgLoadSession {
  std::unique_ptr<PgConn> admin;
  std::vector<std::unique_ptr<PgConn>> conns;
};

inline Result<PgLoadSession> pg_open_load(const std::string& conninfo, std::size_t clients) {
  PgLoadSession s;
  s.admin = std::make_unique<PgConn>(conninfo);
  EMLEDGER_TRY(s.admin->connected());
  EMLEDGER_TRY(s.admin->exec(kPgSchema));
  EMLEDGER_TRY(s.admin->exec("CHECKPOINT"));
  for (std::size_t i = 0; i < clients; ++i) {
    s.conns.push_back(std::make_unique<PgConn>(conninfo));
    EMLEDGER_TRY(s.conns.back()->connected());
  }
  return s;
}

// Loads every transaction of `w` into a fresh `records` table: a pool of
// cores() threads decodes (and verifies) whole batches into COPY streams,
// `clients` connections commit them. The clock starts once the connections
// are open and stops at the last COMMIT's answer; the table must then hold
// every row. Errors: the first PG_ERROR or row error, PG_COUNT, INTERRUPTED.
inline Result<PgLoadResult> pg_load(const std::string& conninfo, const Workload& w,
                                    const PgLoadOptions& o, const std::atomic<bool>& interrupted) {
  using Clock = std::chrono::steady_clock;
  EMLEDGER_ASSERT(o.batch >= 1 && o.clients >= 1);
  auto session = pg_open_load(conninfo, o.clients);
  if (!session) return session.status();
  PgConn& admin = *session->admin;
  std::vector<std::unique_ptr<PgConn>>& conns = session->conns;
  const std::size_t n = w.txs.size();
  const std::size_t batches = (n + o.batch - 1) / o.batch;
  BatchQueue queue(2 * o.clients);
  LoadErrors errors(queue);
  std::atomic<std::size_t> next_batch{0}, verifiers_left{cores()};
  std::vector<std::vector<double>> batch_ms(o.clients);
  std::vector<std::thread> threads;
  const double cpu0 = process_cpu_seconds();
  const auto t0 = Clock::now();
  for (unsigned t = 0; t < cores(); ++t)
    threads.emplace_back([&] {
      while (!errors.stopped()) {
        const std::size_t k = next_batch++;
        if (k >= batches) break;
        CopyStream s;
        if (Status st = append_load_batch(w, k * o.batch, std::min(n, (k + 1) * o.batch), o, s);
            !st)
          return errors.fail(st);
        if (!queue.push(std::move(s).finish())) return;
      }
      if (--verifiers_left == 0) queue.close();
    });
  for (std::size_t c = 0; c < o.clients; ++c)
    threads.emplace_back([&, c] {
      while (auto stream = queue.pop()) {
        if (interrupted.load()) return errors.fail(Status::error("INTERRUPTED", "interrupted"));
        const auto b0 = Clock::now();
        Status st = conns[c]->copy_batch(*stream);
        if (!st) return errors.fail(st);
        batch_ms[c].push_back(std::chrono::duration<double, std::milli>(Clock::now() - b0).count());
      }
    });
  for (auto& th : threads) th.join();
  PgLoadResult r;
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  r.loader_cpu_s = process_cpu_seconds() - cpu0;
  EMLEDGER_TRY(errors.first());
  for (auto& v : batch_ms) r.batch_ms.insert(r.batch_ms.end(), v.begin(), v.end());
  auto count = admin.scalar("SELECT count(*) FROM records");
  if (!count) return count.status();
  r.rows = std::stoull(*count);
  if (r.rows != n)
    return Status::error("PG_COUNT", "the table holds " + *count + " rows of " + std::to_string(n));
  return r;
}

// A paced load (for a throughput-latency curve): batches of `o.batch` rows of
// `w` due on a fixed schedule at `rate` rows/s, batch k at t0 + k * batch /
// rate, each taken at its due time by one of `o.clients` connections, which
// decodes (and, if o.verify, verifies) its rows and commits them; a batch's
// latency runs from that start to COMMIT's answer, as ingest_bench's runs
// from post to the commit answer. The verification is inside the latency, as
// it is in emledger's admission. Errors: as pg_load.
inline Result<PgLoadResult> pg_paced(const std::string& conninfo, const Workload& w,
                                     const PgLoadOptions& o, double rate,
                                     const std::atomic<bool>& interrupted) {
  using Clock = std::chrono::steady_clock;
  EMLEDGER_ASSERT(o.batch >= 1 && o.clients >= 1 && rate > 0);
  auto session = pg_open_load(conninfo, o.clients);
  if (!session) return session.status();
  PgConn& admin = *session->admin;
  std::vector<std::unique_ptr<PgConn>>& conns = session->conns;
  const std::size_t n = w.txs.size();
  const std::size_t batches = (n + o.batch - 1) / o.batch;
  const auto interval = std::chrono::duration<double>(static_cast<double>(o.batch) / rate);
  BatchQueue unused(1);
  LoadErrors errors(unused);
  std::atomic<std::size_t> next{0}, late{0};
  std::vector<std::vector<double>> batch_ms(o.clients);
  std::vector<std::thread> threads;
  const auto t0 = Clock::now() + std::chrono::milliseconds(100);
  for (std::size_t c = 0; c < o.clients; ++c)
    threads.emplace_back([&, c] {
      for (;;) {
        const std::size_t k = next++;
        if (k >= batches || errors.stopped()) return;
        const auto due = t0 + std::chrono::duration_cast<Clock::duration>(interval * k);
        std::this_thread::sleep_until(due);
        if (interrupted.load()) return errors.fail(Status::error("INTERRUPTED", "interrupted"));
        const auto b0 = Clock::now();
        if (b0 - due > interval) ++late;
        CopyStream s;
        if (Status st = append_load_batch(w, k * o.batch, std::min(n, (k + 1) * o.batch), o, s);
            !st)
          return errors.fail(st);
        Status st = conns[c]->copy_batch(std::move(s).finish());
        if (!st) return errors.fail(st);
        batch_ms[c].push_back(std::chrono::duration<double, std::milli>(Clock::now() - b0).count());
      }
    });
  for (auto& th : threads) th.join();
  PgLoadResult r;
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  r.offered_rows_per_s = rate;
  r.late_starts = late.load();
  EMLEDGER_TRY(errors.first());
  for (auto& v : batch_ms) r.batch_ms.insert(r.batch_ms.end(), v.begin(), v.end());
  auto count = admin.scalar("SELECT count(*) FROM records");
  if (!count) return count.status();
  r.rows = std::stoull(*count);
  if (r.rows != n)
    return Status::error("PG_COUNT", "the table holds " + *count + " rows of " + std::to_string(n));
  return r;
}

}  // namespace emledger::bench
