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

#include "emledger/ledger/types.hpp"

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
// Parses the note and requires valid signatures of at least quorum() distinct
// validators of `genesis` (unknown signature lines are ignored, as the spec
// allows). Errors: CHECKPOINT_MALFORMED, CHECKPOINT_NO_QUORUM, CHECKPOINT_ORIGIN.
Result<Checkpoint> verify_checkpoint(const std::string& note, const Genesis& genesis);

}  // namespace emledger::ledger
