// A small network for kernel tests: a real LevelDB in a fresh temp dir,
// deterministic keys, two issuers, a consumer without the issuer role, and one
// validator that certifies blocks.
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <random>
#include <set>
#include <span>
#include <string>
#include <thread>

#include "emledger/crypto/sha256.hpp"
#include "emledger/ledger/ledger.hpp"
#include "emledger/ledger/smt_page.hpp"

namespace emledger::testing {

using namespace emledger::ledger;

inline crypto::KeyPair key_from(std::uint8_t n) {
  crypto::Seed seed{};
  seed.fill(n);
  return crypto::KeyPair::from_seed(seed);
}

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("emledger-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string str() const { return path_.string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Every state-tree page the tree at `root` holds, by its root's hash: read
// from the store's raw entries ('n' + hash -> page) and decoded with the page
// codec, independently of StateTree. A page's references are the children of
// its nodes that it does not hold itself.
inline std::set<Hash> reachable_state_pages(const KvReader& store, const Hash& root) {
  std::set<Hash> out;
  std::vector<Hash> todo;
  if (!is_zero(root)) todo.push_back(root);
  while (!todo.empty()) {
    const Hash h = todo.back();
    todo.pop_back();
    if (!out.insert(h).second) continue;
    Bytes key{'n'};
    key.insert(key.end(), h.begin(), h.end());
    auto got = store.get(key);
    REQUIRE(got.is_ok());
    REQUIRE_MESSAGE(got->has_value(), "a reachable state page is missing");
    auto entries = decode_smt_page(**got, h);
    REQUIRE_MESSAGE(entries.is_ok(), entries.status().to_string());
    std::set<Hash> held;
    for (const SmtPageEntry& e : *entries) held.insert(e.hash);
    for (const SmtPageEntry& e : *entries) {
      if (e.node[0] == 0) continue;  // a leaf
      Hash left, right;
      std::copy(e.node.begin() + 1, e.node.begin() + 1 + kHashSize, left.begin());
      std::copy(e.node.begin() + 1 + kHashSize, e.node.end(), right.begin());
      for (const Hash& c : {left, right})
        if (!is_zero(c) && !held.count(c)) todo.push_back(c);
    }
  }
  return out;
}

struct Net {
  crypto::KeyPair issuer_a = key_from(1);
  crypto::KeyPair issuer_b = key_from(2);
  crypto::KeyPair consumer = key_from(3);
  crypto::KeyPair validator = key_from(4);
  crypto::KeyPair identity = key_from(5);
  crypto::KeyPair holder = key_from(6);
  Genesis genesis;
  TempDir dir;
  std::unique_ptr<Ledger> ledger;
  std::uint64_t nonce = 0;
  std::uint64_t clock_ms = 1'800'000'000'000;

  LedgerOptions options;

  explicit Net(LedgerOptions o = {}) : options(o) {
    genesis.chain_id = "test-chain";
    genesis.time_ms = clock_ms;
    genesis.orgs = {
        Org{"a.issuer", "r1", kRoleIssuer | kRoleConsumer, {OrgKey{1, issuer_a.public_key()}}},
        Org{"b.issuer", "r2", kRoleIssuer, {OrgKey{1, issuer_b.public_key()}}},
        Org{"c.consumer", "r1", kRoleConsumer, {OrgKey{1, consumer.public_key()}}},
        Org{"i.identity", "r1", kRoleIdentity, {OrgKey{1, identity.public_key()}}},
        Org{"v.node", "r1", kRoleValidator, {OrgKey{1, validator.public_key()}}},
    };
    std::sort(genesis.orgs.begin(), genesis.orgs.end(),
              [](const Org& x, const Org& y) { return x.id < y.id; });
    genesis.statutes = {StatutePolicy{"public.license", kRoleConsumer}};
    genesis.validators = {Validator{"v.node", validator.public_key(), "127.0.0.1:1"}};
    reopen();
  }

  void reopen() {
    ledger.reset();
    auto store = open_leveldb(dir.str() + "/db");
    REQUIRE(store.is_ok());
    auto l = Ledger::open(std::move(*store), genesis, options);
    REQUIRE_MESSAGE(l.is_ok(), l.status().to_string());
    ledger = std::move(*l);
  }

  static RecordBody body(std::string_view content, RecordKind kind = RecordKind::kLicense) {
    RecordBody b;
    b.kind = static_cast<std::uint8_t>(kind);
    b.type_code = "biz.license";
    b.holder_ref = crypto::sha256(as_bytes("holder-1"));
    b.content_hash = crypto::sha256(as_bytes(content));
    b.size_bytes = content.size();
    b.media_type = "application/pdf";
    b.locator = "file://agency/1";
    b.issued_at_ms = 1'700'000'000'000;
    return b;
  }

  template <class P>
  Tx tx(const crypto::KeyPair& key, std::string org, TxType type, const P& payload,
        std::uint64_t expires_in = 100) {
    TxBody b = make_body(type, payload);
    b.chain_id = genesis.chain_id;
    b.signer_org = std::move(org);
    b.key_id = 1;
    b.expires_at_height = ledger->head().height + expires_in;
    b.nonce = ++nonce;
    return sign_tx(std::move(b), key);
  }

  // A transaction signed by a holder key (`seq` is its key sequence number).
  template <class P>
  Tx holder_tx(const crypto::KeyPair& key, std::uint32_t seq, TxType type, const P& payload) {
    TxBody b = make_body(type, payload);
    b.chain_id = genesis.chain_id;
    b.key_id = seq;
    b.expires_at_height = ledger->head().height + 100;
    b.nonce = ++nonce;
    return sign_tx(std::move(b), key);
  }

  Tx reg(std::string_view content, RecordKind kind = RecordKind::kLicense) {
    return tx(issuer_a, "a.issuer", TxType::kRegisterRecord, RegisterRecord{body(content, kind)});
  }

  // Prepares, certifies and commits one block; returns the outcomes.
  std::vector<TxOutcome> commit(const std::vector<Tx>& txs) {
    std::vector<TxOutcome> outcomes;
    clock_ms += 1000;
    auto p = ledger->prepare(txs, clock_ms, 0, validator.public_key(), false, outcomes);
    REQUIRE_MESSAGE(p.is_ok(), p.status().to_string());
    Certificate cert;
    sign_certificate(genesis, p->block.header, 0, validator, cert);
    Status st = ledger->commit(*p, cert);
    REQUIRE_MESSAGE(st.is_ok(), st.to_string());
    return outcomes;
  }

  Status commit_one(const Tx& t) {
    auto oc = commit({t});
    REQUIRE(oc.size() == 1);
    return oc[0].status;
  }

  // Prepares `txs` at `time_ms` on `parent` (or on the head), with `facts`
  // when given, and commits nothing; the outcome codes go to `codes` ("" for
  // included).
  PreparedBlock prepare_on(const std::vector<Tx>& txs, std::uint64_t time_ms,
                           std::vector<std::string>& codes, const PreparedBlock* parent = nullptr,
                           std::span<const CandidateFacts> facts = {}) {
    std::vector<TxOutcome> oc;
    auto p = ledger->prepare(txs, time_ms, 0, validator.public_key(), false, oc, parent, facts);
    REQUIRE_MESSAGE(p.is_ok(), p.status().to_string());
    codes.clear();
    for (const auto& o : oc) codes.push_back(o.status.is_ok() ? "" : o.status.code());
    return std::move(*p);
  }

  // Certifies and commits a block that prepare_on made.
  void commit_prepared(const PreparedBlock& p) {
    Certificate cert;
    sign_certificate(genesis, p.block.header, 0, validator, cert);
    Status st = ledger->commit(p, cert);
    REQUIRE_MESSAGE(st.is_ok(), st.to_string());
  }
};

// Waits for the scan that open() starts on its own thread to fill the
// committed-id filter (ADR 023) and then the state-key filter (ADR 026).
inline void wait_for_filters(const ledger::Ledger& l) {
  for (int i = 0; i < 2000 && !(l.tx_filter_complete() && l.state_key_filter_complete()); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  REQUIRE(l.tx_filter_complete());
  REQUIRE(l.state_key_filter_complete());
}

// Every key and value of the ledger's store, in key order.
inline std::vector<std::pair<Bytes, Bytes>> store_dump(const Ledger& l) {
  std::vector<std::pair<Bytes, Bytes>> kv;
  auto view = l.read_view();
  REQUIRE(view->scan({}, {},
                     [&](ByteView k, ByteView v) {
                       kv.emplace_back(Bytes(k.begin(), k.end()), Bytes(v.begin(), v.end()));
                       return true;
                     })
              .is_ok());
  return kv;
}

// The same, of a store not opened as a ledger.
inline std::vector<std::pair<Bytes, Bytes>> store_dump(const KvStore& store) {
  std::vector<std::pair<Bytes, Bytes>> kv;
  REQUIRE(store
              .scan({}, {},
                    [&](ByteView k, ByteView v) {
                      kv.emplace_back(Bytes(k.begin(), k.end()), Bytes(v.begin(), v.end()));
                      return true;
                    })
              .is_ok());
  return kv;
}

}  // namespace emledger::testing
