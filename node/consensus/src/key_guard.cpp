#include "emledger/consensus/key_guard.hpp"

#include <algorithm>
#include <utility>

#include "emledger/ledger/encoding.hpp"

namespace emledger::consensus {
namespace {

constexpr std::size_t slot(std::uint8_t kind) { return static_cast<std::size_t>(kind) - 1; }
constexpr std::size_t kNotarize = slot(static_cast<std::uint8_t>(VoteKind::kNotarize));
constexpr std::size_t kNullify = slot(static_cast<std::uint8_t>(VoteKind::kNullify));
constexpr std::size_t kFinalize = slot(static_cast<std::uint8_t>(VoteKind::kFinalize));

// ledger::encode(logged), with the buffer reserved first: the same bytes,
// and it quiets g++ 12's -Wstringop-overflow false positive on the tag (as in
// wal.cpp).
Bytes encode_logged(const LoggedVote& v) {
  ledger::Encoder e;
  e.out().reserve(128);
  e.tag(LoggedVote::kDomain, LoggedVote::kVersion);
  e.object(v);
  return std::move(e.out());
}

// Every record encodes to the same size (fixed-width fields).
std::size_t vote_bytes() {
  static const std::size_t kVoteBytes = encode_logged(LoggedVote{0, Vote{1, 1, 1, Hash{}}}).size();
  return kVoteBytes;
}

Status conflict(Epoch epoch, const Vote& v, const std::string& why) {
  return Status::error("VOTE_CONFLICT", "epoch " + std::to_string(epoch) + " view " +
                                            std::to_string(v.view) + ": " + why);
}

}  // namespace

KeyGuard::KeyGuard(VoteWal wal, crypto::KeyPair key, std::string chain_id, Epoch epoch,
                   ValidatorIndex self, View floor_view)
    : wal_(std::move(wal)),
      key_(std::move(key)),
      chain_id_(std::move(chain_id)),
      epoch_(epoch),
      self_(self),
      floor_view_(floor_view) {}

std::uint64_t KeyGuard::wal_capacity_bytes_min() {
  return kWalFileHeaderBytes + kWalRecordHeaderBytes + vote_bytes();
}

Result<KeyGuard> KeyGuard::open(FsEnv& env, std::string path, crypto::KeyPair key,
                                std::string chain_id, Epoch epoch, ValidatorIndex self,
                                View anchor_view, std::uint64_t wal_capacity_bytes) {
  // Below one vote the WAL's own lower bound would pass a WAL that can hold
  // no vote at all.
  if (wal_capacity_bytes < wal_capacity_bytes_min() || wal_capacity_bytes > kWalFileBytesMax)
    return Status::error("CONFIG_INVALID", "WAL capacity " + std::to_string(wal_capacity_bytes) +
                                               " bytes is outside " +
                                               std::to_string(wal_capacity_bytes_min()) + ".." +
                                               std::to_string(kWalFileBytesMax));
  auto opened = VoteWal::open(env, std::move(path), WalOptions{wal_capacity_bytes});
  if (!opened.is_ok()) return opened.status();
  OpenedWal& o = opened.value();
  KeyGuard guard(std::move(o.wal), std::move(key), std::move(chain_id), epoch, self, anchor_view);
  guard.torn_bytes_cut_ = o.replay.torn_bytes_cut;
  for (std::size_t i = 0; i < o.replay.records.size(); ++i) {
    auto logged = ledger::decode<LoggedVote>(o.replay.records[i]);
    // An intact record (its CRC matched) that is not a vote was never written
    // by us: refuse like any other corruption.
    if (!logged.is_ok())
      return Status::error("WAL_CORRUPT", guard.wal_.path() + ": record " + std::to_string(i) +
                                              " is not a vote (" + logged.status().to_string() +
                                              "); refusing to start");
    guard.remember(*logged);
  }
  return guard;
}

void KeyGuard::remember(const LoggedVote& logged) {
  order_.push_back(logged);
  auto& s = by_view_[EpochView{logged.epoch, logged.vote.view}][slot(logged.vote.kind)];
  if (!s) s = logged.vote;  // a WAL never holds two of one kind (the guard wrote it)
}

const KeyGuard::Slots* KeyGuard::slots_of(const Vote& vote) const {
  auto it = by_view_.find(EpochView{epoch_, vote.view});
  return it == by_view_.end() ? nullptr : &it->second;
}

std::vector<Vote> KeyGuard::logged() const {
  std::vector<Vote> out;
  for (const LoggedVote& l : order_)
    if (l.epoch == epoch_) out.push_back(l.vote);
  return out;
}

Status KeyGuard::check(const Vote& vote) const {
  if (!vote.check().is_ok()) return Status::error("MALFORMED_ENCODING", "vote fails check()");
  if (vote.view <= floor_view_)
    return Status::error("VOTE_BELOW_FLOOR", "view " + std::to_string(vote.view) +
                                                 " is at or below the guard's floor " +
                                                 std::to_string(floor_view_));
  // Only this epoch's votes constrain: a vote of another epoch signs another
  // statement, which no verifier of this epoch counts.
  const Slots* found = slots_of(vote);
  if (found == nullptr) return Status::ok();
  const Slots& s = *found;
  const std::size_t k = slot(vote.kind);
  if (s[k]) {
    if (*s[k] == vote) return Status::ok();  // identical: the same signature again
    return conflict(epoch_, vote, "a different vote of this kind is logged");
  }
  switch (vote.vote_kind()) {
    case VoteKind::kNotarize:
      if (s[kNullify]) return conflict(epoch_, vote, "notarize after nullify (rule 1)");
      break;
    case VoteKind::kFinalize:
      if (s[kNullify]) return conflict(epoch_, vote, "finalize after nullify (rule 2)");
      break;
    case VoteKind::kNullify:
      if (s[kFinalize]) return conflict(epoch_, vote, "nullify after finalize (rule 3)");
      break;
  }
  return Status::ok();
}

SignedVote KeyGuard::sign_now(const Vote& vote) {
  SignedVote sv{vote, self_, key_.sign(signing_bytes(chain_id_, epoch_, vote))};
  auto [it, inserted] = signatures_.emplace(vote, sv.signature);
  // Deterministic signing: the same vote always gets the same bytes, so a
  // re-sent vote can never be mistaken for a second statement.
  EMLEDGER_ASSERT(inserted || it->second == sv.signature);
  if (observer_) observer_(sv);
  return sv;
}

Result<SignedVote> KeyGuard::sign(const Vote& vote) {
  if (Status st = check(vote); !st.is_ok()) {
    ++counters_.refused;
    return st;
  }
  const Slots* s = slots_of(vote);
  const bool logged = s != nullptr && (*s)[slot(vote.kind)] == vote;
  if (logged) {
    ++counters_.signed_again;
    return sign_now(vote);
  }
  // A WAL replayed at open may still hold votes at or below the anchor (the
  // process died before or during the compaction that would have dropped
  // them), and a caller that compacts only when its floor rises never drops
  // them: every restart then halted on WAL_FULL (the simulator, small-WAL
  // seeds). The ledger holds the floor durably, so drop them here.
  if (!has_room() && holds_at_or_below(floor_view_)) EMLEDGER_TRY(compact(floor_view_));
  // Durable before signed: a crash after this point leaves a vote that
  // constrains the restarted node and that nobody has seen.
  const LoggedVote record{epoch_, vote};
  EMLEDGER_TRY(wal_.append(encode_logged(record)));
  remember(record);
  EMLEDGER_ASSERT(check(vote).is_ok());
  ++counters_.signed_new;
  return sign_now(vote);
}

std::vector<Vote> KeyGuard::logged_between(View after, View upto) const {
  std::vector<Vote> out;
  for (auto it = by_view_.upper_bound(EpochView{epoch_, after});
       it != by_view_.end() && it->first.first == epoch_ && it->first.second <= upto; ++it)
    for (const auto& v : it->second)
      if (v) out.push_back(*v);
  return out;
}

std::optional<SignedVote> KeyGuard::signed_before(const Vote& vote) const {
  auto it = signatures_.find(vote);
  if (it == signatures_.end()) return std::nullopt;
  return SignedVote{vote, self_, it->second};
}

bool KeyGuard::holds_at_or_below(View view) const {
  return std::any_of(by_view_.begin(), by_view_.end(),
                     [&](const auto& e) { return e.first.second <= view; });
}

bool KeyGuard::has_room() const { return wal_.has_room_for(vote_bytes()); }

Status KeyGuard::compact(View floor_view) {
  EMLEDGER_ASSERT(floor_view >= floor_view_);
  std::vector<Bytes> keep;
  std::vector<LoggedVote> kept;
  for (const LoggedVote& l : order_) {
    if (l.vote.view <= floor_view) continue;
    keep.push_back(encode_logged(l));
    kept.push_back(l);
  }
  EMLEDGER_TRY(wal_.rewrite(keep));
  floor_view_ = floor_view;
  order_ = std::move(kept);
  std::erase_if(by_view_, [&](const auto& e) { return e.first.second <= floor_view; });
  std::erase_if(signatures_, [&](const auto& e) { return e.first.view <= floor_view; });
  ++counters_.compactions;
  return Status::ok();
}

}  // namespace emledger::consensus
