// Validator-set arithmetic of docs/consensus.md: n validators tolerate
// f = floor((n - 1) / 3) Byzantine ones, and a quorum is q = n - f (not
// 2f + 1: with n = 3f + 2, 2f + 1 quorums would not intersect in an honest
// validator).
#pragma once

#include <cstddef>

namespace emledger::consensus {

// Faults tolerated by `n` >= 1 validators.
std::size_t faults_tolerated(std::size_t n);
// Votes of distinct validators needed for a certificate among `n` >= 1.
std::size_t quorum(std::size_t n);

}  // namespace emledger::consensus
