// SHA-256 (FIPS 180-4). Short inputs (the hashes of the kernel: tx ids,
// tree nodes, tags) go through OpenSSL's libcrypto, which uses the CPU's SHA
// extensions where present (about 3.5x faster per call than libsodium's
// portable code on this project's machines, see docs/adr/010); long streams
// (files) through libsodium. Both compute the same function.
#pragma once

#include <array>
#include <string>

#include "emledger/crypto/bytes.hpp"
#include "emledger/crypto/result.hpp"

namespace emledger::crypto {

Hash sha256(ByteView data);

// Incremental hashing for multi-part inputs. Not thread safe. Inputs up to
// kInlineBytes in total are buffered and hashed in one call at finish().
class Sha256 {
 public:
  static constexpr std::size_t kInlineBytes = 256;
  Sha256() = default;
  Sha256& update(ByteView data);
  Sha256& update(const Hash& h) { return update(ByteView(h)); }
  Hash finish();

 private:
  void start_streaming();
  alignas(16) unsigned char state_[128];  // libsodium state once streaming
  std::array<std::uint8_t, kInlineBytes> buf_{};
  std::size_t len_ = 0;
  bool streaming_ = false;
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
