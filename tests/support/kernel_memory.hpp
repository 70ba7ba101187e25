// What the running kernel offers for anonymous memory, for tests whose
// checks depend on it.
#pragma once

#include <sys/mman.h>

namespace emledger::testing {

// Whether this kernel takes MADV_POPULATE_WRITE (Linux 5.14 and later).
inline bool kernel_populates() {
  void* p = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return false;
  const bool ok = ::madvise(p, 4096, MADV_POPULATE_WRITE) == 0;
  ::munmap(p, 4096);
  return ok;
}

}  // namespace emledger::testing
