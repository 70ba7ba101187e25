// SHA-256 (FIPS 180-4), computed by OpenSSL's libcrypto, which uses the CPU's
// SHA extensions where present (about 3.5x faster per call than libsodium's
// portable code on this project's machines, see docs/adr/010): short inputs
// (the hashes of the kernel: tx ids, tree nodes, tags) in one call with a
// per-thread context, longer ones (log leaves of whole transactions, files)
// through a context of their own.
#pragma once

#include <array>
#include <memory>
#include <string>

#include "emledger/crypto/bytes.hpp"
#include "emledger/crypto/result.hpp"

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX

namespace emledger::crypto {

Hash sha256(ByteView data);

// Incremental hashing for multi-part inputs. Not thread safe. Inputs up to
// kInlineBytes in total are buffered and hashed in one call at finish();
// beyond that the object takes an OpenSSL context of its own (one allocation)
// and streams into it.
class Sha256 {
 public:
  static constexpr std::size_t kInlineBytes = 256;
  Sha256() = default;
  Sha256& update(ByteView data);
  Sha256& update(const Hash& h) { return update(ByteView(h)); }
  Hash finish();

 private:
  struct FreeContext {
    void operator()(evp_md_ctx_st* ctx) const;
  };
  void start_streaming();
  std::unique_ptr<evp_md_ctx_st, FreeContext> stream_;  // set once streaming
  std::array<std::uint8_t, kInlineBytes> buf_{};
  std::size_t len_ = 0;
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
