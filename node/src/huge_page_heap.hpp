// Memory for the node's allocator in mappings the kernel may back with 2 MiB
// pages (ADR 043).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <utility>

#include "emledger/ledger/huge_pages.hpp"

namespace emledger::node {

// Hands out consecutive pieces of large anonymous mappings, each aligned to
// 2 MiB and advised MADV_HUGEPAGE, so that the kernel may map them in huge
// pages: one fault and one page-table entry for 2 MiB where ordinary pages
// take 512 of each. On a virtual machine a first touch of a page can cost
// microseconds (about 12 on the benchmark host, docs/benchmarks.md), and a
// heap that grows by hundreds of megabytes (the memtable, the mempool, each
// block's buffers) pays that per 4 KiB.
//
// A source for an allocator's system memory (tcmalloc's): nothing handed
// out is ever taken back. The allocator may still tell the kernel that a
// range is unused (madvise), which works on these mappings as on any other.
// Where the kernel gives no huge pages (transparent huge pages off), the
// mappings are ordinary memory.
//
// With populate_ahead, a thread of the heap's own faults in the pages just
// past the last piece handed out, before anyone touches them: the first
// touch of fresh memory (a huge page zeroed, and on a virtual machine the
// host's own fault) then costs the thread that allocated nothing. Faulting
// a page in keeps its zeros, and a page already present is left as it is,
// so the thread never changes a byte the allocator or its callers see.
// allocate() may be called from one thread at a time (tcmalloc calls its
// system allocator under its own lock); the populating thread shares the
// heap's state under a mutex of its own.
class HugePageHeap {
 public:
  static constexpr std::size_t kHugePageBytes = ledger::kHugePageBytes;
  // Address space reserved at a time. Untouched pages of it cost no memory.
  static constexpr std::size_t kRegionBytes = std::size_t{64} << 20;
  // What the populating thread faults in with one call, so that it takes
  // up a new region's first pages soon after the region opens.
  static constexpr std::size_t kPopulateStepBytes = kHugePageBytes;

  HugePageHeap() = default;
  HugePageHeap(const HugePageHeap&) = delete;
  HugePageHeap& operator=(const HugePageHeap&) = delete;
  // Stops the populating thread; the mappings stay (see above).
  ~HugePageHeap();

  // `bytes` (> 0) at an address that is a multiple of `alignment` (0 or a
  // power of two), or nullptr when the kernel gives no mapping.
  void* allocate(std::size_t bytes, std::size_t alignment);
  // Address space mapped so far, in bytes.
  std::size_t reserved_bytes() const;

  // Starts a thread, at a lowered CPU priority (ledger::lower_thread_priority),
  // that keeps the first `ahead_bytes` (> 0) of the current region past the
  // last piece handed out faulted in (madvise MADV_POPULATE_WRITE). At most
  // once; false when a thread is running already or none can be had. A
  // kernel before 5.14 refuses the advice: the thread then ends, and pages
  // fault in as they are touched, as without it. Start it from a thread
  // whose signal mask the populating thread should inherit.
  bool populate_ahead(std::size_t ahead_bytes);
  // Bytes the populating thread has faulted in so far, for tests.
  std::size_t populated_bytes() const;

 private:
  void populate_loop();
  // The page-aligned range [from, to) the populating thread is to fault in
  // next (from == to: nothing). Under mu_.
  std::pair<std::uintptr_t, std::uintptr_t> populate_range() const;

  // A fresh region of at least `bytes`; the rest of the current one is left
  // unused (address space only). Under mu_, as carve.
  bool reserve(std::size_t bytes);
  // From the current region, or nullptr when it has no room.
  void* carve(std::size_t bytes, std::size_t alignment);

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::uintptr_t region_ = 0;  // start of the current region
  std::uintptr_t next_ = 0;
  std::uintptr_t end_ = 0;
  std::size_t reserved_ = 0;
  // Of the current region, pages below this one are faulted in or handed out.
  std::uintptr_t populated_to_ = 0;
  std::size_t populated_bytes_ = 0;
  std::size_t ahead_ = 0;
  bool stopping_ = false;
  std::thread populator_;
};

}  // namespace emledger::node
