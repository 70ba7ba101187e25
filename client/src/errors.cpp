#include "emledger/client/errors.hpp"

#include <array>

namespace emledger::client {
namespace {

bool starts_with(const std::string& s, std::string_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

ErrorClass classify(const Status& status) {
  const std::string& code = status.code();
  // Something sent to us did not verify: a forged, tampered or inconsistent
  // answer or file. BUNDLE_MALFORMED is the exception: bytes that are not a
  // bundle at all are bad input. A node that reports its own data corrupt
  // (e.g. an audit index naming an access absent from certified state) has
  // data that does not verify, which is what an audit must flag.
  static constexpr std::array<std::string_view, 9> kVerifiedFalse = {kGenesisMismatch,
                                                                     kHeaderInvalid,
                                                                     kProofInvalid,
                                                                     "CERT_",
                                                                     "CHAIN_",
                                                                     "MATERIAL_HASH_MISMATCH",
                                                                     "AUDIT_INCONSISTENT",
                                                                     "STORAGE_CORRUPT",
                                                                     "SUCCESSION_INVALID"};
  if (code == kBundleMalformed) return ErrorClass::kBadInput;
  if (starts_with(code, "BUNDLE_") || starts_with(code, "CHECKPOINT_"))
    return ErrorClass::kVerifiedFalse;
  for (std::string_view v : kVerifiedFalse)
    if (starts_with(code, v)) return ErrorClass::kVerifiedFalse;
  // No usable answer, or the node cannot serve now, or our own I/O failed.
  static constexpr std::array<std::string_view, 8> kUnavailable = {
      kNodeUnreachable, kNodeBadResponse, kNodeError,      "IO_ERROR",
      "MEMPOOL_FULL",   "SHUTTING_DOWN",  "STORAGE_ERROR", "INTERNAL_ERROR"};
  for (std::string_view v : kUnavailable)
    if (code == v) return ErrorClass::kUnavailable;
  return ErrorClass::kBadInput;
}

}  // namespace emledger::client
