#include "snapshots.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>

#include "config.hpp"
#include "emledger/consensus/fs_env.hpp"
#include "emledger/crypto/hex.hpp"
#include "emledger/ledger/json.hpp"
#include "emledger/ledger/store.hpp"

namespace emledger::node {

namespace fs = std::filesystem;

std::string db_path(const std::string& d) { return (fs::path(d) / "db").string(); }
std::string db_import_path(const std::string& d) { return (fs::path(d) / "db.import").string(); }
std::string snapshot_sort_path(const std::string& d) {
  return (fs::path(d) / "snapshot-sort").string();
}

namespace {

Status io_error(const std::string& what, const std::string& path, int err) {
  return Status::error("IO_ERROR", what + " " + path + ": " + std::strerror(err));
}

Status remove_tree(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) return Status::error("IO_ERROR", "cannot remove " + path + ": " + ec.message());
  return Status::ok();
}

Status fsync_path(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0));
  if (fd < 0) return io_error("cannot open", path, errno);
  int rc;
  do {
    rc = ::fsync(fd);
  } while (rc != 0 && errno == EINTR);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return io_error("cannot fsync", path, err);
  return Status::ok();
}

// Every file of a LevelDB directory, then the directory: LevelDB syncs its
// tables and log as it writes them, but not every name it created, and the
// import's writes before its last one were unsynced.
Status fsync_tree(const std::string& dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_regular_file()) EMLEDGER_TRY(fsync_path(e.path().string(), false));
  }
  if (ec) return Status::error("IO_ERROR", "cannot list " + dir + ": " + ec.message());
  return fsync_path(dir, true);
}

// Reads the snapshot file through `fd`: fills the buffer, shorter only at
// the end of the file.
ledger::SnapshotSource file_source(int fd, const std::string& path) {
  return [fd, path](std::span<std::uint8_t> out) -> Result<std::size_t> {
    std::size_t got = 0;
    while (got < out.size()) {
      const ssize_t n = ::read(fd, out.data() + got, out.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return io_error("cannot read", path, errno);
      if (n == 0) break;
      got += static_cast<std::size_t>(n);
    }
    return got;
  };
}

// The import into DATA/db.import, closed again; the caller moves it.
Result<ledger::SnapshotInfo> import_into(const std::string& path, const ledger::Genesis& genesis,
                                         const std::string& import_dir,
                                         const std::string& sort_dir) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::error("SNAPSHOT_FILE_MISSING", "no file " + path);
    return io_error("cannot open", path, errno);
  }
  Result<ledger::SnapshotInfo> info = Status::error("IO_ERROR", "not imported");
  {
    auto target = ledger::open_leveldb(import_dir);
    auto scratch = target ? ledger::open_leveldb(sort_dir) : target.status();
    if (!target || !scratch) {
      ::close(fd);
      return !target ? target.status() : scratch.status();
    }
    info = ledger::import_snapshot(file_source(fd, path), genesis, **target, **scratch);
  }  // both stores closed here
  ::close(fd);
  if (!info) return info;
  // The imported store must open as a ledger of this genesis at the
  // snapshot's head before it takes DATA/db's place.
  auto store = ledger::open_leveldb(import_dir);
  if (!store) return store.status();
  ledger::LedgerOptions read_only;
  read_only.scan_committed_ids = false;  // opened to be checked, not run
  auto opened = ledger::Ledger::open(std::move(*store), genesis, read_only);
  if (!opened) return opened.status();
  const ledger::ChainHead head = (*opened)->head();
  if (head.height != info->height || head.header_hash != info->header_hash)
    return Status::error("STORAGE_CORRUPT", "the imported store's head is not the snapshot's");
  return info;
}

}  // namespace

Result<bool> store_holds_ledger(const std::string& db_dir) {
  std::error_code ec;
  if (!fs::exists(db_dir, ec)) return false;
  if (fs::is_directory(db_dir, ec) && fs::is_empty(db_dir, ec)) return false;
  auto store = ledger::open_leveldb(db_dir);
  if (!store) return store.status();
  bool any = false;
  EMLEDGER_TRY((*store)->scan({}, {}, [&](ByteView, ByteView) {
    any = true;
    return false;
  }));
  return any;
}

Result<ledger::SnapshotInfo> write_snapshot_file(const ledger::Ledger& ledger,
                                                 const std::string& path,
                                                 const std::function<bool()>& cancelled) {
  consensus::PosixFsEnv env;
  const std::string tmp = path + ".tmp";
  if (auto there = env.exists(tmp); there && *there) EMLEDGER_TRY(env.remove(tmp));
  auto file = env.create(tmp);
  if (!file) return file.status();
  auto info = ledger::write_snapshot(ledger, [&](ByteView bytes) -> Status {
    if (cancelled && cancelled()) return Status::error("CANCELLED", "the snapshot was cancelled");
    return (*file)->append(bytes);
  });
  Status st = info ? (*file)->sync() : info.status();
  file->reset();  // closes it
  if (st.is_ok()) st = env.rename(tmp, path);
  if (st.is_ok()) st = env.sync_dir(consensus::parent_dir(path));
  if (!st.is_ok()) {
    (void)env.remove(tmp);
    return st;
  }
  return info;
}

Result<ledger::SnapshotInfo> restore_snapshot_file(const std::string& path,
                                                   const ledger::Genesis& genesis,
                                                   const std::string& data_dir) {
  const std::string db = db_path(data_dir);
  const std::string import_dir = db_import_path(data_dir);
  const std::string sort_dir = snapshot_sort_path(data_dir);
  auto holds = store_holds_ledger(db);
  if (!holds) return holds.status();
  if (*holds)
    return Status::error("LEDGER_EXISTS", db + " already holds a ledger; restore into a new "
                                               "data directory (or move it away first)");
  std::error_code ec;
  fs::create_directories(data_dir, ec);
  if (ec) return Status::error("IO_ERROR", "cannot create " + data_dir + ": " + ec.message());
  // Leftovers of a crashed restore, and an empty DATA/db.
  EMLEDGER_TRY(remove_tree(import_dir));
  EMLEDGER_TRY(remove_tree(sort_dir));
  EMLEDGER_TRY(remove_tree(db));

  auto info = import_into(path, genesis, import_dir, sort_dir);
  Status st = remove_tree(sort_dir);
  if (!info) {
    (void)remove_tree(import_dir);
    return info.status();
  }
  if (st.is_ok()) st = fsync_tree(import_dir);
  if (st.is_ok()) {
    fs::rename(import_dir, db, ec);
    if (ec) st = Status::error("IO_ERROR", "cannot rename " + import_dir + ": " + ec.message());
  }
  if (st.is_ok()) st = fsync_path(data_dir, true);
  if (!st.is_ok()) return st;
  return info;
}

bool is_snapshot_verification_failure(const Status& st) {
  const std::string& c = st.code();
  return c.rfind("SNAPSHOT_INVALID", 0) == 0 || c == "SNAPSHOT_TRUNCATED" ||
         c.rfind("CERT_", 0) == 0 || c == "MALFORMED_ENCODING" || c == "GENESIS_MISMATCH";
}

// ---- emledger-node snapshot create | restore ----

namespace {

struct SnapshotArgs {
  bool dev = false;
  std::string data_dir;
  std::optional<std::string> genesis_file;
  std::string file;
};

int exit_code_for(const Status& st) {
  if (is_snapshot_verification_failure(st)) return 1;
  const std::string& c = st.code();
  if (c == "IO_ERROR" || c.rfind("STORAGE_", 0) == 0 || c == "CANCELLED") return 3;
  return 2;  // LEDGER_EXISTS, NO_BLOCKS, SNAPSHOT_FILE_MISSING, GENESIS_*, CONFIG_ERROR
}

int fail(const Status& st) {
  std::cerr << "emledger-node snapshot: " << st.to_string() << "\n";
  if (st.code() == "STORAGE_ERROR" && st.message().find("LOCK") != std::string::npos)
    std::cerr << "emledger-node snapshot: is a node running on this data directory? stop it "
                 "first\n";
  return exit_code_for(st);
}

// A genesis that cannot be read is bad input (exit 2), whatever the reason.
Result<ledger::Genesis> genesis_of(const SnapshotArgs& a) {
  const std::string path = a.genesis_file ? *a.genesis_file : dev_genesis_path(a.data_dir);
  if (!fs::exists(path)) return Status::error("CONFIG_ERROR", "no genesis file " + path);
  auto g = ledger::load_genesis_file(path);
  if (!g) return Status::error("CONFIG_ERROR", path + ": " + g.status().to_string());
  return g;
}

void print_info(const char* what, const ledger::SnapshotInfo& info, const std::string& file) {
  std::printf("%s %s: height %llu, header %s, %llu bytes, %llu state entries, %llu leaves\n", what,
              file.c_str(), static_cast<unsigned long long>(info.height),
              to_hex(info.header_hash).c_str(), static_cast<unsigned long long>(info.bytes),
              static_cast<unsigned long long>(info.counts.state_entries),
              static_cast<unsigned long long>(info.counts.leaves));
  std::fflush(stdout);
}

int run_create(const SnapshotArgs& a) {
  auto genesis = genesis_of(a);
  if (!genesis) return fail(genesis.status());
  const std::string db = db_path(a.data_dir);
  auto holds = store_holds_ledger(db);
  if (!holds) return fail(holds.status());
  if (!*holds) return fail(Status::error("NO_LEDGER", "no ledger in " + db));
  auto store = ledger::open_leveldb(db);
  if (!store) return fail(store.status());
  ledger::LedgerOptions read_only;
  read_only.scan_committed_ids = false;  // opened to be read, not run
  auto opened = ledger::Ledger::open(std::move(*store), *genesis, read_only);
  if (!opened) return fail(opened.status());
  auto info = write_snapshot_file(**opened, a.file);
  if (!info) return fail(info.status());
  print_info("wrote", *info, a.file);
  return 0;
}

int run_restore(const SnapshotArgs& a) {
  auto genesis = genesis_of(a);
  if (!genesis) return fail(genesis.status());
  auto info = restore_snapshot_file(a.file, *genesis, a.data_dir);
  if (!info) return fail(info.status());
  print_info("restored", *info, a.file);
  std::printf("the ledger in %s starts at height %llu (no blocks below it)\n",
              db_path(a.data_dir).c_str(), static_cast<unsigned long long>(info->height));
  return 0;
}

void add_common(CLI::App* cmd, SnapshotArgs& a) {
  cmd->add_option("--data", a.data_dir, "the node's data directory (LevelDB in DIR/db)")
      ->required();
  cmd->add_option("--genesis", a.genesis_file,
                  "genesis JSON file (default with --dev: DIR/genesis.json)");
  cmd->add_flag("--dev", a.dev, "dev mode data directory (genesis in DIR/genesis.json)");
}

}  // namespace

int snapshot_command(int argc, char** argv) {
  SnapshotArgs a;
  CLI::App app{
      "emledger-node snapshot: write a stopped node's ledger to a self-verifying snapshot "
      "file, or restore a data directory from one (docs/node.md, \"Snapshots\")",
      "emledger-node snapshot"};
  app.require_subcommand(1);
  auto* create = app.add_subcommand(
      "create", "write a snapshot of the ledger in DIR/db at its head (the node must be stopped)");
  add_common(create, a);
  create->add_option("--out", a.file, "snapshot file to write (FILE.tmp, then renamed)")
      ->required();
  auto* restore =
      app.add_subcommand("restore",
                         "verify a snapshot file against the genesis and make it the ledger of DIR "
                         "(refused when DIR/db holds a ledger)");
  add_common(restore, a);
  restore->add_option("--in", a.file, "snapshot file to restore")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (!a.dev && !a.genesis_file) {
    std::cerr << "emledger-node snapshot: --genesis is required without --dev\n";
    return 2;
  }
  return create->parsed() ? run_create(a) : run_restore(a);
}

}  // namespace emledger::node
