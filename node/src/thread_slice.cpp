#include "thread_slice.hpp"

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

namespace emledger::node {
namespace {

// struct sched_attr of sched_setattr(2), its first published layout
// (SCHED_ATTR_SIZE_VER0, 48 bytes). glibc 2.36 has no wrapper, and
// <linux/sched/types.h> clashes with <sched.h>.
struct SchedAttr {
  std::uint32_t size = sizeof(SchedAttr);
  std::uint32_t policy = 0;
  std::uint64_t flags = 0;
  std::int32_t nice = 0;
  std::uint32_t priority = 0;
  std::uint64_t runtime = 0;
  std::uint64_t deadline = 0;
  std::uint64_t period = 0;
};
static_assert(sizeof(SchedAttr) == 48);

}  // namespace

bool request_thread_slice(std::uint64_t slice_ns) {
  SchedAttr now;
  if (::syscall(SYS_sched_getattr, 0, &now, sizeof now, 0) != 0) return false;
  if (now.policy != SCHED_OTHER) return false;  // a batch or idle thread keeps its policy
  SchedAttr want;
  want.policy = SCHED_OTHER;
  want.nice = now.nice;
  want.runtime = slice_ns;
  return ::syscall(SYS_sched_setattr, 0, &want, 0) == 0;
}

std::optional<std::uint64_t> thread_slice_ns() {
  SchedAttr now;
  if (::syscall(SYS_sched_getattr, 0, &now, sizeof now, 0) != 0) return std::nullopt;
  return now.runtime;
}

}  // namespace emledger::node
