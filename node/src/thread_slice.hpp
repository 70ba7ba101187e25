// The time slice the kernel's scheduler gives a thread (ADR 037).
#pragma once

#include <cstdint>
#include <optional>

namespace emledger::node {

// What an HTTP I/O thread asks for: a tenth of a millisecond, the shortest
// slice Linux accepts.
inline constexpr std::uint64_t kIoThreadSliceNs = 100'000;

// Asks the kernel to run the calling thread in slices of `slice_ns`, keeping
// its scheduling policy (SCHED_OTHER) and nice value. Linux 6.12 and later
// read a SCHED_OTHER thread's sched_attr.sched_runtime as the slice it asks
// for (EEVDF): a thread that wakes with a shorter slice than the running one
// may take the CPU at once, where it would otherwise wait out the running
// thread's slice. Older kernels ignore the field. A preference, like a nice
// value: false when the call fails (a seccomp filter, say), and nothing else
// changes.
bool request_thread_slice(std::uint64_t slice_ns);

// The slice the kernel runs the calling thread with (sched_getattr): the one
// it asked for, else the kernel's default (1.4 ms on the 2-core machine of
// our benchmarks); 0 where the kernel keeps no slice per thread (before
// 6.12); nullopt when the call fails.
std::optional<std::uint64_t> thread_slice_ns();

}  // namespace emledger::node
