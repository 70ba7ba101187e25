// Signed checkpoints (docs/formats/checkpoint.md): the C2SP signed-note and
// tlog-checkpoint forms, quorum counting and strict parsing.
#include "emledger/ledger/checkpoint.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "emledger/crypto/hex.hpp"
#include "emledger/ledger/bundle.hpp"
#include "emledger/ledger/ledger.hpp"

using namespace emledger;
using namespace emledger::ledger;

namespace {

constexpr std::string_view kDash = "\xE2\x80\x94";  // U+2014

crypto::KeyPair key_from(std::uint8_t n) {
  crypto::Seed seed{};
  seed.fill(n);
  return crypto::KeyPair::from_seed(seed);
}

// Four validators (f = 1, quorum 3), each its own org.
struct Network {
  std::vector<crypto::KeyPair> keys;
  Genesis genesis;
  Network(std::size_t n = 4) {
    genesis.chain_id = "sh-yrd.licenses";
    for (std::size_t i = 0; i < n; ++i) {
      keys.push_back(key_from(static_cast<std::uint8_t>(0x40 + i)));
      const std::string id = "v" + std::to_string(i) + ".region";
      genesis.orgs.push_back(Org{id, "r", kRoleValidator, {OrgKey{1, keys[i].public_key()}}});
      genesis.validators.push_back(Validator{id, keys[i].public_key(), ""});
    }
  }
  const std::string& name(std::size_t i) const { return genesis.validators[i].org_id; }
  Checkpoint checkpoint() const {
    Checkpoint cp{genesis.chain_id, 1234, {}};
    cp.root.fill(0x5a);
    return cp;
  }
  // The checkpoint signed by the validators in `who`, in that order.
  std::string signed_by(const std::vector<std::size_t>& who) const {
    std::string note = sign_checkpoint(checkpoint(), name(who[0]), keys[who[0]]);
    for (std::size_t k = 1; k < who.size(); ++k)
      note = add_checkpoint_signature(note, name(who[k]), keys[who[k]]);
    return note;
  }
};

std::string code_of(const std::string& note, const Genesis& g) {
  auto r = verify_checkpoint(note, g);
  return r.is_ok() ? "OK" : r.status().code();
}

std::string b64(const Bytes& b) { return to_base64(ByteView(b)); }

std::string url_safe(std::string s) {
  for (auto& c : s) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return s;
}

// The signature line `name` would add over `text` with `key`, for tests that
// need a line over other text than the note's.
std::string line_over(std::string_view text, std::string_view name, const crypto::KeyPair& key) {
  auto id = note_key_id(name, key.public_key());
  auto sig = key.sign(as_bytes(text));
  Bytes blob(id.begin(), id.end());
  blob.insert(blob.end(), sig.begin(), sig.end());
  return std::string(kDash) + " " + std::string(name) + " " + b64(blob) + "\n";
}

}  // namespace

// golang.org/x/mod/sumdb/note documents one Ed25519 example: the signer key
// PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz,
// its verifier key PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW,
// and the note it signs. (The C2SP signed-note spec's own example does not
// publish its key, so it cannot serve as a vector.) Our key id, signature line
// and signing must reproduce it byte for byte.
TEST_CASE("checkpoint: the golang.org/x/mod/sumdb/note example note is reproduced") {
  const Bytes signer = *from_base64("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz");
  const Bytes verifier = *from_base64("ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
  REQUIRE(signer.size() == 33);
  REQUIRE(verifier.size() == 33);
  CHECK(signer[0] == 0x01);  // signature type Ed25519
  CHECK(verifier[0] == 0x01);
  crypto::Seed seed;
  std::copy(signer.begin() + 1, signer.end(), seed.begin());
  PublicKey pk;
  std::copy(verifier.begin() + 1, verifier.end(), pk.begin());
  const auto key = crypto::KeyPair::from_seed(seed);
  REQUIRE(key.public_key() == pk);

  const auto id = note_key_id("PeterNeumann", pk);
  CHECK(to_hex(ByteView(id)) == "c74f20a3");

  const std::string text =
      "If you think cryptography is the answer to your problem,\n"
      "then you don't know what your problem is.\n";
  const std::string want_line =
      "\xE2\x80\x94 PeterNeumann "
      "x08go/ZJkuBS9UG/"
      "SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
  CHECK(line_over(text, "PeterNeumann", key) == want_line);

  // Through the library: cosigning a note over that text adds exactly the
  // published line (the existing line is another, unknown key's).
  const std::string other = std::string(kDash) + " someone.example " + b64(Bytes(8, 1)) + "\n";
  const std::string note = text + "\n" + other;
  CHECK(add_checkpoint_signature(note, "PeterNeumann", key) == note + want_line);

  // And the published signature verifies over the text and nothing else.
  const Bytes blob = *from_base64(want_line.substr(kDash.size() + 14, 92));
  Signature sig;
  std::copy(blob.begin() + 4, blob.end(), sig.begin());
  CHECK(crypto::verify(pk, as_bytes(text), sig));
  CHECK_FALSE(crypto::verify(pk, as_bytes(text + "\n"), sig));
}

TEST_CASE("checkpoint: body and signature line layout") {
  Network net;
  const Checkpoint cp = net.checkpoint();
  const std::string body = checkpoint_body(cp);
  CHECK(body == "sh-yrd.licenses\n1234\n" + to_base64(ByteView(cp.root)) + "\n");
  const std::string note = sign_checkpoint(cp, net.name(0), net.keys[0]);
  CHECK(note == body + "\n" + line_over(body, net.name(0), net.keys[0]));
  CHECK(checkpoint_body(Checkpoint{"c", 0, {}}) ==
        "c\n0\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n");
  CHECK(checkpoint_body(Checkpoint{"c", UINT64_MAX, {}}).find("\n18446744073709551615\n") !=
        std::string::npos);
}

TEST_CASE("checkpoint: a quorum of distinct validators is required") {
  Network net;  // n = 4, quorum 3
  REQUIRE(net.genesis.quorum() == 3);
  auto ok = verify_checkpoint(net.signed_by({0, 1, 2}), net.genesis);
  REQUIRE_MESSAGE(ok.is_ok(), ok.status().to_string());
  CHECK(ok->origin == net.genesis.chain_id);
  CHECK(ok->size == 1234);
  CHECK(ok->root == net.checkpoint().root);
  CHECK(code_of(net.signed_by({3, 1, 0, 2}), net.genesis) == "OK");
  CHECK(code_of(net.signed_by({0, 1}), net.genesis) == "CHECKPOINT_NO_QUORUM");
  CHECK(code_of(net.signed_by({2}), net.genesis) == "CHECKPOINT_NO_QUORUM");

  // The same validator's signature twice counts once.
  const std::string two = net.signed_by({0, 1});
  const std::string text = checkpoint_body(net.checkpoint());
  CHECK(code_of(two + line_over(text, net.name(1), net.keys[1]), net.genesis) ==
        "CHECKPOINT_NO_QUORUM");
  // Cosigning again is a no-op.
  CHECK(add_checkpoint_signature(two, net.name(1), net.keys[1]) == two);

  // With one validator, its signature is the quorum.
  Network solo(1);
  CHECK(code_of(solo.signed_by({0}), solo.genesis) == "OK");
}

TEST_CASE("checkpoint: signatures of unknown keys are ignored") {
  Network net;
  const std::string text = checkpoint_body(net.checkpoint());
  const auto stranger = key_from(0x99);
  const std::string two = net.signed_by({0, 1});
  // An unknown name.
  const std::string with_stranger = two + line_over(text, "witness.example/w1", stranger);
  CHECK(code_of(with_stranger, net.genesis) == "CHECKPOINT_NO_QUORUM");
  CHECK(code_of(add_checkpoint_signature(with_stranger, net.name(2), net.keys[2]), net.genesis) ==
        "OK");
  // A validator's name with another key: another key id, so not the validator.
  CHECK(code_of(two + line_over(text, net.name(2), stranger), net.genesis) ==
        "CHECKPOINT_NO_QUORUM");
  // A signature of another type (longer than Ed25519's) from an unknown key.
  const std::string cosig = std::string(kDash) + " witness.example/w2 " + b64(Bytes(76, 3)) + "\n";
  CHECK(code_of(net.signed_by({0, 1, 2}) + cosig, net.genesis) == "OK");
}

TEST_CASE("checkpoint: a known key's bad signature rejects the note") {
  Network net;
  const std::string text = checkpoint_body(net.checkpoint());
  const std::string three = net.signed_by({0, 1, 2});
  // Validator 3's key id and name, but a signature over other text.
  CHECK(code_of(three + line_over("other text\n", net.name(3), net.keys[3]), net.genesis) ==
        "CHECKPOINT_BAD_SIGNATURE");
  // Tampering with the signed size or root after signing.
  std::string bigger = three;
  bigger.replace(bigger.find("\n1234\n"), 6, "\n1235\n");
  CHECK(code_of(bigger, net.genesis) == "CHECKPOINT_BAD_SIGNATURE");
  Checkpoint other_root = net.checkpoint();
  other_root.root[0] ^= 1;
  std::string swapped = three;
  swapped.replace(0, text.size(), checkpoint_body(other_root));
  CHECK(code_of(swapped, net.genesis) == "CHECKPOINT_BAD_SIGNATURE");
  // A known key whose blob has the wrong signature length.
  auto id = note_key_id(net.name(3), net.keys[3].public_key());
  Bytes short_blob(id.begin(), id.end());
  short_blob.resize(4 + 63, 1);
  CHECK(code_of(three + std::string(kDash) + " " + net.name(3) + " " + b64(short_blob) + "\n",
                net.genesis) == "CHECKPOINT_BAD_SIGNATURE");
}

TEST_CASE("checkpoint: the origin must be the genesis chain id") {
  Network net;
  Checkpoint cp = net.checkpoint();
  cp.origin = "another-chain";
  std::string note = sign_checkpoint(cp, net.name(0), net.keys[0]);
  note = add_checkpoint_signature(note, net.name(1), net.keys[1]);
  note = add_checkpoint_signature(note, net.name(2), net.keys[2]);
  CHECK(code_of(note, net.genesis) == "CHECKPOINT_ORIGIN");
}

TEST_CASE("checkpoint: strict parsing") {
  Network net;
  const std::string good = net.signed_by({0, 1, 2});
  REQUIRE(code_of(good, net.genesis) == "OK");
  const std::string text = checkpoint_body(net.checkpoint());
  const std::string sigs = good.substr(text.size() + 1);
  const std::string root = to_base64(ByteView(net.checkpoint().root));
  // A note whose text is `t`, with good's signature lines (so only the
  // parser can refuse it before the signatures fail).
  auto with_text = [&](const std::string& t) { return t + "\n" + sigs; };
  const std::string origin = net.genesis.chain_id;

  const std::vector<std::pair<std::string, std::string>> bad = {
      {"empty", ""},
      {"missing final newline", good.substr(0, good.size() - 1)},
      {"no blank line", text + sigs},
      {"no signatures", text + "\n"},
      {"blank line after the signatures", good + "\n"},
      {"size with a letter", with_text(origin + "\n12a\n" + root + "\n")},
      {"size with a sign", with_text(origin + "\n+1234\n" + root + "\n")},
      {"negative size", with_text(origin + "\n-1\n" + root + "\n")},
      {"size with a leading zero", with_text(origin + "\n01234\n" + root + "\n")},
      {"size with a space", with_text(origin + "\n 1234\n" + root + "\n")},
      {"empty size", with_text(origin + "\n\n" + root + "\n")},
      {"size over 64 bits", with_text(origin + "\n18446744073709551616\n" + root + "\n")},
      {"hex size", with_text(origin + "\n0x10\n" + root + "\n")},
      {"root not base64", with_text(origin + "\n1234\n" + root.substr(1) + "!\n")},
      {"root unpadded", with_text(origin + "\n1234\n" + root.substr(0, root.size() - 1) + "\n")},
      {"root of 31 bytes", with_text(origin + "\n1234\n" + b64(Bytes(31, 1)) + "\n")},
      {"root of 33 bytes", with_text(origin + "\n1234\n" + b64(Bytes(33, 1)) + "\n")},
      {"root in url-safe base64",
       with_text(origin + "\n1234\n" + url_safe(b64(Bytes(32, 0xfb))) + "\n")},
      {"only two lines", with_text(origin + "\n1234\n")},
      {"extension line", with_text(text + "ext\n")},
      {"empty origin", with_text("\n1234\n" + root + "\n")},
      {"carriage return", with_text(origin + "\r\n1234\n" + root + "\n")},
      {"tab", with_text(origin + "\t\n1234\n" + root + "\n")},
      {"invalid UTF-8", with_text(origin + "\xff\n1234\n" + root + "\n")},
      {"NUL", with_text(std::string(origin) + std::string(1, '\0') + "\n1234\n" + root + "\n")},
      {"ASCII dashes", text + "\n-- " + sigs.substr(kDash.size() + 1)},
      {"hyphen", text + "\n- " + sigs.substr(kDash.size() + 1)},
      {"no space after the dash", text + "\n" + std::string(kDash) + sigs.substr(kDash.size() + 1)},
      {"two spaces after the name", good.substr(0, good.size() - 1) + "\n" + std::string(kDash) +
                                        " " + net.name(3) + "  " + b64(Bytes(68, 1)) + "\n"},
      {"name with a plus", good + std::string(kDash) + " a+b " + b64(Bytes(68, 1)) + "\n"},
      {"name with a no-break space", good + std::string(kDash) +
                                         " a\xC2\xA0"
                                         "b " +
                                         b64(Bytes(68, 1)) + "\n"},
      {"empty name", good + std::string(kDash) + "  " + b64(Bytes(68, 1)) + "\n"},
      {"signature not base64", good + std::string(kDash) + " w.example not*base64\n"},
      {"signature unpadded",
       good + std::string(kDash) + " w.example " + b64(Bytes(68, 1)).substr(0, 90) + "\n"},
      {"signature of only a key id",
       good + std::string(kDash) + " w.example " + b64(Bytes(4, 1)) + "\n"},
      {"signature line without signature", good + std::string(kDash) + " w.example\n"},
      {"trailing space", good.substr(0, good.size() - 1) + " \n"},
  };
  for (const auto& [what, note] : bad) {
    CAPTURE(what);
    CHECK(code_of(note, net.genesis) == "CHECKPOINT_MALFORMED");
  }
  // The largest size parses.
  Checkpoint max_cp = net.checkpoint();
  max_cp.size = UINT64_MAX;
  std::string note = sign_checkpoint(max_cp, net.name(0), net.keys[0]);
  note = add_checkpoint_signature(note, net.name(1), net.keys[1]);
  note = add_checkpoint_signature(note, net.name(2), net.keys[2]);
  auto r = verify_checkpoint(note, net.genesis);
  REQUIRE(r.is_ok());
  CHECK(r->size == UINT64_MAX);
  // Size zero is "0".
  Network solo(1);
  Checkpoint zero{solo.genesis.chain_id, 0, {}};
  auto z = verify_checkpoint(sign_checkpoint(zero, solo.name(0), solo.keys[0]), solo.genesis);
  REQUIRE(z.is_ok());
  CHECK(z->size == 0);
}

TEST_CASE("checkpoint: too many signature lines are refused") {
  Network net;
  std::string note = net.signed_by({0, 1, 2});
  const std::string junk = std::string(kDash) + " w.example " + b64(Bytes(68, 1)) + "\n";
  for (std::size_t i = 0; i < 2 * kValidatorsMax; ++i) note += junk;
  CHECK(code_of(note, net.genesis) == "CHECKPOINT_MALFORMED");
}

// Validators sign checkpoint notes and binary encodings (finalize votes) with
// the same key. No note text can be a canonical encoding, because an
// encoding's first byte is its domain tag's length, and a note may not hold a
// control character other than newline (0x0A). This pins that argument.
TEST_CASE("checkpoint: no canonical encoding can be read as note text") {
  const std::string_view domains[] = {
      Org::kDomain,
      Genesis::kDomain,
      Record::kDomain,
      RecordIdList::kDomain,
      RegisterRecord::kDomain,
      ChangeLicense::kDomain,
      RenewLicense::kDomain,
      RevokeRecord::kDomain,
      SignedBodyView::kDomain,
      Tx::kDomain,
      BlockHeader::kDomain,
      Block::kDomain,
      FinalizeVote::kDomain,
      Certificate::kDomain,
      InclusionProof::kDomain,
      ConsistencyProof::kDomain,
      StateProof::kDomain,
      ProofBundle::kDomain,
      ChainHead::kDomain,
      TxEntry::kDomain,
  };
  for (auto d : domains) {
    CAPTURE(d);
    CHECK(d.size() < 0x20);
    CHECK(d.size() != 0x0A);
  }
}
