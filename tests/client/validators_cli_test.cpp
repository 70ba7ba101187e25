// `emledger validators show | approve | submit` against a live node, then
// `emledger chain verify` and `emledger verify` across the change the CLI
// made: the operator's whole round trip of docs/cli.md "Operators: changing
// the validator set", with the real binary.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "emledger/client/sdk.hpp"
#include "emledger/crypto/hex.hpp"
#include "emledger/crypto/keyfile.hpp"
#include "emledger/ledger/json.hpp"
#include "live_node.hpp"

using namespace emledger;
using namespace emledger::ledger;
using emledger::client_test::LiveNode;
using emledger::client_test::TempDir;
using emledger::client_test::TestKeys;

namespace {

struct CliRun {
  int exit_code = -1;
  std::string out;  // stdout and stderr together
  Json json() const {
    Json j = Json::parse(out, nullptr, false);
    REQUIRE_MESSAGE(!j.is_discarded(), "not JSON: " << out);
    return j;
  }
};

// Runs the emledger binary with `args` (no shell quoting needed: test paths
// and URLs hold no spaces or quotes).
CliRun emledger_cli(const std::vector<std::string>& args, bool with_stderr = false) {
  std::string cmd = EMLEDGER_CLI_BIN;
  for (const auto& a : args) {
    REQUIRE(a.find_first_of(" '\"\\$`") == std::string::npos);
    cmd += " " + a;
  }
  cmd += with_stderr ? " 2>&1" : " 2>/dev/null";
  CliRun r;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

constexpr std::uint64_t kStartTimeMs = TestKeys::kGenesisTimeMs + 1000;

}  // namespace

TEST_CASE("validators cli: show, approve, submit; then the audit and a bundle across the change") {
  TestKeys keys;
  const Genesis genesis = keys.make_genesis();
  LiveNode node(genesis, keys.validator, kStartTimeMs);
  TempDir dir;
  const std::string trust = dir.write("genesis.json", to_json(genesis).dump(2));
  const std::string vkey = dir.file("validator.key");
  const std::string okey = dir.file("issuer.key");
  REQUIRE(crypto::write_key_file(vkey, keys.validator, std::nullopt).is_ok());
  REQUIRE(crypto::write_key_file(okey, keys.issuer, std::nullopt).is_ok());
  const std::string url = node.url();

  // A file anchored before the change, so there is a block to walk.
  const std::string before = dir.write("before.pdf", "issued before the change");
  auto reg = emledger_cli({"register", before, "--type", "biz.license", "--holder-ref",
                           std::string(64, 'a'), "--node", url, "--key", okey, "--json"});
  REQUIRE_MESSAGE(reg.exit_code == 0, reg.out);

  auto show = emledger_cli({"validators", "show", "--node", url, "--trust", trust, "--json"});
  REQUIRE_MESSAGE(show.exit_code == 0, show.out);
  CHECK(show.json()["epoch"] == 0);
  CHECK(show.json()["validators"].size() == 1);

  // The proposal: the same validator at a new peer address.
  const Json proposal = {{"validators",
                          {{{"org_id", "v.node"},
                            {"public_key", to_hex(ByteView(keys.validator.public_key()))},
                            {"address", "127.0.0.1:2"}}}}};
  const std::string prop = dir.write("proposal.json", proposal.dump(2));

  // Nothing approved yet: submit refuses before sending anything.
  auto early = emledger_cli(
      {"validators", "submit", prop, "--node", url, "--key", okey, "--trust", trust, "--json"});
  CHECK(early.exit_code == 2);
  CHECK(early.json()["error"]["code"] == "VALIDATORS_NO_QUORUM");
  // Only a validator of the epoch in force may approve.
  auto stranger = emledger_cli(
      {"validators", "approve", prop, "--node", url, "--trust", trust, "--key", okey, "--json"});
  CHECK(stranger.exit_code == 2);
  CHECK(stranger.json()["error"]["code"] == "NOT_A_VALIDATOR");

  // In text, without --out: the approval is printed and the file left alone.
  auto printed =
      emledger_cli({"validators", "approve", prop, "--node", url, "--trust", trust, "--key", vkey});
  REQUIRE_MESSAGE(printed.exit_code == 0, printed.out);
  CHECK(printed.out.find("approval    {") != std::string::npos);
  CHECK(printed.out.find("1 of the 1 needed") != std::string::npos);
  {
    std::ifstream in(prop);
    CHECK_FALSE(Json::parse(in).contains("approvals"));
  }

  auto approve = emledger_cli({"validators", "approve", prop, "--node", url, "--trust", trust,
                               "--key", vkey, "--out", prop, "--json"});
  REQUIRE_MESSAGE(approve.exit_code == 0, approve.out);
  CHECK(approve.json()["approvals"] == 1);
  CHECK(approve.json()["quorum"] == 1);
  {
    std::ifstream in(prop);
    const Json written = Json::parse(in);
    CHECK(written["epoch"] == 0);
    CHECK(written["chain_id"] == genesis.chain_id);
    REQUIRE(written["approvals"].size() == 1);
    CHECK(written["approvals"][0]["validator"] == 0);
  }

  auto submit = emledger_cli(
      {"validators", "submit", prop, "--node", url, "--key", okey, "--trust", trust, "--json"});
  REQUIRE_MESSAGE(submit.exit_code == 0, submit.out);
  const Json s = submit.json();
  CHECK(s["status"] == "committed");
  CHECK(s["epoch"] == 1);
  const std::uint64_t change_height = s["height"].get<std::uint64_t>();

  show = emledger_cli({"validators", "show", "--node", url, "--trust", trust, "--json"});
  REQUIRE_MESSAGE(show.exit_code == 0, show.out);
  CHECK(show.json()["epoch"] == 1);
  CHECK(show.json()["since_height"] == change_height + 1);
  CHECK(show.json()["changes"] == 1);
  CHECK(show.json()["validators"][0]["address"] == "127.0.0.1:2");

  auto text = emledger_cli({"validators", "show", "--node", url, "--trust", trust});
  REQUIRE_MESSAGE(text.exit_code == 0, text.out);
  CHECK(text.out.find("epoch       1 (judges heights from " + std::to_string(change_height + 1)) !=
        std::string::npos);
  CHECK(text.out.find("127.0.0.1:2") != std::string::npos);

  // The approvals are single-use: the epoch moved on.
  auto again = emledger_cli(
      {"validators", "submit", prop, "--node", url, "--key", okey, "--trust", trust, "--json"});
  CHECK(again.exit_code == 2);
  CHECK(again.json()["error"]["code"] == "VALIDATORS_EPOCH_MISMATCH");

  // A block of epoch 1, then the whole audit across the change.
  const std::string after = dir.write("after.pdf", "issued after the change");
  reg = emledger_cli({"register", after, "--type", "biz.license", "--holder-ref",
                      std::string(64, 'b'), "--node", url, "--key", okey, "--json"});
  REQUIRE_MESSAGE(reg.exit_code == 0, reg.out);
  CHECK(reg.json()["height"].get<std::uint64_t>() > change_height);

  auto audit = emledger_cli({"chain", "verify", "--node", url, "--trust", trust, "--json"});
  REQUIRE_MESSAGE(audit.exit_code == 0, audit.out);
  CHECK(audit.json()["valid"] == true);
  CHECK(audit.json()["epoch"] == 1);
  CHECK(audit.json()["validator_changes"] == 1);

  // Online and offline verification of the file anchored in epoch 1.
  auto online = emledger_cli({"verify", after, "--node", url, "--trust", trust, "--json"});
  CHECK_MESSAGE(online.exit_code == 0, online.out);
  const std::string bundle = dir.file("after.bundle");
  auto proof =
      emledger_cli({"proof", after, "--node", url, "--trust", trust, "--out", bundle, "--json"});
  REQUIRE_MESSAGE(proof.exit_code == 0, proof.out);
  auto offline = emledger_cli({"verify", after, "--bundle", bundle, "--trust", trust, "--json"});
  CHECK_MESSAGE(offline.exit_code == 0, offline.out);
  CHECK(offline.json()["valid"] == true);
  // The pre-change file too (its bundle is as of the head, in epoch 1).
  auto old = emledger_cli({"verify", before, "--node", url, "--trust", trust, "--json"});
  CHECK_MESSAGE(old.exit_code == 0, old.out);
}
