// Wall-clock time for the node. The kernel has no clock; the node passes time
// in (block times, signature windows), and tests pass their own.
#pragma once

#include <cstdint>
#include <functional>

namespace emledger::node {

// Milliseconds since the Unix epoch.
using Clock = std::function<std::uint64_t()>;
std::uint64_t system_clock_ms();

}  // namespace emledger::node
