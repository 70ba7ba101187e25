// The state tree's page cache (ADR 044): smt_page_cache.hpp.
#include "emledger/ledger/smt_page_cache.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <new>
#include <system_error>

#include "emledger/crypto/result.hpp"
#include "emledger/ledger/huge_pages.hpp"
#include "emledger/ledger/store.hpp"

namespace emledger::ledger {
namespace {

constexpr std::size_t kMemoryBytesMin = std::size_t{64} << 10;
constexpr std::size_t kNodeRecordBytes = sizeof(SmtHashedNode);
static_assert(kNodeRecordBytes == kHashSize + kSmtNodeBytes);
constexpr std::size_t kPageBytes = 4096;

constexpr std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

}  // namespace

void SmtPageCache::Unmap::operator()(std::uint8_t* p) const { ::munmap(p, bytes); }

SmtPageCache::SmtPageCache(std::size_t bytes, bool huge_pages) {
  EMLEDGER_ASSERT(bytes >= kMemoryBytesMin);
  // One index line for every kWays records of kArenaBytesPerEntry; at most
  // an eighth of the memory.
  index_sets_ = std::bit_ceil(bytes / (kWays * kArenaBytesPerEntry + sizeof(Set)));
  while (index_sets_ > 1 && index_sets_ * sizeof(Set) > bytes / 8) index_sets_ /= 2;
  index_bytes_ = index_sets_ * sizeof(Set);
  arena_bytes_ = (bytes - index_bytes_) / 8 * 8;
  const std::size_t mapped = round_up(index_bytes_ + arena_bytes_, kPageBytes);
  mapped_bytes_ = mapped;
  populated_ = mapped;  // until a populating thread starts
  // An anonymous mapping of its own: zeroed by the kernel page by page as it
  // is touched (an index of zeros is empty), and advised before any page is.
  void* start = nullptr;
  if (huge_pages && mapped >= kHugePageBytes) {
    start = map_huge_page_aligned(mapped, /*noreserve=*/false);
  } else {
    start = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (start == MAP_FAILED) start = nullptr;
  }
  if (start == nullptr) throw std::bad_alloc();
  memory_ = std::unique_ptr<std::uint8_t, Unmap>(static_cast<std::uint8_t*>(start), Unmap{mapped});
  sets_ = reinterpret_cast<Set*>(memory_.get());
  arena_ = memory_.get() + index_bytes_;
  // The kernel faults each page in as the cache would on first touch, but
  // ahead of it and off the threads that use the cache (populate_pages).
  if (huge_pages) {
    populated_ = 0;
    try {
      populating_ = std::jthread([this](std::stop_token stop) { populate_loop(std::move(stop)); });
    } catch (const std::system_error&) {
      // No thread to be had: the pages are faulted in as they are touched.
      populated_ = mapped;
    }
  }
}

std::size_t SmtPageCache::populated_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return populated_;
}

std::uint64_t SmtPageCache::written_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return head_;
}

std::size_t SmtPageCache::populate_want() const {
  // The index at once: its lines are touched anywhere. The arena up to
  // kPopulateAheadBytes past the head's first round.
  const std::uint64_t used = std::min<std::uint64_t>(head_, arena_bytes_);
  return std::min(mapped_bytes_,
                  round_up(index_bytes_ + used + kPopulateAheadBytes, kHugePageBytes));
}

void SmtPageCache::populate_loop(std::stop_token stop) {
  // Faulting pages in ahead of need must not take the CPU from the threads
  // that need them now.
  lower_thread_priority();
  // At most this much per call, so that a stop waits for little.
  constexpr std::size_t kStepBytes = std::size_t{32} << 20;
  std::unique_lock<std::mutex> lock(mu_);
  while (populated_ < mapped_bytes_ && !stop.stop_requested()) {
    if (!wake_.wait(lock, stop, [this] { return populate_want() > populated_; })) return;
    const std::size_t from = populated_;
    const std::size_t to = std::min(populate_want(), from + kStepBytes);
    populated_ = to;
    lock.unlock();
    // Records appended meanwhile may be in these pages: faulting them in
    // changes none of their bytes.
    const bool ok = populate_pages(memory_.get() + from, to - from);
    lock.lock();
    // Refused: the rest faults in as touched, as without the thread.
    if (!ok) populated_ = mapped_bytes_;
  }
}

std::size_t SmtPageCache::set_index(const Hash& root) const {
  std::uint64_t v;
  std::memcpy(&v, root.data(), sizeof v);
  return static_cast<std::size_t>(v & (index_sets_ - 1));
}

std::uint64_t SmtPageCache::tag_of(const Hash& root) {
  std::uint64_t v;
  std::memcpy(&v, root.data() + sizeof v, sizeof v);
  return v;
}

const SmtPageCache::RecordHead* SmtPageCache::record(const Entry& e) const {
  const std::uint64_t at = e.where - 1;
  // Bytes before head_ - arena_bytes_ have been written over.
  if (head_ > arena_bytes_ && at < head_ - arena_bytes_) return nullptr;
  return reinterpret_cast<const RecordHead*>(arena_ + at % arena_bytes_);
}

SmtPageCache::Entry* SmtPageCache::find_entry(const Hash& root) const {
  Set& set = sets_[set_index(root)];
  const std::uint64_t tag = tag_of(root);
  for (Entry& e : set.ways) {
    if (e.where == 0 || e.tag != tag) continue;
    const RecordHead* r = record(e);
    if (r != nullptr && r->root == root) return &e;
  }
  return nullptr;
}

bool SmtPageCache::find(const Hash& root, std::vector<SmtHashedNode>& out) const {
  std::lock_guard<std::mutex> lock(mu_);
  Entry* e = find_entry(root);
  if (e == nullptr) return false;
  const RecordHead* r = record(*e);
  out.resize(r->count);
  std::memcpy(out.data(), reinterpret_cast<const std::uint8_t*>(r) + sizeof(RecordHead),
              r->count * kNodeRecordBytes);
  // A page read from the older half of the ring is written again at its
  // head, so that a page read often (the upper levels, by proofs of a ledger
  // at rest) stays while the ring goes round.
  if (head_ - (e->where - 1) > arena_bytes_ / 2) e->where = append(root, out);
  return true;
}

std::uint64_t SmtPageCache::append(const Hash& root, std::span<const SmtHashedNode> nodes) const {
  const std::size_t bytes = round_up(sizeof(RecordHead) + nodes.size() * kNodeRecordBytes, 8);
  EMLEDGER_ASSERT(bytes * 4 <= arena_bytes_);
  // A record never wraps: one that would not fit before the arena's end
  // starts the next round at its beginning.
  const std::size_t offset = head_ % arena_bytes_;
  if (offset + bytes > arena_bytes_) head_ += arena_bytes_ - offset;
  std::uint8_t* at = arena_ + head_ % arena_bytes_;
  RecordHead h{root, static_cast<std::uint32_t>(nodes.size()), static_cast<std::uint32_t>(bytes)};
  std::memcpy(at, &h, sizeof h);
  std::memcpy(at + sizeof h, nodes.data(), nodes.size() * kNodeRecordBytes);
  const std::uint64_t where = head_ + 1;
  head_ += bytes;
  // The populating thread is woken once the head is within half its
  // margin of what it has faulted in.
  if (populated_ < mapped_bytes_ &&
      index_bytes_ + std::min<std::uint64_t>(head_, arena_bytes_) + kPopulateAheadBytes / 2 >
          populated_)
    wake_.notify_one();
  return where;
}

void SmtPageCache::insert(const Hash& root, std::span<const SmtHashedNode> nodes) const {
  EMLEDGER_ASSERT(!nodes.empty() && nodes.size() <= kPageNodesMax);
  std::lock_guard<std::mutex> lock(mu_);
  if (find_entry(root) != nullptr) return;
  const std::uint64_t where = append(root, nodes);
  // An empty way, else one whose record is gone, else the oldest.
  Set& set = sets_[set_index(root)];
  Entry* victim = &set.ways[0];
  for (Entry& e : set.ways) {
    if (e.where == 0 || record(e) == nullptr) {
      victim = &e;
      break;
    }
    if (e.where < victim->where) victim = &e;
  }
  victim->tag = tag_of(root);
  victim->where = where;
}

void SmtPageCache::forget(const Hash& root) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (Entry* e = find_entry(root)) *e = Entry{0, 0};
}

void SmtPageCache::prefetch(const Hash& root) const {
  __builtin_prefetch(&sets_[set_index(root)], 0);
}

}  // namespace emledger::ledger
