// State-tree pages read or written lately, decoded, by the hash of their
// root (ADR 044; pages: ADR 027, smt_page.hpp). An update reads each page on
// the paths it rewrites and writes its new version; with the page's nodes in
// one contiguous record, a page costs one lookup instead of one per node, and
// the nodes of a page arrive together from memory.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <stop_token>
#include <thread>
#include <type_traits>
#include <vector>

#include "emledger/crypto/bytes.hpp"
#include "emledger/ledger/smt.hpp"

namespace emledger::ledger {

// A page's leaves and internal nodes with their hashes: what a decoded page
// holds (decode_smt_page) and what an update knows of a page it writes.
// Pages are content-addressed and never rewritten, so a record can never go
// stale: a hit is the page any store holding that root holds.
//
// Two parts in one budget of memory:
// - an arena, written as a ring: each insert appends a record (the root's
//   hash, then its nodes) after the last one, and once the arena is full the
//   oldest records are overwritten. Every update rewrites the pages on the
//   paths it touches, so the pages updates read are the ones written
//   lately: the ring keeps them, and a page no update rewrites ages out,
//   unless it is read while in the older half of the ring: it is then
//   written again at the head.
// - an index of sets of four entries, one cache line each, naming a
//   record's place in the arena by part of the root's hash. A set that is
//   full gives up its oldest entry. An entry whose record has been
//   overwritten is found stale by its place and ignored.
//
// No allocation after construction. The memory is an anonymous mapping,
// zeroed by the kernel as it is touched; with `huge_pages` it asks for
// transparent huge pages (ADR 024), and a thread of its own has the kernel
// fault it in (MADV_POPULATE_WRITE) a little ahead of use: the index at
// once, the arena kPopulateAheadBytes ahead of the ring's head (ADR 047).
// The ring's first round then pays no fault for every 2 MiB it reaches, and
// a cache takes memory as it fills, not all at its start. Lookups only: nothing
// iterates it, so it cannot reach any state. Thread safe: one lock guards it (updates on several
// threads, ADR 040, and HTTP threads proving); each operation holds it for one index line and one
// record.
class SmtPageCache {
 public:
  // The most nodes a page holds: the internal nodes and leaves of its top
  // four levels (smt_page.hpp).
  static constexpr std::size_t kPageNodesMax = 15;
  // Arena bytes per index entry: one 16-byte entry for each 256 bytes of
  // arena, more entries than records fit (a record takes at least 144).
  static constexpr std::size_t kArenaBytesPerEntry = 256;
  // How far ahead of the ring's head the arena is faulted in (huge pages
  // only): about two seconds of a node's writes at saturation.
  static constexpr std::size_t kPopulateAheadBytes = std::size_t{64} << 20;
  // `bytes`: the memory it may take, at least 64 KiB.
  explicit SmtPageCache(std::size_t bytes, bool huge_pages = false);
  // The nodes of the page rooted at `root` into `out` (its contents
  // replaced), in the order they were inserted; false when not held. A
  // record in the older half of the ring is written again at its head.
  bool find(const Hash& root, std::vector<SmtHashedNode>& out) const;
  // Holds `nodes` (1 to kPageNodesMax) as the page rooted at `root`, which
  // must be among them. A page already held is left as it is.
  void insert(const Hash& root, std::span<const SmtHashedNode> nodes) const;
  // Drops the page rooted at `root` if held: the newest tree no longer
  // holds it. Reading it later (an older root's proof) still works, from
  // the store.
  void forget(const Hash& root) const;
  // Asks the memory for the index line that would name `root`, without
  // waiting or locking: a find soon after finds it on the way.
  void prefetch(const Hash& root) const;

  std::size_t arena_bytes() const { return arena_bytes_; }
  // Bytes of the mapping, from its start, faulted in or being faulted in
  // by the populating thread; all of it when there is no such thread (no
  // huge pages asked, or none to be had), whose pages fault in as touched.
  std::size_t populated_bytes() const;
  // Bytes of the mapping: the index, then the arena.
  std::size_t mapped_bytes() const { return mapped_bytes_; }
  // Bytes of records ever written to the arena (each insert, and each page
  // written again at the head). Past arena_bytes(), the ring has gone round
  // and overwritten its oldest records.
  std::uint64_t written_bytes() const;
  std::size_t index_entries() const { return index_sets_ * kWays; }

 private:
  static constexpr std::size_t kWays = 4;
  // `where` is the record's place in the arena counted from the first byte
  // ever written (so it never repeats), plus one: 0 is an empty entry.
  // `tag` is 8 more bytes of the root's hash, compared before the record is
  // read; the record's own copy of the hash decides.
  struct Entry {
    std::uint64_t tag;
    std::uint64_t where;
  };
  struct alignas(64) Set {
    Entry ways[kWays];
  };
  static_assert(sizeof(Set) == 64);
  struct RecordHead {
    Hash root;
    std::uint32_t count;
    std::uint32_t bytes;  // the whole record's, a multiple of 8
  };
  static_assert(std::is_trivially_copyable_v<SmtHashedNode>);
  struct Unmap {
    std::size_t bytes;
    void operator()(std::uint8_t* p) const;
  };

  std::size_t set_index(const Hash& root) const;
  static std::uint64_t tag_of(const Hash& root);
  // The record an entry names, or nullptr when the ring has overwritten
  // it. Under mu_.
  const RecordHead* record(const Entry& e) const;
  Entry* find_entry(const Hash& root) const;  // under mu_
  // Writes a record at the ring's head and returns its `where`. Under mu_.
  std::uint64_t append(const Hash& root, std::span<const SmtHashedNode> nodes) const;

  // Where the populating thread should have faulted the mapping in to,
  // given the head. Under mu_.
  std::size_t populate_want() const;
  // The populating thread's loop: faults in [populated_, populate_want())
  // in steps, until the whole mapping is in or it is asked to stop.
  void populate_loop(std::stop_token stop);

  std::size_t index_sets_;
  std::size_t index_bytes_;
  std::size_t arena_bytes_;
  std::size_t mapped_bytes_;
  std::unique_ptr<std::uint8_t, Unmap> memory_;  // the index, then the arena
  Set* sets_;
  std::uint8_t* arena_;
  mutable std::mutex mu_;
  mutable std::uint64_t head_ = 0;  // bytes ever written to the arena, guarded by mu_
  // Bytes of the mapping handed to the populating thread so far; guarded by
  // mu_. mapped_bytes_ when there is no thread or it is done.
  mutable std::size_t populated_ = 0;
  // Wakes the populating thread when the head nears populated_.
  mutable std::condition_variable_any wake_;
  // Faults the memory in (huge pages only); joined before memory_ goes.
  std::jthread populating_;
};

}  // namespace emledger::ledger
