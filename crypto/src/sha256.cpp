#include "emledger/crypto/sha256.hpp"

#include <openssl/evp.h>
#include <sodium.h>

#include <algorithm>
#include <cstdio>
#include <memory>

#include "emledger/crypto/ed25519.hpp"

namespace emledger::crypto {

static_assert(sizeof(crypto_hash_sha256_state) <= 128);

namespace {

// The digest is fetched once; each thread keeps one context and reuses it, so
// a hash costs no allocation and no algorithm lookup.
const EVP_MD* sha256_md() {
  static const EVP_MD* md = [] {
    EVP_MD* m = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    EMLEDGER_ASSERT(m != nullptr);
    return m;
  }();
  return md;
}

struct ThreadContext {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~ThreadContext() { EVP_MD_CTX_free(ctx); }
};

Hash openssl_sha256(ByteView data) {
  thread_local ThreadContext tc;
  EMLEDGER_ASSERT(tc.ctx != nullptr);
  Hash out;
  unsigned int len = 0;
  EMLEDGER_ASSERT(EVP_DigestInit_ex2(tc.ctx, sha256_md(), nullptr) == 1);
  EMLEDGER_ASSERT(EVP_DigestUpdate(tc.ctx, data.data(), data.size()) == 1);
  EMLEDGER_ASSERT(EVP_DigestFinal_ex(tc.ctx, out.data(), &len) == 1 && len == out.size());
  return out;
}

}  // namespace

Hash sha256(ByteView data) { return openssl_sha256(data); }

void Sha256::start_streaming() {
  crypto_hash_sha256_init(reinterpret_cast<crypto_hash_sha256_state*>(state_));
  crypto_hash_sha256_update(reinterpret_cast<crypto_hash_sha256_state*>(state_), buf_.data(), len_);
  streaming_ = true;
}

Sha256& Sha256::update(ByteView data) {
  EMLEDGER_ASSERT(!finished_);
  if (!streaming_ && len_ + data.size() <= buf_.size()) {
    std::copy(data.begin(), data.end(), buf_.begin() + static_cast<std::ptrdiff_t>(len_));
    len_ += data.size();
    return *this;
  }
  if (!streaming_) start_streaming();
  crypto_hash_sha256_update(reinterpret_cast<crypto_hash_sha256_state*>(state_), data.data(),
                            data.size());
  return *this;
}

Hash Sha256::finish() {
  EMLEDGER_ASSERT(!finished_);
  finished_ = true;
  if (!streaming_) return openssl_sha256(ByteView(buf_.data(), len_));
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
