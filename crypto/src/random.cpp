#include "emledger/crypto/random.hpp"

#include <sodium.h>

#include <array>

#include "emledger/crypto/ed25519.hpp"
#include "emledger/crypto/hex.hpp"

namespace emledger::crypto {

std::string random_nonce_hex() {
  ensure_sodium();
  std::array<std::uint8_t, 16> bytes;
  randombytes_buf(bytes.data(), bytes.size());
  return to_hex(ByteView(bytes));
}

}  // namespace emledger::crypto
