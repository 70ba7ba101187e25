#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli.hpp"
#include "emledger/client/timefmt.hpp"
#include "emledger/crypto/hex.hpp"
#include "emledger/crypto/keyfile.hpp"

namespace emledger::cli {

void add_json_flag(CLI::App* cmd, Common& common) {
  cmd->add_flag("--json", common.json,
                "Print one JSON object on stdout instead of text (errors too, as "
                "{\"error\":{\"code\",\"message\"}})");
}

CLI::App* add_command(CLI::App& parent, const std::string& name, const std::string& text) {
  std::size_t end = text.find(". ");
  const std::size_t nl = text.find('\n');
  if (nl != std::string::npos && (end == std::string::npos || nl < end)) end = nl;
  if (end == std::string::npos) return parent.add_subcommand(name, text);
  const bool period = text[end] == '.';
  auto* cmd = parent.add_subcommand(name, text.substr(0, end + (period ? 1 : 0)));
  std::string rest = text.substr(end + 1);
  while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\n')) rest.erase(0, 1);
  if (!rest.empty()) cmd->footer("\n" + rest);
  return cmd;
}

void print_json(const Json& j) { std::cout << j.dump(2) << std::endl; }

int fail(const Common& common, const Status& st) {
  if (common.json)
    print_json({{"error", {{"code", st.code()}, {"message", st.message()}}}});
  else
    std::cerr << "error: " << st.code() << ": " << st.message() << std::endl;
  switch (client::classify(st)) {
    case client::ErrorClass::kVerifiedFalse:
      return kExitFalse;
    case client::ErrorClass::kBadInput:
      return kExitBadInput;
    case client::ErrorClass::kUnavailable:
      return kExitUnavailable;
  }
  return kExitUnavailable;
}

int usage(const Common& common, const std::string& message) {
  return fail(common, Status::error(std::string(client::kBadArgument), message));
}

void add_key_options(CLI::App* cmd, KeyOptions& key, bool required) {
  auto* opt = cmd->add_option("--key", key.key_path,
                              "Key file of the signing org (made by `emledger keygen`)");
  if (required) opt->required();
  cmd->add_option("--passphrase-file", key.passphrase_file,
                  std::string("File whose first line is the key file's passphrase (otherwise "
                              "the environment variable ") +
                      kPassphraseEnv + " is used; clear key files need none)");
}

Result<std::optional<std::string>> passphrase(const KeyOptions& key) {
  std::string pass;
  if (!key.passphrase_file.empty()) {
    std::ifstream in(key.passphrase_file);
    if (!in) return Status::error("IO_ERROR", "cannot read passphrase file " + key.passphrase_file);
    std::getline(in, pass);
    if (!pass.empty() && pass.back() == '\r') pass.pop_back();
  } else if (const char* env = std::getenv(kPassphraseEnv)) {
    pass = env;
  } else {
    return std::optional<std::string>();
  }
  if (pass.empty())
    return Status::error(std::string(client::kBadArgument), "the passphrase is empty");
  return std::optional<std::string>(std::move(pass));
}

Result<crypto::KeyPair> load_key(const KeyOptions& key) {
  std::optional<std::string> pass;
  if (crypto::key_file_is_encrypted(key.key_path)) {
    auto p = passphrase(key);
    if (!p) return p.status();
    if (!p->has_value())
      return Status::error(std::string(client::kBadArgument),
                           "key file " + key.key_path + " is encrypted: set " + kPassphraseEnv +
                               " or pass --passphrase-file");
    pass = std::move(*p);
  }
  return crypto::read_key_file(key.key_path, pass);
}

Result<ledger::Genesis> load_trust(const std::string& path) {
  return ledger::load_genesis_file(path);
}

Result<Hash> parse_hash(const std::string& what, const std::string& text) {
  auto h = hash_from_hex(text);
  if (!h)
    return Status::error(std::string(client::kBadArgument),
                         what + " must be 64 hex digits, got '" + text + "'");
  return *h;
}

std::string time_or_dash(std::uint64_t ms) {
  return ms == 0 ? std::string("-") : client::format_time_ms(ms);
}

void print_record(std::ostream& out, const ledger::Record& r, const std::string& indent) {
  out << indent << "record      " << to_hex(r.id) << "\n"
      << indent << "kind        " << ledger::record_kind_name(r.body.kind) << ", type "
      << r.body.type_code << ", version " << r.version << "\n"
      << indent << "issuer      " << r.issuer << " (anchored at height " << r.anchor_height
      << " by tx " << to_hex(r.anchor_tx) << ")\n"
      << indent << "holder ref  " << to_hex(r.body.holder_ref) << "\n"
      << indent << "file        sha256 " << to_hex(r.body.content_hash) << ", " << r.body.size_bytes
      << " bytes, " << r.body.media_type << "\n";
  if (!r.body.locator.empty()) out << indent << "locator     " << r.body.locator << "\n";
  out << indent << "issued      " << time_or_dash(r.body.issued_at_ms) << "\n"
      << indent << "valid       from " << time_or_dash(r.body.valid_from_ms) << " until "
      << time_or_dash(r.body.valid_until_ms) << "\n"
      << indent << "status      " << ledger::record_status_name(r.status);
  if (r.status == static_cast<std::uint8_t>(ledger::RecordStatus::kRevoked))
    out << " (reason " << r.revoke_reason << ")";
  if (!is_zero(r.superseded_by)) out << ", superseded by " << to_hex(r.superseded_by);
  if (!is_zero(r.supersedes)) out << ", supersedes " << to_hex(r.supersedes);
  out << " (updated at height " << r.updated_height << ")\n";
  if (r.objections_open > 0)
    out << indent << "objections  UNDER OBJECTION (" << r.objections_open
        << " open; the issuer has not resolved them)\n";
}

client::ChainProgress stderr_progress(const std::string& label) {
  if (!::isatty(STDERR_FILENO)) return {};
  return [label](std::uint64_t height, std::uint64_t head) {
    // Redraw at most ~100 times over the walk, and at the end.
    const std::uint64_t step = head / 100 + 1;
    if (height % step != 0 && height != head) return;
    constexpr int kBarWidth = 30;
    const int filled = head == 0 ? kBarWidth : static_cast<int>(height * kBarWidth / head);
    std::fprintf(stderr, "\r%s [%s%s] %llu/%llu", label.c_str(), std::string(filled, '#').c_str(),
                 std::string(kBarWidth - filled, '.').c_str(),
                 static_cast<unsigned long long>(height), static_cast<unsigned long long>(head));
    if (height == head) std::fputc('\n', stderr);
    std::fflush(stderr);
  };
}

}  // namespace emledger::cli
