// Pages of the state tree (ADR 027): a node at a depth divisible by
// kSmtPageLevels and its subtree down to kSmtPageLevels levels below it, as one
// encoding, the form in which the store keeps the tree ("n" + the node's hash
// -> its page; docs/formats/smt.md). StateTree reads and writes them.
//
// A page is its root's subtree in pre-order, one tag byte per position:
//
//   0  empty subtree
//   1  leaf, at levels 0..3 of the page: path (32) ‖ value hash (32)
//   2  internal node, at levels 0..3: its left, then its right subtree
//   3  a node at level 4, the root of its own page: its hash (32)
//
// Level 4 holds only tags 0 and 3; a leaf there roots a page of its own. The
// hashes of a page's leaves and internal nodes are not stored: a reader
// recomputes them and checks the root's against the hash it asked for. The
// encoding of a subtree is unique, so a page that decodes under its root's
// hash is the page that was written.
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "emledger/crypto/bytes.hpp"
#include "emledger/crypto/result.hpp"
#include "emledger/ledger/smt.hpp"

namespace emledger::ledger {

inline constexpr std::size_t kSmtPageLevels = 4;
// The largest page: internal nodes at levels 0..3 (15 tags) and 16
// references (1 + 32 bytes each). A leaf (65 bytes) is no larger than the
// internal node with two references (67) it would replace.
inline constexpr std::size_t kSmtPageBytesMax = 15 + 16 * (1 + kHashSize);

// A node's stored form (kind, a, b; smt.hpp) by hash, or nullopt if unknown.
using SmtNodeSource = std::function<std::optional<SmtNodeBytes>(const Hash&)>;

// A page's positions, appended in pre-order; encode_smt_page is made of
// them, and so is the state tree's update, which writes a page as it builds
// the page's nodes. The caller keeps the shape: a node at level 4 is a
// reference (or empty), and an internal node is followed by its two
// subtrees.
void append_smt_page_empty(Bytes& page);
void append_smt_page_leaf(Bytes& page, const Hash& path, const Hash& value_hash);
void append_smt_page_internal(Bytes& page);
void append_smt_page_ref(Bytes& page, const Hash& root);
// A stored node's position (kind, a, b; smt.hpp): a leaf's, or an internal
// node's tag. Returns false if `node` is of neither kind.
bool append_smt_page_node(Bytes& page, const SmtNodeBytes& node);

// The page rooted at `root` (never the zero hash), reading each node of its
// top four levels from `node_of`. The nodes are taken as given: their hashes
// are not checked. Errors: STORAGE_CORRUPT when a node is unknown or
// malformed.
Result<Bytes> encode_smt_page(const Hash& root, const SmtNodeSource& node_of);

// One node a page holds.
using SmtPageEntry = SmtHashedNode;

// The leaves and internal nodes of `page`, in pre-order (the root first),
// each with its recomputed hash. Errors: STORAGE_CORRUPT when the bytes do
// not parse as a page, or their root does not hash to `root`.
Result<std::vector<SmtPageEntry>> decode_smt_page(ByteView page, const Hash& root);

}  // namespace emledger::ledger
