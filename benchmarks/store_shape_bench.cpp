// Store-shape benchmark: what LevelDB's write path (memtable, log,
// flushes, compaction) costs for the same blocks under other layouts of the
// state-tree nodes (docs/benchmarks.md). It chose ADR 027's pages before
// they were built, and now keeps the choice measured against the layouts
// around it.
//
//   ./build/benchmarks/store_shape_bench [--blocks N] [--block-txs M] [--rounds R]
//
// The kernel executes N blocks of M register transactions once and keeps
// every block's writes. Each layout then replays those writes, block by
// block, as one synced batch each (KvStore::write_all, the node's commit),
// into a fresh store opened with the shipped options (open_leveldb), and the
// process's CPU time (every thread: the writes and LevelDB's background
// flushes and compactions) is summed until LevelDB falls idle. Only the
// tree nodes ('n' keys) change between layouts; every other put stays:
//
//   hash     the layout before ADR 027: 'n' + node hash -> node (ADR 006),
//            each node the block made (the nodes of its pages no earlier
//            block's pages held)
//   height   'n' + u64 height of the block that wrote it + node hash, each
//            internal node 16 bytes longer (its children's heights): the
//            nodes of a block sort together and after every older one
//   groups   the block's new nodes, each appended to the put of its nearest
//            ancestor at a depth divisible by 4: the shipped bytes in the
//            puts of a page layout, a bound no page format reaches
//   pages    the shipped layout, pages of 4 levels (ADR 027): 'n' + hash of
//            a node at a depth divisible by 4 -> that node's subtree down to
//            4 levels below it, references to the pages there, internal
//            hashes left out (a reader recomputes them): the kernel's writes
//            as they are
//
// Except `pages`, these are models of layouts, not implementations: nothing
// reads the replayed stores. The codec's own CPU, decoding each page once
// and encoding it again from its nodes, is measured beside them. Layouts
// run round-robin, R rounds, so that drift of a shared host falls on all of
// them; with --rounds 0, only the execution and the codec's CPU are measured.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "bench_common.hpp"
#include "bench_txs.hpp"
#include "emledger/ledger/ledger.hpp"
#include "emledger/ledger/smt.hpp"
#include "emledger/ledger/smt_page.hpp"

using namespace emledger;
using namespace emledger::ledger;
using emledger::bench::process_cpu_seconds;
using emledger::bench::thread_cpu_seconds;
namespace fs = std::filesystem;

namespace {

constexpr std::uint8_t kNodeTag = 'n';
constexpr std::size_t kPageLevels = 4;
constexpr std::size_t kHeightedNodeExtra = 16;  // two u64 child heights

// One block's writes, as the kernel prepared them, with what the layouts need.
struct CapturedBlock {
  std::uint64_t height = 0;
  Hash state_root{};
  WriteBatch writes;  // its tree in pages (ADR 027)
  // The nodes the block made, as the layout before pages stored them.
  std::map<Hash, SmtNodeBytes> nodes;
};

enum class Layout { kHash, kHeight, kGroups, kPages };
constexpr Layout kLayouts[] = {Layout::kHash, Layout::kHeight, Layout::kGroups, Layout::kPages};

const char* layout_name(Layout l) {
  switch (l) {
    case Layout::kHash:
      return "hash";
    case Layout::kHeight:
      return "height";
    case Layout::kGroups:
      return "groups";
    case Layout::kPages:
      return "pages";
  }
  return "?";
}

// Bytes this process has caused to be written to storage (/proc/self/io).
std::uint64_t disk_write_bytes() {
  std::ifstream in("/proc/self/io");
  std::string key;
  std::uint64_t value = 0;
  while (in >> key >> value)
    if (key == "write_bytes:") return value;
  return 0;
}

std::uint64_t dir_bytes(const fs::path& dir) {
  std::uint64_t total = 0;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file()) total += e.file_size();
  return total;
}

// The codec's CPU over the whole capture: each page decoded once, as a
// reader missing the cache would, and encoded again from its nodes, as the
// update writes it.
struct CodecCost {
  double encode_s = 0, decode_s = 0;
  std::uint64_t pages = 0;
};

struct HashPrefix {
  std::size_t operator()(const Hash& h) const {
    std::size_t v;
    std::memcpy(&v, h.data(), sizeof v);
    return v;
  }
};

// The nodes the block made, from the pages it wrote: those no earlier
// block's pages held (a leaf moved down to a depth rooting a page is in an
// earlier page already: the layout before pages did not write it again).
// Each page must encode back to its own bytes.
void capture_nodes(CapturedBlock& block, std::unordered_set<Hash, HashPrefix>& seen,
                   CodecCost& cost) {
  for (const auto& e : block.writes.entries()) {
    if (e.key.size() != 1 + kHashSize || e.key[0] != kNodeTag) continue;
    Hash root;
    std::copy(e.key.begin() + 1, e.key.end(), root.begin());
    const double c0 = thread_cpu_seconds();
    auto entries = decode_smt_page(e.value, root);
    const double c1 = thread_cpu_seconds();
    if (!entries) throw std::runtime_error(entries.status().to_string());
    std::vector<SmtPageEntry>& m = *entries;
    std::sort(m.begin(), m.end(), [](const auto& x, const auto& y) { return x.hash < y.hash; });
    const double c2 = thread_cpu_seconds();
    auto page = encode_smt_page(root, [&m](const Hash& h) -> std::optional<SmtNodeBytes> {
      auto it = std::lower_bound(m.begin(), m.end(), h,
                                 [](const auto& entry, const Hash& x) { return entry.hash < x; });
      if (it == m.end() || it->hash != h) return std::nullopt;
      return it->node;
    });
    cost.decode_s += c1 - c0;
    cost.encode_s += thread_cpu_seconds() - c2;
    ++cost.pages;
    if (!page || *page != Bytes(e.value.begin(), e.value.end()))
      throw std::runtime_error("a page did not encode back to its bytes");
    for (const SmtPageEntry& n : m)
      if (seen.insert(n.hash).second) block.nodes.emplace(n.hash, n.node);
  }
}

// Executes and commits the blocks once, keeping each block's writes.
std::vector<CapturedBlock> capture_blocks(const fs::path& dir, std::size_t blocks,
                                          std::size_t block_txs, CodecCost& cost) {
  const bench::OneValidatorChain chain = bench::one_validator_chain();
  auto store = open_leveldb(dir.string());
  if (!store) throw std::runtime_error(store.status().to_string());
  auto ledger = Ledger::open(std::move(*store), chain.genesis, LedgerOptions{});
  if (!ledger) throw std::runtime_error(ledger.status().to_string());
  std::vector<CapturedBlock> out;
  std::unordered_set<Hash, HashPrefix> seen;
  std::uint64_t n = 0;
  for (std::size_t h = 0; h < blocks; ++h) {
    std::vector<Tx> txs;
    for (std::size_t i = 0; i < block_txs; ++i, ++n)
      txs.push_back(bench::register_tx(n, "bench", "a.issuer", chain.issuer, 1000));
    std::vector<TxOutcome> outcomes;
    auto p = (*ledger)->prepare(txs, 1000 + h, h + 1, chain.validator.public_key(), true, outcomes);
    if (!p) throw std::runtime_error(p.status().to_string());
    Certificate cert;
    sign_certificate(chain.genesis, p->block.header, 0, chain.validator, cert);
    out.push_back(CapturedBlock{p->new_head.height, p->new_head.state_root, p->writes, {}});
    const Status committed = (*ledger)->commit(*p, cert);
    if (!committed.is_ok()) throw std::runtime_error(committed.to_string());
    capture_nodes(out.back(), seen, cost);
  }
  return out;
}

Bytes node_key(bool by_height, std::uint64_t height, ByteView hash) {
  Bytes key{kNodeTag};
  if (by_height)
    for (int shift = 56; shift >= 0; shift -= 8)
      key.push_back(static_cast<std::uint8_t>(height >> shift));
  key.insert(key.end(), hash.begin(), hash.end());
  return key;
}

// The block's new nodes grouped as pages would group them, each group one
// put of the nodes' own encodings: the bytes of the shipped layout in the
// puts of a page layout, a bound no page format reaches (a page also
// rewrites the unchanged nodes of its levels). Walks the new nodes from the
// new root and appends each to the group of its nearest ancestor at a depth
// divisible by kPageLevels (itself, at such a depth).
std::map<Hash, Bytes> groups_of(const std::map<Hash, ByteView>& nodes, const Hash& root) {
  std::map<Hash, Bytes> groups;
  std::set<Hash> placed;
  struct Visit {
    Hash node;
    std::size_t depth;
    Hash group;
  };
  std::vector<Visit> stack;
  if (nodes.count(root)) stack.push_back({root, 0, root});
  while (!stack.empty()) {
    const Visit v = stack.back();
    stack.pop_back();
    const ByteView raw = nodes.at(v.node);
    const Hash group = v.depth % kPageLevels == 0 ? v.node : v.group;
    Bytes& bytes = groups[group];
    bytes.insert(bytes.end(), raw.begin(), raw.end());
    placed.insert(v.node);
    if (raw[0] != 1) continue;  // a leaf
    for (std::size_t child = 0; child < 2; ++child) {
      Hash h;
      std::copy_n(raw.begin() + 1 + child * kHashSize, kHashSize, h.begin());
      if (nodes.count(h) && !placed.count(h)) stack.push_back({h, v.depth + 1, group});
    }
  }
  for (const auto& [hash, raw] : nodes)
    if (!placed.count(hash)) groups[hash].assign(raw.begin(), raw.end());
  return groups;
}

// One block's writes under `layout`: the other puts as they are, the tree
// nodes reshaped.
WriteBatch reshape(const CapturedBlock& block, Layout layout) {
  WriteBatch out;
  out.reserve(block.writes.size());
  for (const auto& e : block.writes.entries()) {
    const bool page = e.key.size() == 1 + kHashSize && e.key[0] == kNodeTag;
    if (!page || layout == Layout::kPages) out.put(e.key, e.value);
  }
  if (layout == Layout::kPages) return out;
  std::map<Hash, ByteView> nodes;
  for (const auto& [h, raw] : block.nodes) {
    if (layout == Layout::kHash) {
      out.put(node_key(false, block.height, h), raw);
    } else if (layout == Layout::kHeight) {
      Bytes value(raw.begin(), raw.end());
      if (value[0] == 1) value.resize(value.size() + kHeightedNodeExtra, 0);
      out.put(node_key(true, block.height, h), value);
    } else {
      nodes.emplace(h, ByteView(raw.data(), raw.size()));
    }
  }
  if (layout == Layout::kGroups)
    for (const auto& [group, bytes] : groups_of(nodes, block.state_root))
      out.put(node_key(false, block.height, group), bytes);
  return out;
}

struct Run {
  double cpu_s = 0;        // process CPU from the first write until LevelDB is idle
  double wall_s = 0;       // the same span
  double idle_wait_s = 0;  // of which after the last write
  std::uint64_t puts = 0, put_bytes = 0, tree_puts = 0, tree_bytes = 0;
  std::uint64_t disk_bytes = 0, db_bytes = 0;
};

// Waits until the process has used under 2% of a core for two half-second
// spells running: LevelDB's background thread has no flush or compaction
// left to run.
void wait_until_idle() {
  int quiet = 0;
  double last = process_cpu_seconds();
  while (quiet < 2) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const double now = process_cpu_seconds();
    quiet = now - last < 0.01 ? quiet + 1 : 0;
    last = now;
  }
}

Run replay(const std::vector<WriteBatch>& batches, const fs::path& dir) {
  fs::remove_all(dir);
  Run r;
  for (const auto& b : batches) {
    r.puts += b.size();
    for (const auto& e : b.entries()) {
      r.put_bytes += e.key.size() + e.value.size();
      if (e.key[0] == kNodeTag) {
        ++r.tree_puts;
        r.tree_bytes += e.key.size() + e.value.size();
      }
    }
  }
  auto store = open_leveldb(dir.string());
  if (!store) throw std::runtime_error(store.status().to_string());
  const auto t0 = std::chrono::steady_clock::now();
  const double c0 = process_cpu_seconds();
  const std::uint64_t d0 = disk_write_bytes();
  for (const auto& b : batches) {
    const WriteBatch* one[] = {&b};
    const Status s = (*store)->write_all(one, /*sync=*/true);
    if (!s.is_ok()) throw std::runtime_error(s.to_string());
  }
  const auto t1 = std::chrono::steady_clock::now();
  wait_until_idle();
  const auto t2 = std::chrono::steady_clock::now();
  // The quiet spells add under 0.02 s of CPU: wait_until_idle's bound.
  r.cpu_s = process_cpu_seconds() - c0;
  r.wall_s = std::chrono::duration<double>(t2 - t0).count();
  r.idle_wait_s = std::chrono::duration<double>(t2 - t1).count();
  r.disk_bytes = disk_write_bytes() - d0;
  store->reset();
  r.db_bytes = dir_bytes(dir);
  fs::remove_all(dir);
  return r;
}

struct Options {
  std::size_t blocks = 100, block_txs = 2000, rounds = 2;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; i += 2) {
    const std::string k = argv[i];
    if (i + 1 >= argc) throw std::invalid_argument(k);
    const std::size_t v = std::stoul(argv[i + 1]);
    if (v == 0 && k != "--rounds") throw std::invalid_argument(k);
    if (k == "--blocks")
      o.blocks = v;
    else if (k == "--block-txs")
      o.block_txs = v;
    else if (k == "--rounds")
      o.rounds = v;
    else
      throw std::invalid_argument(k);
  }
  return o;
}

void print_table(const std::map<Layout, std::vector<Run>>& runs, std::size_t txs) {
  const double n = static_cast<double>(txs);
  auto mean_cpu = [&](Layout l) {
    double sum = 0;
    for (const Run& r : runs.at(l)) sum += r.cpu_s;
    return sum / static_cast<double>(runs.at(l).size());
  };
  const double base = mean_cpu(Layout::kHash);
  std::printf("%-7s %8s %9s %9s %9s %13s %14s %10s %8s  %s\n", "layout", "puts/tx", "put B/tx",
              "tree/tx", "tree B/tx", "disk wr B/tx", "DB B/tx (end)", "CPU us/tx", "vs hash",
              "CPU us/tx by round");
  for (Layout l : kLayouts) {
    const Run& first = runs.at(l).front();
    std::string rounds;
    double disk = 0;
    for (const Run& r : runs.at(l)) {
      rounds += std::to_string(static_cast<int>(1e6 * r.cpu_s / n + 0.5)) + " ";
      disk += static_cast<double>(r.disk_bytes) / static_cast<double>(runs.at(l).size());
    }
    std::printf("%-7s %8.1f %9.0f %9.1f %9.0f %13.0f %14.0f %10.1f %8.3f  %s\n", layout_name(l),
                static_cast<double>(first.puts) / n, static_cast<double>(first.put_bytes) / n,
                static_cast<double>(first.tree_puts) / n, static_cast<double>(first.tree_bytes) / n,
                disk / n, static_cast<double>(first.db_bytes) / n, 1e6 * mean_cpu(l) / n,
                mean_cpu(l) / base, rounds.c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    o = parse(argc, argv);
  } catch (const std::exception&) {
    std::fprintf(stderr, "usage: store_shape_bench [--blocks N] [--block-txs M] [--rounds R]\n");
    return 2;
  }
  const fs::path dir = fs::temp_directory_path() / ("emledger-shape-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  try {
    std::printf("executing %zu blocks of %zu register txs...\n", o.blocks, o.block_txs);
    std::fflush(stdout);
    CodecCost codec;
    const std::vector<CapturedBlock> blocks =
        capture_blocks(dir / "source", o.blocks, o.block_txs, codec);
    fs::remove_all(dir / "source");
    std::map<Layout, std::vector<Run>> runs;
    for (std::size_t round = 0; round < o.rounds; ++round) {
      for (Layout l : kLayouts) {
        std::vector<WriteBatch> batches;
        for (const auto& b : blocks) batches.push_back(reshape(b, l));
        runs[l].push_back(replay(batches, dir / layout_name(l)));
        std::printf("  round %zu %-6s CPU %.2f s, wall %.2f s (idle wait %.2f s)\n", round + 1,
                    layout_name(l), runs[l].back().cpu_s, runs[l].back().wall_s,
                    runs[l].back().idle_wait_s);
        std::fflush(stdout);
      }
    }
    if (o.rounds > 0) print_table(runs, o.blocks * o.block_txs);
    const double txs = static_cast<double>(o.blocks * o.block_txs);
    std::printf(
        "page codec, one thread: %.2f pages per tx; decode %.2f us per tx, encode %.2f us "
        "per tx (each page once)\n",
        static_cast<double>(codec.pages) / txs, 1e6 * codec.decode_s / txs,
        1e6 * codec.encode_s / txs);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "store_shape_bench: %s\n", e.what());
    fs::remove_all(dir);
    return 3;
  }
  fs::remove_all(dir);
  std::printf(
      "setup: %zu blocks of %zu register txs executed once by the kernel, archive (no pruning); "
      "each layout replays them as one synced batch per block into a fresh LevelDB with the "
      "shipped options; CPU is the process's (writes, flushes, compactions) from the first write "
      "until LevelDB is idle; rounds alternate layouts\n",
      o.blocks, o.block_txs);
  return 0;
}
