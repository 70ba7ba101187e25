#include <doctest/doctest.h>

#include "emledger/consensus/quorum.hpp"

using namespace emledger::consensus;

TEST_CASE("quorum is n - f with f = floor((n - 1) / 3)") {
  CHECK(quorum(1) == 1);
  CHECK(faults_tolerated(1) == 0);
  CHECK(quorum(4) == 3);
  CHECK(faults_tolerated(4) == 1);
  CHECK(quorum(5) == 4);  // 2f + 1 would be 3: two such quorums could miss each other's honest nodes
  CHECK(quorum(7) == 5);
  CHECK(quorum(10) == 7);
  CHECK(quorum(13) == 9);
  CHECK(quorum(16) == 11);
  for (std::size_t n = 1; n <= 128; ++n) {
    const std::size_t f = faults_tolerated(n);
    CHECK(n >= 3 * f + 1);
    CHECK(2 * quorum(n) - n >= f + 1);  // any two quorums share an honest validator
  }
}
