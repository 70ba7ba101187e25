// The blocks a validator voted for (pending_blocks.hpp): what a put leaves
// on disk is the documented encoding (docs/formats/pending-blocks.md), a
// restart reads it back, and a file that is not the block its name says is
// dropped.
#include "pending_blocks.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

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

}  // namespace

TEST_CASE("pending blocks: a put writes encode(PendingBlock) and a reopen reads it back") {
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

  const auto files = files_in(dir);
  REQUIRE(files.size() == 2);
  CHECK(files[0].filename().string() ==
        "00000000000000000001-" + to_hex(b1.header.hash()) + ".blk");
  // Byte for byte the encoding the format names, though written in two parts.
  CHECK(file_bytes(files[0]) == ledger::encode(PendingBlock{0, e1}));
  CHECK(file_bytes(files[1]) == ledger::encode(PendingBlock{8, e2}));

  // Stored already: not written again. Other bytes under the same name
  // (never so in use) would show a rewrite; the file keeps its own.
  REQUIRE(pb->put(b2.header.hash(), 2, 8, e1).is_ok());
  CHECK(files_in(dir).size() == 2);
  CHECK(file_bytes(files[1]) == ledger::encode(PendingBlock{8, e2}));

  auto again = PendingBlocks::open(env, dir.string());
  REQUIRE(again.is_ok());
  auto held = again->load_above(0);
  REQUIRE(held.is_ok());
  REQUIRE(held->size() == 2);
  CHECK((*held)[0].digest == b1.header.hash());
  CHECK((*held)[0].parent_view == 0);
  CHECK(ledger::encode((*held)[0].block) == e1);
  CHECK((*held)[1].parent_view == 8);
  CHECK(ledger::encode((*held)[1].block) == e2);
  auto above_one = again->load_above(1);
  REQUIRE(above_one.is_ok());
  REQUIRE(above_one->size() == 1);
  CHECK((*above_one)[0].block.header.height == 2);

  again->prune_through(1);
  CHECK(again->size() == 1);
  CHECK(files_in(dir).size() == 1);
}

TEST_CASE("pending blocks: a file that is not its name's block is dropped at load") {
  test::TempDir tmp;
  const fs::path dir = tmp.path() / "blocks";
  consensus::PosixFsEnv env;
  const ledger::Block b1 = block_at(1, 40), b2 = block_at(2, 40);
  {
    auto pb = PendingBlocks::open(env, dir.string());
    REQUIRE(pb.is_ok());
    REQUIRE(pb->put(b1.header.hash(), 1, 0, ledger::encode(b1)).is_ok());
    REQUIRE(pb->put(b2.header.hash(), 2, 0, ledger::encode(b2)).is_ok());
  }
  // Block 2's file cut short, as a torn write would leave it.
  const fs::path second = files_in(dir)[1];
  const Bytes whole = file_bytes(second);
  {
    std::ofstream out(second, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(whole.data()),
              static_cast<std::streamsize>(whole.size() - 5));
  }
  auto pb = PendingBlocks::open(env, dir.string());
  REQUIRE(pb.is_ok());
  auto held = pb->load_above(0);
  REQUIRE(held.is_ok());
  REQUIRE(held->size() == 1);
  CHECK((*held)[0].digest == b1.header.hash());
  CHECK_FALSE(fs::exists(second));
  CHECK(pb->size() == 1);
}
