// Error codes the SDK adds to the node's (docs/api.md) and the kernel's, and
// the three classes of failure the CLI turns into exit codes (design.md
// section 9).
#pragma once

#include <string_view>

#include "emledger/crypto/result.hpp"

namespace emledger::client {

// Client-side codes. Node and kernel codes pass through unchanged.
inline constexpr std::string_view kNodeUnreachable = "NODE_UNREACHABLE";   // no answer at all
inline constexpr std::string_view kNodeBadResponse = "NODE_BAD_RESPONSE";  // not the API's form
inline constexpr std::string_view kNodeError = "NODE_ERROR";  // an error without the API's body
inline constexpr std::string_view kGenesisMismatch =
    "GENESIS_MISMATCH";                                               // node runs another network
inline constexpr std::string_view kHeaderInvalid = "HEADER_INVALID";  // wrong chain or height
inline constexpr std::string_view kProofInvalid = "PROOF_INVALID";  // a proof that does not verify
inline constexpr std::string_view kBundleMalformed = "BUNDLE_MALFORMED";  // undecodable bundle
inline constexpr std::string_view kKeyNotInGenesis = "KEY_NOT_IN_GENESIS";
inline constexpr std::string_view kBadArgument = "BAD_ARGUMENT";

enum class ErrorClass {
  kVerifiedFalse,  // something failed verification: tampered, forged, inconsistent (exit 1)
  kBadInput,       // bad usage, bad input, or the node rejected our request (exit 2)
  kUnavailable,    // node unreachable or misbehaving, local I/O error (exit 3)
};

// Sorts any error this SDK returns into one of the classes above.
ErrorClass classify(const Status& status);

}  // namespace emledger::client
