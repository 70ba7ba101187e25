#include "node.hpp"

#include <algorithm>
#include <filesystem>

#include "api.hpp"
#include "api_authz.hpp"
#include "http_server.hpp"
#include "openapi_json.hpp"

namespace emledger::node {

Result<std::unique_ptr<Node>> Node::start(const Config& config, Clock clock) {
  auto listen = parse_listen_address(config.listen);
  if (!listen.is_ok()) return listen.status();
  listen->threads = config.http_threads;

  auto identity = load_identity(config);
  if (!identity.is_ok()) return identity.status();

  std::unique_ptr<Node> n(new Node(std::move(*identity)));
  auto store = ledger::open_leveldb((std::filesystem::path(config.data_dir) / "db").string());
  if (!store.is_ok()) return store.status();
  auto ledger = ledger::Ledger::open(std::move(*store), n->identity_.genesis);
  if (!ledger.is_ok()) return ledger.status();
  n->ledger_ = std::move(*ledger);

  n->mempool_ = std::make_unique<Mempool>(config.mempool_txs_max);
  auto authz = AuthzApi::open(*n->ledger_, clock, config.data_dir);
  if (!authz.is_ok()) return authz.status();
  n->authz_ = std::move(*authz);
  // Every network runs consensus, a single validator too (n = 1: it is the
  // leader of every view and its own quorum; no peer transport).
  {
    ValidatorConfig vc;
    vc.data_dir = config.data_dir;
    vc.peer_listen = config.peer_listen;
    vc.view_timeout_ms = config.view_timeout_ms;
    vc.view_timeout_max_ms = std::max(vc.view_timeout_max_ms, config.view_timeout_ms);
    vc.rebroadcast_ms = std::max<std::uint64_t>(1, config.view_timeout_ms / 2);
    auto validator = Validator::start(*n->ledger_, *n->mempool_, n->identity_.validator_key,
                                      n->identity_.validator_index, std::move(vc), clock);
    if (!validator.is_ok()) return validator.status();
    n->validator_ = std::move(*validator);
  }
  ApiContext ctx;
  ctx.ledger = n->ledger_.get();
  ctx.mempool = n->mempool_.get();
  ctx.validator_key = &n->identity_.validator_key;
  ctx.validator_org = n->identity_.genesis.validators[n->identity_.validator_index].org_id;
  // Alone, the node's own signature of its head is a quorum: the API signs
  // the head on each request rather than serve the book's newest note.
  if (n->identity_.genesis.validators.size() > 1) ctx.checkpoints = &n->validator_->checkpoints();
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
    if (mempool_)
      mempool_->fail_pending(Status::error("SHUTTING_DOWN", "the node is shutting down"));
    if (server_) server_->stop();  // writes the answers just produced, then closes
  });
}

}  // namespace emledger::node
