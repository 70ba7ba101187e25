#include "emledger/crypto/sha256.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <new>
#include <vector>

#include "emledger/crypto/ed25519.hpp"

namespace emledger::crypto {

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

void Sha256::FreeContext::operator()(evp_md_ctx_st* ctx) const { EVP_MD_CTX_free(ctx); }

void Sha256::start_streaming() {
  stream_.reset(EVP_MD_CTX_new());
  if (!stream_) throw std::bad_alloc();
  EMLEDGER_ASSERT(EVP_DigestInit_ex2(stream_.get(), sha256_md(), nullptr) == 1);
  EMLEDGER_ASSERT(EVP_DigestUpdate(stream_.get(), buf_.data(), len_) == 1);
}

Sha256& Sha256::update(ByteView data) {
  EMLEDGER_ASSERT(!finished_);
  if (!stream_ && len_ + data.size() <= buf_.size()) {
    std::copy(data.begin(), data.end(), buf_.begin() + static_cast<std::ptrdiff_t>(len_));
    len_ += data.size();
    return *this;
  }
  if (!stream_) start_streaming();
  EMLEDGER_ASSERT(EVP_DigestUpdate(stream_.get(), data.data(), data.size()) == 1);
  return *this;
}

Hash Sha256::finish() {
  EMLEDGER_ASSERT(!finished_);
  finished_ = true;
  if (!stream_) return openssl_sha256(ByteView(buf_.data(), len_));
  Hash out;
  unsigned int len = 0;
  EMLEDGER_ASSERT(EVP_DigestFinal_ex(stream_.get(), out.data(), &len) == 1 && len == out.size());
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
