// The Beast-free half of the peer transport: wire encodings, the frame
// channel and the token bucket. The sockets are in peer_ws.cpp.
#include "peer_transport.hpp"

#include <algorithm>

namespace emledger::node {

namespace peer_wire {

Bytes transcript_bytes(Role signer, const std::string& chain_id,
                       const crypto::PublicKey& client_validator,
                       const crypto::PublicKey& server_validator,
                       const crypto::KxPublicKey& client_ephemeral,
                       const crypto::KxPublicKey& server_ephemeral) {
  Transcript t;
  t.signer = static_cast<std::uint8_t>(signer);
  t.chain_id = chain_id;
  t.client_validator = client_validator;
  t.server_validator = server_validator;
  t.client_ephemeral = client_ephemeral;
  t.server_ephemeral = server_ephemeral;
  return ledger::encode(t);
}

namespace {

// Nonce = 16 zero bytes || u64 counter (big-endian). Each direction has its
// own key, so (key, nonce) never repeats while the counter does not wrap.
crypto::AeadNonce nonce_of(std::uint64_t counter) {
  crypto::AeadNonce n{};
  for (int i = 0; i < 8; ++i) n[16 + i] = static_cast<std::uint8_t>(counter >> (8 * (7 - i)));
  return n;
}

void put_header(Bytes& out, std::uint64_t counter) {
  out.push_back(kFrameKindData);
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(counter >> (8 * i)));
}

}  // namespace

Bytes Channel::seal(ByteView message) {
  // 2^64 frames is out of reach; wrapping would reuse nonces, so refuse it.
  EMLEDGER_ASSERT(send_counter_ != UINT64_MAX);
  Bytes frame;
  frame.reserve(kPeerFrameOverheadBytes + message.size());
  put_header(frame, send_counter_);
  Bytes aad(frame.begin(), frame.end());
  crypto::aead_seal(keys_.tx, nonce_of(send_counter_), aad, message, frame);
  ++send_counter_;
  return frame;
}

Result<Bytes> Channel::open(ByteView frame) {
  if (frame.size() < kPeerFrameOverheadBytes)
    return Status::error("FRAME_MALFORMED", std::to_string(frame.size()) + "-byte frame");
  if (frame[0] != kFrameKindData)
    return Status::error("FRAME_MALFORMED", "unknown frame kind " + std::to_string(frame[0]));
  std::uint64_t counter = 0;
  for (std::size_t i = 1; i < kPeerFrameHeaderBytes; ++i) counter = counter << 8 | frame[i];
  if (counter != recv_counter_)
    return Status::error("FRAME_OUT_OF_ORDER", "counter " + std::to_string(counter) +
                                                   ", expected " + std::to_string(recv_counter_));
  auto plain = crypto::aead_open(keys_.rx, nonce_of(counter), frame.first(kPeerFrameHeaderBytes),
                                 frame.subspan(kPeerFrameHeaderBytes));
  if (!plain)
    return Status::error("FRAME_AUTH_FAILED",
                         "frame " + std::to_string(counter) + " does not authenticate");
  EMLEDGER_ASSERT(recv_counter_ != UINT64_MAX);
  ++recv_counter_;
  return std::move(*plain);
}

bool TokenBucket::take(double amount, std::uint64_t now_ms) {
  if (tokens_ < 0) {
    tokens_ = capacity_;
    last_ms_ = now_ms;
  }
  if (now_ms > last_ms_) {
    tokens_ =
        std::min(capacity_, tokens_ + rate_ * static_cast<double>(now_ms - last_ms_) / 1000.0);
    last_ms_ = now_ms;
  }
  if (amount > tokens_) return false;
  tokens_ -= amount;
  return true;
}

}  // namespace peer_wire

namespace {

std::vector<PeerInfo> peers_of(const std::vector<ledger::Validator>& validators) {
  std::vector<PeerInfo> out;
  out.reserve(validators.size());
  for (const auto& v : validators) out.push_back({v.public_key, v.address});
  return out;
}

}  // namespace

std::vector<PeerInfo> peers_from_genesis(const ledger::Genesis& genesis) {
  return peers_of(genesis.validators);
}

std::vector<PeerInfo> peers_from_set(const ledger::ValidatorSet& set) {
  return peers_of(set.validators);
}

}  // namespace emledger::node
