// The decoder table shared by the libFuzzer target, its replay driver and the
// seed generator (tests/fuzz/decode_fuzz.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "emledger/crypto/bytes.hpp"

namespace emledger::fuzz {

struct Decoder {
  const char* name;
  // True when the bytes decode; aborts when they decode but do not re-encode
  // to themselves.
  bool (*round_trip)(ByteView encoding);
};

// Indexed by the selector byte (the first byte of a fuzz input).
std::span<const Decoder> decoders();

// Runs the decoder the first byte selects over the rest. False when the
// selector is unknown or the bytes do not decode.
bool decode_round_trip(const std::uint8_t* data, std::size_t size);

}  // namespace emledger::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
