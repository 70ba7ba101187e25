// Randomness from the OS CSPRNG (libsodium). Kept out of ledger/, whose
// kernel must be deterministic.
#pragma once

#include <string>

namespace emledger::crypto {

// 32 lowercase hex characters (16 random bytes): a request-signature nonce.
std::string random_nonce_hex();

}  // namespace emledger::crypto
