// SHA-256 (FIPS 180-4) through libsodium.
#pragma once

#include <string>

#include "emledger/crypto/bytes.hpp"
#include "emledger/crypto/result.hpp"

namespace emledger::crypto {

Hash sha256(ByteView data);

// Incremental hashing for multi-part inputs. Not thread safe.
class Sha256 {
 public:
  Sha256();
  Sha256& update(ByteView data);
  Sha256& update(const Hash& h) { return update(ByteView(h)); }
  Hash finish();

 private:
  alignas(16) unsigned char state_[128];
  bool finished_ = false;
};

// Streams the file in chunks of kFileChunkBytes; memory stays constant.
// Errors: IO_ERROR when the file cannot be opened or read.
inline constexpr std::size_t kFileChunkBytes = 1 << 16;
struct FileDigest {
  Hash hash;
  std::uint64_t size_bytes;
};
Result<FileDigest> sha256_file(const std::string& path);

}  // namespace emledger::crypto
