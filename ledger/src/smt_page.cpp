// The page codec of ADR 027: smt_page.hpp.
#include "emledger/ledger/smt_page.hpp"

#include <algorithm>
#include <string>

#include "emledger/crypto/hex.hpp"

namespace emledger::ledger {
namespace {

constexpr std::uint8_t kTagEmpty = 0;
constexpr std::uint8_t kTagLeaf = 1;
constexpr std::uint8_t kTagInternal = 2;
constexpr std::uint8_t kTagRef = 3;
constexpr std::uint8_t kKindLeaf = 0;
constexpr std::uint8_t kKindInternal = 1;

Status corrupt(const std::string& what) { return Status::error("STORAGE_CORRUPT", what); }

void append(Bytes& out, const std::uint8_t* from, std::size_t n) {
  out.insert(out.end(), from, from + n);
}

Status encode_at(const Hash& h, std::size_t level, const SmtNodeSource& node_of, Bytes& out) {
  if (is_zero(h)) {
    append_smt_page_empty(out);
    return Status::ok();
  }
  if (level == kSmtPageLevels) {
    append_smt_page_ref(out, h);
    return Status::ok();
  }
  const auto node = node_of(h);
  if (!node) return corrupt("state node " + to_hex(h) + " is unknown to the page encoder");
  if (!append_smt_page_node(out, *node))
    return corrupt("state node " + to_hex(h) + " is malformed");
  if ((*node)[0] == kKindLeaf) return Status::ok();
  Hash left, right;
  std::copy_n(node->begin() + 1, kHashSize, left.begin());
  std::copy_n(node->begin() + 1 + kHashSize, kHashSize, right.begin());
  EMLEDGER_TRY(encode_at(left, level + 1, node_of, out));
  return encode_at(right, level + 1, node_of, out);
}

// Reads one page, position by position, recomputing hashes bottom-up.
class PageReader {
 public:
  PageReader(ByteView page, std::vector<SmtPageEntry>& out) : page_(page), out_(out) {}

  // The hash of the subtree at the next position, `level` below the root.
  Result<Hash> position(std::size_t level) {
    if (pos_ >= page_.size()) return corrupt("state page is truncated");
    const std::uint8_t tag = page_[pos_++];
    if (tag == kTagEmpty) {
      if (level == 0) return corrupt("state page has an empty root");
      return Hash{};
    }
    if (level == kSmtPageLevels) {
      if (tag != kTagRef) return corrupt("state page holds a node below its last level");
      Hash h = take_hash();
      if (failed_) return corrupt("state page is truncated");
      if (is_zero(h)) return corrupt("state page refers to the zero hash");
      return h;
    }
    if (tag == kTagLeaf) return leaf();
    if (tag == kTagInternal) return internal(level);
    return corrupt("state page has an unknown tag or a reference above its last level");
  }

  bool at_end() const { return pos_ == page_.size(); }

 private:
  Result<Hash> leaf() {
    SmtPageEntry e;
    e.node[0] = kKindLeaf;
    const Hash path = take_hash();
    const Hash value_hash = take_hash();
    if (failed_) return corrupt("state page is truncated");
    std::copy(path.begin(), path.end(), e.node.begin() + 1);
    std::copy(value_hash.begin(), value_hash.end(), e.node.begin() + 1 + kHashSize);
    e.hash = smt_leaf_hash(path, value_hash);
    out_.push_back(e);
    return e.hash;
  }

  // Pre-order: the node's entry is placed before its children's and filled
  // once they are read.
  Result<Hash> internal(std::size_t level) {
    const std::size_t at = out_.size();
    out_.emplace_back();
    auto left = position(level + 1);
    if (!left) return left.status();
    auto right = position(level + 1);
    if (!right) return right.status();
    // A subtree with one leaf is that leaf, and an empty one is empty: no
    // tree holds an internal node over fewer than two leaves.
    if (is_zero(*left) && is_zero(*right)) return corrupt("state page has a childless node");
    SmtPageEntry& e = out_[at];
    e.node[0] = kKindInternal;
    std::copy(left->begin(), left->end(), e.node.begin() + 1);
    std::copy(right->begin(), right->end(), e.node.begin() + 1 + kHashSize);
    e.hash = smt_internal_hash(*left, *right);
    return e.hash;
  }

  Hash take_hash() {
    Hash h{};
    if (page_.size() - pos_ < kHashSize) {
      failed_ = true;
      pos_ = page_.size();
      return h;
    }
    std::copy_n(page_.begin() + static_cast<std::ptrdiff_t>(pos_), kHashSize, h.begin());
    pos_ += kHashSize;
    return h;
  }

  ByteView page_;
  std::vector<SmtPageEntry>& out_;
  std::size_t pos_ = 0;
  bool failed_ = false;
};

}  // namespace

void append_smt_page_empty(Bytes& page) { page.push_back(kTagEmpty); }

void append_smt_page_leaf(Bytes& page, const Hash& path, const Hash& value_hash) {
  page.push_back(kTagLeaf);
  append(page, path.data(), kHashSize);
  append(page, value_hash.data(), kHashSize);
}

void append_smt_page_internal(Bytes& page) { page.push_back(kTagInternal); }

void append_smt_page_ref(Bytes& page, const Hash& root) {
  page.push_back(kTagRef);
  append(page, root.data(), kHashSize);
}

bool append_smt_page_node(Bytes& page, const SmtNodeBytes& node) {
  if (node[0] == kKindLeaf) {
    page.push_back(kTagLeaf);
    append(page, node.data() + 1, 2 * kHashSize);
    return true;
  }
  if (node[0] != kKindInternal) return false;
  page.push_back(kTagInternal);
  return true;
}

Result<Bytes> encode_smt_page(const Hash& root, const SmtNodeSource& node_of) {
  EMLEDGER_ASSERT(!is_zero(root));
  Bytes out;
  EMLEDGER_TRY(encode_at(root, 0, node_of, out));
  return out;
}

Result<std::vector<SmtPageEntry>> decode_smt_page(ByteView page, const Hash& root) {
  if (page.size() > kSmtPageBytesMax) return corrupt("state page is longer than a page can be");
  std::vector<SmtPageEntry> out;
  PageReader reader(page, out);
  auto got = reader.position(0);
  if (!got) return got.status();
  if (!reader.at_end()) return corrupt("state page has bytes after its last position");
  if (*got != root) return corrupt("state page " + to_hex(root) + " does not match its hash");
  return out;
}

}  // namespace emledger::ledger
