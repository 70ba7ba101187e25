// Signed checkpoints: C2SP signed-note + tlog-checkpoint. docs/formats/checkpoint.md.
//
// Parsing is strict on purpose: a checkpoint is only ever produced by our own
// validators, so anything that is not exactly the form we emit (apart from
// signature lines of keys we do not know, which the spec tells us to ignore)
// is refused rather than interpreted.
#include "emledger/ledger/checkpoint.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>
#include <set>
#include <string_view>

#include "emledger/crypto/hex.hpp"
#include "emledger/crypto/sha256.hpp"

namespace emledger::ledger {
namespace {

// U+2014 EM DASH in UTF-8, then one space: the start of every signature line.
constexpr std::string_view kSigPrefix = "\xE2\x80\x94 ";
constexpr std::uint8_t kSigTypeEd25519 = 0x01;
constexpr std::size_t kKeyIdSize = 4;
// The spec asks verifiers to bound a note and to accept at least 16
// signatures. Every validator may sign, and witnesses of other regions may
// add theirs, hence twice the validator bound.
constexpr std::size_t kNoteSignaturesMax = 2 * kValidatorsMax;
constexpr std::size_t kSigLineBytesMax = 1024;  // name + base64 of a long signature
constexpr std::size_t kNoteBytesMax = 4096 + kNoteSignaturesMax * kSigLineBytesMax;
static_assert(kNoteSignaturesMax >= 16, "C2SP signed-note: accept at least 16 signatures");
static_assert(kSigLineBytesMax > kSigPrefix.size() + kOrgIdBytesMax + 1 + 92);

Status malformed(const std::string& why) {
  return Status::error("CHECKPOINT_MALFORMED", "checkpoint: " + why);
}

// Decodes one UTF-8 code point at s[i]; returns its length, or 0 when the
// sequence is invalid (overlong, surrogate, above U+10FFFF, truncated).
std::size_t utf8_next(std::string_view s, std::size_t i, std::uint32_t& cp) {
  const auto b0 = static_cast<std::uint8_t>(s[i]);
  std::size_t n = 0;
  std::uint32_t min = 0;
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  } else if ((b0 & 0xE0) == 0xC0) {
    n = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    n = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    n = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() - i < n) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    const auto b = static_cast<std::uint8_t>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = cp << 6 | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

// Signed-note rule: valid UTF-8, no control character other than newline.
bool is_note_text(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    std::uint32_t cp = 0;
    std::size_t n = utf8_next(s, i, cp);
    if (n == 0) return false;
    if (cp < 0x20 && cp != '\n') return false;
    i += n;
  }
  return true;
}

bool is_unicode_space(std::uint32_t cp) {
  return cp == ' ' || cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
         cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

// Signed-note rule: a key name is non-empty and has no Unicode space and no '+'.
bool is_key_name(std::string_view name) {
  if (name.empty() || !is_note_text(name)) return false;
  for (std::size_t i = 0; i < name.size();) {
    std::uint32_t cp = 0;
    std::size_t n = utf8_next(name, i, cp);
    if (cp == '+' || cp == '\n' || is_unicode_space(cp)) return false;
    i += n;
  }
  return true;
}

// Standard padded base64, and only its one canonical spelling of the bytes.
std::optional<Bytes> strict_base64(std::string_view s) {
  auto b = from_base64(s);
  if (!b || to_base64(ByteView(*b)) != s) return std::nullopt;
  return b;
}

// "0" or a decimal without leading zeros that fits in 64 bits.
std::optional<std::uint64_t> parse_size(std::string_view s) {
  if (s.empty() || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  for (char c : s)
    if (c < '0' || c > '9') return std::nullopt;
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

struct SigLine {
  std::string_view name;
  std::array<std::uint8_t, kKeyIdSize> key_id{};
  Bytes signature;  // what follows the key id
};

Result<SigLine> parse_sig_line(std::string_view line) {
  if (line.size() > kSigLineBytesMax) return malformed("signature line too long");
  if (line.substr(0, kSigPrefix.size()) != kSigPrefix)
    return malformed("signature line does not start with an em dash and a space");
  std::string_view rest = line.substr(kSigPrefix.size());
  std::size_t space = rest.find(' ');
  if (space == std::string_view::npos) return malformed("signature line has no signature");
  SigLine sig;
  sig.name = rest.substr(0, space);
  if (!is_key_name(sig.name)) return malformed("bad key name in a signature line");
  auto blob = strict_base64(rest.substr(space + 1));
  if (!blob || blob->size() <= kKeyIdSize) return malformed("bad signature encoding");
  std::copy(blob->begin(), blob->begin() + kKeyIdSize, sig.key_id.begin());
  sig.signature.assign(blob->begin() + kKeyIdSize, blob->end());
  return sig;
}

struct ParsedNote {
  std::string_view text;  // the signed text, with its final newline
  std::vector<SigLine> sigs;
};

// Splits a note into its text and signature lines (signed-note "Format").
Result<ParsedNote> parse_note(std::string_view note) {
  if (note.size() > kNoteBytesMax) return malformed("note too large");
  if (!is_note_text(note)) return malformed("not UTF-8 text without control characters");
  if (note.empty() || note.back() != '\n') return malformed("missing final newline");
  // The text ends at the last blank line; signature lines never contain one.
  std::size_t blank = note.rfind("\n\n");
  if (blank == std::string_view::npos) return malformed("no blank line before signatures");
  ParsedNote p;
  p.text = note.substr(0, blank + 1);
  std::string_view sigs = note.substr(blank + 2);
  if (sigs.empty()) return malformed("no signature lines");
  while (!sigs.empty()) {
    std::size_t nl = sigs.find('\n');  // present: the note ends in a newline
    if (p.sigs.size() == kNoteSignaturesMax) return malformed("too many signatures");
    auto line = parse_sig_line(sigs.substr(0, nl));
    if (!line) return line.status();
    p.sigs.push_back(std::move(line.value()));
    sigs.remove_prefix(nl + 1);
  }
  return p;
}

// The tlog-checkpoint body: exactly origin, size and root. Extension lines are
// allowed by the spec but never written by emledger, so they are refused.
Result<Checkpoint> parse_body(std::string_view text) {
  std::string_view lines[3];
  for (auto& line : lines) {
    std::size_t nl = text.find('\n');
    if (nl == std::string_view::npos) return malformed("body has fewer than three lines");
    line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
  }
  if (!text.empty()) return malformed("unexpected extension lines");
  Checkpoint cp;
  if (lines[0].empty() || lines[0].size() > kChainIdBytesMax) return malformed("bad origin");
  cp.origin = std::string(lines[0]);
  auto size = parse_size(lines[1]);
  if (!size) return malformed("tree size is not a canonical decimal");
  cp.size = *size;
  auto root = strict_base64(lines[2]);
  if (!root || root->size() != kHashSize) return malformed("root is not base64 of 32 bytes");
  std::copy(root->begin(), root->end(), cp.root.begin());
  return cp;
}

std::string signature_line(std::string_view text, std::string_view name,
                           const crypto::KeyPair& key) {
  EMLEDGER_ASSERT(is_key_name(name));
  auto id = note_key_id(name, key.public_key());
  auto sig = key.sign(as_bytes(text));
  Bytes blob(id.begin(), id.end());
  blob.insert(blob.end(), sig.begin(), sig.end());
  std::string line(kSigPrefix);
  line.append(name).append(" ").append(to_base64(ByteView(blob))).append("\n");
  return line;
}

}  // namespace

std::string checkpoint_body(const Checkpoint& cp) {
  // The origin is a chain id from a checked genesis; a bad one is our bug.
  EMLEDGER_ASSERT(!cp.origin.empty() && cp.origin.size() <= kChainIdBytesMax);
  EMLEDGER_ASSERT(is_note_text(cp.origin) && cp.origin.find('\n') == std::string::npos);
  std::string body = cp.origin;
  body.append("\n").append(std::to_string(cp.size)).append("\n");
  body.append(to_base64(ByteView(cp.root))).append("\n");
  return body;
}

std::array<std::uint8_t, 4> note_key_id(std::string_view name, const PublicKey& pk) {
  crypto::Sha256 h;
  h.update(as_bytes(name));
  const std::uint8_t sep[2] = {'\n', kSigTypeEd25519};
  h.update(ByteView(sep, sizeof sep));
  h.update(ByteView(pk));
  Hash digest = h.finish();
  std::array<std::uint8_t, 4> id;
  std::copy(digest.begin(), digest.begin() + id.size(), id.begin());
  return id;
}

std::string sign_checkpoint(const Checkpoint& cp, std::string_view name,
                            const crypto::KeyPair& key) {
  std::string body = checkpoint_body(cp);
  return body + "\n" + signature_line(body, name, key);
}

std::string add_checkpoint_signature(const std::string& note, std::string_view name,
                                     const crypto::KeyPair& key) {
  // Precondition: `note` is a well-formed signed note (the caller verified
  // it). There is no error channel in this signature, so a malformed note is
  // treated as a caller bug.
  auto parsed = parse_note(note);
  EMLEDGER_ASSERT(parsed.is_ok());
  auto id = note_key_id(name, key.public_key());
  for (const auto& s : parsed->sigs)
    if (s.name == name && s.key_id == id) return note;  // already cosigned
  return note + signature_line(parsed->text, name, key);
}

namespace {

// Counts the valid signatures of `set`'s validators on the parsed note.
Status count_signatures(const ParsedNote& parsed, const ValidatorSet& set) {
  if (set.validators.empty())
    return Status::error("CHECKPOINT_NO_QUORUM", "checkpoint: the validator set is empty");
  std::set<std::size_t> signers;  // validator indices with a valid signature
  for (const auto& s : parsed.sigs) {
    for (std::size_t i = 0; i < set.validators.size(); ++i) {
      const Validator& v = set.validators[i];
      // A key is known by (name, key id); a match on only one is another key.
      if (s.name != v.org_id || s.key_id != note_key_id(v.org_id, v.public_key)) continue;
      Signature sig;
      bool ok = s.signature.size() == sig.size();
      if (ok) {
        std::copy(s.signature.begin(), s.signature.end(), sig.begin());
        ok = crypto::verify(v.public_key, as_bytes(parsed.text), sig);
      }
      // The spec: a failed signature of a known key rejects the whole note.
      if (!ok)
        return Status::error("CHECKPOINT_BAD_SIGNATURE",
                             "checkpoint: invalid signature of validator " + v.org_id);
      signers.insert(i);
    }
  }
  if (signers.size() < set.quorum())
    return Status::error("CHECKPOINT_NO_QUORUM", "checkpoint: " + std::to_string(signers.size()) +
                                                     " of " + std::to_string(set.quorum()) +
                                                     " signatures of the validators of epoch " +
                                                     std::to_string(set.epoch));
  return Status::ok();
}

// The note parsed, its body parsed and its origin checked.
Result<Checkpoint> parse_checkpoint(const ParsedNote& parsed, std::string_view chain_id) {
  auto cp = parse_body(parsed.text);
  if (!cp) return cp.status();
  if (cp->origin != chain_id)
    return Status::error("CHECKPOINT_ORIGIN", "checkpoint origin " + cp->origin + " is not chain " +
                                                  std::string(chain_id));
  return cp;
}

}  // namespace

Result<Checkpoint> verify_checkpoint(const std::string& note, std::string_view chain_id,
                                     const ValidatorSet& set) {
  auto parsed = parse_note(note);
  if (!parsed) return parsed.status();
  auto cp = parse_checkpoint(*parsed, chain_id);
  if (!cp) return cp.status();
  EMLEDGER_TRY(count_signatures(*parsed, set));
  return std::move(cp).value();
}

Result<Checkpoint> verify_checkpoint(const std::string& note, const Genesis& genesis) {
  return verify_checkpoint(note, genesis.chain_id, genesis_validator_set(genesis));
}

std::vector<const ValidatorSet*> sets_for_log_size(const std::vector<ValidatorSet>& sets,
                                                   const Succession& succession,
                                                   std::uint64_t size) {
  // verify_succession returns one set more than there are changes.
  EMLEDGER_ASSERT(sets.size() == succession.changes.size() + 1);
  std::vector<const ValidatorSet*> out;
  std::uint64_t from = 0;  // the log size at which epoch i starts
  for (std::size_t i = 0; i < sets.size(); ++i) {
    const bool newest = i + 1 == sets.size();
    const std::uint64_t to = newest ? UINT64_MAX : succession.changes[i].header.log_size;
    if (from <= size && size <= to) out.push_back(&sets[i]);
    from = to;
  }
  // Log sizes never shrink along a verified succession, so the ranges cover
  // every size; should a node's succession claim a shrinking log (it cannot
  // verify, the headers being final under one chain), the newest set judges.
  if (out.empty()) out.push_back(&sets.back());
  return out;
}

Result<Checkpoint> verify_checkpoint(const std::string& note, const Genesis& genesis,
                                     const std::vector<ValidatorSet>& sets,
                                     const Succession& succession) {
  auto parsed = parse_note(note);
  if (!parsed) return parsed.status();
  auto cp = parse_checkpoint(*parsed, genesis.chain_id);
  if (!cp) return cp.status();
  Status last;
  for (const ValidatorSet* set : sets_for_log_size(sets, succession, cp->size)) {
    last = count_signatures(*parsed, *set);
    if (last.is_ok()) return std::move(cp).value();
  }
  return last;
}

}  // namespace emledger::ledger
