// Test helpers for the consensus core: deterministic validator keys, signed
// votes and certificates, and a driver that answers a core's requests the
// way an adapter would (persist, sign, build, check) so tests see the core's
// decisions and nothing else.
#pragma once

#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "emledger/consensus/core.hpp"
#include "emledger/crypto/ed25519.hpp"
#include "emledger/crypto/sha256.hpp"

namespace emledger::consensus::test {

inline const std::string kChain = "test-chain";
// The epoch of config_for()'s cores and of what sign_vote() and certify()
// sign unless told otherwise.
inline constexpr Epoch kEpoch = kGenesisEpoch;

inline crypto::KeyPair key_for(std::size_t i, std::uint8_t salt = 0) {
  crypto::Seed seed{};
  seed[0] = static_cast<std::uint8_t>(i + 1);
  seed[1] = salt;
  return crypto::KeyPair::from_seed(seed);
}

inline std::vector<crypto::KeyPair> keys_for(std::size_t n) {
  std::vector<crypto::KeyPair> keys;
  for (std::size_t i = 0; i < n; ++i) keys.push_back(key_for(i));
  return keys;
}

inline Hash genesis_hash() { return crypto::sha256(as_bytes("test-genesis")); }
inline BlockRef genesis_anchor() { return BlockRef{0, 0, 0, Hash{}, genesis_hash()}; }

inline Config config_for(const std::vector<crypto::KeyPair>& keys, ValidatorIndex self) {
  Config c;
  c.chain_id = kChain;
  c.epoch = kEpoch;
  for (const auto& k : keys) c.validators.push_back(k.public_key());
  c.self = self;
  c.anchor = genesis_anchor();
  return c;
}

inline Core make_core(const std::vector<crypto::KeyPair>& keys, ValidatorIndex self,
                      const BlockRef& anchor = genesis_anchor()) {
  Config config = config_for(keys, self);
  config.anchor = anchor;
  auto core = Core::create(std::move(config));
  EMLEDGER_ASSERT(core.is_ok());
  return std::move(core).value();
}

inline SignedVote sign_vote(const std::vector<crypto::KeyPair>& keys, ValidatorIndex i,
                            const Vote& v, Epoch epoch = kEpoch) {
  return SignedVote{v, i, keys[i].sign(signing_bytes(kChain, epoch, v))};
}

// A certificate on `v` signed by the validators in `signers` (any order).
inline Certificate certify(const std::vector<crypto::KeyPair>& keys, const Vote& v,
                           std::set<ValidatorIndex> signers, Epoch epoch = kEpoch) {
  Certificate c{v.kind, v.view, v.height, v.digest, {}};
  for (ValidatorIndex i : signers)
    c.signatures.push_back({i, keys[i].sign(signing_bytes(kChain, epoch, v))});
  return c;
}

inline std::set<ValidatorIndex> all_but(std::size_t n, ValidatorIndex skip) {
  std::set<ValidatorIndex> s;
  for (std::size_t i = 0; i < n; ++i)
    if (i != skip) s.insert(static_cast<ValidatorIndex>(i));
  return s;
}

// A block reference whose digest is derived from its fields and a salt, so
// two different blocks of one view differ.
inline BlockRef make_block(View view, const BlockRef& parent, std::uint8_t salt = 0) {
  BlockRef b{view, parent.height + 1, parent.view, parent.digest, Hash{}};
  Bytes seed = ledger::encode(Vote{1, view, b.height, parent.digest});
  seed.push_back(salt);
  b.digest = crypto::sha256(seed);
  return b;
}

inline Proposal propose(const std::vector<crypto::KeyPair>& keys, ValidatorIndex leader,
                        const BlockRef& b) {
  return Proposal{b, leader,
                  sign_vote(keys, leader, notarize_vote(b.view, b.height, b.digest)).signature,
                  Bytes{0x01, 0x02}};
}

template <class T>
std::vector<T> all_of(const std::vector<Action>& actions) {
  std::vector<T> out;
  for (const auto& a : actions)
    if (const T* t = std::get_if<T>(&a)) out.push_back(*t);
  return out;
}

inline std::vector<Vote> persisted(const std::vector<Action>& actions) {
  std::vector<Vote> out;
  for (const auto& p : all_of<PersistVote>(actions)) out.push_back(p.vote);
  return out;
}

template <class T>
std::vector<T> broadcast_of(const std::vector<Action>& actions) {
  std::vector<T> out;
  for (const auto& b : all_of<Broadcast>(actions))
    if (const T* t = std::get_if<T>(&b.message)) out.push_back(*t);
  return out;
}

// Drives one core like an adapter: persists and signs every vote it asks for
// (feeding it back), builds blocks while view <= build_until, answers every
// check with `valid` unless the digest is in `invalid`, answers a fetch from
// `registry` when one is shared (the blocks every driver built or checked,
// standing in for peers). Every action the core emitted, including those
// caused by the answers, lands in `log`.
struct Driver {
  Core core;
  std::vector<crypto::KeyPair> keys;
  std::vector<Vote> wal;
  std::vector<Action> log;
  std::vector<Finalized> finalized;
  std::set<Hash> invalid;
  View build_until = ~View{0};
  bool auto_check = true;
  std::uint64_t now_ms = 0;
  std::uint64_t wake_ms = 0;
  std::map<Hash, BlockRef>* registry = nullptr;

  Driver(std::vector<crypto::KeyPair> k, ValidatorIndex self,
         const BlockRef& anchor = genesis_anchor())
      : core(make_core(k, self, anchor)), keys(std::move(k)) {}
  Driver(std::vector<crypto::KeyPair> k, Config config)
      : core(std::move(Core::create(std::move(config))).value()), keys(std::move(k)) {}

  // Returns the actions of this step (after answering the requests in it).
  std::vector<Action> run(std::vector<Action> first) {
    std::vector<Action> step;
    std::deque<Action> queue(first.begin(), first.end());
    while (!queue.empty()) {
      Action a = std::move(queue.front());
      queue.pop_front();
      step.push_back(a);
      log.push_back(a);
      std::vector<Action> more;
      if (auto* p = std::get_if<PersistVote>(&a)) {
        wal.push_back(p->vote);
        more = core.on_own_vote(now_ms,
                                sign_vote(keys, core.config().self, p->vote, core.config().epoch));
      } else if (auto* s = std::get_if<SignVote>(&a)) {
        more = core.on_own_vote(now_ms,
                                sign_vote(keys, core.config().self, s->vote, core.config().epoch));
      } else if (auto* b = std::get_if<BuildBlock>(&a)) {
        if (b->view <= build_until) {
          BlockRef parent{b->parent_view, b->parent_height, 0, Hash{}, b->parent};
          const BlockRef built = make_block(b->view, parent);
          if (registry != nullptr) (*registry)[built.digest] = built;
          more = core.on_block_built(now_ms, built, Bytes{0xAB});
        }
      } else if (auto* c = std::get_if<CheckBlock>(&a)) {
        if (registry != nullptr) (*registry)[c->block.digest] = c->block;
        if (auto_check)
          more = core.on_block_checked(now_ms, c->block, !invalid.contains(c->block.digest));
      } else if (auto* fb = std::get_if<FetchBlock>(&a)) {
        if (registry != nullptr && registry->contains(fb->digest))
          more = core.on_block_fetched(now_ms, registry->at(fb->digest));
      } else if (auto* f = std::get_if<Finalized>(&a)) {
        finalized.push_back(*f);
      } else if (auto* w = std::get_if<WakeAt>(&a)) {
        wake_ms = w->at_ms;
      }
      queue.insert(queue.end(), more.begin(), more.end());
    }
    return step;
  }
  std::vector<Action> start() { return run(core.start(now_ms)); }
  std::vector<Action> deliver(const Message& m) { return run(core.on_message(now_ms, m)); }
  std::vector<Action> tick(std::uint64_t at_ms) {
    now_ms = at_ms;
    return run(core.on_tick(now_ms));
  }
};

}  // namespace emledger::consensus::test
