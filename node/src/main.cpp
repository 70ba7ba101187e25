// emledger-node: see docs/node.md.
#include <gperftools/malloc_extension.h>
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <iostream>
#include <new>
#include <string>

#include "emledger/ledger/store.hpp"
#include "huge_page_heap.hpp"
#include "node.hpp"
#include "snapshots.hpp"

namespace {

// tcmalloc's source of memory (ADR 043): mappings that the kernel may back
// with huge pages, and tcmalloc's own source when the kernel gives none.
class HugePageSysAllocator final : public SysAllocator {
 public:
  explicit HugePageSysAllocator(SysAllocator* fallback) : fallback_(fallback) {}
  void* Alloc(size_t size, size_t* actual_size, size_t alignment) override {
    if (void* p = heap_.allocate(size, alignment)) {
      if (actual_size) *actual_size = size;
      return p;
    }
    return fallback_ ? fallback_->Alloc(size, actual_size, alignment) : nullptr;
  }
  emledger::node::HugePageHeap& heap() { return heap_; }

 private:
  emledger::node::HugePageHeap heap_;
  SysAllocator* fallback_;
};

// Before any thread starts. tcmalloc has set up its own source by now (the
// process allocated before main); what it took from it stays in use. The
// allocator lives as long as the process: tcmalloc may call it during exit.
HugePageSysAllocator* use_huge_page_heap() {
  MallocExtension* tcmalloc = MallocExtension::instance();
  alignas(HugePageSysAllocator) static unsigned char storage[sizeof(HugePageSysAllocator)];
  auto* allocator = new (storage) HugePageSysAllocator(tcmalloc->GetSystemAllocator());
  tcmalloc->SetSystemAllocator(allocator);
  return allocator;
}

// How far past its last piece the heap keeps its pages faulted in (ADR 045).
// Under ingest the heap grows by up to a few hundred MiB in its first
// seconds (LevelDB's memtables, blocks, batches); this keeps the growth of
// the next fraction of a second ready, for at most this much memory unused.
constexpr std::size_t kHeapPopulateAheadBytes = std::size_t{32} << 20;

// Before the store opens: LevelDB keeps half the limit as open table files
// (emledger::ledger::raise_open_files_limit, ADR 028).
void report_open_files_limit(const emledger::ledger::OpenFilesLimit& l) {
  if (l.now > l.before)
    std::fprintf(stderr, "emledger-node: open files limit raised from %llu to %llu\n",
                 static_cast<unsigned long long>(l.before), static_cast<unsigned long long>(l.now));
  if (l.now < emledger::ledger::kOpenFilesWanted)
    std::fprintf(stderr,
                 "emledger-node: the open files limit is %llu (hard limit %llu); a large ledger's "
                 "lookups will reopen table files: raise it to %llu (ulimit -n, or LimitNOFILE= "
                 "in a systemd unit)\n",
                 static_cast<unsigned long long>(l.now), static_cast<unsigned long long>(l.hard),
                 static_cast<unsigned long long>(emledger::ledger::kOpenFilesWanted));
}

}  // namespace

int main(int argc, char** argv) {
  using namespace emledger::node;
  HugePageSysAllocator* allocator = use_huge_page_heap();
  // `emledger-node snapshot create|restore`: offline, on a stopped node's
  // data directory (snapshots.hpp).
  if (argc > 1 && std::string(argv[1]) == "snapshot") return snapshot_command(argc - 1, argv + 1);
  int exit_code = 0;
  auto config = parse_command_line(argc, argv, &exit_code);
  if (!config) return exit_code;

  // Block the shutdown signals in every thread (threads inherit the mask);
  // the main thread alone waits for them below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  // With the signals blocked, so that only the main thread takes them.
  allocator->heap().populate_ahead(kHeapPopulateAheadBytes);
  report_open_files_limit(emledger::ledger::raise_open_files_limit());

  // A join from a snapshot (--join-snapshot) runs before the node serves;
  // a shutdown signal ends it (the signals stay pending for sigwait below).
  auto stop_requested = [signals] {
    sigset_t pending;
    sigemptyset(&pending);
    if (sigpending(&pending) != 0) return false;
    return sigismember(&pending, SIGINT) == 1 || sigismember(&pending, SIGTERM) == 1;
  };
  auto node = Node::start(*config, emledger::node::system_clock_ms, stop_requested);
  if (!node.is_ok()) {
    std::cerr << "emledger-node: " << node.status().to_string() << "\n";
    return 1;
  }
  auto& n = **node;
  const auto head = n.ledger().head();
  const std::string host =
      n.host().find(':') == std::string::npos ? n.host() : "[" + n.host() + "]";
  if (Validator* v = n.validator(); v && v->peer_port() != 0)
    std::printf("emledger-node validator %u of epoch %llu, peers on port %u\n",
                static_cast<unsigned>(v->index().value_or(0)),
                static_cast<unsigned long long>(v->epoch()), static_cast<unsigned>(v->peer_port()));
  else if (!v)
    std::printf("emledger-node read-only: the key is not in the validator set in force\n");
  std::printf("emledger-node listening on http://%s:%u chain=%s height=%llu\n", host.c_str(),
              static_cast<unsigned>(n.port()), n.identity().genesis.chain_id.c_str(),
              static_cast<unsigned long long>(head.height));
  std::fflush(stdout);

  int sig = 0;
  sigwait(&signals, &sig);
  std::fprintf(stderr, "emledger-node: signal %d, shutting down\n", sig);
  n.shutdown();
  const auto final_head = n.ledger().head();
  std::fprintf(stderr, "emledger-node: stopped at height %llu\n",
               static_cast<unsigned long long>(final_head.height));
  return 0;
}
