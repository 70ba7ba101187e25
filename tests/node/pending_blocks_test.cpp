// The blocks a validator voted for (pending_blocks.hpp): what a put leaves
// on disk is the documented record (docs/formats/pending-blocks.md), a
// restart reads it back, a committed block's slot is written over in place,
// a slot without a whole record is free, and files of the earlier layout are
// moved into slots.
#include "pending_blocks.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "emledger/consensus/crc32c.hpp"
#include "emledger/crypto/hex.hpp"
#include "node_test_util.hpp"

using namespace emledger;
using namespace emledger::node;
namespace fs = std::filesystem;

namespace {

ledger::Block block_at(std::uint64_t height, std::size_t tx_bytes) {
  ledger::Block b;
  b.header.chain_id = "pending-blocks-test";
  b.header.height = height;
  b.header.view = height + 7;
  b.header.time_ms = 1'000 * height;
  b.header.log_size = height;
  for (std::size_t i = 0; i < 3; ++i)
    b.txs.push_back(Bytes(tx_bytes, static_cast<std::uint8_t>(i)));
  return b;
}

Bytes file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// The record a slot holds for a block: head, block, CRC-32C of both.
Bytes record_of(const ledger::Block& b, std::uint64_t parent_view) {
  const Bytes block = ledger::encode(b);
  Bytes out = ledger::encode(PendingSlotHead{b.header.height, b.header.hash(), parent_view,
                                             static_cast<std::uint32_t>(block.size())});
  out.insert(out.end(), block.begin(), block.end());
  const std::uint32_t crc = consensus::crc32c(out);
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<std::uint8_t>(crc >> shift));
  return out;
}

void write_file(const fs::path& p, ByteView bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

std::vector<std::uint64_t> heights_above(PendingBlocks& pb, std::uint64_t height) {
  auto held = pb.load_above(height);
  REQUIRE_MESSAGE(held.is_ok(), held.status().to_string());
  std::vector<std::uint64_t> out;
  for (const auto& e : *held) out.push_back(e.block.header.height);
  return out;
}

}  // namespace

TEST_CASE("pending blocks: a put writes a slot's record and a reopen reads it back") {
  test::TempDir tmp;
  const fs::path dir = tmp.path() / "blocks";
  consensus::PosixFsEnv env;
  auto pb = PendingBlocks::open(env, dir.string());
  REQUIRE(pb.is_ok());
  const ledger::Block b1 = block_at(1, 40), b2 = block_at(2, 300);
  const Bytes e1 = ledger::encode(b1), e2 = ledger::encode(b2);
  REQUIRE(pb->put(b1.header.hash(), 1, 0, e1).is_ok());
  REQUIRE(pb->put(b2.header.hash(), 2, 8, e2).is_ok());
  CHECK(pb->size() == 2);
  CHECK(pb->slots() == 2);

  // The head's size the format gives.
  CHECK(ledger::encode(PendingSlotHead{}).size() == 75);
  // Byte for byte the record the format names, though written in three parts.
  REQUIRE(files_in(dir) == std::vector<fs::path>{dir / "slot-0", dir / "slot-1"});
  CHECK(file_bytes(dir / "slot-0") == record_of(b1, 0));
  CHECK(file_bytes(dir / "slot-1") == record_of(b2, 8));

  // Stored already: not written again. Other bytes for the same block
  // (never so in use) would show a rewrite; the slot keeps its own.
  REQUIRE(pb->put(b2.header.hash(), 2, 8, e1).is_ok());
  CHECK(files_in(dir).size() == 2);
  CHECK(file_bytes(dir / "slot-1") == record_of(b2, 8));

  auto again = PendingBlocks::open(env, dir.string());
  REQUIRE(again.is_ok());
  CHECK(again->size() == 2);
  auto held = again->load_above(0);
  REQUIRE(held.is_ok());
  REQUIRE(held->size() == 2);
  CHECK((*held)[0].digest == b1.header.hash());
  CHECK((*held)[0].parent_view == 0);
  CHECK(ledger::encode((*held)[0].block) == e1);
  CHECK((*held)[1].parent_view == 8);
  CHECK(ledger::encode((*held)[1].block) == e2);
  CHECK(heights_above(*again, 1) == std::vector<std::uint64_t>{2});

  // Pruning frees the slot and keeps its file for the next block.
  again->prune_through(1);
  CHECK(again->size() == 1);
  CHECK(again->slots() == 2);
  CHECK(files_in(dir).size() == 2);
  CHECK(heights_above(*again, 0) == std::vector<std::uint64_t>{2});
}

TEST_CASE("pending blocks: the next block is written in place over a committed block's slot") {
  test::TempDir tmp;
  const fs::path dir = tmp.path() / "blocks";
  consensus::PosixFsEnv env;
  const ledger::Block b1 = block_at(1, 900), b2 = block_at(2, 40), b3 = block_at(3, 40);
  auto pb = PendingBlocks::open(env, dir.string());
  REQUIRE(pb.is_ok());
  REQUIRE(pb->put(b1.header.hash(), 1, 0, ledger::encode(b1)).is_ok());
  REQUIRE(pb->put(b2.header.hash(), 2, 1, ledger::encode(b2)).is_ok());
  const Bytes old_slot = file_bytes(dir / "slot-0");
  struct stat before {};
  REQUIRE(::stat((dir / "slot-0").c_str(), &before) == 0);

  pb->prune_through(1);
  REQUIRE(pb->put(b3.header.hash(), 3, 2, ledger::encode(b3)).is_ok());
  CHECK(pb->slots() == 2);
  // The same file, its bytes rewritten from the first: block 3's record,
  // then what is left of block 1's, which is longer.
  struct stat after {};
  REQUIRE(::stat((dir / "slot-0").c_str(), &after) == 0);
  CHECK(after.st_ino == before.st_ino);
  const Bytes r3 = record_of(b3, 2);
  const Bytes now = file_bytes(dir / "slot-0");
  REQUIRE(r3.size() < old_slot.size());
  REQUIRE(now.size() == old_slot.size());
  CHECK(Bytes(now.begin(), now.begin() + static_cast<std::ptrdiff_t>(r3.size())) == r3);
  CHECK(Bytes(now.begin() + static_cast<std::ptrdiff_t>(r3.size()), now.end()) ==
        Bytes(old_slot.begin() + static_cast<std::ptrdiff_t>(r3.size()), old_slot.end()));

  // A reopen reads the record and ignores the old tail.
  auto again = PendingBlocks::open(env, dir.string());
  REQUIRE(again.is_ok());
  CHECK(heights_above(*again, 1) == std::vector<std::uint64_t>{2, 3});
}

TEST_CASE("pending blocks: a slot without a whole record is free at open, and used next") {
  test::TempDir tmp;
  const fs::path dir = tmp.path() / "blocks";
  consensus::PosixFsEnv env;
  const ledger::Block b1 = block_at(1, 40), b2 = block_at(2, 40), b3 = block_at(3, 40);
  {
    auto pb = PendingBlocks::open(env, dir.string());
    REQUIRE(pb.is_ok());
    REQUIRE(pb->put(b1.header.hash(), 1, 0, ledger::encode(b1)).is_ok());
    REQUIRE(pb->put(b2.header.hash(), 2, 0, ledger::encode(b2)).is_ok());
  }
  // Slot 1's write torn by a crash: a byte of the block is not the one the
  // CRC covered.
  Bytes torn = file_bytes(dir / "slot-1");
  torn[torn.size() / 2] ^= 0x20;
  write_file(dir / "slot-1", torn);
  auto pb = PendingBlocks::open(env, dir.string());
  REQUIRE(pb.is_ok());
  CHECK(pb->size() == 1);
  CHECK(pb->slots() == 2);
  CHECK(heights_above(*pb, 0) == std::vector<std::uint64_t>{1});
  REQUIRE(pb->put(b3.header.hash(), 3, 0, ledger::encode(b3)).is_ok());
  CHECK(file_bytes(dir / "slot-1") == record_of(b3, 0));
  CHECK(pb->slots() == 2);

  // A whole record whose block is not the one its head names (never
  // written so): dropped at load, its slot freed.
  Bytes lying = record_of(b2, 0);
  {
    // b1's digest in the head, the CRC made to match.
    const Hash other = b1.header.hash();
    const std::size_t at = ledger::encode(PendingSlotHead{}).size() - 4 - 8 - 32;
    std::copy(other.begin(), other.end(), lying.begin() + static_cast<std::ptrdiff_t>(at));
    lying.resize(lying.size() - 4);
    const std::uint32_t crc = consensus::crc32c(lying);
    for (int shift = 24; shift >= 0; shift -= 8)
      lying.push_back(static_cast<std::uint8_t>(crc >> shift));
  }
  write_file(dir / "slot-1", lying);
  auto reopened = PendingBlocks::open(env, dir.string());
  REQUIRE(reopened.is_ok());
  CHECK(reopened->size() == 2);
  CHECK(heights_above(*reopened, 0) == std::vector<std::uint64_t>{1});
  CHECK(reopened->size() == 1);
}

TEST_CASE("pending blocks: a failed write leaves its slot free and nothing stored") {
  test::TempDir tmp;
  consensus::SimFsEnv env;
  auto pb = PendingBlocks::open(env, (tmp.path() / "blocks").string());
  REQUIRE(pb.is_ok());
  const ledger::Block b1 = block_at(1, 40);
  env.fail_next(consensus::SimFsEnv::Op::kSync);
  CHECK_FALSE(pb->put(b1.header.hash(), 1, 0, ledger::encode(b1)).is_ok());
  CHECK(pb->size() == 0);
  env.fail_next(consensus::SimFsEnv::Op::kSyncDir);
  CHECK_FALSE(pb->put(b1.header.hash(), 1, 0, ledger::encode(b1)).is_ok());
  CHECK(pb->size() == 0);
  const std::uint64_t syncs = env.syncs();
  REQUIRE(pb->put(b1.header.hash(), 1, 0, ledger::encode(b1)).is_ok());
  CHECK(env.syncs() == syncs + 2);  // the record, and the new slot's name
  CHECK(pb->size() == 1);
  CHECK(pb->slots() == 1);
  auto held = pb->load_above(0);
  REQUIRE(held.is_ok());
  REQUIRE(held->size() == 1);
  CHECK(ledger::encode((*held)[0].block) == ledger::encode(b1));
  // A slot written over syncs only its bytes.
  pb->prune_through(1);
  const ledger::Block b2 = block_at(2, 40);
  REQUIRE(pb->put(b2.header.hash(), 2, 0, ledger::encode(b2)).is_ok());
  CHECK(env.syncs() == syncs + 3);
  CHECK(pb->slots() == 1);
}

TEST_CASE("pending blocks: files of the earlier layout are moved into slots at open") {
  test::TempDir tmp;
  const fs::path dir = tmp.path() / "blocks";
  fs::create_directories(dir);
  consensus::PosixFsEnv env;
  const ledger::Block b1 = block_at(1, 40), b2 = block_at(2, 40);
  const auto earlier_name = [](const ledger::Block& b) {
    std::string h = std::to_string(b.header.height);
    h.insert(0, 20 - h.size(), '0');
    return h + "-" + to_hex(b.header.hash()) + ".blk";
  };
  write_file(dir / earlier_name(b1), ledger::encode(PendingBlock{8, ledger::encode(b1)}));
  // Block 2's file cut short, as a torn write would leave it.
  const Bytes whole = ledger::encode(PendingBlock{0, ledger::encode(b2)});
  write_file(dir / earlier_name(b2), ByteView(whole).first(whole.size() - 5));
  write_file(dir / (earlier_name(b2) + ".tmp"), whole);

  auto pb = PendingBlocks::open(env, dir.string());
  REQUIRE(pb.is_ok());
  CHECK(files_in(dir) == std::vector<fs::path>{dir / "slot-0"});
  CHECK(file_bytes(dir / "slot-0") == record_of(b1, 8));
  auto held = pb->load_above(0);
  REQUIRE(held.is_ok());
  REQUIRE(held->size() == 1);
  CHECK((*held)[0].digest == b1.header.hash());
  CHECK((*held)[0].parent_view == 8);
}
