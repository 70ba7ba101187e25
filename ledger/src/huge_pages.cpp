#include "emledger/ledger/huge_pages.hpp"

#include <sys/mman.h>

#include <cstdint>

namespace emledger::ledger {

void* map_huge_page_aligned(std::size_t bytes, bool noreserve) {
  if (bytes == 0 || bytes > SIZE_MAX - kHugePageBytes) return nullptr;
  // One huge page more than asked, so that a boundary falls inside it; the
  // slack at either end goes back at once.
  const std::size_t mapped = bytes + kHugePageBytes;
  const int flags = MAP_PRIVATE | MAP_ANONYMOUS | (noreserve ? MAP_NORESERVE : 0);
  void* raw = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, flags, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const auto base = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t start = (base + kHugePageBytes - 1) & ~std::uintptr_t{kHugePageBytes - 1};
  if (start > base) ::munmap(raw, start - base);
  const std::uintptr_t end = start + bytes;
  if (base + mapped > end) ::munmap(reinterpret_cast<void*>(end), base + mapped - end);
  ::madvise(reinterpret_cast<void*>(start), bytes, MADV_HUGEPAGE);
  return reinterpret_cast<void*>(start);
}

bool populate_pages(void* start, std::size_t bytes) {
  return ::madvise(start, bytes, MADV_POPULATE_WRITE) == 0;
}

}  // namespace emledger::ledger
