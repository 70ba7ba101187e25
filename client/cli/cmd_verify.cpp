// emledger verify, emledger proof: is this file anchored, by whom, and is it
// still good; online against a node or offline against a bundle file.
#include <iostream>
#include <memory>

#include "cli.hpp"
#include "emledger/client/timefmt.hpp"
#include "emledger/crypto/hex.hpp"
#include "emledger/crypto/sha256.hpp"

namespace emledger::cli {
namespace {

using ledger::Verdict;

std::string headline(const ledger::BundleVerdict& v) {
  switch (v.overall) {
    case Verdict::kValid:
      return "VALID";
    case Verdict::kNotAnchored:
      return "NOT ANCHORED";
    case Verdict::kSuperseded:
      return "SUPERSEDED";
    case Verdict::kExpired:
      return "EXPIRED";
    case Verdict::kNotYetValid:
      return "NOT YET VALID";
    case Verdict::kRevoked:
      for (const auto& r : v.records)
        if (r.verdict == Verdict::kRevoked)
          return "REVOKED (reason " + std::to_string(r.record.revoke_reason) + ")";
      return "REVOKED";
  }
  return "UNKNOWN";
}

// Prints the verdict; exit 0 only for a valid record matching the file.
int print_verdict(const Common& common, const std::string& file, const crypto::FileDigest& d,
                  const ledger::BundleVerdict& v, const std::string& source) {
  const bool valid = v.overall == Verdict::kValid;
  if (common.json) {
    Json j = ledger::to_json(v);
    j["valid"] = valid;
    bool contested = false;
    for (const auto& r : v.records) contested = contested || r.record.objections_open > 0;
    j["under_objection"] = contested;
    j["file"] = file;
    j["content_hash"] = to_hex(d.hash);
    j["size_bytes"] = d.size_bytes;
    j["time"] = client::format_time_ms(v.time_ms);
    j["source"] = source;
    print_json(j);
  } else {
    std::cout << headline(v);
    // A contested record still verifies; the reader must see it is contested.
    for (const auto& r : v.records)
      if (r.verdict == Verdict::kValid && r.record.objections_open > 0) {
        std::cout << " (UNDER OBJECTION)";
        break;
      }
    std::cout << "\n"
              << "file        " << file << "\n"
              << "sha256      " << to_hex(d.hash) << " (" << d.size_bytes << " bytes)\n"
              << "as of       height " << v.height << ", " << client::format_time_ms(v.time_ms)
              << " (certified; " << source << ")\n";
    if (v.records.empty()) std::cout << "no record on this chain anchors this content hash\n";
    for (const auto& r : v.records) {
      std::cout << "\n" << ledger::verdict_name(r.verdict) << ":\n";
      print_record(std::cout, r.record, "  ");
    }
    std::cout << std::flush;
  }
  return valid ? kExitOk : kExitFalse;
}

int tampered(const Common& common, const Status& st) {
  if (common.json) {
    print_json({{"verdict", "tampered_bundle"},
                {"valid", false},
                {"error", {{"code", st.code()}, {"message", st.message()}}}});
  } else {
    std::cout << "TAMPERED BUNDLE\n"
              << "bundle failed verification: " << st.code() << " (" << st.message() << ")"
              << std::endl;
  }
  return kExitFalse;
}

struct VerifyOptions {
  Common common;
  std::string file;
  std::string node;
  std::string bundle;
  std::string trust;
};

int run_verify(const VerifyOptions& o) {
  if (o.node.empty() == o.bundle.empty())
    return usage(o.common, "give exactly one of --node URL (online) or --bundle FILE (offline)");
  auto trusted = load_trust(o.trust);
  if (!trusted) return fail(o.common, trusted.status());
  auto digest = crypto::sha256_file(o.file);
  if (!digest) return fail(o.common, digest.status());
  if (!o.bundle.empty()) {
    auto bundle = client::read_bundle_file(o.bundle);
    if (!bundle) return fail(o.common, bundle.status());
    auto verdict = ledger::verify_bundle(*trusted, *bundle, digest->hash);
    if (!verdict) return tampered(o.common, verdict.status());
    return print_verdict(o.common, o.file, *digest, *verdict, "offline bundle " + o.bundle);
  }
  client::Client c(o.node, std::move(trusted).value());
  auto fetched = c.fetch_bundle(digest->hash);
  if (!fetched) {
    if (client::classify(fetched.status()) == client::ErrorClass::kVerifiedFalse)
      return tampered(o.common, fetched.status());
    return fail(o.common, fetched.status());
  }
  return print_verdict(o.common, o.file, *digest, fetched->verdict, "node " + o.node);
}

struct ProofOptions {
  Common common;
  std::string file;
  std::string node;
  std::string trust;
  std::string out;
};

int run_proof(const ProofOptions& o) {
  auto trusted = load_trust(o.trust);
  if (!trusted) return fail(o.common, trusted.status());
  auto digest = crypto::sha256_file(o.file);
  if (!digest) return fail(o.common, digest.status());
  client::Client c(o.node, std::move(trusted).value());
  auto fetched = c.fetch_bundle(digest->hash);
  if (!fetched) {
    if (client::classify(fetched.status()) == client::ErrorClass::kVerifiedFalse)
      return tampered(o.common, fetched.status());
    return fail(o.common, fetched.status());
  }
  if (Status st = client::write_bundle_file(o.out, fetched->encoded); !st)
    return fail(o.common, st);
  const auto& v = fetched->verdict;
  if (o.common.json) {
    print_json({{"bundle", o.out},
                {"size_bytes", fetched->encoded.size()},
                {"content_hash", to_hex(digest->hash)},
                {"verdict", ledger::verdict_name(v.overall)},
                {"height", v.height},
                {"time_ms", v.time_ms},
                {"records", v.records.size()}});
  } else {
    std::cout << "wrote       " << o.out << " (" << fetched->encoded.size() << " bytes, verified)\n"
              << "content     sha256 " << to_hex(digest->hash) << "\n"
              << "proves      " << headline(v) << " as of height " << v.height << ", "
              << client::format_time_ms(v.time_ms) << "\n"
              << "check it    emledger verify FILE --bundle " << o.out << " --trust GENESIS"
              << std::endl;
  }
  return kExitOk;
}

}  // namespace

void add_verify_commands(CLI::App& app, Action& action) {
  auto v = std::make_shared<VerifyOptions>();
  auto* cmd = add_command(
      app, "verify",
      "Check a file against the ledger. Hashes FILE, then proves from certified state which "
      "records anchor that exact content: online (--node, the node sends a proof bundle which "
      "is verified here) or offline (--bundle, a file made by `emledger proof`; no network). "
      "Prints VALID, REVOKED (reason), SUPERSEDED, EXPIRED, NOT YET VALID or NOT ANCHORED with "
      "the record(s), issuer, height and time the answer is as of; TAMPERED BUNDLE when the "
      "proof itself does not verify.\n"
      "Exit 0 only for an anchored, unrevoked, unsuperseded, unexpired record of this exact "
      "file; 1 for every other verdict or a bundle that fails verification; 2 for an "
      "unreadable bundle or bad arguments; 3 when the node cannot be reached.");
  cmd->add_option("FILE", v->file, "The file to check (exact bytes)")->required();
  cmd->add_option("--node", v->node, kNodeHelp);
  cmd->add_option("--bundle", v->bundle, "Offline proof bundle file (from `emledger proof`)");
  cmd->add_option("--trust", v->trust, kTrustHelp)->required();
  add_json_flag(cmd, v->common);
  cmd->callback([v, &action] { action = [v] { return run_verify(*v); }; });

  auto p = std::make_shared<ProofOptions>();
  cmd = add_command(
      app, "proof",
      "Fetch, verify and save the offline proof bundle for FILE. Writes to --out everything needed "
      "to "
      "check the file later with no network (record, state proofs, certified header, issuer's "
      "signed transaction). Works for files that are not anchored too: the bundle then proves "
      "absence. Exit 0 once a verified bundle is written, whatever it proves.");
  cmd->add_option("FILE", p->file, "The file (exact bytes)")->required();
  cmd->add_option("--node", p->node, kNodeHelp)->required();
  cmd->add_option("--trust", p->trust, kTrustHelp)->required();
  cmd->add_option("--out", p->out, "Bundle file to write (binary)")->required();
  add_json_flag(cmd, p->common);
  cmd->callback([p, &action] { action = [p] { return run_proof(*p); }; });
}

}  // namespace emledger::cli
