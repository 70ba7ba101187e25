// The node allocator's source of memory (huge_page_heap.hpp, ADR 043): pieces
// aligned as asked, never overlapping, packed into regions aligned to 2 MiB
// that carry the kernel's huge-page advice, and a request larger than a
// region served whole.
#include "huge_page_heap.hpp"

#include <doctest/doctest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../support/kernel_memory.hpp"

using emledger::node::HugePageHeap;

namespace {

std::uintptr_t addr(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }

// The VmFlags line of the mapping of this process holding `p`, if any.
std::optional<std::string> vm_flags_of(const void* p) {
  std::ifstream in("/proc/self/smaps");
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    std::uintptr_t lo = 0;
    std::uintptr_t hi = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> lo >> dash >> hi && dash == '-' && line.find(':') > line.find(' ')) {
      inside = lo <= addr(p) && addr(p) < hi;
      continue;
    }
    if (inside && line.rfind("VmFlags:", 0) == 0) return line;
  }
  return std::nullopt;
}

// How many of the 4 KiB pages of [p, p + bytes) are resident (mincore).
std::size_t resident_pages(const void* p, std::size_t bytes) {
  std::vector<unsigned char> vec(bytes / 4096);
  if (::mincore(const_cast<void*>(p), bytes, vec.data()) != 0) return 0;
  std::size_t n = 0;
  for (unsigned char v : vec) n += v & 1;
  return n;
}

// Whether this kernel knows transparent huge pages at all (without them the
// advice fails and the heap is ordinary memory).
bool kernel_has_thp() {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  return in.good();
}

}  // namespace

TEST_CASE("huge page heap: pieces are aligned, disjoint, writable and packed") {
  HugePageHeap heap;
  CHECK(heap.reserved_bytes() == 0);
  struct Piece {
    void* p;
    std::size_t bytes;
  };
  std::vector<Piece> pieces;
  const std::size_t sizes[] = {1 << 20, 8192, 3 << 20, 100, 128 << 10};
  const std::size_t aligns[] = {8192, 8192, 4096, 0, 65536};
  for (std::size_t i = 0; i < 5; ++i) {
    void* p = heap.allocate(sizes[i], aligns[i]);
    REQUIRE(p != nullptr);
    const std::size_t a = aligns[i] == 0 ? alignof(std::max_align_t) : aligns[i];
    CHECK(addr(p) % a == 0);
    std::memset(p, static_cast<int>(i + 1), sizes[i]);
    pieces.push_back({p, sizes[i]});
  }
  // The first piece of a region starts it, on a 2 MiB boundary.
  CHECK(addr(pieces[0].p) % HugePageHeap::kHugePageBytes == 0);
  // Each piece follows the one before it (no region was full), past its end.
  for (std::size_t i = 1; i < pieces.size(); ++i) {
    CHECK(addr(pieces[i].p) >= addr(pieces[i - 1].p) + pieces[i - 1].bytes);
    CHECK(addr(pieces[i].p) < addr(pieces[i - 1].p) + pieces[i - 1].bytes + 65536);
  }
  // What was written stays: no piece overlaps another.
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    const auto* b = static_cast<const unsigned char*>(pieces[i].p);
    CHECK(b[0] == i + 1);
    CHECK(b[pieces[i].bytes - 1] == i + 1);
  }
  CHECK(heap.reserved_bytes() == HugePageHeap::kRegionBytes);
  if (kernel_has_thp()) {
    auto flags = vm_flags_of(pieces[0].p);
    REQUIRE(flags.has_value());
    CHECK_MESSAGE(flags->find(" hg") != std::string::npos, *flags);
  }
}

TEST_CASE(
    "huge page heap: a full region gives way to a new one, and a large request is served whole") {
  HugePageHeap heap;
  void* first = heap.allocate(HugePageHeap::kRegionBytes - 4096, 4096);
  REQUIRE(first != nullptr);
  // No room left in the first region: the next piece opens a second.
  void* second = heap.allocate(8192, 8192);
  REQUIRE(second != nullptr);
  CHECK(addr(second) % HugePageHeap::kHugePageBytes == 0);
  CHECK((addr(second) >= addr(first) + HugePageHeap::kRegionBytes - 4096 ||
         addr(second) + 8192 <= addr(first)));
  CHECK(heap.reserved_bytes() == 2 * HugePageHeap::kRegionBytes);
  // Larger than a region: a region of its own, rounded up to huge pages.
  const std::size_t big = HugePageHeap::kRegionBytes + 3 * 4096;
  void* third = heap.allocate(big, 8192);
  REQUIRE(third != nullptr);
  CHECK(addr(third) % HugePageHeap::kHugePageBytes == 0);
  CHECK(heap.reserved_bytes() ==
        2 * HugePageHeap::kRegionBytes + HugePageHeap::kRegionBytes + HugePageHeap::kHugePageBytes);
  // Its first and last bytes are memory (the test touches no more of it).
  auto* bytes = static_cast<unsigned char*>(third);
  bytes[0] = 0x5a;
  bytes[big - 1] = 0xa5;
  CHECK(bytes[0] == 0x5a);
  CHECK(bytes[big - 1] == 0xa5);
  // An alignment above a huge page is honoured too.
  void* fourth = heap.allocate(4096, HugePageHeap::kHugePageBytes * 4);
  REQUIRE(fourth != nullptr);
  CHECK(addr(fourth) % (HugePageHeap::kHugePageBytes * 4) == 0);
}

TEST_CASE("huge page heap: requests it cannot serve get no memory") {
  HugePageHeap heap;
  CHECK(heap.allocate(0, 8192) == nullptr);
  CHECK(heap.allocate(4096, 3000) == nullptr);  // not a power of two
  CHECK(heap.allocate(SIZE_MAX - 100, 8192) == nullptr);
  CHECK(heap.reserved_bytes() == 0);
}

TEST_CASE("huge page heap: pages past the last piece are faulted in ahead, their bytes unchanged") {
  if (!emledger::testing::kernel_populates()) {
    MESSAGE("this kernel refuses MADV_POPULATE_WRITE: nothing to check");
    return;
  }
  constexpr std::size_t kAhead = 8 << 20;
  constexpr std::size_t kPiece = 1 << 20;
  for (const bool populating : {false, true}) {
    CAPTURE(populating);
    HugePageHeap heap;
    if (populating) {
      CHECK_FALSE(heap.populate_ahead(0));
      REQUIRE(heap.populate_ahead(kAhead));
      CHECK_FALSE(heap.populate_ahead(kAhead));  // one thread at most
    }
    auto* first = static_cast<unsigned char*>(heap.allocate(kPiece, 4096));
    REQUIRE(first != nullptr);
    std::memset(first, 0x3c, kPiece);
    // What comes next in the region: faulted in by the thread alone.
    const unsigned char* ahead = first + kPiece;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (populating && heap.populated_bytes() < kAhead &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (populating) {
      CHECK(heap.populated_bytes() == kAhead);
      CHECK(resident_pages(ahead, kAhead) == kAhead / 4096);
    } else {
      CHECK(heap.populated_bytes() == 0);
      CHECK(resident_pages(ahead + (2 << 20), kAhead - (2 << 20)) == 0);
    }
    // No more than asked: the rest of the region is untouched.
    CHECK(resident_pages(ahead + kAhead + (2 << 20), 8 << 20) == 0);
    // The next pieces are the pages faulted in, and read as fresh memory.
    auto* second = static_cast<unsigned char*>(heap.allocate(kAhead, 4096));
    REQUIRE(second == ahead);
    bool zeros = true;
    for (std::size_t i = 0; i < kAhead; i += 512) zeros = zeros && second[i] == 0;
    CHECK(zeros);
    // The first piece kept every byte.
    bool kept = true;
    for (std::size_t i = 0; i < kPiece; ++i) kept = kept && first[i] == 0x3c;
    CHECK(kept);
    // Past the second piece, the thread goes on.
    while (populating && heap.populated_bytes() < 2 * kAhead &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    CHECK(heap.populated_bytes() == (populating ? 2 * kAhead : 0));
  }
}
