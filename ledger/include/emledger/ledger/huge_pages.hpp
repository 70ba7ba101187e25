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

}  // namespace emledger::ledger
