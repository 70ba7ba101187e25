// The state tree's page cache (SmtPageCache, ADR 044): it changes no result,
// holds every page of the live tree as the store holds it, forgets what an
// update supersedes, answers by the whole root, gives up the oldest records
// and entries first, is not touched by a prefetch, and sits on huge pages when
// asked (ADR 024).
#include "emledger/ledger/smt_page_cache.hpp"

#include <doctest/doctest.h>
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "../support/kernel_memory.hpp"
#include "emledger/ledger/smt.hpp"
#include "emledger/ledger/smt_page.hpp"
#include "smt_support.hpp"

using namespace emledger;
using namespace emledger::ledger;
using namespace emledger::smt_testing;

namespace {

constexpr std::size_t kSmallest = std::size_t{64} << 10;

// A root whose first 8 bytes name the index set (`set`), the next 8 its tag
// (`tag`), and whose last byte tells apart roots of the same set and tag.
Hash root_of(std::uint64_t set, std::uint64_t tag, std::uint8_t last = 0) {
  Hash h{};
  std::memcpy(h.data(), &set, sizeof set);
  std::memcpy(h.data() + 8, &tag, sizeof tag);
  h[31] = last;
  return h;
}

// `count` nodes standing for a page rooted at `root`: the root first, then
// nodes told apart by `seed`.
std::vector<SmtHashedNode> page_of(const Hash& root, std::size_t count, std::uint8_t seed) {
  std::vector<SmtHashedNode> nodes(count);
  for (std::size_t i = 0; i < count; ++i) {
    SmtHashedNode& n = nodes[i];
    n.hash = i == 0 ? root : root_of(seed, i, 0x77);
    n.node.fill(static_cast<std::uint8_t>(seed + i));
    n.node[0] = 1;
  }
  return nodes;
}

bool same(const std::vector<SmtHashedNode>& a, const std::vector<SmtHashedNode>& b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](const auto& x, const auto& y) {
           return x.hash == y.hash && x.node == y.node;
         });
}

bool held(const SmtPageCache& cache, const Hash& root) {
  std::vector<SmtHashedNode> out;
  return cache.find(root, out);
}

// The nodes of the page the store holds under `root`, by hash.
std::vector<SmtHashedNode> stored_page(const KvReader& store, const Hash& root) {
  auto got = store.get(page_key(root));
  REQUIRE(got.is_ok());
  REQUIRE(got->has_value());
  auto decoded = decode_smt_page(**got, root);
  REQUIRE(decoded.is_ok());
  return *decoded;
}

std::vector<SmtHashedNode> by_hash(std::vector<SmtHashedNode> nodes) {
  std::sort(nodes.begin(), nodes.end(),
            [](const auto& x, const auto& y) { return x.hash < y.hash; });
  return nodes;
}

// The kernel's transparent-huge-page mode, the bracketed word of
// "always [madvise] never"; empty without THP support.
std::string thp_mode() {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string line;
  std::getline(in, line);
  const auto open = line.find('['), close = line.find(']');
  if (open == std::string::npos || close == std::string::npos || close < open) return "";
  return line.substr(open + 1, close - open - 1);
}

// The figure in KiB on the line of `file` (a /proc file of this process)
// that starts with `label`; 0 when there is none.
std::uint64_t proc_kib(const char* file, const std::string& label) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(label, 0) == 0) return std::stoull(line.substr(label.size()));
  return 0;
}

// This process's resident anonymous memory, in KiB.
std::uint64_t rss_anon_kib() { return proc_kib("/proc/self/status", "RssAnon:"); }

// This process's anonymous memory on transparent huge pages, in KiB.
std::uint64_t anon_huge_kib() { return proc_kib("/proc/self/smaps_rollup", "AnonHugePages:"); }

// Writes records over the whole arena and one entry into every index set,
// so that every page of the cache's memory is touched, and checks the last
// record is found again.
void fill_all(const SmtPageCache& cache) {
  const std::size_t sets = cache.index_entries() / 4;
  const std::size_t records = cache.arena_bytes() / 1496 + sets;
  Hash last{};
  for (std::size_t i = 0; i < records; ++i) {
    last = root_of(i % sets, i, 0x5a);
    cache.insert(last, page_of(last, SmtPageCache::kPageNodesMax, 3));
  }
  std::vector<SmtHashedNode> out;
  REQUIRE(cache.find(last, out));
  CHECK(same(out, page_of(last, SmtPageCache::kPageNodesMax, 3)));
}

}  // namespace

TEST_CASE("smt: a page cache, however small, changes no root, value or proof") {
  // The smallest cache: its ring goes round several times over these
  // updates, so hits, misses, overwritten records and replaced entries all
  // occur. The cached tree must match the uncached one and the reference.
  SmtPageCache cache(kSmallest);
  TreeFixture plain, cached;
  Rng rng(99);
  for (int batch = 0; batch < 6; ++batch) {
    const Puts puts = random_puts(rng, 50 + batch * 30, plain.state);
    plain.apply(puts);
    Overlay overlay(*cached.store);
    auto next = StateTree(overlay, &cache).update(cached.root, puts, overlay);
    REQUIRE(next.is_ok());
    REQUIRE(cached.store->write(overlay.batch(), false).is_ok());
    cached.root = *next;
    CHECK(cached.root == plain.root);
  }
  CHECK(plain.root == naive_root(plain.state));
  StateTree tree(*cached.store, &cache);
  for (const auto& [key, value] : plain.state) {
    auto got = tree.get(cached.root, key);
    REQUIRE(got.is_ok());
    REQUIRE(got->has_value());
    CHECK(**got == value);
    auto proof = tree.prove(cached.root, key);
    REQUIRE(proof.is_ok());
    CHECK(verify_state_proof(*proof, cached.root));
  }
}

TEST_CASE("smt: a page cache answers with what was inserted under the whole root") {
  SmtPageCache cache(kSmallest);
  const Hash a = root_of(5, 9, 1), b = root_of(5, 9, 2);  // same set, same tag
  std::vector<SmtHashedNode> out;
  CHECK_FALSE(cache.find(a, out));
  cache.insert(a, page_of(a, 3, 10));
  REQUIRE(cache.find(a, out));
  CHECK(same(out, page_of(a, 3, 10)));
  // The index tag is only part of the root: b shares it and is not held.
  CHECK_FALSE(cache.find(b, out));
  cache.insert(b, page_of(b, SmtPageCache::kPageNodesMax, 20));
  REQUIRE(cache.find(b, out));
  CHECK(same(out, page_of(b, SmtPageCache::kPageNodesMax, 20)));
  REQUIRE(cache.find(a, out));
  CHECK(same(out, page_of(a, 3, 10)));
  // A held page is left as it is (a page's content is fixed by its root).
  cache.insert(a, page_of(a, 1, 30));
  REQUIRE(cache.find(a, out));
  CHECK(same(out, page_of(a, 3, 10)));
}

TEST_CASE("smt: a full index set gives up its oldest entry, a forgotten one first") {
  SmtPageCache cache(kSmallest);
  for (std::uint8_t t = 1; t <= 4; ++t) cache.insert(root_of(0, t), page_of(root_of(0, t), 2, t));
  for (std::uint8_t t = 1; t <= 4; ++t) CHECK(held(cache, root_of(0, t)));
  cache.insert(root_of(0, 5), page_of(root_of(0, 5), 2, 5));  // the oldest, 1, goes
  CHECK_FALSE(held(cache, root_of(0, 1)));
  for (std::uint8_t t = 2; t <= 5; ++t) CHECK(held(cache, root_of(0, t)));
  cache.forget(root_of(0, 4));
  cache.forget(root_of(0, 9));  // not held: changes nothing
  CHECK_FALSE(held(cache, root_of(0, 4)));
  cache.insert(root_of(0, 6), page_of(root_of(0, 6), 2, 6));  // takes 4's way, not 2's
  for (std::uint8_t t : {2, 3, 5, 6}) CHECK(held(cache, root_of(0, t)));
  // A prefetch neither reads nor adds anything.
  cache.prefetch(root_of(0, 7));
  CHECK_FALSE(held(cache, root_of(0, 7)));
}

TEST_CASE("smt: the ring overwrites its oldest records, and their entries read as absent") {
  SmtPageCache cache(kSmallest);
  const std::size_t sets = cache.index_entries() / 4;
  REQUIRE(sets >= 2);
  // Records of every size, each in a set of its own, until the arena has
  // gone round about three times.
  std::vector<Hash> roots;
  std::vector<std::size_t> sizes;
  std::size_t written = 0;
  for (std::size_t i = 0; written < 3 * cache.arena_bytes(); ++i) {
    const Hash r = root_of(i, i + 1);
    const std::size_t n = 1 + i % SmtPageCache::kPageNodesMax;
    cache.insert(r, page_of(r, n, static_cast<std::uint8_t>(i)));
    roots.push_back(r);
    sizes.push_back(n);
    written += 40 + 97 * n;
  }
  // Every record found is the one inserted, never a torn or overwritten one;
  // the newest are found and the first are not.
  std::size_t found = 0;
  std::vector<SmtHashedNode> out;
  for (std::size_t i = 0; i < roots.size(); ++i) {
    if (!cache.find(roots[i], out)) continue;
    ++found;
    CHECK(same(out, page_of(roots[i], sizes[i], static_cast<std::uint8_t>(i))));
  }
  CHECK_FALSE(held(cache, roots.front()));
  CHECK(held(cache, roots.back()));
  CHECK(found > 0);
  CHECK(found * 2 < roots.size());  // about a third fit
}

TEST_CASE(
    "smt: a record read in the older half of the ring is written again and outlives the round") {
  SmtPageCache cache(kSmallest);
  const std::size_t arena = cache.arena_bytes();
  std::size_t n = 0, written = 0;
  auto fill = [&](std::size_t bytes) {  // records of 15 nodes, 1,496 bytes each
    for (std::size_t end = written + bytes; written < end; written += 1496) {
      ++n;
      const Hash r = root_of(2 + n % 60, n);
      cache.insert(r, page_of(r, 15, 1));
    }
  };
  const Hash hot = root_of(1, 1), cold = root_of(1, 2);
  cache.insert(hot, page_of(hot, 4, 7));
  cache.insert(cold, page_of(cold, 4, 8));
  fill(arena / 4);
  CHECK(held(cache, hot));  // in the newer half: left where it is
  fill(arena / 2);
  std::vector<SmtHashedNode> out;
  REQUIRE(cache.find(hot, out));  // in the older half: written again
  fill(arena / 2);
  CHECK_FALSE(held(cache, cold));  // gone with its round
  REQUIRE(cache.find(hot, out));
  CHECK(same(out, page_of(hot, 4, 7)));
}

TEST_CASE("smt: a record written over is absent, even where its root's bytes are written again") {
  // The arena's layout, as smt_page_cache.cpp writes it: records one after
  // another from the start, each 40 bytes of head and 97 a node, rounded up
  // to 8 bytes; one that would pass the end starts the next round at 0.
  auto size_of = [](std::size_t nodes) { return (40 + 97 * nodes + 7) / 8 * 8; };
  SmtPageCache cache(kSmallest);
  const std::size_t arena = cache.arena_bytes();
  std::size_t at = 0, n = 0;
  auto put = [&](const Hash& r, const std::vector<SmtHashedNode>& nodes) {
    if (at + size_of(nodes.size()) > arena) at = 0;
    cache.insert(r, nodes);
    at += size_of(nodes.size());
  };
  auto filler = [&](std::size_t nodes) {
    ++n;
    const Hash r = root_of(2 + n % 60, n);
    put(r, page_of(r, nodes, 1));
  };
  filler(8);  // [0, 816)
  filler(7);  // [816, 1536)
  const Hash a = root_of(1, 1000);
  put(a, page_of(a, 1, 9));  // [1536, 1680)
  while (at + size_of(15) <= arena) filler(15);
  filler(15);  // the second round: [0, 1496)
  REQUIRE(at == 1496);
  // b's first node starts where a's record started, 40 bytes in: its hash is
  // a's root, and its node's first bytes read as a count of one.
  const Hash b = root_of(0, 2000);
  std::vector<SmtHashedNode> over = page_of(b, 2, 5);
  std::swap(over[0], over[1]);
  over[0].hash = a;
  over[0].node.fill(0);
  over[0].node[0] = 1;
  put(b, over);  // [1496, 1736)
  CHECK_FALSE(held(cache, a));
  std::vector<SmtHashedNode> out;
  REQUIRE(cache.find(b, out));
  CHECK(out.size() == 2);
}

TEST_CASE(
    "smt: an update caches each page it writes as the store holds it, and forgets those it "
    "supersedes") {
  // A cache far larger than the tree, so nothing is overwritten: after each
  // update, every page on the path to every key must be cached with exactly
  // the nodes of the stored page (even where a leaf was put again with its
  // own value, or moved down), and the roots it replaced must not be. Old
  // roots stay readable from the store.
  SmtPageCache cache(std::size_t{4} << 20);
  TreeFixture t;
  Rng rng(7);
  std::vector<Hash> old_roots;
  for (int batch = 0; batch < 5; ++batch) {
    Puts puts = random_puts(rng, 40, t.state);
    // Every existing key again with its own value, and some with new ones:
    // leaves meet several puts, one of which leaves them unchanged.
    for (const auto& [k, v] : t.state) puts.emplace_back(k, v);
    Overlay overlay(*t.store);
    auto next = StateTree(overlay, &cache).update(t.root, puts, overlay);
    REQUIRE(next.is_ok());
    REQUIRE(t.store->write(overlay.batch(), false).is_ok());
    if (t.root != smt_empty_root()) old_roots.push_back(t.root);
    t.root = *next;
    for (const auto& [k, v] : puts) t.state[k] = v;
    REQUIRE(t.root == naive_root(t.state));
    StateTree plain(*t.store);
    std::size_t pages = 0;
    for (const auto& [k, v] : t.state) {
      auto proof = plain.prove(t.root, k);
      REQUIRE(proof.is_ok());
      REQUIRE(proof->present);
      const std::vector<Hash> nodes = path_nodes(*proof);  // from the leaf up
      for (std::size_t up = 0; up < nodes.size(); ++up) {
        const std::size_t depth = nodes.size() - 1 - up;
        if (depth % kSmtPageLevels != 0) continue;
        std::vector<SmtHashedNode> out;
        REQUIRE(cache.find(nodes[up], out));
        CHECK(same(by_hash(out), by_hash(stored_page(*t.store, nodes[up]))));
        ++pages;
      }
    }
    CHECK(pages > t.state.size());
    for (const Hash& r : old_roots) CHECK_FALSE(held(cache, r));
  }
  // The first root is still provable, through the cache or without it.
  const Hash first = old_roots.front();
  StateTree cached(*t.store, &cache);
  int proven = 0;
  for (const auto& [k, v] : t.state) {
    auto p = cached.prove(first, k);
    REQUIRE(p.is_ok());
    CHECK(verify_state_proof(*p, first));
    ++proven;
  }
  CHECK(proven > 100);
}

TEST_CASE("smt: a page cache asked for huge pages gets them where the kernel gives them") {
  const std::string mode = thp_mode();
  if (mode != "always" && mode != "madvise") {
    MESSAGE("this kernel gives no transparent huge pages (mode '" << mode
                                                                  << "'): nothing to check");
    return;
  }
  constexpr std::size_t kBytes = std::size_t{28} << 20;
  {
    const std::uint64_t before = anon_huge_kib();
    SmtPageCache cache(kBytes, true);
    fill_all(cache);
    // 14 huge pages at most; the kernel may fall back to small pages for a
    // few when it cannot find 2 MiB free at once.
    CHECK(anon_huge_kib() >= before + 16 * 1024);
  }
  if (mode == "madvise") {
    // Unasked, the memory stays on 4 KiB pages: the advice is what made them.
    const std::uint64_t before = anon_huge_kib();
    SmtPageCache cache(kBytes, false);
    fill_all(cache);
    CHECK(anon_huge_kib() < before + 4 * 1024);
  }
}

// Polls `populated_bytes()` for up to ten seconds until it reads `want`.
bool populated_reaches(const SmtPageCache& cache, std::size_t want) {
  for (int i = 0; i < 200 && cache.populated_bytes() != want; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return cache.populated_bytes() == want;
}

TEST_CASE("smt: a page cache asked for huge pages is faulted in a little ahead of its use") {
  if (!emledger::testing::kernel_populates()) {
    MESSAGE("this kernel has no MADV_POPULATE_WRITE: nothing to check");
    return;
  }
  constexpr std::size_t kMiB = std::size_t{1} << 20;
  constexpr std::size_t kBytes = 256 * kMiB;
  constexpr std::size_t kAhead = SmtPageCache::kPopulateAheadBytes;
  const auto huge_round = [](std::size_t n) {
    return (n + 2 * kMiB - 1) / (2 * kMiB) * (2 * kMiB);
  };
  const std::uint64_t before = rss_anon_kib();
  SmtPageCache cache(kBytes, true);
  const std::size_t index = cache.mapped_bytes() - cache.arena_bytes();
  REQUIRE(index + kAhead + 64 * kMiB < cache.mapped_bytes());

  // Untouched: the index and the margin ahead of an empty ring, no more.
  const std::size_t first = huge_round(index + kAhead);
  REQUIRE(populated_reaches(cache, first));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(cache.populated_bytes() == first);
  const std::uint64_t grown = rss_anon_kib() - before;
  CHECK(grown >= (first - 8 * kMiB) / 1024);
  CHECK(grown < (first + 48 * kMiB) / 1024);

  // 80 MiB of records: the margin moves on with the ring's head.
  const auto page = page_of(root_of(1, 1), SmtPageCache::kPageNodesMax, 9);
  // A record: the root, two counts, the nodes, to a multiple of 8 bytes.
  const std::size_t record = (40 + page.size() * sizeof(SmtHashedNode) + 7) / 8 * 8;
  const std::size_t records = 80 * kMiB / record;
  for (std::size_t i = 0; i < records; ++i) {
    const Hash root = root_of(i, i * 7 + 1, 0x3c);
    auto nodes = page;
    nodes[0].hash = root;
    cache.insert(root, nodes);
  }
  // The thread is woken when the head comes within half the margin.
  const std::size_t head = records * record;
  for (int i = 0; i < 200 && cache.populated_bytes() < index + head + kAhead / 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(cache.populated_bytes() >= index + head + kAhead / 2);
  CHECK(cache.populated_bytes() <= huge_round(index + head + kAhead));
  CHECK(cache.populated_bytes() < cache.mapped_bytes());

  // It still answers as before: faulting in changed no byte written.
  std::vector<SmtHashedNode> out;
  const Hash last = root_of(records - 1, (records - 1) * 7 + 1, 0x3c);
  REQUIRE(cache.find(last, out));
  CHECK(out.size() == page.size());
  CHECK(out[0].hash == last);
  CHECK_FALSE(cache.find(root_of(3, 4), out));
}

TEST_CASE("smt: a page cache not asked for huge pages has nothing faulted in ahead") {
  SmtPageCache cache(std::size_t{8} << 20, false);
  CHECK(cache.populated_bytes() == cache.mapped_bytes());
}
