#include "emledger/consensus/quorum.hpp"

#include "emledger/crypto/result.hpp"

namespace emledger::consensus {

std::size_t faults_tolerated(std::size_t n) {
  EMLEDGER_ASSERT(n >= 1);
  return (n - 1) / 3;
}

std::size_t quorum(std::size_t n) {
  // Two quorums share at least 2q - n = n - 2f >= f + 1 validators, so at
  // least one honest one.
  const std::size_t q = n - faults_tolerated(n);
  EMLEDGER_ASSERT(2 * q >= n + faults_tolerated(n) + 1);
  return q;
}

}  // namespace emledger::consensus
