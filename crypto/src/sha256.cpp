#include "emledger/crypto/sha256.hpp"

#include <sodium.h>

#include <cstdio>
#include <memory>

#include "emledger/crypto/ed25519.hpp"

namespace emledger::crypto {

static_assert(sizeof(crypto_hash_sha256_state) <= 128);

Hash sha256(ByteView data) {
  Hash out;
  crypto_hash_sha256(out.data(), data.data(), data.size());
  return out;
}

Sha256::Sha256() {
  crypto_hash_sha256_init(reinterpret_cast<crypto_hash_sha256_state*>(state_));
}

Sha256& Sha256::update(ByteView data) {
  EMLEDGER_ASSERT(!finished_);
  crypto_hash_sha256_update(reinterpret_cast<crypto_hash_sha256_state*>(state_), data.data(),
                            data.size());
  return *this;
}

Hash Sha256::finish() {
  EMLEDGER_ASSERT(!finished_);
  finished_ = true;
  Hash out;
  crypto_hash_sha256_final(reinterpret_cast<crypto_hash_sha256_state*>(state_), out.data());
  return out;
}

Result<FileDigest> sha256_file(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return Status::error("IO_ERROR", "cannot open " + path);
  Sha256 h;
  std::vector<std::uint8_t> buf(kFileChunkBytes);
  std::uint64_t total = 0;
  for (;;) {
    std::size_t n = std::fread(buf.data(), 1, buf.size(), f.get());
    if (n > 0) {
      h.update(ByteView(buf.data(), n));
      total += n;
    }
    if (n < buf.size()) {
      if (std::ferror(f.get())) return Status::error("IO_ERROR", "cannot read " + path);
      break;
    }
  }
  return FileDigest{h.finish(), total};
}

}  // namespace emledger::crypto
