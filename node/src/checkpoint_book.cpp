#include "checkpoint_book.hpp"

#include <algorithm>
#include <cstdio>

#include "emledger/crypto/hex.hpp"

namespace emledger::node {

namespace {

// U+2014 EM DASH and one space: how every signature line of a note starts.
constexpr std::string_view kSigPrefix = "\xE2\x80\x94 ";
constexpr std::size_t kKeyIdSize = 4;

void log_line(const std::string& line) {
  std::fprintf(stderr, "emledger-node: checkpoints: %s\n", line.c_str());
}

std::string body_of(const std::string& chain_id, std::uint64_t size, const Hash& root) {
  return ledger::checkpoint_body(ledger::Checkpoint{chain_id, size, root});
}

}  // namespace

std::string_view to_string(CosignOutcome o) {
  switch (o) {
    case CosignOutcome::kAdded:
      return "added";
    case CosignOutcome::kDuplicate:
      return "duplicate";
    case CosignOutcome::kPending:
      return "pending";
    case CosignOutcome::kStale:
      return "stale";
    case CosignOutcome::kUnknownSigner:
      return "unknown signer";
    case CosignOutcome::kBadSignature:
      return "bad signature";
    case CosignOutcome::kConflict:
      return "conflict";
    case CosignOutcome::kDropped:
      return "dropped";
  }
  return "?";
}

CheckpointBook::CheckpointBook(consensus::FsEnv& fs, const ledger::Genesis& genesis,
                               const ledger::ValidatorSet& set, std::string path,
                               std::uint64_t head_size, const Hash& head_root, RootAt root_at)
    : fs_(fs),
      chain_id_(genesis.chain_id),
      signers_(set),
      path_(std::move(path)),
      root_at_(std::move(root_at)),
      head_size_(head_size),
      head_root_(head_root) {
  EMLEDGER_ASSERT(!signers_.validators.empty() && root_at_);
}

Result<std::unique_ptr<CheckpointBook>> CheckpointBook::open(
    consensus::FsEnv& fs, const ledger::Genesis& genesis, std::string path, std::uint64_t head_size,
    const Hash& head_root, RootAt root_at) {
  return open(fs, genesis, ledger::genesis_validator_set(genesis), std::move(path), head_size,
              head_root, std::move(root_at));
}

Result<std::unique_ptr<CheckpointBook>> CheckpointBook::open(
    consensus::FsEnv& fs, const ledger::Genesis& genesis, const ledger::ValidatorSet& set,
    std::string path, std::uint64_t head_size, const Hash& head_root, RootAt root_at) {
  std::unique_ptr<CheckpointBook> b(new CheckpointBook(fs, genesis, set, std::move(path), head_size,
                                                       head_root, std::move(root_at)));
  EMLEDGER_TRY(b->load());
  return b;
}

// Signatures held so far name signers by the old set's indexes: dropped. The
// newest quorate note stays served (the old set signed it, which is what a
// verifier of that size asks) until the new set forms a newer one.
void CheckpointBook::set_signers(const ledger::ValidatorSet& set) {
  EMLEDGER_ASSERT(!set.validators.empty());
  signers_ = set;
  sizes_.clear();
  pending_.clear();
}

// The persisted note is trusted no more than a peer's: it must verify as a
// quorate note of the set in force and name our own log. Its lines are then read
// back one by one, so that later signatures of that size join it.
Status CheckpointBook::load() {
  auto exists = fs_.exists(path_);
  if (!exists) return exists.status();
  if (!*exists) return Status::ok();
  auto bytes = fs_.read_all(path_, kCheckpointNoteBytesMax);
  if (!bytes) {
    if (bytes.status().code() != "FILE_TOO_LARGE") return bytes.status();
    log_line("ignoring " + path_ + ": " + bytes.status().to_string());
    return Status::ok();
  }
  const std::string note(bytes->begin(), bytes->end());
  auto cp = ledger::verify_checkpoint(note, chain_id_, signers_);
  if (!cp) {
    log_line("ignoring " + path_ + ": " + cp.status().to_string());
    return Status::ok();
  }
  if (cp->size > head_size_) {
    log_line("ignoring " + path_ + ": size " + std::to_string(cp->size) + " is beyond the log (" +
             std::to_string(head_size_) + ")");
    return Status::ok();
  }
  auto ours = cp->size == head_size_ ? Result<Hash>(head_root_) : root_at_(cp->size);
  if (!ours || *ours != cp->root) {
    log_line("ignoring " + path_ + ": it does not name our log at size " +
             std::to_string(cp->size));
    return Status::ok();
  }
  Entry e;
  e.root = cp->root;
  const std::size_t text_end = note.rfind("\n\n") + 2;  // verify_checkpoint found it
  std::string_view lines = std::string_view(note).substr(text_end);
  while (!lines.empty()) {
    const std::size_t nl = lines.find('\n');
    const std::string_view line = lines.substr(0, nl);
    lines.remove_prefix(nl + 1);
    const std::size_t space = line.rfind(' ');
    if (line.substr(0, kSigPrefix.size()) != kSigPrefix || space == std::string_view::npos ||
        space < kSigPrefix.size())
      continue;
    const std::string_view name = line.substr(kSigPrefix.size(), space - kSigPrefix.size());
    auto blob = from_base64(line.substr(space + 1));
    if (!blob || blob->size() != kKeyIdSize + crypto::kSignatureSize) continue;
    for (std::size_t i = 0; i < signers_.validators.size(); ++i) {
      const ledger::Validator& v = signers_.validators[i];
      const auto id = ledger::note_key_id(v.org_id, v.public_key);
      if (name != v.org_id || !std::equal(id.begin(), id.end(), blob->begin())) continue;
      CheckpointSignature s{cp->size, cp->root, static_cast<std::uint16_t>(i), {}, false};
      std::copy(blob->begin() + kKeyIdSize, blob->end(), s.signature.begin());
      if (verifies(s)) e.sigs.emplace(s.signer, s.signature);
    }
  }
  // verify_checkpoint counted the same lines the same way.
  EMLEDGER_ASSERT(e.sigs.size() >= signers_.quorum());
  sizes_.emplace(cp->size, std::move(e));
  on_quorum(cp->size);
  dirty_ = false;  // it is what the file holds
  return Status::ok();
}

bool CheckpointBook::verifies(const CheckpointSignature& s) const {
  EMLEDGER_ASSERT(s.signer < signers_.validators.size());
  const std::string text = body_of(chain_id_, s.size, s.root);
  return crypto::verify(signers_.validators[s.signer].public_key, as_bytes(text), s.signature);
}

CosignOutcome CheckpointBook::add(const CheckpointSignature& s) {
  if (s.signer >= signers_.validators.size()) return CosignOutcome::kUnknownSigner;
  if (quorate_ && s.size < *quorate_) return CosignOutcome::kStale;
  // A signature we hold already needs no second verification.
  if (auto it = sizes_.find(s.size); it != sizes_.end() && it->second.root == s.root) {
    auto have = it->second.sigs.find(s.signer);
    if (have != it->second.sigs.end() && have->second == s.signature)
      return CosignOutcome::kDuplicate;
  }
  if (!verifies(s)) return CosignOutcome::kBadSignature;
  if (s.size > head_size_) {
    hold(s);
    return CosignOutcome::kPending;
  }
  return count(s);
}

// `s` verifies and is at or below our head: compare it with our log.
CosignOutcome CheckpointBook::count(const CheckpointSignature& s) {
  EMLEDGER_ASSERT(s.size <= head_size_);
  if (quorate_ && s.size < *quorate_) return CosignOutcome::kStale;
  auto it = sizes_.find(s.size);
  if (it == sizes_.end()) {
    auto ours = s.size == head_size_ ? Result<Hash>(head_root_) : root_at_(s.size);
    if (!ours) {
      log_line("cannot read our log root at size " + std::to_string(s.size) + ": " +
               ours.status().to_string());
      return CosignOutcome::kDropped;
    }
    if (*ours != s.root) return CosignOutcome::kConflict;
    if (sizes_.size() >= kCheckpointSizesMax) {
      // Room goes to the newest sizes; the quorate entry always stays.
      auto victim = sizes_.begin();
      if (quorate_ && victim->first == *quorate_) ++victim;
      if (victim == sizes_.end() || victim->first > s.size) return CosignOutcome::kDropped;
      sizes_.erase(victim);
    }
    it = sizes_.emplace(s.size, Entry{*ours, {}}).first;
  }
  Entry& e = it->second;
  if (e.root != s.root) return CosignOutcome::kConflict;
  if (!e.sigs.emplace(s.signer, s.signature).second) return CosignOutcome::kDuplicate;
  if (e.sigs.size() >= signers_.quorum()) on_quorum(s.size);
  return CosignOutcome::kAdded;
}

// Keeps the signer's newest kCheckpointPendingPerSignerMax sizes; a second
// signature of one size by one signer replaces the first (a signer that signs
// two roots of one size is caught when we get there, by the one it kept).
void CheckpointBook::hold(const CheckpointSignature& s) {
  auto& q = pending_[s.signer];
  auto at = std::find_if(q.begin(), q.end(), [&](const auto& p) { return p.size >= s.size; });
  if (at != q.end() && at->size == s.size) {
    *at = s;
    return;
  }
  q.insert(at, s);
  if (q.size() > kCheckpointPendingPerSignerMax) q.pop_front();
}

std::vector<CheckpointSignature> CheckpointBook::advance(std::uint64_t size, const Hash& root) {
  EMLEDGER_ASSERT(size >= head_size_);  // the log only grows
  std::vector<CheckpointSignature> conflicts;
  if (size == head_size_) {
    EMLEDGER_ASSERT(root == head_root_);
    return conflicts;
  }
  head_size_ = size;
  head_root_ = root;
  for (auto& [signer, q] : pending_) {
    while (!q.empty() && q.front().size <= head_size_) {
      const CheckpointSignature s = q.front();
      q.pop_front();
      if (count(s) == CosignOutcome::kConflict) conflicts.push_back(s);
    }
  }
  std::erase_if(pending_, [](const auto& kv) { return kv.second.empty(); });
  return conflicts;
}

// `size` has a quorum. It becomes (or stays) the newest quorate note; the
// entries below it can never be served, so they go.
void CheckpointBook::on_quorum(std::uint64_t size) {
  if (quorate_ && size < *quorate_) return;
  const auto it = sizes_.find(size);
  EMLEDGER_ASSERT(it != sizes_.end() && it->second.sigs.size() >= signers_.quorum());
  std::string note = note_of(size, it->second);
  sizes_.erase(sizes_.begin(), it);
  std::lock_guard lock(mu_);
  quorate_ = size;
  note_ = std::move(note);
  dirty_ = true;
}

// The signed note of `size`: the body, a blank line, one line per signer in
// index order of the set (docs/formats/checkpoint.md, "Layout").
std::string CheckpointBook::note_of(std::uint64_t size, const Entry& e) const {
  std::string note = body_of(chain_id_, size, e.root);
  note += "\n";
  for (const auto& [signer, sig] : e.sigs) {
    const ledger::Validator& v = signers_.validators[signer];
    const auto id = ledger::note_key_id(v.org_id, v.public_key);
    Bytes blob(id.begin(), id.end());
    blob.insert(blob.end(), sig.begin(), sig.end());
    note.append(kSigPrefix).append(v.org_id).append(" ");
    note.append(to_base64(ByteView(blob))).append("\n");
  }
  // Every line was verified before it was counted; the kernel must agree.
  EMLEDGER_ASSERT(ledger::verify_checkpoint(note, chain_id_, signers_).is_ok());
  return note;
}

std::optional<CheckpointSignature> CheckpointBook::signature_of(std::uint16_t signer,
                                                                std::uint64_t size) const {
  auto it = sizes_.find(size);
  if (it == sizes_.end()) return std::nullopt;
  auto s = it->second.sigs.find(signer);
  if (s == it->second.sigs.end()) return std::nullopt;
  return CheckpointSignature{size, it->second.root, signer, s->second, false};
}

std::optional<std::string> CheckpointBook::note() const {
  std::lock_guard lock(mu_);
  if (!quorate_) return std::nullopt;
  return note_;
}

std::optional<std::uint64_t> CheckpointBook::quorate_size() const {
  std::lock_guard lock(mu_);
  return quorate_;
}

Status CheckpointBook::persist() {
  if (!dirty_) return Status::ok();
  const std::string note = *this->note();  // dirty: there is one
  const std::string tmp = path_ + ".tmp";
  auto leftover = fs_.exists(tmp);
  if (!leftover) return leftover.status();
  if (*leftover) EMLEDGER_TRY(fs_.remove(tmp));
  {
    auto f = fs_.create(tmp);
    if (!f) return f.status();
    EMLEDGER_TRY((*f)->append(as_bytes(note)));
    EMLEDGER_TRY((*f)->sync());
  }
  EMLEDGER_TRY(fs_.rename(tmp, path_));
  EMLEDGER_TRY(fs_.sync_dir(consensus::parent_dir(path_)));
  dirty_ = false;
  return Status::ok();
}

}  // namespace emledger::node
