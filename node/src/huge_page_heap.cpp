#include "huge_page_heap.hpp"

#include <algorithm>
#include <limits>

namespace emledger::node {

namespace {

constexpr std::uintptr_t round_up(std::uintptr_t v, std::uintptr_t to) {
  return (v + to - 1) & ~(to - 1);
}

}  // namespace

void* HugePageHeap::allocate(std::size_t bytes, std::size_t alignment) {
  if (bytes == 0) return nullptr;
  if (alignment == 0) alignment = alignof(std::max_align_t);
  if ((alignment & (alignment - 1)) != 0) return nullptr;
  constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max() / 4;
  if (bytes > kMax || alignment > kMax) return nullptr;
  if (void* p = carve(bytes, alignment)) return p;
  if (!reserve(bytes + (alignment > kHugePageBytes ? alignment : 0))) return nullptr;
  return carve(bytes, alignment);
}

void* HugePageHeap::carve(std::size_t bytes, std::size_t alignment) {
  if (next_ == 0) return nullptr;
  const std::uintptr_t at = round_up(next_, alignment);
  if (at < next_ || at > end_ || end_ - at < bytes) return nullptr;
  next_ = at + bytes;
  return reinterpret_cast<void*>(at);
}

bool HugePageHeap::reserve(std::size_t bytes) {
  const std::size_t size = round_up(std::max(bytes, kRegionBytes), kHugePageBytes);
  // Address space for later: pages cost memory only once touched.
  void* start = ledger::map_huge_page_aligned(size, /*noreserve=*/true);
  if (start == nullptr) return false;
  next_ = reinterpret_cast<std::uintptr_t>(start);
  end_ = next_ + size;
  reserved_ += size;
  return true;
}

}  // namespace emledger::node
