#include "clock.hpp"

#include <chrono>

namespace emledger::node {

std::uint64_t system_clock_ms() {
  using namespace std::chrono;
  return static_cast<std::uint64_t>(
      duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

}  // namespace emledger::node
