// What the multi-validator end-to-end tests check of a Network: transactions
// acknowledged committed are committed on every node, the nodes agree on
// every header hash, every finality proof verifies against the genesis, and
// `emledger chain verify` passes against a node.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "emledger/ledger/checkpoint.hpp"
#include "emledger/ledger/validator_set.hpp"
#include "network.hpp"

namespace emledger::e2e {

// Headers per GET /v1/headers?from&to (the API's bound is 1000).
inline constexpr std::uint64_t kHeadersPageMax = 500;

// Submits `count` transactions (nonces from `*nonce`) to `node` in batches of
// `batch`, waiting for their commit; returns the ids acknowledged committed.
// A batch without an answer within read_timeout_s is given up (its
// transactions may still commit later).
inline std::vector<std::string> submit_committed(const Network& net,
                                                 const testing::NodeProcess& node,
                                                 std::atomic<std::uint64_t>* nonce, int count,
                                                 int batch, int read_timeout_s = 60) {
  std::vector<std::string> acked;
  httplib::Client c(node.host(), node.port());
  c.set_read_timeout(read_timeout_s, 0);
  for (int sent = 0; sent < count; sent += batch) {
    Json body = {{"txs", Json::array()}};
    for (int i = 0; i < batch; ++i) body["txs"].push_back(net.register_tx((*nonce)++));
    auto r = c.Post("/v1/transactions/batch?wait=commit", body.dump(), "application/json");
    if (!r || r->status != 200) continue;
    Json j = Json::parse(r->body, nullptr, false);
    if (!j.is_object() || !j.contains("results")) continue;
    for (const auto& res : j["results"])
      if (res.value("status", "") == "committed") acked.push_back(res["id"].get<std::string>());
  }
  return acked;
}

// A node's height, or nullopt when it does not answer (stopped, restarting).
// Never asserts, so background threads and polling loops may call it.
inline std::optional<std::uint64_t> try_height(const testing::NodeProcess& node) {
  httplib::Client c(node.host(), node.port());
  c.set_connection_timeout(1, 0);
  c.set_read_timeout(5, 0);
  auto r = c.Get("/v1/health");
  if (!r || r->status != 200) return std::nullopt;
  Json j = Json::parse(r->body, nullptr, false);
  if (!j.is_object() || !j.contains("height")) return std::nullopt;
  return j["height"].get<std::uint64_t>();
}

// Waits until every listed node is at `height` or above.
inline bool wait_for_height(Network& net, const std::vector<std::size_t>& which,
                            std::uint64_t height, int timeout_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    bool all = true;
    for (auto i : which) all = all && try_height(net.node(i)).value_or(0) >= height;
    if (all) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

// The highest height among the listed nodes (all must answer).
inline std::uint64_t top_height(Network& net, const std::vector<std::size_t>& which) {
  std::uint64_t top = 0;
  for (auto i : which) top = std::max(top, height_of(net.node(i)));
  return top;
}

// How many of `ids` node does not report committed.
inline std::size_t missing_on(const testing::NodeProcess& node,
                              const std::vector<std::string>& ids) {
  httplib::Client c(node.host(), node.port());
  c.set_read_timeout(10, 0);
  c.set_keep_alive(true);
  std::size_t missing = 0;
  for (const auto& id : ids) {
    auto r = c.Get(("/v1/transactions/" + id).c_str());
    Json j = r && r->status == 200 ? Json::parse(r->body, nullptr, false) : Json();
    if (!j.is_object() || j.value("status", "") != "committed") ++missing;
  }
  return missing;
}

// The header objects a node lists for heights [1, top], in pages.
inline std::vector<Json> headers_of(const testing::NodeProcess& node, std::uint64_t top) {
  std::vector<Json> out;
  for (std::uint64_t from = 1; from <= top; from += kHeadersPageMax) {
    const std::uint64_t to = std::min(top, from + kHeadersPageMax - 1);
    auto r = http_json(node, "GET",
                       "/v1/headers?from=" + std::to_string(from) + "&to=" + std::to_string(to));
    REQUIRE_MESSAGE(r.status == 200, "headers " << from << ".." << to << ": " << r.status);
    const auto& list = r.body.at("headers");
    REQUIRE(list.size() == to - from + 1);
    for (const auto& item : list) out.push_back(item);
  }
  return out;
}

// Every listed node has the same header hash at every height in [1, top].
inline void check_same_hashes(Network& net, const std::vector<std::size_t>& which,
                              std::uint64_t top) {
  const std::vector<Json> first = headers_of(net.node(which[0]), top);
  for (std::size_t k = 1; k < which.size(); ++k) {
    const std::vector<Json> other = headers_of(net.node(which[k]), top);
    for (std::uint64_t h = 1; h <= top; ++h)
      REQUIRE_MESSAGE(other[h - 1].at("hash") == first[h - 1].at("hash"),
                      "nodes " << which[0] << " and " << which[k] << " differ at height " << h);
  }
}

// Every header of node i up to `top`, from genesis: each names its parent's
// hash, and its finality proof (own certificate or finalized descendant)
// verifies against the genesis: a quorum of finalize signatures. Returns how
// many blocks were final through a descendant.
inline std::size_t check_certified_chain(Network& net, std::size_t i, std::uint64_t top) {
  std::size_t by_descendant = 0;
  Hash parent = net.genesis.hash();
  for (const Json& item : headers_of(net.node(i), top)) {
    auto hb = from_hex(item.at("encoded").get<std::string>());
    auto cb = from_hex(item.at("certificate").get<std::string>());
    REQUIRE((hb && cb));
    auto header = ledger::decode<ledger::BlockHeader>(*hb);
    auto proof = ledger::decode_finality_proof(*cb);
    REQUIRE_MESSAGE(header.is_ok(), header.status().to_string());
    REQUIRE_MESSAGE(proof.is_ok(), proof.status().to_string());
    CHECK_MESSAGE(header->parent == parent, "node " << i << " height " << header->height);
    CHECK(proof->certificate.signatures.size() >= net.genesis.quorum());
    if (proof->by_descendant()) ++by_descendant;
    Status st = ledger::verify_finality(net.genesis, *header, *proof);
    CHECK_MESSAGE(st.is_ok(),
                  "node " << i << " height " << header->height << ": " << st.to_string());
    parent = header->hash();
  }
  return by_descendant;
}

// GET /v1/checkpoint of node i: the note's log size when it verifies against
// the genesis (a quorum of validator signatures of the set in force at its
// size, learned from the node's succession, which must verify from the
// genesis), nullopt otherwise (503 CHECKPOINT_PENDING before the validators
// cosigned one).
inline std::optional<std::uint64_t> checkpoint_size(Network& net, std::size_t i) {
  httplib::Client c(net.node(i).host(), net.node(i).port());
  c.set_read_timeout(10, 0);
  auto v = c.Get("/v1/validators");
  if (!v || v->status != 200) return std::nullopt;
  Json vj = Json::parse(v->body, nullptr, false);
  if (!vj.is_object() || !vj.contains("succession")) return std::nullopt;
  auto raw = from_hex(vj["succession"].get<std::string>());
  if (!raw) return std::nullopt;
  auto succession = ledger::decode<ledger::Succession>(*raw);
  if (!succession) return std::nullopt;
  auto sets = ledger::verify_succession(net.genesis, *succession);
  if (!sets) return std::nullopt;
  auto r = c.Get("/v1/checkpoint");
  if (!r || r->status != 200) return std::nullopt;
  auto cp = ledger::verify_checkpoint(r->body, net.genesis, *sets, *succession);
  if (!cp) return std::nullopt;
  return cp->size;
}

// Waits until node i serves a quorate checkpoint of its whole log. The
// validators cosign each log size they commit, so once no transactions come
// the checkpoint reaches the log's end (empty blocks do not grow the log).
inline bool wait_for_head_checkpoint(Network& net, std::size_t i, int timeout_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    auto size = checkpoint_size(net, i);
    auto h = http_json(net.node(i), "GET", "/v1/health");
    if (size && h.status == 200 && *size == h.body.at("log_size").get<std::uint64_t>()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

// The real CLI, `emledger chain verify`, against node i once it serves a
// quorate checkpoint of its whole log: every header, finality proof, parent
// link and log root, and last the checkpoint. It must pass (exit 0).
inline void check_chain_verifies(const Scratch& s, Network& net, std::size_t i) {
  REQUIRE_MESSAGE(wait_for_head_checkpoint(net, i, 20),
                  "node " << i << " serves no quorate checkpoint of its whole log\n"
                          << net.node(i).log());
  auto chain =
      cli(s, {"chain", "verify", "--node", net.node(i).url(), "--trust", net.genesis_path});
  CHECK_MESSAGE(chain.exit_code == 0, "node " << i << ": " << chain.out);
}

}  // namespace emledger::e2e
