// Signed checkpoints in the C2SP tlog-checkpoint / signed-note form
// (docs/formats/checkpoint.md):
//
//   <origin = chain id>\n<tree size, decimal>\n<base64 root hash>\n
//   \n
//   — <validator org id> <base64(key id (4 bytes) || Ed25519 signature)>\n  (one per signer)
//
// key id = first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key), as the
// signed-note spec defines for Ed25519. The signature covers the body text.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "emledger/ledger/types.hpp"
#include "emledger/ledger/validator_set.hpp"

namespace emledger::ledger {

struct Checkpoint {
  std::string origin;
  std::uint64_t size = 0;
  Hash root{};
};

std::string checkpoint_body(const Checkpoint& cp);
std::array<std::uint8_t, 4> note_key_id(std::string_view name, const PublicKey& pk);
// Returns the body followed by a blank line and one signature line.
std::string sign_checkpoint(const Checkpoint& cp, std::string_view name,
                            const crypto::KeyPair& key);
// Adds a further signature line to an already signed note (a cosignature).
std::string add_checkpoint_signature(const std::string& note, std::string_view name,
                                     const crypto::KeyPair& key);
// Parses the note, requires origin `chain_id` and valid signatures of at
// least set.quorum() distinct validators of `set` (a validator is known by its
// org id and key; unknown signature lines are ignored, as the spec allows; a
// bad signature of a known key refuses the note). Pure.
//
// Which set: the one whose validators could have seen a head of that log
// size, i.e. the set in force at the checkpoint's size, not simply the
// newest. A note of a size reached before a change was cosigned by the old
// set, and a note the node's book holds from before the change (it may
// trail the head) must keep verifying; a retired set, on the other hand,
// must not be able to vouch for a size reached after it left.
// sets_for_log_size() finds the set(s) from a verified succession; a node
// that cosigns its own head uses the set it votes with.
// Errors: CHECKPOINT_MALFORMED, CHECKPOINT_ORIGIN, CHECKPOINT_BAD_SIGNATURE,
// CHECKPOINT_NO_QUORUM.
Result<Checkpoint> verify_checkpoint(const std::string& note, std::string_view chain_id,
                                     const ValidatorSet& set);
// verify_checkpoint(note, genesis.chain_id, genesis_validator_set(genesis)):
// for chains whose validators never changed.
Result<Checkpoint> verify_checkpoint(const std::string& note, const Genesis& genesis);

// The sets of `sets` (as verify_succession(genesis, succession) returns
// them) in force at log size `size`. Epoch i judges the sizes from the log
// size of the block that ended epoch i - 1 (0 for the genesis) to that of the
// block ending epoch i (no end for the newest). Both ends count, because the
// log does not grow over empty blocks: the change block's size is also the
// size of the first blocks of the next epoch, so either set may have cosigned
// it. One set, or two at such a boundary (older first); never empty.
std::vector<const ValidatorSet*> sets_for_log_size(const std::vector<ValidatorSet>& sets,
                                                   const Succession& succession,
                                                   std::uint64_t size);

// A checkpoint of a chain whose validators may have changed: valid when it
// verifies under one of sets_for_log_size(sets, succession, cp.size). `sets`
// must be verify_succession(genesis, succession)'s result. Errors as above
// (those of the last set tried).
Result<Checkpoint> verify_checkpoint(const std::string& note, const Genesis& genesis,
                                     const std::vector<ValidatorSet>& sets,
                                     const Succession& succession);

}  // namespace emledger::ledger
