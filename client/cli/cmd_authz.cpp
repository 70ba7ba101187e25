// emledger holder-ref, pseudonym-key, holder, grant, access, material,
// objection, archive: the authorization layer from the command line
// (docs/cli.md "Holders, grants and access").
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "cli.hpp"
#include "emledger/client/authz.hpp"
#include "emledger/client/genesis_edit.hpp"
#include "emledger/client/timefmt.hpp"
#include "emledger/crypto/hex.hpp"
#include "emledger/crypto/holder_ref.hpp"
#include "emledger/crypto/sha256.hpp"

namespace emledger::cli {
namespace {

using client::AuthzClient;
using client::Committed;
using ledger::TxType;

// Options of every command that talks to a node.
struct NodeOptions {
  Common common;
  std::string node;
  KeyOptions key;
  std::string trust;
};

void add_node_options(CLI::App* cmd, NodeOptions& n, const std::string& key_help,
                      bool trust_required) {
  cmd->add_option("--node", n.node, kNodeHelp)->required();
  cmd->add_option("--key", n.key.key_path, key_help)->required();
  cmd->add_option("--passphrase-file", n.key.passphrase_file,
                  std::string("File whose first line is the key file's passphrase (otherwise ") +
                      kPassphraseEnv + " is used; clear key files need none)");
  auto* t = cmd->add_option(
      "--trust", n.trust,
      trust_required
          ? std::string(kTrustHelp)
          : std::string("Genesis file of the network. Optional: without it the node's genesis "
                        "is used to find your org and chain id (enough to sign; the node "
                        "judges the transaction anyway)"));
  if (trust_required) t->required();
  add_json_flag(cmd, n.common);
}

struct Session {
  std::unique_ptr<AuthzClient> node;
  crypto::KeyPair key;
};

Result<Session> open_session(const NodeOptions& n) {
  auto key = load_key(n.key);
  if (!key) return key.status();
  auto genesis =
      n.trust.empty() ? client::Client::fetch_untrusted_genesis(n.node) : load_trust(n.trust);
  if (!genesis) return genesis.status();
  return Session{std::make_unique<AuthzClient>(n.node, std::move(genesis).value()),
                 std::move(key).value()};
}

Result<client::Signer> org_signer(const Session& s) {
  return client::signer_for_key(s.node->client().trusted_genesis(), s.key);
}

// Prints a committed transaction: `what` names the created id.
int print_committed(const Common& common, const std::string& what, const Committed& c,
                    Json extra = Json::object()) {
  if (common.json) {
    std::string key = what;  // "grant id" -> "grant_id"
    std::replace(key.begin(), key.end(), ' ', '_');
    extra[key] = to_hex(c.created_id);
    extra["tx_id"] = to_hex(c.tx_id);
    extra["status"] = "committed";
    extra["height"] = c.height;
    extra["log_index"] = c.log_index;
    print_json(extra);
  } else {
    std::string label = what;
    label.resize(std::max<std::size_t>(label.size() + 1, 14), ' ');
    std::cout << label << to_hex(c.created_id) << "\n"
              << "tx id         " << to_hex(c.tx_id) << "\n"
              << "committed     at height " << c.height << " (log index " << c.log_index << ")"
              << std::endl;
  }
  return kExitOk;
}

Result<Hash> parse_ref(const std::string& text) { return parse_hash("--holder-ref", text); }

// ---- holder-ref, pseudonym-key ----

struct HolderRefOptions {
  Common common;
  std::string kind;
  std::string number;
  std::string key_file;
};

int run_holder_ref(const HolderRefOptions& o) {
  auto kind = crypto::parse_identity_kind(o.kind);
  if (!kind) return fail(o.common, kind.status());
  std::string number = o.number;
  if (number == "-" && !std::getline(std::cin, number))
    return usage(o.common, "no identity number on standard input");
  auto key = crypto::read_pseudonym_key_file(o.key_file);
  if (!key) return fail(o.common, key.status());
  auto ref = crypto::holder_ref(*key, *kind, number);
  std::fill(number.begin(), number.end(), '\0');
  if (!ref) return fail(o.common, ref.status());
  // Only the reference is printed: never the number, not even normalized.
  if (o.common.json)
    print_json({{"holder_ref", to_hex(*ref)}, {"kind", o.kind}});
  else
    std::cout << to_hex(*ref) << std::endl;
  return kExitOk;
}

struct PseudonymKeyOptions {
  Common common;
  std::string out;
};

int run_pseudonym_key_new(const PseudonymKeyOptions& o) {
  auto key = crypto::create_pseudonym_key_file(o.out);
  if (!key) return fail(o.common, key.status());
  if (o.common.json)
    print_json({{"pseudonym_key_file", o.out}});
  else
    std::cout << "pseudonym key written to " << o.out
              << " (mode 0600; share it with member orgs out of band, never on chain)" << std::endl;
  return kExitOk;
}

// ---- holder bind / rebind / rotate / view ----

struct BindOptions {
  NodeOptions n;
  bool rebind = false;
  std::string holder_ref;
  std::string holder_pub;
  std::string holder_key;
};

int run_bind(const BindOptions& o) {
  auto ref = parse_ref(o.holder_ref);
  if (!ref) return fail(o.n.common, ref.status());
  if (o.holder_pub.empty() == o.holder_key.empty())
    return usage(o.n.common, "give exactly one of --holder-pub and --holder-key");
  crypto::PublicKey pub{};
  if (!o.holder_pub.empty()) {
    auto raw = from_hex(o.holder_pub);
    if (!raw || raw->size() != pub.size())
      return usage(o.n.common, "--holder-pub must be 64 hex digits (an Ed25519 public key)");
    std::copy(raw->begin(), raw->end(), pub.begin());
  } else {
    auto hk = load_key(KeyOptions{o.holder_key, o.n.key.passphrase_file});
    if (!hk) return fail(o.n.common, hk.status());
    pub = hk->public_key();
  }
  auto s = open_session(o.n);
  if (!s) return fail(o.n.common, s.status());
  auto signer = org_signer(*s);
  if (!signer) return fail(o.n.common, signer.status());
  auto c = s->node->bind_holder(*signer, *ref, pub, o.rebind);
  if (!c) return fail(o.n.common, c.status());
  return print_committed(
      o.n.common, "holder ref", *c,
      {{"holder_public_key", to_hex(ByteView(pub))}, {"bound_by", signer->org_id}});
}

struct RotateOptions {
  NodeOptions n;
  std::string holder_ref;
  std::string new_key;
};

int run_rotate(const RotateOptions& o) {
  auto ref = parse_ref(o.holder_ref);
  if (!ref) return fail(o.n.common, ref.status());
  auto nk = load_key(KeyOptions{o.new_key, o.n.key.passphrase_file});
  if (!nk) return fail(o.n.common, nk.status());
  auto s = open_session(o.n);
  if (!s) return fail(o.n.common, s.status());
  auto holder = s->node->holder_signer(*ref, s->key);
  if (!holder) return fail(o.n.common, holder.status());
  auto c = s->node->rotate_holder_key(*holder, nk->public_key());
  if (!c) return fail(o.n.common, c.status());
  return print_committed(o.n.common, "holder ref", *c,
                         {{"key_seq", holder->key_seq + 1},
                          {"holder_public_key", to_hex(ByteView(nk->public_key()))}});
}

struct ViewOptions {
  NodeOptions n;
  std::string list;
  std::string holder_ref;
  std::size_t limit = AuthzClient::kHolderViewItemsMax;
};

// The reader's key: the holder's bound key, or else an auditor org's key.
Result<client::RequestKey> reader_key(const Session& s, const Hash& ref) {
  if (auto org = org_signer(s)) return client::org_request_key(*org);
  auto holder = s.node->holder_signer(ref, s.key);
  if (!holder) return holder.status();
  return client::holder_request_key(ref, holder->key_seq, s.key);
}

void print_view_text(const client::HolderView& v, const std::string& list) {
  std::cout << "as of height " << v.at.header.height << " ("
            << client::format_time_ms(v.at.header.time_ms) << ", certified; every item proven)\n";
  for (const auto& r : v.records) {
    std::cout << "\n";
    print_record(std::cout, r, "  ");
  }
  for (const auto& g : v.grants) {
    std::cout << "\n  grant       " << to_hex(g.id) << "\n"
              << "  grantee     " << g.terms.grantee << " for service " << g.terms.service_code
              << ", case " << g.terms.case_id << "\n"
              << "  window      " << time_or_dash(g.terms.not_before_ms) << " to "
              << time_or_dash(g.terms.not_after_ms) << "\n"
              << "  uses        " << g.uses << " of " << g.terms.max_uses << "\n"
              << "  scope       " << g.terms.record_ids.size() << " record(s), types:";
    for (const auto& t : g.terms.type_codes) std::cout << " " << t;
    std::cout << "\n  status      "
              << (g.status == static_cast<std::uint8_t>(ledger::GrantStatus::kActive) ? "active"
                                                                                      : "REVOKED")
              << "\n";
  }
  for (const auto& a : v.accesses) {
    std::cout << "\n  access      " << to_hex(a.id) << "\n"
              << "  by          " << a.org << " for case " << a.case_id << " at "
              << client::format_time_ms(a.time_ms) << " (height " << a.height << ")\n"
              << "  record      " << to_hex(a.record_id) << "\n"
              << "  under       "
              << (a.statutory ? std::string("statute") : "grant " + to_hex(a.grant_id)) << "\n";
  }
  if (v.records.empty() && v.grants.empty() && v.accesses.empty())
    std::cout << "no " << list << "\n";
  std::cout << std::flush;
}

int run_view(const ViewOptions& o) {
  auto ref = parse_ref(o.holder_ref);
  if (!ref) return fail(o.n.common, ref.status());
  using L = ledger::Ledger::HolderList;
  const L list = o.list == "records" ? L::kRecords : o.list == "grants" ? L::kGrants : L::kAccesses;
  auto s = open_session(o.n);
  if (!s) return fail(o.n.common, s.status());
  auto reader = reader_key(*s, *ref);
  if (!reader) return fail(o.n.common, reader.status());
  auto v = s->node->holder_view(*reader, *ref, list, o.limit);
  if (!v) return fail(o.n.common, v.status());
  if (o.n.common.json) {
    Json items = Json::array();
    for (const auto& r : v->records) items.push_back(ledger::to_json(r));
    for (const auto& g : v->grants) items.push_back(ledger::to_json(g));
    for (const auto& a : v->accesses) items.push_back(ledger::to_json(a));
    print_json({{"holder_ref", o.holder_ref},
                {"list", o.list},
                {"height", v->at.header.height},
                {"verified", true},
                {"items", std::move(items)}});
  } else {
    print_view_text(*v, o.list);
  }
  return kExitOk;
}

// ---- grant create / revoke ----

struct GrantOptions {
  NodeOptions n;
  std::string holder_ref;
  std::string grantee;
  std::vector<std::string> records;
  std::vector<std::string> types;
  std::string service;
  std::string case_id;
  std::string not_before;
  std::string not_after;
  std::uint32_t max_uses = 1;
};

int run_grant_create(const GrantOptions& o) {
  auto ref = parse_ref(o.holder_ref);
  if (!ref) return fail(o.n.common, ref.status());
  ledger::GrantTerms t;
  t.holder_ref = *ref;
  t.grantee = o.grantee;
  for (const auto& r : o.records) {
    auto id = parse_hash("--record", r);
    if (!id) return fail(o.n.common, id.status());
    t.record_ids.push_back(*id);
  }
  t.type_codes = o.types;
  t.service_code = o.service;
  t.case_id = o.case_id;
  auto nb = client::parse_time_ms(o.not_before);
  if (!nb) return fail(o.n.common, nb.status());
  auto na = client::parse_time_ms(o.not_after);
  if (!na) return fail(o.n.common, na.status());
  t.not_before_ms = *nb;
  t.not_after_ms = *na;
  t.max_uses = o.max_uses;
  auto terms = client::canonical_grant_terms(std::move(t));
  if (!terms) return fail(o.n.common, terms.status());
  auto s = open_session(o.n);
  if (!s) return fail(o.n.common, s.status());
  auto holder = s->node->holder_signer(*ref, s->key);
  if (!holder) return fail(o.n.common, holder.status());
  auto c = s->node->create_grant(*holder, *terms);
  if (!c) return fail(o.n.common, c.status());
  return print_committed(o.n.common, "grant id", *c, {{"terms", ledger::to_json(*terms)}});
}

struct GrantRevokeOptions {
  NodeOptions n;
  std::string grant;
  std::string holder_ref;
};

int run_grant_revoke(const GrantRevokeOptions& o) {
  auto ref = parse_ref(o.holder_ref);
  if (!ref) return fail(o.n.common, ref.status());
  auto id = parse_hash("GRANT_ID", o.grant);
  if (!id) return fail(o.n.common, id.status());
  auto s = open_session(o.n);
  if (!s) return fail(o.n.common, s.status());
  auto holder = s->node->holder_signer(*ref, s->key);
  if (!holder) return fail(o.n.common, holder.status());
  auto c = s->node->revoke_grant(*holder, *id);
  if (!c) return fail(o.n.common, c.status());
  return print_committed(o.n.common, "revoked grant", *c);
}

// ---- access ----

struct AccessOptions {
  NodeOptions n;
  std::string record;
  std::string grant;
  bool statute = false;
  std::string case_id;
};

int run_access(const AccessOptions& o) {
  auto rec = parse_hash("RECORD_ID", o.record);
  if (!rec) return fail(o.n.common, rec.status());
  if (o.statute == !o.grant.empty())
    return usage(o.n.common, "give exactly one of --grant GRANT_ID and --statute");
  Hash grant{};
  if (!o.statute) {
    auto g = parse_hash("--grant", o.grant);
    if (!g) return fail(o.n.common, g.status());
    grant = *g;
  }
  auto s = open_session(o.n);
  if (!s) return fail(o.n.common, s.status());
  auto signer = org_signer(*s);
  if (!signer) return fail(o.n.common, signer.status());
  auto c = s->node->record_access(*signer, *rec, grant, o.case_id);
  if (!c) return fail(o.n.common, c.status());
  return print_committed(o.n.common, "access id", *c,
                         {{"statutory", o.statute}, {"org", signer->org_id}});
}

// ---- material upload / fetch ----

struct UploadOptions {
  NodeOptions n;
  std::string file;
};

int run_upload(const UploadOptions& o) {
  auto s = open_session(o.n);
  if (!s) return fail(o.n.common, s.status());
  auto signer = org_signer(*s);
  if (!signer) return fail(o.n.common, signer.status());
  auto u = s->node->upload_material(*signer, o.file);
  if (!u) return fail(o.n.common, u.status());
  if (o.n.common.json)
    print_json({{"content_hash", to_hex(u->content_hash)},
                {"size_bytes", u->size_bytes},
                {"created", u->created}});
  else
    std::cout << (u->created ? "stored        " : "already held  ") << to_hex(u->content_hash)
              << " (" << u->size_bytes << " bytes)" << std::endl;
  return kExitOk;
}

struct FetchOptions {
  NodeOptions n;
  std::string holder_ref;
  std::string type;
  std::string grant;
  std::string case_id;
  std::string out;
  std::string source;
};

// Writes `bytes` to `path` through a temporary file and a rename, mode 0600:
// a reader never sees half a file, and only the caller may read a holder's
// document. Errors: IO_ERROR.
Status write_private_file(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Status::error("IO_ERROR", "cannot write " + tmp);
    std::filesystem::permissions(
        tmp, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out.flush()) return Status::error("IO_ERROR", "cannot write " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    return Status::error("IO_ERROR", "cannot rename to " + path);
  }
  return Status::ok();
}

int run_fetch(const FetchOptions& o) {
  auto ref = parse_ref(o.holder_ref);
  if (!ref) return fail(o.n.common, ref.status());
  auto grant = parse_hash("--grant", o.grant);
  if (!grant) return fail(o.n.common, grant.status());
  auto s = open_session(o.n);
  if (!s) return fail(o.n.common, s.status());
  auto signer = org_signer(*s);
  if (!signer) return fail(o.n.common, signer.status());
  std::unique_ptr<AuthzClient> source;
  if (!o.source.empty())
    source = std::make_unique<AuthzClient>(o.source, s->node->client().trusted_genesis());
  auto m = s->node->fetch_shared_material(*signer, *ref, o.type, *grant, o.case_id, source.get());
  if (!m) return fail(o.n.common, m.status());
  if (Status st = write_private_file(o.out, m->bytes); !st) return fail(o.n.common, st);
  if (o.n.common.json) {
    print_json({{"out", o.out},
                {"size_bytes", m->bytes.size()},
                {"content_hash", to_hex(m->record.body.content_hash)},
                {"record_id", to_hex(m->record.id)},
                {"issuer", m->record.issuer},
                {"access_id", to_hex(m->access_id)},
                {"access_height", m->access_height},
                {"verified", true},
                {"under_objection", m->record.objections_open > 0}});
  } else {
    std::cout << "wrote         " << o.out << " (" << m->bytes.size()
              << " bytes; SHA-256 matches the record, record verified VALID"
              << (m->record.objections_open > 0 ? ", UNDER OBJECTION" : "") << ")\n"
              << "record        " << to_hex(m->record.id) << " of " << m->record.issuer << "\n"
              << "access        " << to_hex(m->access_id) << " (committed at height "
              << m->access_height << ")" << std::endl;
  }
  return kExitOk;
}

// ---- objection file / resolve, archive ----

struct ObjectionOptions {
  NodeOptions n;
  std::string record;
  std::uint32_t reason = 0;
  std::string holder_ref;
};

int run_objection_file(const ObjectionOptions& o) {
  auto rec = parse_hash("RECORD_ID", o.record);
  if (!rec) return fail(o.n.common, rec.status());
  auto s = open_session(o.n);
  if (!s) return fail(o.n.common, s.status());
  const auto reason = static_cast<std::uint16_t>(o.reason);
  Result<Committed> c = Status::error(std::string(client::kBadArgument), "");
  if (o.holder_ref.empty()) {
    auto signer = org_signer(*s);
    if (!signer) return fail(o.n.common, signer.status());
    c = s->node->file_objection(*signer, *rec, reason);
  } else {
    auto ref = parse_ref(o.holder_ref);
    if (!ref) return fail(o.n.common, ref.status());
    auto holder = s->node->holder_signer(*ref, s->key);
    if (!holder) return fail(o.n.common, holder.status());
    c = s->node->file_objection(*holder, *rec, reason);
  }
  if (!c) return fail(o.n.common, c.status());
  return print_committed(o.n.common, "objection id", *c);
}

struct ResolveOptions {
  NodeOptions n;
  std::string objection;
  std::string outcome;
  std::uint32_t reason = 0;
};

int run_objection_resolve(const ResolveOptions& o) {
  auto id = parse_hash("OBJECTION_ID", o.objection);
  if (!id) return fail(o.n.common, id.status());
  auto s = open_session(o.n);
  if (!s) return fail(o.n.common, s.status());
  auto signer = org_signer(*s);
  if (!signer) return fail(o.n.common, signer.status());
  const auto outcome = o.outcome == "upheld" ? ledger::ObjectionOutcome::kUpheld
                                             : ledger::ObjectionOutcome::kRejected;
  auto c = s->node->resolve_objection(*signer, *id, outcome, static_cast<std::uint16_t>(o.reason));
  if (!c) return fail(o.n.common, c.status());
  return print_committed(o.n.common, "objection id", *c, {{"outcome", o.outcome}});
}

struct ArchiveOptions {
  NodeOptions n;
  std::string case_id;
  std::string package;
  std::vector<std::string> records;
};

int run_archive(const ArchiveOptions& o) {
  std::vector<Hash> ids;
  for (const auto& r : o.records) {
    auto id = parse_hash("--record", r);
    if (!id) return fail(o.n.common, id.status());
    ids.push_back(*id);
  }
  auto digest = crypto::sha256_file(o.package);
  if (!digest) return fail(o.n.common, digest.status());
  auto s = open_session(o.n);
  if (!s) return fail(o.n.common, s.status());
  auto signer = org_signer(*s);
  if (!signer) return fail(o.n.common, signer.status());
  auto c = s->node->anchor_archive(*signer, o.case_id, digest->hash, std::move(ids));
  if (!c) return fail(o.n.common, c.status());
  return print_committed(o.n.common, "archive id", *c,
                         {{"package_hash", to_hex(digest->hash)}, {"case_id", o.case_id}});
}

// ---- genesis add-statute ----

struct StatuteOptions {
  Common common;
  std::string file;
  std::string type;
  std::string roles;
};

int run_add_statute(const StatuteOptions& o) {
  auto roles = client::parse_roles(o.roles);
  if (!roles) return fail(o.common, roles.status());
  auto g = client::read_genesis_json(o.file);
  if (!g) return fail(o.common, g.status());
  if (Status st = client::add_statute(*g, o.type, *roles); !st) return fail(o.common, st);
  if (Status st = client::write_genesis_json(o.file, *g); !st) return fail(o.common, st);
  // Once validators are listed the file is a complete genesis: its hash
  // changed, and every participant must pin the new one.
  std::string hash;
  if (auto complete = ledger::genesis_from_json(*g); complete && !complete->validators.empty())
    hash = to_hex(complete->hash());
  if (o.common.json) {
    Json j = {{"genesis", o.file}, {"type_code", o.type}, {"roles", ledger::role_names(*roles)}};
    if (!hash.empty()) j["genesis_hash"] = hash;
    print_json(j);
  } else {
    std::cout << "statute: orgs with role(s) " << o.roles << " may read " << o.type
              << " records without a grant (accesses are still recorded)\n";
    if (!hash.empty()) std::cout << "genesis     " << hash << " (changed; pin this hash)\n";
    std::cout << std::flush;
  }
  return kExitOk;
}

}  // namespace

void add_authz_commands(CLI::App& app, Action& action) {
  if (CLI::App* genesis = app.get_subcommand("genesis")) {
    auto st = std::make_shared<StatuteOptions>();
    auto* cmd = add_command(
        *genesis, "add-statute",
        "Let orgs with the given roles read records of one type without the holder's grant "
        "(for example public business licenses), as a law allows. Such accesses are still "
        "recorded, marked statutory, and shown to the holder and the auditor.");
    cmd->add_option("FILE", st->file, "Genesis file to edit")->required();
    cmd->add_option("--type", st->type, "Catalog type code")->required();
    cmd->add_option("--roles", st->roles, "Comma-separated roles, e.g. consumer")->required();
    add_json_flag(cmd, st->common);
    cmd->callback([st, &action] { action = [st] { return run_add_statute(*st); }; });
  }

  constexpr const char* kHolderKeyHelp =
      "The holder's key file (an ordinary `emledger keygen` key file; its public key must be "
      "the one currently bound to --holder-ref)";
  constexpr const char* kRefHelp =
      "The holder's reference, 64 hex digits (see `emledger holder-ref`)";

  auto hr = std::make_shared<HolderRefOptions>();
  auto* cmd = add_command(
      app, "holder-ref",
      "Compute a holder's pseudonymous reference from an identity number. Prints only the 64-hex "
      "holder_ref: HMAC-SHA-256 under the network pseudonym key of the normalized number. The "
      "number is never printed, logged or written anywhere. Pass --number - to read it from "
      "standard input, which keeps it out of the shell history and the process list.");
  cmd->add_option("--kind", hr->kind, "cn-resident-id, uscc or passport")
      ->required()
      ->check(CLI::IsMember({"cn-resident-id", "uscc", "passport"}));
  cmd->add_option("--number", hr->number, "The identity number, or - for standard input")
      ->required();
  cmd->add_option("--pseudonym-key", hr->key_file,
                  "The network pseudonym key file (mode 0600; `emledger pseudonym-key new`)")
      ->required();
  add_json_flag(cmd, hr->common);
  cmd->callback([hr, &action] { action = [hr] { return run_holder_ref(*hr); }; });

  auto* pk = add_command(app, "pseudonym-key",
                         "Manage the network pseudonym key that holder references are keyed by.");
  pk->require_subcommand(1);
  auto pko = std::make_shared<PseudonymKeyOptions>();
  cmd = add_command(*pk, "new",
                    "Create a new pseudonym key file (32 random bytes, mode 0600, never "
                    "overwrites). Done once per network; member orgs receive it out of band.");
  cmd->add_option("--out", pko->out, "Key file to create")->required();
  add_json_flag(cmd, pko->common);
  cmd->callback([pko, &action] { action = [pko] { return run_pseudonym_key_new(*pko); }; });

  auto* holder =
      add_command(app, "holder", "Bind, re-bind and rotate holder keys; view a holder's data.");
  holder->require_subcommand(1);
  for (const bool rebind : {false, true}) {
    auto b = std::make_shared<BindOptions>();
    b->rebind = rebind;
    cmd = add_command(
        *holder, rebind ? "rebind" : "bind",
        rebind ? "Replace a lost holder key (identity org). The new key's sequence number is one "
                 "more; grants the holder signed stay in force."
               : "Bind a holder key to a holder_ref (identity org), after checking the person's "
                 "or company's identity off chain. Refused if the holder is already bound.");
    cmd->add_option("--holder-ref", b->holder_ref, kRefHelp)->required();
    cmd->add_option("--holder-pub", b->holder_pub,
                    "The holder's Ed25519 public key, 64 hex digits");
    cmd->add_option("--holder-key", b->holder_key,
                    "Or the holder's key file, to read its public key from");
    add_node_options(cmd, b->n, "Key file of the identity org (role identity)", false);
    cmd->callback([b, &action] { action = [b] { return run_bind(*b); }; });
  }
  auto rot = std::make_shared<RotateOptions>();
  cmd = add_command(*holder, "rotate",
                    "Replace the holder's key with a new one, signed by the current key.");
  cmd->add_option("--holder-ref", rot->holder_ref, kRefHelp)->required();
  cmd->add_option("--new-key", rot->new_key, "The new holder key file")->required();
  add_node_options(cmd, rot->n, "The holder's current key file", false);
  cmd->callback([rot, &action] { action = [rot] { return run_rotate(*rot); }; });
  auto view = std::make_shared<ViewOptions>();
  cmd = add_command(
      *holder, "view",
      "List a holder's records, grants or accesses, as the holder (or an auditor) sees them. "
      "The request is signed with --key; every item is proven against a certified header of the "
      "trusted genesis and checked to be this holder's. `accesses` shows every read of the "
      "holder's records: who, when, for which case, under which grant or statute.");
  cmd->add_option("LIST", view->list, "records, grants or accesses")
      ->required()
      ->check(CLI::IsMember({"records", "grants", "accesses"}));
  cmd->add_option("--holder-ref", view->holder_ref, kRefHelp)->required();
  cmd->add_option("--limit", view->limit, "At most this many items (1 to 1000)")
      ->check(CLI::Range(1, 1000));
  add_node_options(cmd, view->n, "The holder's key file (or an auditor org's key file)", true);
  cmd->callback([view, &action] { action = [view] { return run_view(*view); }; });

  auto* grant = add_command(app, "grant", "Create and revoke grants (holder).");
  grant->require_subcommand(1);
  auto gc = std::make_shared<GrantOptions>();
  cmd = add_command(
      *grant, "create",
      "Sign a grant: let one org read the named records (--record) or any record of the named "
      "types (--type) of this holder, for one service and case, within a time window, at most "
      "--max-uses times. Prints the grant id the consuming org needs.");
  cmd->add_option("--holder-ref", gc->holder_ref, kRefHelp)->required();
  cmd->add_option("--grantee", gc->grantee, "Org id allowed to read")->required();
  cmd->add_option("--record", gc->records, "A record id in scope (repeatable)");
  cmd->add_option("--type", gc->types, "A type code in scope (repeatable)");
  cmd->add_option("--service", gc->service, "Service item code (purpose)")->required();
  cmd->add_option("--case", gc->case_id, "Case id (purpose)")->required();
  cmd->add_option("--not-before", gc->not_before,
                  "Start: RFC 3339 (2027-01-31T00:00:00Z) or unix milliseconds")
      ->required();
  cmd->add_option("--not-after", gc->not_after, "End (exclusive), same forms")->required();
  cmd->add_option("--max-uses", gc->max_uses, "How many accesses the grant allows")
      ->required()
      ->check(CLI::Range(1u, 1000000u));
  add_node_options(cmd, gc->n, kHolderKeyHelp, false);
  cmd->callback([gc, &action] { action = [gc] { return run_grant_create(*gc); }; });
  auto gr = std::make_shared<GrantRevokeOptions>();
  cmd = add_command(*grant, "revoke",
                    "Revoke a grant. Accesses already recorded stay; no new one is accepted.");
  cmd->add_option("GRANT_ID", gr->grant, "Grant id (64 hex)")->required();
  cmd->add_option("--holder-ref", gr->holder_ref, kRefHelp)->required();
  add_node_options(cmd, gr->n, kHolderKeyHelp, false);
  cmd->callback([gr, &action] { action = [gr] { return run_grant_revoke(*gr); }; });

  auto ac = std::make_shared<AccessOptions>();
  cmd = add_command(
      app, "access",
      "Record an access to a record (consuming org), under a grant or under a statute of the "
      "genesis. Waits for the commit and prints the access id, which the source agency's node "
      "requires to release the file once. Refused (exit 2, e.g. GRANT_REVOKED, GRANT_EXPIRED, "
      "GRANT_EXHAUSTED, NO_GRANT) when nothing covers it.");
  cmd->add_option("RECORD_ID", ac->record, "Record id (64 hex)")->required();
  cmd->add_option("--grant", ac->grant, "The holder's grant id");
  cmd->add_flag("--statute", ac->statute, "Read under the genesis statute for the record's type");
  cmd->add_option("--case", ac->case_id, "Case id the record is read for")->required();
  add_node_options(cmd, ac->n, "Key file of the consuming org", false);
  cmd->callback([ac, &action] { action = [ac] { return run_access(*ac); }; });

  auto* mat = add_command(app, "material", "Upload to and fetch from a node's material store.");
  mat->require_subcommand(1);
  auto up = std::make_shared<UploadOptions>();
  cmd = add_command(
      *mat, "upload",
      "Store a file you anchored in your node's off-chain material store (issuing org). The node "
      "accepts only bytes that an anchored record of your org names by content hash, and "
      "releases them only against a committed access. At most 64 MiB.");
  cmd->add_option("FILE", up->file, "The exact file that was registered")->required();
  add_node_options(cmd, up->n, "Key file of the issuing org", false);
  cmd->callback([up, &action] { action = [up] { return run_upload(*up); }; });
  auto fe = std::make_shared<FetchOptions>();
  cmd = add_command(
      *mat, "fetch",
      "Fetch a holder's document under a grant, in one call (consuming org): reads and proves "
      "the grant, picks the newest active record of --type it names, verifies it through its "
      "proof bundle, records the access (waiting for the commit), fetches the file from the "
      "source node and checks its SHA-256 against the record. --out is written (mode 0600) "
      "only when every check passed; on any failure nothing is written.");
  cmd->add_option("--holder-ref", fe->holder_ref, kRefHelp)->required();
  cmd->add_option("--type", fe->type, "Type code of the document wanted")->required();
  cmd->add_option("--grant", fe->grant, "The holder's grant id")->required();
  cmd->add_option("--case", fe->case_id, "Case id the document is read for")->required();
  cmd->add_option("--out", fe->out, "Where to write the verified file")->required();
  cmd->add_option("--source", fe->source,
                  "URL of the issuing agency's node that serves the file, when it is not --node "
                  "(the access is recorded through --node; the source is waited for up to 10 s "
                  "until it has the access's block)");
  add_node_options(cmd, fe->n, "Key file of the consuming org", true);
  cmd->callback([fe, &action] { action = [fe] { return run_fetch(*fe); }; });

  auto* obj = add_command(app, "objection", "Contest records and resolve objections.");
  obj->require_subcommand(1);
  auto of = std::make_shared<ObjectionOptions>();
  cmd = add_command(
      *obj, "file",
      "Contest a record, as an org (--key ORG_KEY) or as its holder (--holder-ref and the "
      "holder's --key). The record verifies as UNDER OBJECTION until its issuer resolves it.");
  cmd->add_option("RECORD_ID", of->record, "Record id (64 hex)")->required();
  cmd->add_option("--reason", of->reason, "Reason code, 1 to 65535")
      ->required()
      ->check(CLI::Range(1, 65535));
  cmd->add_option("--holder-ref", of->holder_ref,
                  "File as this holder (then --key is the holder's key)");
  add_node_options(cmd, of->n, "Key file of the org, or of the holder with --holder-ref", false);
  cmd->callback([of, &action] { action = [of] { return run_objection_file(*of); }; });
  auto orr = std::make_shared<ResolveOptions>();
  cmd = add_command(*obj, "resolve",
                    "Resolve an objection to your record (issuer): upheld revokes the record "
                    "with --reason; rejected keeps it.");
  cmd->add_option("OBJECTION_ID", orr->objection, "Objection id (64 hex)")->required();
  cmd->add_option("--outcome", orr->outcome, "upheld or rejected")
      ->required()
      ->check(CLI::IsMember({"upheld", "rejected"}));
  cmd->add_option("--reason", orr->reason, "Reason code, 1 to 65535")
      ->required()
      ->check(CLI::Range(1, 65535));
  add_node_options(cmd, orr->n, "Key file of the record's issuer", false);
  cmd->callback([orr, &action] { action = [orr] { return run_objection_resolve(*orr); }; });

  auto ar = std::make_shared<ArchiveOptions>();
  cmd = add_command(app, "archive",
                    "Anchor a closed case's archive package: its SHA-256 and the records the "
                    "case used (\"archived on completion\"). The package stays with you.");
  cmd->add_option("CASE_ID", ar->case_id, "The case id")->required();
  cmd->add_option("--package", ar->package, "The archive package file")->required();
  cmd->add_option("--record", ar->records, "A record id the case used (repeatable)");
  add_node_options(cmd, ar->n, "Key file of the org closing the case", false);
  cmd->callback([ar, &action] { action = [ar] { return run_archive(*ar); }; });
}

}  // namespace emledger::cli
