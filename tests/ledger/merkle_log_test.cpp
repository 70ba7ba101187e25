// The transaction log against the published RFC 6962 vectors, a naive
// recursive MTH written here from RFC 9162 section 2.1, and tampering.
#include "emledger/ledger/merkle_log.hpp"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <bit>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "emledger/crypto/hex.hpp"
#include "emledger/ledger/store.hpp"

using namespace emledger;
using namespace emledger::ledger;

namespace {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "emledger-mlog-XXXXXX").string();
    char* made = ::mkdtemp(tmpl.data());
    REQUIRE(made != nullptr);
    path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

Hash hx(std::string_view s) {
  auto h = hash_from_hex(s);
  REQUIRE(h.has_value());
  return *h;
}

// RFC 9162 section 2.1.1 MTH, 2.1.3.1 PATH and 2.1.4.1 SUBPROOF, written
// straight from the definitions over leaf hashes D[b:e] (m is absolute).
std::uint64_t largest_pow2_below(std::uint64_t n) {
  std::uint64_t k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

Hash naive_mth(const std::vector<Hash>& d, std::uint64_t b, std::uint64_t e) {
  if (e == b) return log_empty_root();
  if (e - b == 1) return d[b];
  const std::uint64_t k = largest_pow2_below(e - b);
  return log_node_hash(naive_mth(d, b, b + k), naive_mth(d, b + k, e));
}

std::vector<Hash> naive_path(const std::vector<Hash>& d, std::uint64_t m, std::uint64_t b,
                             std::uint64_t e) {
  if (e - b == 1) return {};
  const std::uint64_t k = largest_pow2_below(e - b);
  std::vector<Hash> p;
  if (m < b + k) {
    p = naive_path(d, m, b, b + k);
    p.push_back(naive_mth(d, b + k, e));
  } else {
    p = naive_path(d, m, b + k, e);
    p.push_back(naive_mth(d, b, b + k));
  }
  return p;
}

std::vector<Hash> naive_subproof(const std::vector<Hash>& d, std::uint64_t m, std::uint64_t b,
                                 std::uint64_t e, bool whole) {
  if (m == e) return whole ? std::vector<Hash>{} : std::vector<Hash>{naive_mth(d, b, e)};
  const std::uint64_t k = largest_pow2_below(e - b);
  std::vector<Hash> p;
  if (m <= b + k) {
    p = naive_subproof(d, m, b, b + k, whole);
    p.push_back(naive_mth(d, b + k, e));
  } else {
    p = naive_subproof(d, m, b + k, e, false);
    p.push_back(naive_mth(d, b, b + k));
  }
  return p;
}

// A log in a real LevelDB, appended batch by batch as blocks would be.
struct LogFixture {
  TempDir dir;
  std::unique_ptr<KvStore> store;
  std::vector<Hash> leaves;

  LogFixture() {
    auto opened = open_leveldb(dir.path());
    REQUIRE(opened.is_ok());
    store = std::move(*opened);
  }

  void append(const std::vector<Hash>& batch) {
    Overlay overlay(*store);
    MerkleLog log(overlay);
    auto root = log.append(leaves.size(), batch, overlay);
    REQUIRE(root.is_ok());
    REQUIRE(store->write(overlay.batch(), false).is_ok());
    leaves.insert(leaves.end(), batch.begin(), batch.end());
    CHECK(*root == naive_mth(leaves, 0, leaves.size()));
  }

  // Appends leaf hashes of "entry-<i>" in batches of growing size.
  void append_numbered(std::uint64_t count) {
    std::uint64_t batch_size = 1;
    while (leaves.size() < count) {
      std::vector<Hash> batch;
      while (batch.size() < batch_size && leaves.size() + batch.size() < count) {
        std::string entry = "entry-" + std::to_string(leaves.size() + batch.size());
        batch.push_back(log_leaf_hash(as_bytes(entry)));
      }
      append(batch);
      batch_size = batch_size % 7 + 1;
    }
  }
};

// Counts the reads a query makes against the real store.
class CountingReader : public KvReader {
 public:
  explicit CountingReader(const KvReader& base) : base_(base) {}
  Result<std::optional<Bytes>> get(ByteView key) const override {
    ++gets_;
    return base_.get(key);
  }
  std::size_t gets() const { return gets_; }
  void reset() { gets_ = 0; }

 private:
  const KvReader& base_;
  mutable std::size_t gets_ = 0;
};

// Published RFC 6962 test vectors: the 8 leaves, roots of sizes 0..8, stored
// node hashes, and inclusion/consistency proofs, as given in
// github.com/transparency-dev/merkle testonly/constants.go and
// proof/verify_test.go (also google/trillian merkle/testonly). Their proof
// tables number leaves from 1; the indices below are 0-based.
const char* const kVectorLeaves[] = {"",
                                     "00",
                                     "10",
                                     "2021",
                                     "3031",
                                     "40414243",
                                     "5051525354555657",
                                     "606162636465666768696a6b6c6d6e6f"};
const char* const kVectorRoots[] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};
struct VectorNode {
  std::uint8_t level;
  std::uint64_t index;
  const char* hash;
};
const VectorNode kVectorNodes[] = {
    {0, 0, "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"},
    {0, 1, "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"},
    {0, 2, "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"},
    {0, 3, "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"},
    {0, 4, "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"},
    {0, 5, "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"},
    {0, 6, "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"},
    {0, 7, "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"},
    {1, 0, "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"},
    {1, 1, "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"},
    {1, 2, "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"},
    {1, 3, "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"},
    {2, 0, "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"},
    {2, 1, "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"},
    {3, 0, "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"},
};
struct VectorProof {
  std::uint64_t a;  // leaf index, or first size
  std::uint64_t b;  // tree size, or second size
  std::vector<const char*> path;
};
const VectorProof kVectorInclusion[] = {
    {0, 1, {}},
    {0,
     8,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {5,
     8,
     {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2, 3, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
    {1,
     5,
     {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
};
const VectorProof kVectorConsistency[] = {
    {1, 1, {}},
    {1,
     8,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {6,
     8,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2,
     5,
     {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
    {6,
     7,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
};

std::vector<Hash> hashes(const std::vector<const char*>& hex) {
  std::vector<Hash> out;
  for (const char* h : hex) out.push_back(hx(h));
  return out;
}

// Counts the forged variants of a valid inclusion proof that still verify.
// `roots[s]` is the root of size s. A root does not commit to its size, so a
// changed size is checked against the root of that size (as a signed tree head
// pairs them): leaf 0 of 8 and leaf 0 of 7 have the same path shape, so the
// 8-leaf proof with tree_size 7 does verify against the 8-leaf root.
int forged_inclusions_accepted(const InclusionProof& good, const Hash& leaf,
                               const std::vector<Hash>& roots) {
  const Hash& root = roots.at(good.tree_size);
  auto root_of = [&](std::uint64_t size) { return size < roots.size() ? roots[size] : root; };
  int accepted = 0;
  auto try_proof = [&](const InclusionProof& p, const Hash& l, const Hash& r) {
    if (verify_inclusion(l, p, r)) ++accepted;
  };
  for (std::size_t i = 0; i < good.path.size(); ++i) {
    for (std::size_t j = 0; j < kHashSize; ++j) {
      InclusionProof p = good;
      p.path[i][j] ^= 0x01;
      try_proof(p, leaf, root);
    }
  }
  for (std::size_t j = 0; j < kHashSize; ++j) {
    Hash l = leaf;
    l[j] ^= 0x80;
    try_proof(good, l, root);
    Hash r = root;
    r[j] ^= 0x80;
    try_proof(good, leaf, r);
  }
  for (std::uint64_t index : {good.leaf_index + 1, good.leaf_index - 1, good.leaf_index ^ 2}) {
    InclusionProof p = good;
    p.leaf_index = index;  // leaf_index - 1 wraps at 0: out of range
    try_proof(p, leaf, root);
  }
  for (std::uint64_t size : {good.tree_size + 1, good.tree_size - 1}) {
    InclusionProof p = good;
    p.tree_size = size;
    try_proof(p, leaf, root_of(size));
  }
  for (std::uint64_t size : {good.tree_size * 2, good.tree_size / 2}) {
    InclusionProof p = good;
    p.tree_size = size;
    try_proof(p, leaf, root);
  }
  InclusionProof p = good;
  p.path.push_back(root);
  try_proof(p, leaf, root);
  p = good;
  p.path.insert(p.path.begin(), leaf);
  try_proof(p, leaf, root);
  if (!good.path.empty()) {
    p = good;
    p.path.pop_back();
    try_proof(p, leaf, root);
  }
  return accepted;
}

int forged_consistencies_accepted(const ConsistencyProof& good, const std::vector<Hash>& roots) {
  const Hash& r1 = roots.at(good.first);
  const Hash& r2 = roots.at(good.second);
  auto root_of = [&](std::uint64_t size, const Hash& fallback) {
    return size < roots.size() ? roots[size] : fallback;
  };
  int accepted = 0;
  auto try_proof = [&](const ConsistencyProof& p, const Hash& a, const Hash& b) {
    if (verify_consistency(p, a, b)) ++accepted;
  };
  for (std::size_t i = 0; i < good.path.size(); ++i) {
    for (std::size_t j = 0; j < kHashSize; ++j) {
      ConsistencyProof p = good;
      p.path[i][j] ^= 0x01;
      try_proof(p, r1, r2);
    }
  }
  for (std::size_t j = 0; j < kHashSize; ++j) {
    Hash a = r1;
    a[j] ^= 0x80;
    try_proof(good, a, r2);
    Hash b = r2;
    b[j] ^= 0x80;
    try_proof(good, r1, b);
  }
  try_proof(good, r2, r1);
  for (std::uint64_t first : {good.first - 1, good.first + 1, good.first ^ 2}) {
    ConsistencyProof p = good;
    p.first = first;
    try_proof(p, root_of(first, r1), r2);
    try_proof(p, r1, r2);
  }
  for (std::uint64_t second : {good.second - 1, good.second + 1}) {
    ConsistencyProof p = good;
    p.second = second;
    try_proof(p, r1, root_of(second, r2));
  }
  for (std::uint64_t second : {good.second * 2, good.second / 2}) {
    ConsistencyProof p = good;
    p.second = second;
    try_proof(p, r1, r2);
  }
  ConsistencyProof p = good;
  p.path.push_back(r2);
  try_proof(p, r1, r2);
  p = good;
  p.path.insert(p.path.begin(), r1);
  try_proof(p, r1, r2);
  if (!good.path.empty()) {
    p = good;
    p.path.pop_back();
    try_proof(p, r1, r2);
    p = good;
    p.path.erase(p.path.begin());
    try_proof(p, r1, r2);
  }
  return accepted;
}

}  // namespace

TEST_CASE("merkle log: hashing matches RFC 6962 / 9162") {
  CHECK(to_hex(log_empty_root()) == kVectorRoots[0]);
  CHECK(to_hex(log_leaf_hash(ByteView())) == kVectorNodes[0].hash);
  CHECK(log_node_hash(hx(kVectorNodes[0].hash), hx(kVectorNodes[1].hash)) ==
        hx(kVectorNodes[8].hash));
  Bytes key = log_tile_key(3, 0x0102030405060708ULL);
  CHECK(to_hex(key) == "74030102030405060708");
}

TEST_CASE("merkle log: published RFC 6962 vectors (roots, nodes, proofs)") {
  LogFixture f;
  MerkleLog log(*f.store);
  CHECK(*log.root(0) == hx(kVectorRoots[0]));
  for (std::size_t i = 0; i < 8; ++i) {
    auto entry = from_hex(kVectorLeaves[i]);
    REQUIRE(entry.has_value());
    f.append({log_leaf_hash(*entry)});
    auto root = log.root(i + 1);
    REQUIRE(root.is_ok());
    CHECK(to_hex(*root) == kVectorRoots[i + 1]);
  }
  for (std::size_t size = 0; size <= 8; ++size)
    CHECK(to_hex(*log.root(size)) == kVectorRoots[size]);
  // The eight leaf hashes are the one stored tile; the nodes above them are
  // hashed up from it, and each equals the published node.
  auto tile = f.store->get(log_tile_key(0, 0));
  REQUIRE(tile.is_ok());
  REQUIRE(tile->has_value());
  std::string leaves_hex;
  for (const VectorNode& n : kVectorNodes)
    if (n.level == 0) leaves_hex += n.hash;
  CHECK(to_hex(**tile) == leaves_hex);
  for (const VectorNode& n : kVectorNodes) {
    if (n.level == 0) continue;
    // In the tree of 8, node (level, index) is the root or the sibling at
    // `level` on the path of a leaf below its sibling.
    if (n.level == 3) {
      CHECK(to_hex(*log.root(8)) == n.hash);
      continue;
    }
    auto proof = log.inclusion((n.index ^ 1) << n.level, 8);
    REQUIRE(proof.is_ok());
    REQUIRE(proof->path.size() == 3);
    CHECK(to_hex(proof->path[n.level]) == n.hash);
  }
  for (std::size_t i = 0; i < 8; ++i) CHECK(to_hex(*log.leaf(i)) == kVectorNodes[i].hash);
  std::vector<Hash> roots;
  for (const char* r : kVectorRoots) roots.push_back(hx(r));

  for (const VectorProof& v : kVectorInclusion) {
    INFO("inclusion leaf " << v.a << " size " << v.b);
    auto proof = log.inclusion(v.a, v.b);
    REQUIRE(proof.is_ok());
    CHECK(proof->path == hashes(v.path));
    CHECK(verify_inclusion(hx(kVectorNodes[v.a].hash), *proof, hx(kVectorRoots[v.b])));
    CHECK(forged_inclusions_accepted(*proof, hx(kVectorNodes[v.a].hash), roots) == 0);
  }
  for (const VectorProof& v : kVectorConsistency) {
    INFO("consistency " << v.a << " -> " << v.b);
    auto proof = log.consistency(v.a, v.b);
    REQUIRE(proof.is_ok());
    CHECK(proof->path == hashes(v.path));
    CHECK(verify_consistency(*proof, hx(kVectorRoots[v.a]), hx(kVectorRoots[v.b])));
    if (v.a != v.b) CHECK(forged_consistencies_accepted(*proof, roots) == 0);
  }
}

TEST_CASE("merkle log: every proof up to size 70 equals the naive RFC definition and verifies") {
  constexpr std::uint64_t kSizeMax = 70;
  LogFixture f;
  f.append_numbered(kSizeMax);
  MerkleLog log(*f.store);
  for (std::uint64_t n = 1; n <= kSizeMax; ++n) {
    INFO("size " << n);
    const Hash root = naive_mth(f.leaves, 0, n);
    REQUIRE(*log.root(n) == root);
    for (std::uint64_t m = 0; m < n; ++m) {
      auto proof = log.inclusion(m, n);
      REQUIRE(proof.is_ok());
      CHECK(proof->path == naive_path(f.leaves, m, 0, n));
      CHECK(verify_inclusion(f.leaves[m], *proof, root));
    }
    for (std::uint64_t m = 1; m <= n; ++m) {
      auto proof = log.consistency(m, n);
      REQUIRE(proof.is_ok());
      CHECK(proof->path == naive_subproof(f.leaves, m, 0, n, true));
      CHECK(verify_consistency(*proof, naive_mth(f.leaves, 0, m), root));
    }
  }
}

TEST_CASE("merkle log: a flipped byte, index or size makes every proof fail, sizes 1..70") {
  constexpr std::uint64_t kSizeMax = 70;
  LogFixture f;
  // One leaf more, so that "size + 1" has a root to be checked against.
  f.append_numbered(kSizeMax + 1);
  MerkleLog log(*f.store);
  std::vector<Hash> roots(kSizeMax + 2);
  for (std::uint64_t n = 0; n <= kSizeMax + 1; ++n) roots[n] = *log.root(n);
  for (std::uint64_t n = 1; n <= kSizeMax; ++n) {
    INFO("size " << n);
    int accepted = 0;
    for (std::uint64_t m = 0; m < n; ++m)
      accepted += forged_inclusions_accepted(*log.inclusion(m, n), f.leaves[m], roots);
    for (std::uint64_t m = 1; m < n; ++m)
      accepted += forged_consistencies_accepted(*log.consistency(m, n), roots);
    CHECK(accepted == 0);
  }
}

TEST_CASE("merkle log: degenerate proofs") {
  const Hash some = log_leaf_hash(as_bytes("x"));
  CHECK(verify_inclusion(some, InclusionProof{0, 1, {}}, some));
  CHECK_FALSE(verify_inclusion(some, InclusionProof{0, 0, {}}, some));
  CHECK_FALSE(verify_inclusion(some, InclusionProof{1, 1, {}}, some));
  CHECK_FALSE(verify_inclusion(some, InclusionProof{0, 2, {}}, some));
  CHECK(verify_consistency(ConsistencyProof{3, 3, {}}, some, some));
  CHECK_FALSE(verify_consistency(ConsistencyProof{3, 3, {some}}, some, some));
  CHECK_FALSE(verify_consistency(ConsistencyProof{3, 3, {}}, some, log_empty_root()));
  CHECK_FALSE(verify_consistency(ConsistencyProof{0, 0, {}}, some, some));
  CHECK_FALSE(verify_consistency(ConsistencyProof{0, 3, {}}, log_empty_root(), some));
  CHECK_FALSE(verify_consistency(ConsistencyProof{4, 3, {}}, some, some));
  CHECK_FALSE(verify_consistency(ConsistencyProof{1, 2, {}}, some, some));
}

TEST_CASE("merkle log: proofs outside the stored log are PROOF_OUT_OF_RANGE") {
  LogFixture f;
  f.append_numbered(13);
  MerkleLog log(*f.store);
  CHECK(log.inclusion(13, 13).status().code() == "PROOF_OUT_OF_RANGE");
  CHECK(log.inclusion(0, 0).status().code() == "PROOF_OUT_OF_RANGE");
  CHECK(log.inclusion(0, 14).status().code() == "PROOF_OUT_OF_RANGE");
  CHECK(log.inclusion(3, 16).status().code() == "PROOF_OUT_OF_RANGE");
  CHECK(log.consistency(0, 5).status().code() == "PROOF_OUT_OF_RANGE");
  CHECK(log.consistency(6, 5).status().code() == "PROOF_OUT_OF_RANGE");
  CHECK(log.consistency(5, 14).status().code() == "PROOF_OUT_OF_RANGE");
  CHECK(log.consistency(5, ~std::uint64_t{0}).status().code() == "PROOF_OUT_OF_RANGE");
  CHECK(log.root(14).status().code() == "PROOF_OUT_OF_RANGE");
  CHECK(log.leaf(13).status().code() == "PROOF_OUT_OF_RANGE");
  CHECK(log.inclusion(12, 13).is_ok());
  CHECK(log.consistency(13, 13).is_ok());
}

TEST_CASE("merkle log: tiles hold every fourth level's perfect subtrees, 16 a tile, each once") {
  constexpr std::uint64_t kSize = 1000;
  LogFixture f;
  f.append_numbered(kSize);
  std::size_t keys = 0;
  std::uint64_t nodes = 0;
  std::vector<std::uint64_t> per_level(4, 0);
  REQUIRE(
      f.store
          ->scan(Bytes{'t'}, {},
                 [&](ByteView key, ByteView value) {
                   REQUIRE(key.size() == 10);
                   REQUIRE(value.size() % kHashSize == 0);
                   REQUIRE(value.size() >= kHashSize);
                   REQUIRE(value.size() <= kLogTileWidth * kHashSize);
                   const unsigned tile_level = key[1];
                   REQUIRE(tile_level < per_level.size());
                   std::uint64_t index = 0;
                   for (std::size_t i = 2; i < 10; ++i) index = index << 8 | key[i];
                   const unsigned level = 4 * tile_level;
                   for (std::size_t j = 0; j < value.size() / kHashSize; ++j) {
                     const std::uint64_t begin = (index * kLogTileWidth + j) << level;
                     const std::uint64_t end = begin + (std::uint64_t{1} << level);
                     REQUIRE(end <= f.leaves.size());
                     const Hash want = naive_mth(f.leaves, begin, end);
                     CHECK(std::equal(want.begin(), want.end(),
                                      value.begin() + static_cast<std::ptrdiff_t>(j * kHashSize)));
                   }
                   per_level[tile_level] += value.size() / kHashSize;
                   nodes += value.size() / kHashSize;
                   ++keys;
                   return true;
                 })
          .is_ok());
  // Every complete perfect subtree at levels 0, 4 and 8, in 63 + 4 + 1 tiles.
  CHECK(per_level[0] == kSize);
  CHECK(per_level[1] == kSize >> 4);
  CHECK(per_level[2] == kSize >> 8);
  CHECK(per_level[3] == 0);
  CHECK(nodes == kSize + (kSize >> 4) + (kSize >> 8));
  CHECK(keys == 63 + 4 + 1);
  // Nothing is left under the per-node prefix of format 2.
  std::size_t old_keys = 0;
  REQUIRE(f.store
              ->scan(Bytes{'l'}, {},
                     [&](ByteView, ByteView) {
                       ++old_keys;
                       return true;
                     })
              .is_ok());
  CHECK(old_keys == 0);
}

TEST_CASE("merkle log: roots and proofs cost O(log n) reads, a few tiles per four levels") {
  constexpr std::uint64_t kSize = 1000;
  LogFixture f;
  f.append_numbered(kSize);
  CountingReader counter(*f.store);
  MerkleLog log(counter);
  std::size_t worst = 0;
  for (std::uint64_t n = 1; n <= kSize; n += 37) {
    // Per group of four levels, at most the tiles of the two edges a proof
    // walks (its leaf's or first tree's, and the tree's right edge) and one more.
    const std::size_t tile_levels = (static_cast<std::size_t>(std::bit_width(n)) + 3) / 4;
    const std::size_t bound = 3 * tile_levels + 2;
    counter.reset();
    REQUIRE(log.root(n).is_ok());
    CHECK(counter.gets() <= bound);
    for (std::uint64_t m = 0; m < n; m += 13) {
      counter.reset();
      REQUIRE(log.inclusion(m, n).is_ok());
      CHECK(counter.gets() <= bound);
      worst = std::max(worst, counter.gets());
      counter.reset();
      REQUIRE(log.consistency(m + 1, n).is_ok());
      CHECK(counter.gets() <= bound);
      worst = std::max(worst, counter.gets());
    }
  }
  MESSAGE("most reads for one proof over " << kSize << " leaves: " << worst);
}

TEST_CASE("merkle log: append refuses a wrong size and reports missing or malformed nodes") {
  LogFixture f;
  f.append_numbered(10);
  {
    Overlay overlay(*f.store);
    MerkleLog log(overlay);
    auto r = log.append(7, {log_leaf_hash(as_bytes("late"))}, overlay);
    CHECK(r.status().code() == "STORAGE_CORRUPT");
    CHECK(overlay.batch().empty());
    r = log.append(12, {log_leaf_hash(as_bytes("gap"))}, overlay);
    CHECK(r.status().code() == "STORAGE_CORRUPT");
  }
  // The one tile holds leaves 0..9: a tile that is not whole hashes is corrupt.
  WriteBatch bad;
  bad.put(log_tile_key(0, 0), Bytes(31, 0xaa));
  REQUIRE(f.store->write(bad, false).is_ok());
  MerkleLog log(*f.store);
  CHECK(log.root(8).status().code() == "STORAGE_CORRUPT");
  CHECK(log.leaf(3).status().code() == "STORAGE_CORRUPT");
  CHECK(log.inclusion(0, 7).status().code() == "STORAGE_CORRUPT");
  CHECK(log.consistency(6, 10).status().code() == "STORAGE_CORRUPT");
  bad.put(log_tile_key(0, 0), Bytes(17 * kHashSize, 0xaa));  // more than 16 hashes
  REQUIRE(f.store->write(bad, false).is_ok());
  CHECK(log.root(8).status().code() == "STORAGE_CORRUPT");
}

TEST_CASE("merkle log: a corrupt tile fails only what reads it, and an append before it writes") {
  LogFixture f;
  f.append_numbered(40);  // tiles (0, 0..1) whole, (0, 2) 8 leaves, (1, 0) 2 nodes
  {
    WriteBatch bad;
    bad.put(log_tile_key(0, 1), Bytes(31, 0xaa));  // leaves 16..31
    REQUIRE(f.store->write(bad, false).is_ok());
  }
  MerkleLog log(*f.store);
  CHECK(*log.root(16) == naive_mth(f.leaves, 0, 16));  // node (level 4, index 0), tile (1, 0)
  CHECK(*log.root(32) == naive_mth(f.leaves, 0, 32));  // node (level 5, index 0), tile (1, 0)
  CHECK(*log.root(40) == naive_mth(f.leaves, 0, 40));
  CHECK(log.root(20).status().code() == "STORAGE_CORRUPT");
  CHECK(log.inclusion(17, 40).status().code() == "STORAGE_CORRUPT");
  CHECK(log.inclusion(3, 40).is_ok());  // its path takes node (level 4, index 1) whole
  CHECK(log.consistency(20, 40).status().code() == "STORAGE_CORRUPT");
  // Tile (1, 0) claiming a third node of level 4 does not match a log of 40
  // leaves: the append fails before it puts anything.
  {
    WriteBatch bad;
    Bytes three(3 * kHashSize, 0x5a);
    bad.put(log_tile_key(1, 0), three);
    REQUIRE(f.store->write(bad, false).is_ok());
  }
  Overlay overlay(*f.store);
  auto r = MerkleLog(overlay).append(40, {log_leaf_hash(as_bytes("next"))}, overlay);
  CHECK(r.status().code() == "STORAGE_CORRUPT");
  CHECK(overlay.batch().empty());
}

TEST_CASE("merkle log: an append writes each tile it changes once, and a block of 3000 about 190") {
  LogFixture f;
  f.append_numbered(1000);
  std::vector<Hash> block;
  for (int i = 0; i < 3000; ++i) block.push_back(log_leaf_hash(as_bytes("b-" + std::to_string(i))));
  Overlay overlay(*f.store);
  auto root = MerkleLog(overlay).append(1000, block, overlay);
  REQUIRE(root.is_ok());
  f.leaves.insert(f.leaves.end(), block.begin(), block.end());
  CHECK(*root == naive_mth(f.leaves, 0, f.leaves.size()));
  // Leaves 1000..3999 touch level-0 tiles 62..249, level-4 tiles 3..15 and
  // level-8 tile 0: 188 + 13 + 1 keys.
  CHECK(overlay.batch().size() == 188 + 13 + 1);
  REQUIRE(f.store->write(overlay.batch(), false).is_ok());
  MerkleLog log(*f.store);
  for (std::uint64_t m = 0; m < 4000; m += 97) {
    auto proof = log.inclusion(m, 4000);
    REQUIRE(proof.is_ok());
    CHECK(verify_inclusion(f.leaves[m], *proof, *root));
  }
}

TEST_CASE("merkle log: a log written through one overlay reads back through it") {
  // Several appends in one block: each sees the previous through the overlay.
  TempDir dir;
  auto store = open_leveldb(dir.path());
  REQUIRE(store.is_ok());
  Overlay overlay(**store);
  MerkleLog log(overlay);
  std::vector<Hash> leaves;
  for (int round = 0; round < 5; ++round) {
    std::vector<Hash> batch;
    for (int i = 0; i <= round; ++i)
      batch.push_back(
          log_leaf_hash(as_bytes("r" + std::to_string(round) + "-" + std::to_string(i))));
    auto root = log.append(leaves.size(), batch, overlay);
    REQUIRE(root.is_ok());
    leaves.insert(leaves.end(), batch.begin(), batch.end());
    CHECK(*root == naive_mth(leaves, 0, leaves.size()));
  }
  CHECK((*store)->get(log_tile_key(0, 0))->has_value() == false);  // nothing committed yet
  REQUIRE((*store)->write(overlay.batch(), true).is_ok());
  MerkleLog committed(**store);
  CHECK(*committed.root(leaves.size()) == naive_mth(leaves, 0, leaves.size()));
}

TEST_CASE("merkle log: LogFrontier roots equal the naive MTH, sizes 0..70") {
  LogFrontier frontier;
  std::vector<Hash> leaves;
  CHECK(frontier.root() == log_empty_root());
  for (int i = 0; i < 70; ++i) {
    leaves.push_back(log_leaf_hash(as_bytes("frontier-" + std::to_string(i))));
    frontier.append(leaves.back());
    CHECK(frontier.size() == leaves.size());
    CHECK(frontier.root() == naive_mth(leaves, 0, leaves.size()));
  }
}

TEST_CASE("merkle log: a frontier resumed from the stored subtrees goes on like the original") {
  TempDir dir;
  auto store = open_leveldb(dir.path());
  REQUIRE(store.is_ok());
  std::vector<Hash> leaves;
  for (int i = 0; i < 70; ++i)
    leaves.push_back(log_leaf_hash(as_bytes("resume-" + std::to_string(i))));
  {
    Overlay ov(**store);
    REQUIRE(MerkleLog(ov).append(0, leaves, ov).is_ok());
    REQUIRE((*store)->write(ov.batch(), true).is_ok());
  }
  MerkleLog log(**store);
  for (std::uint64_t size = 0; size <= 60; ++size) {
    CAPTURE(size);
    auto parts = log.frontier(size);
    REQUIRE(parts.is_ok());
    CHECK(parts->size() == static_cast<std::size_t>(std::popcount(size)));
    auto f = LogFrontier::resume(size, *parts);
    REQUIRE(f.is_ok());
    CHECK(f->root() == naive_mth(leaves, 0, size));
    for (std::uint64_t i = size; i < 70; ++i) f->append(leaves[i]);
    CHECK(f->size() == 70);
    CHECK(f->root() == naive_mth(leaves, 0, 70));
    // One subtree too many or too few is refused.
    std::vector<Hash> more = *parts;
    more.push_back(leaves[0]);
    CHECK(LogFrontier::resume(size, more).status().code() == "PROOF_INVALID");
    if (!parts->empty()) {
      std::vector<Hash> fewer(parts->begin() + 1, parts->end());
      CHECK(LogFrontier::resume(size, fewer).status().code() == "PROOF_INVALID");
    }
  }
  CHECK(log.frontier(71).status().code() == "PROOF_OUT_OF_RANGE");
}
