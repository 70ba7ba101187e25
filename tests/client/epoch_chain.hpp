// Chains whose validator set changes, built with the kernel alone, for the
// light client's tests of docs/validator-set-changes.md: EpochChain commits
// blocks certified by whichever set is in force, ChangeValidators
// transactions approved by chosen validators, and can re-seal a block whose
// transactions a test altered (what a node forging a change would serve).
// ApiTransport answers the SDK with the node's own routes (node::Api) over
// that ledger, in process, so that Client is tested against the real API
// shapes with no validator running.
#pragma once

#include <doctest/doctest.h>

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "api.hpp"
#include "emledger/client/transport.hpp"
#include "emledger/ledger/checkpoint.hpp"
#include "emledger/ledger/validator_set.hpp"
#include "mempool.hpp"
#include "test_net.hpp"

namespace emledger::client_test {

// Orgs v0.node .. v7.node (validator role) each with one key; the genesis set
// is the first `n` of them (quorum 3 of 4 by default). gov.issuer submits.
struct EpochChain : TestKeys {
  static constexpr std::size_t kKeys = 8;
  std::vector<crypto::KeyPair> vals;
  Genesis genesis;
  TempDir dir;
  std::unique_ptr<Ledger> ledger;
  std::uint64_t clock_ms = kGenesisTimeMs;
  std::uint64_t view = 0;
  std::uint64_t nonce = 0;

  explicit EpochChain(std::size_t n = 4) {
    genesis = make_genesis();
    genesis.validators.clear();
    for (std::size_t i = 0; i < kKeys; ++i) {
      vals.push_back(key_from(static_cast<std::uint8_t>(80 + i)));
      genesis.orgs.push_back(Org{
          org(i), "r" + std::to_string(i % 2), kRoleValidator, {OrgKey{1, vals[i].public_key()}}});
    }
    std::sort(genesis.orgs.begin(), genesis.orgs.end(),
              [](const Org& a, const Org& b) { return a.id < b.id; });
    std::vector<std::size_t> first;
    for (std::size_t i = 0; i < n; ++i) first.push_back(i);
    genesis.validators = members(first);
    REQUIRE(genesis.check().is_ok());
    auto store = open_leveldb(dir.file("db"));
    REQUIRE(store.is_ok());
    auto l = Ledger::open(std::move(*store), genesis);
    REQUIRE_MESSAGE(l.is_ok(), l.status().to_string());
    ledger = std::move(*l);
  }

  static std::string org(std::size_t i) { return "v" + std::to_string(i) + ".node"; }

  std::vector<Validator> members(const std::vector<std::size_t>& idx) const {
    std::vector<Validator> out;
    for (std::size_t i : idx)
      out.push_back(
          Validator{org(i), vals[i].public_key(), "10.1.0." + std::to_string(i) + ":7701"});
    return out;
  }

  const crypto::KeyPair& key_of(const PublicKey& pk) const {
    for (const auto& k : vals)
      if (k.public_key() == pk) return k;
    FAIL("no test key for this validator");
    return vals[0];
  }

  ValidatorSet current() const {
    auto s = ledger->validators();
    REQUIRE(s.is_ok());
    return *s;
  }

  // A change of `by` (for its epoch) to `next`, approved by its validators
  // at the indices `approvers`.
  ChangeValidators change(const ValidatorSet& by, const std::vector<Validator>& next,
                          const std::vector<std::uint16_t>& approvers) const {
    ChangeValidators c;
    c.epoch = by.epoch;
    c.validators = next;
    for (std::uint16_t i : approvers)
      approve_validator_change(genesis.chain_id, by, i, key_of(by.validators[i].public_key), c);
    return c;
  }

  Tx signed_tx(TxType type, const Bytes& payload) {
    TxBody b;
    b.chain_id = genesis.chain_id;
    b.signer_org = "gov.issuer";
    b.key_id = 1;
    b.expires_at_height = ledger->head().height + 100;
    b.nonce = ++nonce;
    b.type = static_cast<std::uint8_t>(type);
    b.payload = payload;
    return sign_tx(std::move(b), issuer);
  }
  Tx change_tx(const ChangeValidators& c) {
    return signed_tx(TxType::kChangeValidators, encode(c));
  }
  Tx reg(const std::string& content) {
    return signed_tx(TxType::kRegisterRecord, encode(RegisterRecord{record_body(content)}));
  }

  // A certificate of `h` by the first quorum of `set`, for set.epoch.
  Certificate quorum_cert(const ValidatorSet& set, const BlockHeader& h) const {
    Certificate c;
    for (std::size_t i = 0; i < set.quorum(); ++i)
      sign_certificate_in_set(genesis.chain_id, set, h, static_cast<std::uint16_t>(i),
                              key_of(set.validators[i].public_key), c);
    return c;
  }

  // Prepares a block of `txs` (all must be valid) and commits it certified
  // by the set in force at its height.
  Block commit(const std::vector<Tx>& txs) {
    clock_ms += 1000;
    view += 1;
    std::vector<TxOutcome> outcomes;
    const ValidatorSet set = current();
    auto p = ledger->prepare(txs, clock_ms, view, set.validators[0].public_key, false, outcomes);
    REQUIRE_MESSAGE(p.is_ok(), p.status().to_string());
    for (const auto& o : outcomes) REQUIRE_MESSAGE(o.status.is_ok(), o.status.to_string());
    Status st = ledger->commit(*p, quorum_cert(set, p->block.header));
    REQUIRE_MESSAGE(st.is_ok(), st.to_string());
    return p->block;
  }
  // Commits a change of the set in force to `next`, approved by a quorum.
  Block change_to(const std::vector<Validator>& next) {
    const ValidatorSet by = current();
    std::vector<std::uint16_t> approvers;
    for (std::size_t i = 0; i < by.quorum(); ++i)
      approvers.push_back(static_cast<std::uint16_t>(i));
    Block b = commit({change_tx(change(by, next, approvers))});
    REQUIRE(current().epoch == by.epoch + 1);
    return b;
  }

  Block block(std::uint64_t h) const {
    auto b = ledger->block(h);
    REQUIRE((b.is_ok() && b->has_value()));
    return **b;
  }
  FinalityProof proof(std::uint64_t h) const {
    auto p = ledger->finality_proof(h);
    REQUIRE((p.is_ok() && p->has_value()));
    return **p;
  }
  Succession succession() const {
    auto s = ledger->succession();
    REQUIRE(s.is_ok());
    return *s;
  }
  StateProof validators_proof(std::uint64_t h) const {
    auto p = ledger->state_proof(validators_state_key(), h);
    REQUIRE(p.is_ok());
    return *p;
  }

  // Block `h` with its transactions replaced by `txs`: payload digest and
  // log recomputed, the parent kept, the state root left as it was (a light
  // client cannot recompute it). What a forging node would serve.
  Block reseal(std::uint64_t h, const std::vector<Tx>& txs) const {
    Block b = block(h);
    LogFrontier log;
    if (h > 1) {
      auto subtrees = ledger->log_frontier(block(h - 1).header.log_size);
      REQUIRE(subtrees.is_ok());
      auto resumed = LogFrontier::resume(block(h - 1).header.log_size, *subtrees);
      REQUIRE(resumed.is_ok());
      log = std::move(*resumed);
    }
    b.txs.clear();
    std::vector<Hash> ids;
    for (const Tx& t : txs) {
      b.txs.push_back(encode(t));
      ids.push_back(t.id());
      log.append(log_leaf_hash(b.txs.back()));
    }
    b.header.payload_digest = payload_digest(ids);
    b.header.log_size = log.size();
    b.header.log_root = log.root();
    return b;
  }
};

// The node's API (node::Api) over a ledger, as a Transport: every GET and
// POST is routed in process. GET /v1/checkpoint is answered with
// `checkpoint_note` when set (the API alone signs with one key). `tamper`
// may change any answer.
class ApiTransport final : public client::Transport {
 public:
  using Tamper = std::function<void(const std::string& target, client::HttpResponse& res)>;

  explicit ApiTransport(Ledger& ledger, const crypto::KeyPair& key) : key_(key) {
    node::ApiContext ctx;
    ctx.ledger = &ledger;
    ctx.mempool = &mempool_;
    ctx.validator_key = &key_;
    ctx.validator_org = "v0.node";
    api_ = std::make_unique<node::Api>(ctx);
  }

  void set_tamper(Tamper t) {
    std::lock_guard lock(mu_);
    tamper_ = std::move(t);
  }
  Tamper tamper() const {
    std::lock_guard lock(mu_);
    return tamper_;
  }
  void set_checkpoint(std::string note) {
    std::lock_guard lock(mu_);
    checkpoint_ = std::move(note);
  }
  int requests(const std::string& path) const {
    std::lock_guard lock(mu_);
    auto it = counts_.find(path);
    return it == counts_.end() ? 0 : it->second;
  }

  Result<client::HttpResponse> get(const std::string& target) override {
    return call("GET", target, "");
  }
  Result<client::HttpResponse> post(const std::string& target, const std::string& body,
                                    bool) override {
    return call("POST", target, body);
  }

 private:
  Result<client::HttpResponse> call(const std::string& method, const std::string& target,
                                    const std::string& body) {
    node::HttpRequest req;
    req.method = method;
    req.target = target;
    const std::size_t q = target.find('?');
    req.path = target.substr(0, q);
    if (q != std::string::npos) {
      std::string rest = target.substr(q + 1);
      while (!rest.empty()) {
        const std::size_t amp = rest.find('&');
        const std::string pair = rest.substr(0, amp);
        const std::size_t eq = pair.find('=');
        req.query[pair.substr(0, eq)] = eq == std::string::npos ? "" : pair.substr(eq + 1);
        rest = amp == std::string::npos ? "" : rest.substr(amp + 1);
      }
    }
    req.body = body;
    req.headers["content-type"] = "application/json";
    client::HttpResponse out;
    Tamper tamper;
    {
      std::lock_guard lock(mu_);
      ++counts_[req.path];
      tamper = tamper_;
      if (req.path == "/v1/checkpoint" && !checkpoint_.empty()) {
        out.status = 200;
        out.body = checkpoint_;
        out.content_type = "text/plain";
      }
    }
    if (out.status == 0) {
      bool answered = false;
      api_->handle(req, [&](node::HttpResponse r) {
        out.status = r.status;
        out.body = std::move(r.body);
        out.content_type = std::move(r.content_type);
        answered = true;
      });
      REQUIRE_MESSAGE(answered, "the API did not answer " << target << " at once");
    }
    if (tamper) tamper(target, out);
    return out;
  }

  crypto::KeyPair key_;
  node::Mempool mempool_;
  std::unique_ptr<node::Api> api_;
  mutable std::mutex mu_;
  Tamper tamper_;
  std::string checkpoint_;
  std::map<std::string, int> counts_;
};

// A checkpoint of the head's log signed by the validators of `set` at `who`.
inline std::string checkpoint_of(const EpochChain& c, const ValidatorSet& set,
                                 const std::vector<std::size_t>& who, std::uint64_t height = 0) {
  const BlockHeader h = height ? c.block(height).header : c.block(c.ledger->head().height).header;
  const Checkpoint cp{c.genesis.chain_id, h.log_size, h.log_root};
  std::string note;
  for (std::size_t i : who) {
    const Validator& v = set.validators[i];
    note = note.empty() ? sign_checkpoint(cp, v.org_id, c.key_of(v.public_key))
                        : add_checkpoint_signature(note, v.org_id, c.key_of(v.public_key));
  }
  return note;
}

}  // namespace emledger::client_test
