// Anonymous memory that the kernel may back with 2 MiB transparent huge
// pages: the state-tree page cache (ADR 024, ADR 044) and the node's heap
// (ADR 043).
#pragma once

#include <cstddef>

namespace emledger::ledger {

inline constexpr std::size_t kHugePageBytes = std::size_t{2} << 20;

// A private anonymous mapping of `bytes` (> 0, a multiple of 4 KiB) that
// starts on a huge-page boundary and is advised MADV_HUGEPAGE before any
// page of it is touched; its pages are zero. nullptr when the kernel gives
// no mapping. A kernel that refuses the advice (no transparent huge pages)
// leaves ordinary pages, which work the same. `noreserve` maps it with
// MAP_NORESERVE (address space for later, not memory). munmap(p, bytes)
// gives it back.
void* map_huge_page_aligned(std::size_t bytes, bool noreserve);

// Has the kernel fault in the pages of [start, start + bytes) (page-aligned)
// as a write would, without writing: absent pages arrive zeroed, present
// ones are left as they are, so no byte anyone reads changes, even while
// other threads use the range. Off the threads that would otherwise take
// those faults, it moves the first-touch cost of fresh memory (ADR 044,
// ADR 045). False when refused: a kernel before 5.14 (no
// MADV_POPULATE_WRITE), or memory short; the pages then fault in as touched.
bool populate_pages(void* start, std::size_t bytes);

}  // namespace emledger::ledger
