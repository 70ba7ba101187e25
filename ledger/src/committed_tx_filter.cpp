#include "emledger/ledger/committed_tx_filter.hpp"

#include <cstring>
#include <mutex>

#include "emledger/crypto/result.hpp"

namespace emledger::ledger {
namespace {

constexpr std::uint64_t kBlockBits = 512;
constexpr std::uint64_t kWordsPerBlock = kBlockBits / 64;
// Each probe takes 9 bits of the second word: 7 probes use 63 of its 64.
static_assert(kTxFilterProbes * 9 <= 64);

std::uint64_t word_at(const Hash& id, std::size_t offset) {
  std::uint64_t w;
  std::memcpy(&w, id.data() + offset, sizeof w);
  return w;
}

}  // namespace

CommittedTxFilter::Segment CommittedTxFilter::make_segment(std::uint64_t capacity_ids) {
  Segment s;
  s.capacity_ids = capacity_ids;
  // A power-of-two count of blocks, so that a mask picks one.
  std::uint64_t blocks = 1;
  while (blocks * kBlockBits < capacity_ids * kTxFilterBitsPerId) blocks *= 2;
  s.words.assign(blocks * kWordsPerBlock, 0);
  return s;
}

CommittedTxFilter::CommittedTxFilter(std::uint64_t capacity_ids) {
  segments_.push_back(make_segment(std::max(capacity_ids, kTxFilterIdsMin)));
}

// The index of the first word of `id`'s block in a segment of `words` words.
std::size_t CommittedTxFilter::block_of(std::size_t words, const Hash& id) {
  const std::uint64_t blocks = words / kWordsPerBlock;  // a power of two
  return static_cast<std::size_t>((word_at(id, 0) & (blocks - 1)) * kWordsPerBlock);
}

bool CommittedTxFilter::test(const Segment& s, const Hash& id) {
  const std::uint64_t* block = s.words.data() + block_of(s.words.size(), id);
  std::uint64_t probe = word_at(id, 8);
  for (unsigned i = 0; i < kTxFilterProbes; ++i, probe >>= 9) {
    const unsigned bit = static_cast<unsigned>(probe & (kBlockBits - 1));
    if (!(block[bit / 64] & (std::uint64_t{1} << (bit % 64)))) return false;
  }
  return true;
}

void CommittedTxFilter::add_locked(const Hash& id) {
  if (segments_.back().ids >= segments_.back().capacity_ids)
    segments_.push_back(make_segment(2 * segments_.back().capacity_ids));
  Segment& s = segments_.back();
  std::uint64_t* block = s.words.data() + block_of(s.words.size(), id);
  std::uint64_t probe = word_at(id, 8);
  for (unsigned i = 0; i < kTxFilterProbes; ++i, probe >>= 9) {
    const unsigned bit = static_cast<unsigned>(probe & (kBlockBits - 1));
    block[bit / 64] |= std::uint64_t{1} << (bit % 64);
  }
  ++s.ids;
  ++ids_added_;
  EMLEDGER_ASSERT(test(s, id));
}

void CommittedTxFilter::add(const Hash& id) {
  std::unique_lock lock(mu_);
  add_locked(id);
}

void CommittedTxFilter::add(const std::vector<Hash>& ids) {
  std::unique_lock lock(mu_);
  for (const Hash& id : ids) add_locked(id);
}

void CommittedTxFilter::set_complete() { complete_.store(true, std::memory_order_release); }

bool CommittedTxFilter::surely_absent(const Hash& id) const {
  if (!complete()) return false;
  std::shared_lock lock(mu_);
  for (const Segment& s : segments_)
    if (test(s, id)) return false;
  return true;
}

std::uint64_t CommittedTxFilter::ids_added() const {
  std::shared_lock lock(mu_);
  return ids_added_;
}

std::size_t CommittedTxFilter::segments() const {
  std::shared_lock lock(mu_);
  return segments_.size();
}

}  // namespace emledger::ledger
