// A genesis validator played by a node test: a bare peer transport with the
// validator's key that records the consensus messages validator 0 sends it
// (and through which the test sends what it scripts).
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "emledger/consensus/messages.hpp"
#include "emledger/ledger/types.hpp"
#include "peer_transport.hpp"

namespace emledger::node::test {

struct ScriptedPeer {
  std::unique_ptr<PeerTransport> transport;
  std::mutex mu;
  std::vector<consensus::Message> from_v0;
  ScriptedPeer(const ledger::Genesis& genesis, const crypto::KeyPair& key) {
    PeerTransportConfig tc;
    tc.chain_id = genesis.chain_id;
    tc.key = key;
    tc.validators = peers_from_genesis(genesis);
    tc.on_message = [this](std::size_t peer, Bytes b) {
      if (peer != 0) return;
      auto m = consensus::decode_message(b);
      if (!m) return;
      std::lock_guard lock(mu);
      from_v0.push_back(std::move(*m));
    };
    tc.on_log = [](const std::string&) {};
    auto t = PeerTransport::start(std::move(tc));
    REQUIRE_MESSAGE(t.is_ok(), t.status().to_string());
    transport = std::move(*t);
  }
  ~ScriptedPeer() { transport->stop(); }
  ScriptedPeer(const ScriptedPeer&) = delete;
  ScriptedPeer& operator=(const ScriptedPeer&) = delete;
  bool saw(const std::function<bool(const consensus::Message&)>& match) {
    std::lock_guard lock(mu);
    return std::any_of(from_v0.begin(), from_v0.end(), match);
  }
  // Whether validator 0 sent `v`, signed.
  bool saw_vote(const consensus::Vote& v) {
    return saw([&](const consensus::Message& m) {
      const auto* sv = std::get_if<consensus::SignedVote>(&m);
      return sv != nullptr && sv->validator == 0 && sv->vote == v;
    });
  }
};

}  // namespace emledger::node::test
