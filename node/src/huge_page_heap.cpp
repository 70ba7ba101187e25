#include "huge_page_heap.hpp"

#include <algorithm>
#include <limits>
#include <system_error>

#include "emledger/ledger/store.hpp"

namespace emledger::node {

namespace {

constexpr std::uintptr_t round_up(std::uintptr_t v, std::uintptr_t to) {
  return (v + to - 1) & ~(to - 1);
}

constexpr std::uintptr_t round_down(std::uintptr_t v, std::uintptr_t to) { return v & ~(to - 1); }

constexpr std::uintptr_t kPageBytes = 4096;

}  // namespace

HugePageHeap::~HugePageHeap() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (populator_.joinable()) populator_.join();
}

void* HugePageHeap::allocate(std::size_t bytes, std::size_t alignment) {
  if (bytes == 0) return nullptr;
  if (alignment == 0) alignment = alignof(std::max_align_t);
  if ((alignment & (alignment - 1)) != 0) return nullptr;
  constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max() / 4;
  if (bytes > kMax || alignment > kMax) return nullptr;
  void* p = nullptr;
  {
    std::lock_guard lock(mu_);
    p = carve(bytes, alignment);
    if (p == nullptr && reserve(bytes + (alignment > kHugePageBytes ? alignment : 0)))
      p = carve(bytes, alignment);
  }
  // The populating thread, if any, moves on past the new piece.
  if (p != nullptr) wake_.notify_one();
  return p;
}

std::size_t HugePageHeap::reserved_bytes() const {
  std::lock_guard lock(mu_);
  return reserved_;
}

std::size_t HugePageHeap::populated_bytes() const {
  std::lock_guard lock(mu_);
  return populated_bytes_;
}

bool HugePageHeap::populate_ahead(std::size_t ahead_bytes) {
  if (ahead_bytes == 0) return false;
  std::lock_guard lock(mu_);
  if (populator_.joinable()) return false;
  ahead_ = ahead_bytes;
  try {
    populator_ = std::thread([this] { populate_loop(); });
  } catch (const std::system_error&) {
    return false;  // pages fault in as they are touched
  }
  return true;
}

std::pair<std::uintptr_t, std::uintptr_t> HugePageHeap::populate_range() const {
  if (next_ == 0) return {0, 0};
  const std::uintptr_t from = round_up(std::max(populated_to_, next_), kPageBytes);
  const std::uintptr_t want = round_down(std::min(end_, next_ + ahead_), kPageBytes);
  if (from >= want) return {from, from};
  return {from, std::min(want, from + kPopulateStepBytes)};
}

void HugePageHeap::populate_loop() {
  // Faulting pages in ahead of need must not take the CPU from the threads
  // that need them now.
  ledger::lower_thread_priority();
  std::unique_lock lock(mu_);
  for (;;) {
    wake_.wait(lock, [&] {
      const auto [from, to] = populate_range();
      return stopping_ || from < to;
    });
    if (stopping_) return;
    const auto [from, to] = populate_range();
    const std::uintptr_t region = region_;
    lock.unlock();
    // Pages the allocator handed out meanwhile may be among these: faulting
    // them in changes none of their bytes.
    const bool ok = ledger::populate_pages(reinterpret_cast<void*>(from), to - from);
    lock.lock();
    if (!ok) return;  // refused: pages fault in as touched, as without the thread
    // A region opened meanwhile starts from its own first page.
    if (region_ != region) continue;
    populated_to_ = std::max(populated_to_, to);
    populated_bytes_ += to - from;
  }
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
  region_ = next_;
  populated_to_ = next_;
  end_ = next_ + size;
  reserved_ += size;
  return true;
}

}  // namespace emledger::node
