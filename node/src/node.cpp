#include "node.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "api.hpp"
#include "api_authz.hpp"
#include "http_server.hpp"
#include "openapi_json.hpp"
#include "snapshot_join.hpp"
#include "snapshots.hpp"

namespace emledger::node {

namespace {

// --join-snapshot: a validator without a ledger restores one from a peer's
// snapshot before anything else opens DATA/db. One with a ledger (a restart
// after a join, or an old data directory) starts as usual.
Status join_if_empty(const Config& config, const Identity& identity,
                     std::function<bool()> stop_requested) {
  if (!config.join_snapshot) return Status::ok();
  // The peers asked are the genesis validators other than this one.
  if (identity.genesis.validators.size() < (identity.genesis_index ? 2u : 1u))
    return Status::error("CONFIG_ERROR", "--join-snapshot needs a network of several validators");
  auto holds = store_holds_ledger(db_path(config.data_dir));
  if (!holds) return holds.status();
  if (*holds) return Status::ok();
  JoinOptions jo;
  jo.data_dir = config.data_dir;
  jo.peer_listen = config.peer_listen;
  jo.timeout_ms = config.join_timeout_ms;
  jo.stop_requested = std::move(stop_requested);
  auto joined = join_from_snapshot(identity, jo);
  return joined.status();
}

}  // namespace

Result<std::unique_ptr<Node>> Node::start(const Config& config, Clock clock,
                                          std::function<bool()> stop_requested) {
  auto listen = parse_listen_address(config.listen);
  if (!listen.is_ok()) return listen.status();
  listen->threads = config.http_threads;

  auto identity = load_identity(config);
  if (!identity.is_ok()) return identity.status();
  EMLEDGER_TRY(join_if_empty(config, *identity, std::move(stop_requested)));

  std::unique_ptr<Node> n(new Node(std::move(*identity)));
  auto store = ledger::open_leveldb(db_path(config.data_dir));
  if (!store.is_ok()) return store.status();
  ledger::LedgerOptions lo;
  lo.state_cache_mib = config.state_cache_mib;
  lo.state_retention_blocks = config.state_retention_blocks;
  lo.state_cache_huge_pages = true;
  lo.state_update_threads =
      config.state_threads != 0
          ? config.state_threads
          : std::clamp(std::thread::hardware_concurrency(), 1u, ledger::kStateUpdateThreadsMax);
  lo.progress = [](const std::string& line) {
    std::fprintf(stderr, "emledger-node: store: %s\n", line.c_str());
  };
  auto ledger = ledger::Ledger::open(std::move(*store), n->identity_.genesis, lo);
  if (!ledger.is_ok()) return ledger.status();
  n->ledger_ = std::move(*ledger);

  n->mempool_ = std::make_unique<Mempool>(config.mempool_txs_max);
  auto authz = AuthzApi::open(*n->ledger_, clock, config.data_dir);
  if (!authz.is_ok()) return authz.status();
  n->authz_ = std::move(*authz);
  auto set = n->ledger_->validators();
  if (!set.is_ok()) return set.status();
  const auto index = set->index_of(n->identity_.validator_key.public_key());
  // A validator of several serves snapshots of its ledger to joiners (the
  // genesis set or a later one may have several).
  if (n->identity_.genesis.validators.size() > 1 || set->validators.size() > 1) {
    SnapshotServerOptions so;
    so.dir = (std::filesystem::path(config.data_dir) / "snapshots").string();
    auto snapshots = SnapshotServer::open(*n->ledger_, std::move(so));
    if (!snapshots.is_ok()) return snapshots.status();
    n->snapshots_ = std::move(*snapshots);
  }
  // Every network runs consensus, a single validator too (n = 1: it is the
  // leader of every view and its own quorum; no peer transport).
  if (!index) {
    const Status refusal = Status::error(
        "NOT_A_VALIDATOR", "this node is not a validator of epoch " + std::to_string(set->epoch) +
                               "; submit transactions to a validator of the set in force");
    std::fprintf(stderr,
                 "emledger-node: the key is not in the validator set of epoch %llu (in force "
                 "above height %llu): running read-only at height %llu\n",
                 static_cast<unsigned long long>(set->epoch),
                 static_cast<unsigned long long>(set->since_height - 1),
                 static_cast<unsigned long long>(n->ledger_->head().height));
    n->mempool_->close(refusal);
  } else {
    ValidatorConfig vc;
    vc.snapshots = n->snapshots_.get();
    vc.data_dir = config.data_dir;
    vc.peer_listen = config.peer_listen;
    vc.view_timeout_ms = config.view_timeout_ms;
    vc.view_timeout_max_ms = std::max(vc.view_timeout_max_ms, config.view_timeout_ms);
    vc.rebroadcast_ms = std::max<std::uint64_t>(1, config.view_timeout_ms / 2);
    auto validator = Validator::start(*n->ledger_, *n->mempool_, n->identity_.validator_key,
                                      std::move(vc), clock);
    if (!validator.is_ok()) return validator.status();
    n->validator_ = std::move(*validator);
  }
  ApiContext ctx;
  ctx.ledger = n->ledger_.get();
  ctx.mempool = n->mempool_.get();
  // Alone, the node's own signature of its head is a quorum: the API signs
  // the head on each request rather than serve the book's newest note. A
  // node that is no validator signs nothing.
  if (index) {
    ctx.validator_key = &n->identity_.validator_key;
    ctx.validator_org = set->validators[*index].org_id;
    if (set->validators.size() > 1) ctx.checkpoints = &n->validator_->checkpoints();
  }
  ctx.openapi_json = kOpenApiJson;
  ctx.authz = n->authz_.get();
  n->api_ = std::make_unique<Api>(std::move(ctx));
  auto server = HttpServer::start(*listen, *n->api_);
  if (!server.is_ok()) {
    n->mempool_->close();
    if (n->validator_) n->validator_->stop();
    return server.status();
  }
  n->server_ = std::move(*server);
  return n;
}

Node::Node(Identity identity) : identity_(std::move(identity)) {}
Node::~Node() { shutdown(); }

const std::string& Node::host() const { return server_->host(); }
std::uint16_t Node::port() const { return server_->port(); }

void Node::shutdown() {
  std::call_once(shutdown_once_, [this] {
    if (server_) server_->stop_accepting();
    if (mempool_) mempool_->close();
    if (validator_) validator_->stop();  // fails its uncommitted proposals' waiters
    if (snapshots_) snapshots_->stop();  // cancels a snapshot being written
    if (mempool_)
      mempool_->fail_pending(Status::error("SHUTTING_DOWN", "the node is shutting down"));
    if (server_) server_->stop();  // writes the answers just produced, then closes
  });
}

}  // namespace emledger::node
