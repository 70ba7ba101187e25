// The acceptance flow of issue 2 with real processes: a node on a free
// loopback port, the emledger CLI for every step.
#include "e2e_support.hpp"

using namespace emledger;
using namespace emledger::e2e;

namespace {
const std::string kHolderRef(64, 'a');
}

TEST_CASE("e2e: register, verify, tamper, revoke, offline bundles, restart") {
  Scratch s("flow");
  testing::NodeProcess node(EMLEDGER_NODE_BIN, s.path("node"));
  const std::vector<std::string> node_args{"--dev", "--data", s.path("node"), "--listen",
                                           "127.0.0.1:0"};
  REQUIRE_MESSAGE(node.start(node_args), node.log());
  const std::string url = node.url();
  const std::string trust = s.path("node/genesis.json");
  const std::string key = s.path("node/keys/dev.issuer.key");
  const std::string content = "%PDF-1.7 business license of a test company\n" + std::string(5000, 'x');
  const std::string file = s.write("license.pdf", content);
  const std::string tampered = s.write("tampered.pdf", flip_byte(content, 1234));

  auto reg = cli(s, {"register", file, "--type", "biz.license", "--holder-ref", kHolderRef,
                     "--node", url, "--key", key, "--kind", "license", "--json"});
  REQUIRE_MESSAGE(reg.exit_code == 0, reg.out);
  Json rj = Json::parse(reg.out, nullptr, false);
  REQUIRE_MESSAGE(rj.is_object(), reg.out);
  const std::string record_id = rj.at("record_id").get<std::string>();
  CHECK(record_id.size() == 64);

  auto ok = cli(s, {"verify", file, "--node", url, "--trust", trust});
  CHECK_MESSAGE(ok.exit_code == 0, ok.out);
  auto bad = cli(s, {"verify", tampered, "--node", url, "--trust", trust});
  CHECK_MESSAGE(bad.exit_code == 1, bad.out);

  auto p1 = cli(s, {"proof", file, "--node", url, "--trust", trust, "--out", s.path("valid.bundle")});
  REQUIRE_MESSAGE(p1.exit_code == 0, p1.out);

  auto rev = cli(s, {"revoke", record_id, "--reason", "7", "--node", url, "--key", key});
  REQUIRE_MESSAGE(rev.exit_code == 0, rev.out);
  auto after = cli(s, {"verify", file, "--node", url, "--trust", trust, "--json"});
  CHECK_MESSAGE(after.exit_code == 1, after.out);
  Json aj = Json::parse(after.out, nullptr, false);
  REQUIRE_MESSAGE(aj.is_object(), after.out);
  CHECK(aj.at("verdict") == "revoked");
  auto human = cli(s, {"verify", file, "--node", url, "--trust", trust});
  CHECK(human.exit_code == 1);
  CHECK_MESSAGE(human.out.find("REVOKED") != std::string::npos, human.out);

  auto p2 = cli(s, {"proof", file, "--node", url, "--trust", trust, "--out", s.path("revoked.bundle")});
  REQUIRE_MESSAGE(p2.exit_code == 0, p2.out);
  auto absent = cli(s, {"proof", tampered, "--node", url, "--trust", trust, "--out",
                        s.path("absent.bundle")});
  REQUIRE_MESSAGE(absent.exit_code == 0, absent.out);
  const std::uint64_t height = height_of(node);

  // Offline: the same answers with the node stopped.
  node.stop(SIGTERM);
  auto off_valid = cli(s, {"verify", file, "--bundle", s.path("valid.bundle"), "--trust", trust});
  CHECK_MESSAGE(off_valid.exit_code == 0, off_valid.out);
  auto off_revoked = cli(s, {"verify", file, "--bundle", s.path("revoked.bundle"), "--trust", trust});
  CHECK_MESSAGE(off_revoked.exit_code == 1, off_revoked.out);
  CHECK(off_revoked.out.find("REVOKED") != std::string::npos);
  auto off_absent = cli(s, {"verify", tampered, "--bundle", s.path("absent.bundle"), "--trust", trust});
  CHECK_MESSAGE(off_absent.exit_code == 1, off_absent.out);
  auto off_wrong_file = cli(s, {"verify", tampered, "--bundle", s.path("valid.bundle"), "--trust", trust});
  CHECK_MESSAGE(off_wrong_file.exit_code == 1, off_wrong_file.out);
  auto unreachable = cli(s, {"verify", file, "--node", url, "--trust", trust});
  CHECK_MESSAGE(unreachable.exit_code == 3, unreachable.out);

  // A tampered bundle file is refused, whichever part is touched.
  const std::string bundle = testing::read_file(s.path("valid.bundle"));
  for (std::size_t pos : {std::size_t{20}, bundle.size() / 3, bundle.size() / 2, bundle.size() - 70}) {
    s.write("tampered.bundle", flip_byte(bundle, pos));
    auto t = cli(s, {"verify", file, "--bundle", s.path("tampered.bundle"), "--trust", trust});
    INFO("flipped byte " << pos << ": " << t.out);
    CHECK((t.exit_code == 1 || t.exit_code == 2));
  }
  s.write("junk.bundle", "not a bundle");
  CHECK(cli(s, {"verify", file, "--bundle", s.path("junk.bundle"), "--trust", trust}).exit_code == 2);

  // Restart: the data is intact and the chain verifies from genesis.
  REQUIRE_MESSAGE(node.start(node_args), node.log());
  CHECK(height_of(node) == height);
  auto chain = cli(s, {"chain", "verify", "--node", node.url(), "--trust", trust});
  CHECK_MESSAGE(chain.exit_code == 0, chain.out);
  auto still = cli(s, {"verify", file, "--node", node.url(), "--trust", trust});
  CHECK_MESSAGE(still.exit_code == 1, still.out);
}
