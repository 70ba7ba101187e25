// The node allocator's source of memory (huge_page_heap.hpp, ADR 043): pieces
// aligned as asked, never overlapping, packed into regions aligned to 2 MiB
// that carry the kernel's huge-page advice, and a request larger than a
// region served whole.
#include "huge_page_heap.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

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
