// emledger register, change, renew, revoke: signed transactions of an issuer.
#include <chrono>
#include <iostream>
#include <memory>

#include "cli.hpp"
#include "emledger/client/timefmt.hpp"
#include "emledger/crypto/hex.hpp"
#include "emledger/crypto/sha256.hpp"

namespace emledger::cli {
namespace {

using ledger::TxType;

struct WriteOptions {
  Common common;
  std::string node;
  KeyOptions key;
  std::string trust;
};

// The record fields a user types; empty means "not given".
struct BodyOptions {
  std::string file;
  std::string type;
  std::string holder_ref;
  std::string kind;
  std::string valid_from;
  std::string valid_until;
  std::string media_type;
  std::string locator;
};

struct Session {
  client::Client client;
  client::Signer signer;
};

Result<Session> open_session(const WriteOptions& w) {
  auto key = load_key(w.key);
  if (!key) return key.status();
  auto genesis =
      w.trust.empty() ? client::Client::fetch_untrusted_genesis(w.node) : load_trust(w.trust);
  if (!genesis) return genesis.status();
  auto signer = client::signer_for_key(*genesis, *key);
  if (!signer) return signer.status();
  return Session{client::Client(w.node, std::move(genesis).value()), std::move(signer).value()};
}

void add_write_options(CLI::App* cmd, WriteOptions& w) {
  cmd->add_option("--node", w.node, kNodeHelp)->required();
  add_key_options(cmd, w.key, /*required=*/true);
  cmd->add_option("--trust", w.trust,
                  "Genesis file of the network. Optional here: without it the node's genesis is "
                  "used to find your org and chain id (enough to sign; the node judges the "
                  "transaction anyway)");
  add_json_flag(cmd, w.common);
}

void add_body_options(CLI::App* cmd, BodyOptions& b, bool for_change) {
  const std::string inherit = for_change ? " (default: the previous version's)" : "";
  auto* type = cmd->add_option("--type", b.type, "Catalog type code of the document" + inherit);
  auto* holder = cmd->add_option(
      "--holder-ref", b.holder_ref,
      "Pseudonymous holder reference, 64 hex digits (keyed hash of the holder's identity; "
      "never a name or ID number)" +
          inherit);
  if (!for_change) {
    type->required();
    holder->required();
  }
  cmd->add_option(
         "--kind", b.kind,
         "material or license" + (for_change ? inherit : std::string(" (default: license)")))
      ->check(CLI::IsMember({"material", "license"}));
  cmd->add_option("--valid-from", b.valid_from,
                  "Start of validity: RFC 3339 (2027-01-31T00:00:00Z) or unix milliseconds" +
                      (for_change ? inherit : std::string(" (default: no start bound)")));
  cmd->add_option("--valid-until", b.valid_until,
                  "End of validity, same forms; 0 means no end" +
                      (for_change ? inherit : std::string(" (default: no end)")));
  cmd->add_option("--media-type", b.media_type,
                  "Media type of the file" +
                      (for_change ? inherit : std::string(" (default: application/octet-stream)")));
  cmd->add_option("--locator", b.locator,
                  "Where your agency keeps the file (opaque to the ledger)" +
                      (for_change ? inherit : std::string(" (default: empty)")));
}

std::uint64_t now_ms() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

Result<std::uint64_t> time_or(const std::string& text, std::uint64_t fallback) {
  if (text.empty()) return fallback;
  return client::parse_time_ms(text);
}

// The body to sign: the file's hash and size, the typed fields, and for a
// change the previous version's fields where none were typed.
Result<ledger::RecordBody> build_body(const BodyOptions& b, const ledger::Record* previous) {
  ledger::RecordBody body;
  if (previous) body = previous->body;
  auto digest = crypto::sha256_file(b.file);
  if (!digest) return digest.status();
  body.content_hash = digest->hash;
  body.size_bytes = digest->size_bytes;
  body.issued_at_ms = now_ms();
  if (!b.kind.empty() || !previous)
    body.kind = static_cast<std::uint8_t>(b.kind == "material" ? ledger::RecordKind::kMaterial
                                                               : ledger::RecordKind::kLicense);
  if (!b.type.empty()) body.type_code = b.type;
  if (!b.holder_ref.empty()) {
    auto h = parse_hash("--holder-ref", b.holder_ref);
    if (!h) return h.status();
    body.holder_ref = *h;
  }
  if (!b.media_type.empty()) body.media_type = b.media_type;
  if (!previous && b.media_type.empty()) body.media_type = "application/octet-stream";
  if (!b.locator.empty()) body.locator = b.locator;
  auto from = time_or(b.valid_from, body.valid_from_ms);
  if (!from) return from.status();
  auto until = time_or(b.valid_until, body.valid_until_ms);
  if (!until) return until.status();
  body.valid_from_ms = *from;
  body.valid_until_ms = *until;
  EMLEDGER_TRY(client::check_record_body(body));
  return body;
}

// Signs, submits with wait=commit and prints what was committed.
int submit(const Common& common, Session& s, TxType type, Bytes payload,
           const std::optional<Hash>& record) {
  auto tx = s.client.make_tx(s.signer, type, std::move(payload));
  if (!tx) return fail(common, tx.status());
  auto r = s.client.submit(*tx, /*wait_commit=*/true);
  if (!r) return fail(common, r.status());
  if (r->status == "rejected") return fail(common, r->error);
  const Hash record_id = record ? *record : ledger::record_id_for(tx->id());
  if (common.json) {
    Json j = {{"record_id", to_hex(record_id)},
              {"tx_id", to_hex(tx->id())},
              {"status", r->status},
              {"signer_org", s.signer.org_id},
              {"key_id", s.signer.key_id}};
    if (r->status == "committed") {
      j["height"] = r->height;
      j["log_index"] = r->log_index;
    }
    print_json(j);
  } else {
    std::cout << "record id  " << to_hex(record_id) << "\n"
              << "tx id      " << to_hex(tx->id()) << "\n"
              << "signed by  " << s.signer.org_id << " key " << s.signer.key_id << "\n";
    if (r->status == "committed")
      std::cout << "committed  at height " << r->height << " (log index " << r->log_index << ")\n";
    else
      std::cout << "status     " << r->status << "\n";
    std::cout << std::flush;
  }
  return kExitOk;
}

struct RegisterOptions {
  WriteOptions w;
  BodyOptions body;
};

int run_register(const RegisterOptions& o) {
  auto s = open_session(o.w);
  if (!s) return fail(o.w.common, s.status());
  auto body = build_body(o.body, nullptr);
  if (!body) return fail(o.w.common, body.status());
  return submit(o.w.common, *s, TxType::kRegisterRecord,
                ledger::encode(ledger::RegisterRecord{std::move(body).value()}), std::nullopt);
}

struct ChangeOptions {
  WriteOptions w;
  std::string record;
  BodyOptions body;
};

int run_change(const ChangeOptions& o) {
  auto id = parse_hash("RECORD_ID", o.record);
  if (!id) return fail(o.w.common, id.status());
  auto s = open_session(o.w);
  if (!s) return fail(o.w.common, s.status());
  auto previous = s->client.record(*id);
  if (!previous) return fail(o.w.common, previous.status());
  if (!previous->has_value())
    return fail(o.w.common, Status::error("RECORD_NOT_FOUND", "no record " + o.record));
  auto body = build_body(o.body, &(*previous)->record);
  if (!body) return fail(o.w.common, body.status());
  ledger::ChangeLicense change{*id, std::move(body).value()};
  return submit(o.w.common, *s, TxType::kChangeLicense, ledger::encode(change), std::nullopt);
}

struct RenewOptions {
  WriteOptions w;
  std::string record;
  std::string valid_until;
};

int run_renew(const RenewOptions& o) {
  auto id = parse_hash("RECORD_ID", o.record);
  if (!id) return fail(o.w.common, id.status());
  auto until = client::parse_time_ms(o.valid_until);
  if (!until) return fail(o.w.common, until.status());
  auto s = open_session(o.w);
  if (!s) return fail(o.w.common, s.status());
  return submit(o.w.common, *s, TxType::kRenewLicense,
                ledger::encode(ledger::RenewLicense{*id, *until}), *id);
}

struct RevokeOptions {
  WriteOptions w;
  std::string record;
  std::uint32_t reason = 0;
};

int run_revoke(const RevokeOptions& o) {
  auto id = parse_hash("RECORD_ID", o.record);
  if (!id) return fail(o.w.common, id.status());
  auto s = open_session(o.w);
  if (!s) return fail(o.w.common, s.status());
  return submit(o.w.common, *s, TxType::kRevokeRecord,
                ledger::encode(ledger::RevokeRecord{*id, static_cast<std::uint16_t>(o.reason)}),
                *id);
}

}  // namespace

void add_write_commands(CLI::App& app, Action& action) {
  auto reg = std::make_shared<RegisterOptions>();
  auto* cmd = add_command(
      app, "register",
      "Anchor a file you issued or collected. Computes its SHA-256 and size (streaming), signs a "
      "registration with your org key and waits until it is committed. Prints the new record "
      "id (derived from the transaction id), the transaction id and the height. The file "
      "itself never leaves this machine.");
  cmd->add_option("FILE", reg->body.file, "The exact file to anchor")->required();
  add_body_options(cmd, reg->body, /*for_change=*/false);
  add_write_options(cmd, reg->w);
  cmd->callback([reg, &action] { action = [reg] { return run_register(*reg); }; });

  auto ch = std::make_shared<ChangeOptions>();
  cmd = add_command(
      app, "change",
      "Issue a new version of a license. Anchors FILE as a record that supersedes RECORD_ID "
      "(which then verifies as SUPERSEDED). Fields not given are taken from the previous "
      "version. Only the issuer of the previous version may do this.");
  cmd->add_option("RECORD_ID", ch->record, "Record id of the current version (64 hex)")->required();
  cmd->add_option("FILE", ch->body.file, "The new version's file")->required();
  add_body_options(cmd, ch->body, /*for_change=*/true);
  add_write_options(cmd, ch->w);
  cmd->callback([ch, &action] { action = [ch] { return run_change(*ch); }; });

  auto rn = std::make_shared<RenewOptions>();
  cmd = add_command(app, "renew",
                    "Extend a license's validity to a new end time (the file and record id stay).");
  cmd->add_option("RECORD_ID", rn->record, "Record id of the license (64 hex)")->required();
  cmd->add_option("--valid-until", rn->valid_until,
                  "New end of validity: RFC 3339 (2028-01-31T00:00:00Z) or unix milliseconds")
      ->required();
  add_write_options(cmd, rn->w);
  cmd->callback([rn, &action] { action = [rn] { return run_renew(*rn); }; });

  auto rv = std::make_shared<RevokeOptions>();
  cmd = add_command(
      app, "revoke",
      "Revoke a record with a reason code; it verifies as REVOKED from then on. Irreversible.");
  cmd->add_option("RECORD_ID", rv->record, "Record id (64 hex)")->required();
  cmd->add_option("--reason", rv->reason, "Revocation reason code, 1 to 65535 (from your catalog)")
      ->required()
      ->check(CLI::Range(1, 65535));
  add_write_options(cmd, rv->w);
  cmd->callback([rv, &action] { action = [rv] { return run_revoke(*rv); }; });
}

}  // namespace emledger::cli
