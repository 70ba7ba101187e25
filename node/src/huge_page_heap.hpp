// Memory for the node's allocator in mappings the kernel may back with 2 MiB
// pages (ADR 043).
#pragma once

#include <cstddef>
#include <cstdint>

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
// mappings are ordinary memory. Not thread safe: tcmalloc calls its system
// allocator under its own lock.
class HugePageHeap {
 public:
  static constexpr std::size_t kHugePageBytes = ledger::kHugePageBytes;
  // Address space reserved at a time. Untouched pages of it cost no memory.
  static constexpr std::size_t kRegionBytes = std::size_t{64} << 20;

  // `bytes` (> 0) at an address that is a multiple of `alignment` (0 or a
  // power of two), or nullptr when the kernel gives no mapping.
  void* allocate(std::size_t bytes, std::size_t alignment);
  // Address space mapped so far, in bytes.
  std::size_t reserved_bytes() const { return reserved_; }

 private:
  // A fresh region of at least `bytes`; the rest of the current one is left
  // unused (address space only).
  bool reserve(std::size_t bytes);
  // From the current region, or nullptr when it has no room.
  void* carve(std::size_t bytes, std::size_t alignment);

  std::uintptr_t next_ = 0;
  std::uintptr_t end_ = 0;
  std::size_t reserved_ = 0;
};

}  // namespace emledger::node
