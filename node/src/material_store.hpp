// The off-chain material store (design.md section 8): files content-addressed
// by SHA-256 under DATA/materials/, released to a consuming org only against a
// committed access, once per access. Layout:
//
//   DATA/materials/<64 hex content hash>   the file bytes
//   DATA/materials/tmp/                    uploads being written
//   DATA/materials/released/<access id>    empty marker: this access was used
//
// Node-local state, never part of the consensus state: another node keeps
// its own store and its own release markers.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "emledger/crypto/bytes.hpp"
#include "emledger/crypto/result.hpp"

namespace emledger::node {

// Largest file the store accepts (the HTTP body limit of PUT /v1/materials).
inline constexpr std::size_t kMaterialBytesMax = 64u << 20;
// Chunk size for hashing and writing an upload.
inline constexpr std::size_t kMaterialChunkBytes = 1u << 16;

// Thread safe: every operation works on whole files with atomic renames and
// exclusive creates.
class MaterialStore {
 public:
  // Creates the directories if needed. Errors: IO_ERROR.
  static Result<std::unique_ptr<MaterialStore>> open(const std::string& dir);

  // Stores `bytes` under `content_hash` durably (temp file, fsync, rename,
  // fsync of the directory). Returns true when newly stored, false when the
  // same file was already there. Errors: CONTENT_HASH_MISMATCH (nothing is
  // stored), BODY_TOO_LARGE, IO_ERROR.
  Result<bool> put(const Hash& content_hash, std::string_view bytes);

  bool contains(const Hash& content_hash) const;

  // The file's bytes, nullopt when absent. Errors: IO_ERROR, STORAGE_CORRUPT
  // (the file no longer hashes to its name).
  Result<std::optional<std::string>> get(const Hash& content_hash) const;

  // Durably marks `access_id` as used (exclusive create, fsync of the marker
  // and its directory). Exactly one caller per access id ever succeeds.
  // Errors: ACCESS_ALREADY_USED, IO_ERROR.
  Status mark_released(const Hash& access_id);

 private:
  explicit MaterialStore(std::string dir) : dir_(std::move(dir)) {}
  std::string file_path(const Hash& h) const;
  std::string dir_;
};

}  // namespace emledger::node
