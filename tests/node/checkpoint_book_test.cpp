// CheckpointBook: which checkpoint signatures count, when a note is quorate,
// the bounded set held ahead of the head, and the persisted note.
#include "checkpoint_book.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>

#include "api.hpp"
#include "block_fetch.hpp"
#include "emledger/crypto/sha256.hpp"

using namespace emledger;
using namespace emledger::node;

namespace {

constexpr const char* kNotePath = "/data/consensus/checkpoint.note";

// Our log, as far as the book sees it: a root per size.
Hash root_of(std::uint64_t size) {
  return crypto::sha256(as_bytes("root-" + std::to_string(size)));
}

struct Fixture {
  ledger::Genesis genesis;
  std::vector<crypto::KeyPair> keys;
  crypto::KeyPair outsider = crypto::KeyPair::generate();
  consensus::SimFsEnv fs;

  explicit Fixture(std::size_t n) {
    genesis.chain_id = "book-test";
    genesis.time_ms = 1'700'000'000'000;
    for (std::size_t i = 0; i < n; ++i) {
      keys.push_back(crypto::KeyPair::generate());
      ledger::Org v;
      v.id = "v" + std::to_string(i);
      v.region = "t";
      v.roles = ledger::kRoleValidator;
      v.keys.push_back(ledger::OrgKey{1, keys.back().public_key()});
      genesis.orgs.push_back(v);
      genesis.validators.push_back(ledger::Validator{v.id, keys.back().public_key(),
                                                     "127.0.0.1:" + std::to_string(9000 + i)});
    }
    REQUIRE(genesis.check().is_ok());
  }

  std::unique_ptr<CheckpointBook> open(std::uint64_t head) {
    auto b = CheckpointBook::open(fs, genesis, kNotePath, head, root_of(head),
                                  [](std::uint64_t size) { return Result<Hash>(root_of(size)); });
    REQUIRE_MESSAGE(b.is_ok(), b.status().to_string());
    return std::move(*b);
  }

  CheckpointSignature sig(std::size_t signer, std::uint64_t size, const Hash& root,
                          const crypto::KeyPair* key = nullptr) const {
    const std::string text =
        ledger::checkpoint_body(ledger::Checkpoint{genesis.chain_id, size, root});
    const crypto::KeyPair& k = key ? *key : keys.at(signer);
    return CheckpointSignature{size, root, static_cast<std::uint16_t>(signer),
                               k.sign(as_bytes(text)), false};
  }
  CheckpointSignature sig(std::size_t signer, std::uint64_t size) const {
    return sig(signer, size, root_of(size));
  }
};

std::size_t signature_lines(const std::string& note) {
  std::size_t lines = 0;
  for (std::size_t at = note.find("\xE2\x80\x94 "); at != std::string::npos;
       at = note.find("\xE2\x80\x94 ", at + 1))
    ++lines;
  return lines;
}

}  // namespace

TEST_CASE("checkpoint book: a note is quorate at exactly q distinct validators") {
  Fixture f(4);  // q = 3
  REQUIRE(f.genesis.quorum() == 3);
  auto book = f.open(10);
  CHECK(!book->note());
  CHECK(book->add(f.sig(0, 10)) == CosignOutcome::kAdded);
  CHECK(book->add(f.sig(1, 10)) == CosignOutcome::kAdded);
  CHECK(!book->note());
  // The same signer again, also through a second valid signature line of it.
  CHECK(book->add(f.sig(1, 10)) == CosignOutcome::kDuplicate);
  CHECK(book->add(f.sig(0, 10)) == CosignOutcome::kDuplicate);
  CHECK(!book->note());
  CHECK(!book->quorate_size());
  CHECK(book->add(f.sig(3, 10)) == CosignOutcome::kAdded);
  auto note = book->note();
  REQUIRE(note);
  CHECK(book->quorate_size() == 10u);
  CHECK(signature_lines(*note) == 3);
  auto cp = ledger::verify_checkpoint(*note, f.genesis);
  REQUIRE_MESSAGE(cp.is_ok(), cp.status().to_string());
  CHECK(cp->size == 10);
  CHECK(cp->root == root_of(10));
  // The fourth joins the note; the lines are in genesis order, and v0's is
  // byte for byte the line sign_checkpoint writes.
  CHECK(book->add(f.sig(2, 10)) == CosignOutcome::kAdded);
  note = book->note();
  CHECK(signature_lines(*note) == 4);
  const std::string own = ledger::sign_checkpoint(
      ledger::Checkpoint{f.genesis.chain_id, 10, root_of(10)}, "v0", f.keys[0]);
  CHECK(note->substr(0, own.size()) == own);
  CHECK(note->find("v0 ") < note->find("v1 "));
  CHECK(note->find("v2 ") < note->find("v3 "));
}

TEST_CASE("checkpoint book: one validator is its own quorum") {
  Fixture f(1);
  auto book = f.open(3);
  CHECK(book->add(f.sig(0, 3)) == CosignOutcome::kAdded);
  REQUIRE(book->note());
  CHECK(ledger::verify_checkpoint(*book->note(), f.genesis).is_ok());
}

TEST_CASE("checkpoint book: refuses unknown signers, wrong keys, bad signatures and other roots") {
  Fixture f(4);
  auto book = f.open(10);
  // Not a validator index.
  CHECK(book->add(f.sig(4, 10, root_of(10), &f.keys[0])) == CosignOutcome::kUnknownSigner);
  // Claims to be validator 0, signed with validator 1's key, or an outsider's.
  CHECK(book->add(f.sig(0, 10, root_of(10), &f.keys[1])) == CosignOutcome::kBadSignature);
  CHECK(book->add(f.sig(2, 10, root_of(10), &f.outsider)) == CosignOutcome::kBadSignature);
  // A flipped bit in the signature, and in the size it claims to sign.
  auto flipped = f.sig(0, 10);
  flipped.signature[7] ^= 0x01;
  CHECK(book->add(flipped) == CosignOutcome::kBadSignature);
  auto moved = f.sig(0, 10);
  moved.size = 9;
  CHECK(book->add(moved) == CosignOutcome::kBadSignature);
  // A valid signature of another history: at the head and below it.
  const Hash other = crypto::sha256(as_bytes("another history"));
  CHECK(book->add(f.sig(1, 10, other)) == CosignOutcome::kConflict);
  CHECK(book->add(f.sig(2, 7, other)) == CosignOutcome::kConflict);
  // None of those counted: two valid signatures are still no quorum.
  CHECK(book->add(f.sig(0, 10)) == CosignOutcome::kAdded);
  CHECK(book->add(f.sig(1, 10)) == CosignOutcome::kAdded);
  CHECK(!book->note());
  CHECK(book->add(f.sig(2, 10)) == CosignOutcome::kAdded);
  CHECK(book->note());
}

TEST_CASE(
    "checkpoint book: signatures ahead of the head are held, bounded, and counted on arrival") {
  Fixture f(4);
  auto book = f.open(10);
  // Validator 1 runs ahead by many sizes: only its newest few are held.
  for (std::uint64_t size = 11; size <= 20; ++size)
    CHECK(book->add(f.sig(1, size)) == CosignOutcome::kPending);
  CHECK(!book->signature_of(1, 19));  // held, not counted
  CHECK(book->advance(19, root_of(19)).empty());
  for (std::uint64_t size = 11; size <= 19; ++size) {
    const bool kept = size > 20 - kCheckpointPendingPerSignerMax;
    CHECK_MESSAGE(book->signature_of(1, size).has_value() == kept, "size " << size);
  }
  CHECK(!book->signature_of(1, 20));  // still ahead
  CHECK(book->add(f.sig(2, 20)) == CosignOutcome::kPending);
  CHECK(book->add(f.sig(3, 20)) == CosignOutcome::kPending);
  CHECK(!book->note());
  // A signer's wrong root ahead of us is caught once we get there.
  const Hash other = crypto::sha256(as_bytes("fork"));
  CHECK(book->add(f.sig(2, 22, other)) == CosignOutcome::kPending);

  CHECK(book->advance(20, root_of(20)).empty());
  // 1, 2 and 3 signed 20 before we had it: a quorum once we do.
  REQUIRE(book->note());
  CHECK(book->quorate_size() == 20u);
  CHECK(ledger::verify_checkpoint(*book->note(), f.genesis).is_ok());
  // Everything older than the quorate note is of no use now.
  CHECK(!book->signature_of(1, 19));
  CHECK(book->add(f.sig(0, 15)) == CosignOutcome::kStale);

  auto conflicts = book->advance(22, root_of(22));
  REQUIRE(conflicts.size() == 1);
  CHECK(conflicts[0].signer == 2);
  CHECK(conflicts[0].size == 22);
  CHECK(!book->signature_of(2, 22));
}

TEST_CASE("checkpoint book: the sizes collected at once are bounded, the newest kept") {
  Fixture f(4);
  const std::uint64_t head = 1000;
  auto book = f.open(head);
  for (std::uint64_t size = 1; size <= kCheckpointSizesMax + 10; ++size)
    CHECK(book->add(f.sig(0, size)) == CosignOutcome::kAdded);
  CHECK(!book->signature_of(0, 10));
  CHECK(book->signature_of(0, kCheckpointSizesMax + 10));
  // Older than everything held and no room: not taken.
  CHECK(book->add(f.sig(1, 5)) == CosignOutcome::kDropped);
  // A quorum on the newest still forms.
  CHECK(book->add(f.sig(1, kCheckpointSizesMax + 10)) == CosignOutcome::kAdded);
  CHECK(book->add(f.sig(2, kCheckpointSizesMax + 10)) == CosignOutcome::kAdded);
  CHECK(book->quorate_size() == kCheckpointSizesMax + 10);
}

TEST_CASE("checkpoint book: the quorate note survives a restart, only once persisted") {
  Fixture f(4);
  std::string served;
  {
    auto book = f.open(10);
    for (std::size_t i = 0; i < 3; ++i) CHECK(book->add(f.sig(i, 10)) == CosignOutcome::kAdded);
    REQUIRE(book->note());
    served = *book->note();
    CHECK(book->dirty());
    f.fs.crash();  // before persist(): nothing on disk
    CHECK(!f.open(10)->note());
    const auto syncs = f.fs.syncs();
    REQUIRE(book->persist().is_ok());
    CHECK(f.fs.syncs() >= syncs + 2);  // the file and its directory
    CHECK(!book->dirty());
  }
  f.fs.crash();
  {
    auto book = f.open(12);  // the log grew meanwhile
    REQUIRE(book->note());
    CHECK(*book->note() == served);
    CHECK(book->quorate_size() == 10u);
    CHECK(!book->dirty());
    // A later signature of that size joins the reloaded note.
    CHECK(book->signature_of(2, 10));
    CHECK(book->add(f.sig(3, 10)) == CosignOutcome::kAdded);
    CHECK(signature_lines(*book->note()) == 4);
    CHECK(book->add(f.sig(1, 9)) == CosignOutcome::kStale);
    REQUIRE(book->persist().is_ok());
  }
  f.fs.crash();
  CHECK(signature_lines(*f.open(12)->note()) == 4);
  // A log that does not hold the note (it is beyond our head here) does not
  // serve it.
  CHECK(!f.open(9)->note());
}

TEST_CASE("checkpoint book: a damaged or foreign persisted note is ignored, not fatal") {
  Fixture f(4);
  {
    auto book = f.open(10);
    for (std::size_t i = 0; i < 3; ++i) CHECK(book->add(f.sig(i, 10)) == CosignOutcome::kAdded);
    REQUIRE(book->persist().is_ok());
  }
  // One flipped byte in a signature: the note no longer verifies.
  auto bytes = f.fs.read_all(kNotePath, kCheckpointNoteBytesMax);
  REQUIRE(bytes.is_ok());
  REQUIRE(f.fs.flip_byte(kNotePath, bytes->size() - 10, 0x01).is_ok());
  CHECK(!f.open(10)->note());

  // A quorate note of another network.
  Fixture other(4);
  auto foreign = other.open(10);
  for (std::size_t i = 0; i < 3; ++i)
    CHECK(foreign->add(other.sig(i, 10)) == CosignOutcome::kAdded);
  REQUIRE(f.fs.remove(kNotePath).is_ok());
  auto file = f.fs.create(kNotePath);
  REQUIRE(file.is_ok());
  REQUIRE((*file)->append(as_bytes(*foreign->note())).is_ok());
  REQUIRE((*file)->sync().is_ok());
  auto book = f.open(10);
  CHECK(!book->note());
  // And the book works as ever.
  for (std::size_t i = 0; i < 3; ++i) CHECK(book->add(f.sig(i, 10)) == CosignOutcome::kAdded);
  CHECK(book->note());
}

TEST_CASE("checkpoint book: the peer message round-trips in its canonical encoding") {
  Fixture f(4);
  CheckpointSignature s = f.sig(3, 1234);
  s.reply_wanted = true;
  const Bytes bytes = ledger::encode(s);
  // Domain tag (length byte, 28 bytes), version, u64, 32, u16, 64, u8.
  CHECK(bytes.size() == 1 + 28 + 1 + 8 + 32 + 2 + 64 + 1);
  CHECK(leading_domain(bytes) == CheckpointSignature::kDomain);
  auto back = ledger::decode<CheckpointSignature>(bytes);
  REQUIRE(back.is_ok());
  CHECK(ledger::encode(*back) == bytes);
  CHECK(back->size == 1234);
  CHECK(back->signer == 3);
  CHECK(back->reply_wanted);
  Bytes longer = bytes;
  longer.push_back(0);
  CHECK(!ledger::decode<CheckpointSignature>(longer).is_ok());
  // The flag is a canonical boolean: 2 is refused.
  Bytes flag = bytes;
  flag.back() = 2;
  CHECK(!ledger::decode<CheckpointSignature>(flag).is_ok());
}

TEST_CASE(
    "GET /v1/checkpoint of a validator of several: 503 CHECKPOINT_PENDING, then the quorate note") {
  Fixture f(4);
  const std::string dir =
      std::filesystem::temp_directory_path() / ("emledger-book-api-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto store = ledger::open_leveldb(dir);
  REQUIRE(store.is_ok());
  auto l = ledger::Ledger::open(std::move(*store), f.genesis);
  REQUIRE(l.is_ok());
  const ledger::ChainHead head = (*l)->head();
  auto book = CheckpointBook::open(f.fs, f.genesis, kNotePath, head.log_size, head.log_root,
                                   [](std::uint64_t) { return Result<Hash>(Hash{}); });
  REQUIRE(book.is_ok());
  Mempool mempool;
  ApiContext ctx;
  ctx.ledger = l->get();
  ctx.mempool = &mempool;
  ctx.validator_key = &f.keys[0];
  ctx.validator_org = "v0";
  ctx.checkpoints = book->get();
  Api api(std::move(ctx));
  auto get = [&api] {
    HttpRequest req;
    req.method = "GET";
    req.path = req.target = "/v1/checkpoint";
    HttpResponse out;
    api.handle(req, [&out](HttpResponse r) { out = std::move(r); });
    return out;
  };
  // The serving validator's own signature alone is no checkpoint here.
  CHECK((*book)->add(f.sig(0, head.log_size, head.log_root)) == CosignOutcome::kAdded);
  HttpResponse r = get();
  CHECK(r.status == 503);
  CHECK(r.body.find("\"CHECKPOINT_PENDING\"") != std::string::npos);
  for (std::size_t i = 1; i < 3; ++i)
    CHECK((*book)->add(f.sig(i, head.log_size, head.log_root)) == CosignOutcome::kAdded);
  r = get();
  CHECK(r.status == 200);
  CHECK(r.body == *(*book)->note());
  CHECK(ledger::verify_checkpoint(r.body, f.genesis).is_ok());
  mempool.close();
  l->reset();
  std::filesystem::remove_all(dir);
}

TEST_CASE("checkpoint book: after a change of set only the new set's signatures count") {
  Fixture f(4);  // q = 3
  auto book = f.open(10);
  for (std::size_t i : {0, 1, 2}) CHECK(book->add(f.sig(i, 10)) == CosignOutcome::kAdded);
  const auto old_note = book->note();
  REQUIRE(old_note);
  // Epoch 1: validator 0 leaves, a new key joins at index 3 (q = 3 of 4).
  ledger::ValidatorSet next;
  next.epoch = 1;
  next.since_height = 8;
  for (std::size_t i : {1, 2, 3}) next.validators.push_back(f.genesis.validators[i]);
  next.validators.push_back(ledger::Validator{"v9", f.outsider.public_key(), "127.0.0.1:9009"});
  book->set_signers(next);
  // The old set's quorate note stays served until the new set forms one.
  CHECK(book->note() == old_note);
  CHECK(book->advance(12, root_of(12)).empty());
  // Indexes are the new set's: index 3 is the new key, and the genesis
  // validator 3's signature under that index no longer verifies.
  CHECK(book->add(f.sig(3, 12)) == CosignOutcome::kBadSignature);
  CHECK(book->add(f.sig(3, 12, root_of(12), &f.outsider)) == CosignOutcome::kAdded);
  CHECK(book->add(f.sig(4, 12, root_of(12), &f.outsider)) == CosignOutcome::kUnknownSigner);
  // Validator 1 of the genesis is index 0 now.
  CHECK(book->add(f.sig(0, 12, root_of(12), &f.keys[1])) == CosignOutcome::kAdded);
  CHECK(book->note() == old_note);
  CHECK(book->add(f.sig(1, 12, root_of(12), &f.keys[2])) == CosignOutcome::kAdded);
  auto note = book->note();
  REQUIRE(note);
  CHECK(book->quorate_size() == 12u);
  ledger::Genesis signers = f.genesis;
  signers.validators = next.validators;
  CHECK(ledger::verify_checkpoint(*note, signers).is_ok());
  CHECK_FALSE(ledger::verify_checkpoint(*note, f.genesis).is_ok());
  CHECK(note->find("v9 ") != std::string::npos);
}
