// RFC 9421 HTTP Message Signatures (Ed25519) and RFC 9530 Content-Digest:
// docs/formats/http-signatures.md. The structured-field parser below is the
// RFC 8941 subset these fields use (dictionaries, inner lists, items,
// parameters), made stricter where the RFC is lenient: duplicate keys and
// unpadded base64 are refused rather than resolved.
#include "emledger/ledger/http_signature.hpp"

#include <algorithm>
#include <charconv>

#include "emledger/crypto/hex.hpp"
#include "emledger/crypto/sha256.hpp"

namespace emledger::ledger {
namespace {

Status malformed(std::string message) {
  return Status::error("SIGNATURE_MALFORMED", std::move(message));
}

bool is_lcalpha(char c) { return c >= 'a' && c <= 'z'; }
bool is_alpha(char c) { return is_lcalpha(c) || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_tchar(char c) {
  return is_alpha(c) || is_digit(c) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}
bool is_printable(char c) { return c >= 0x20 && c <= 0x7e; }
bool is_nonce_char(char c) { return is_alpha(c) || is_digit(c) || c == '-' || c == '_'; }

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// --- RFC 8941 structured fields (the subset used here) ------------------------

struct SfItem {
  enum class Type { kInteger, kDecimal, kString, kToken, kBytes, kBoolean };
  Type type = Type::kBoolean;
  std::int64_t integer = 0;
  std::string text;  // kString, kToken, and kDecimal (as written)
  Bytes bytes;
  bool boolean = true;
};
using SfParams = std::vector<std::pair<std::string, SfItem>>;
struct SfMember {
  bool inner_list = false;
  SfItem item;                                     // when !inner_list
  std::vector<std::pair<SfItem, SfParams>> items;  // when inner_list
  SfParams params;
};
using SfDictionary = std::vector<std::pair<std::string, SfMember>>;

class SfParser {
 public:
  explicit SfParser(std::string_view s) : s_(s) {}

  // RFC 8941 section 4.2.2, with a bound on members and no duplicate keys.
  Result<SfDictionary> dictionary() {
    SfDictionary dict;
    skip_sp();
    while (pos_ < s_.size()) {
      std::string key;
      SfMember member;
      if (!parse_key(key) || !parse_member_value(member)) return error();
      for (const auto& [k, v] : dict)
        if (k == key) return malformed("repeated dictionary key '" + key + "'");
      if (dict.size() == kDictionaryMembersMax) return malformed("too many dictionary members");
      dict.emplace_back(std::move(key), std::move(member));
      skip_ows();
      if (pos_ == s_.size()) break;
      if (s_[pos_] != ',') return fail("expected ',' between dictionary members");
      ++pos_;
      skip_ows();
      if (pos_ == s_.size()) return fail("trailing ',' in dictionary");
    }
    return dict;
  }

 private:
  Status error() const { return malformed(error_ + " at offset " + std::to_string(pos_)); }
  Status fail(std::string message) {
    error_ = std::move(message);
    return error();
  }
  bool bad(const char* message) {
    error_ = message;
    return false;
  }
  bool at(char c) const { return pos_ < s_.size() && s_[pos_] == c; }
  void skip_sp() {
    while (at(' ')) ++pos_;
  }
  void skip_ows() {
    while (at(' ') || at('\t')) ++pos_;
  }

  bool parse_member_value(SfMember& m) {
    if (!at('=')) return parse_params(m.params);  // bare key: boolean true
    ++pos_;
    if (at('(')) return parse_inner_list(m);
    return parse_bare_item(m.item) && parse_params(m.params);
  }

  bool parse_key(std::string& out) {
    if (pos_ == s_.size() || !(is_lcalpha(s_[pos_]) || s_[pos_] == '*')) return bad("bad key");
    std::size_t start = pos_;
    while (pos_ < s_.size() && (is_lcalpha(s_[pos_]) || is_digit(s_[pos_]) ||
                                std::string_view("_-.*").find(s_[pos_]) != std::string_view::npos))
      ++pos_;
    out.assign(s_.substr(start, pos_ - start));
    return true;
  }

  bool parse_params(SfParams& out) {
    while (at(';')) {
      ++pos_;
      skip_sp();
      std::string key;
      SfItem value;  // boolean true unless a value follows
      if (!parse_key(key)) return false;
      if (at('=')) {
        ++pos_;
        if (!parse_bare_item(value)) return false;
      }
      for (const auto& [k, v] : out)
        if (k == key) return bad("repeated parameter");
      if (out.size() == kParametersMax) return bad("too many parameters");
      out.emplace_back(std::move(key), std::move(value));
    }
    return true;
  }

  bool parse_inner_list(SfMember& m) {
    m.inner_list = true;
    ++pos_;  // '('
    while (true) {
      skip_sp();
      if (at(')')) {
        ++pos_;
        return parse_params(m.params);
      }
      if (m.items.size() == kCoveredComponentsMax) return bad("too many inner-list items");
      SfItem item;
      SfParams params;
      if (!parse_bare_item(item) || !parse_params(params)) return false;
      m.items.emplace_back(std::move(item), std::move(params));
      if (!at(' ') && !at(')')) return bad("expected ' ' or ')' in inner list");
    }
  }

  bool parse_bare_item(SfItem& out) {
    if (pos_ == s_.size()) return bad("missing item");
    char c = s_[pos_];
    if (c == '-' || is_digit(c)) return parse_number(out);
    if (c == '"') return parse_string(out);
    if (c == '*' || is_alpha(c)) return parse_token(out);
    if (c == ':') return parse_bytes(out);
    if (c == '?') return parse_boolean(out);
    return bad("bad item");
  }

  bool parse_number(SfItem& out) {
    std::size_t start = pos_;
    if (at('-')) ++pos_;
    std::size_t digits_start = pos_;
    while (pos_ < s_.size() && is_digit(s_[pos_])) ++pos_;
    std::size_t int_digits = pos_ - digits_start;
    if (int_digits == 0) return bad("number without digits");
    if (!at('.')) {
      if (int_digits > 15) return bad("integer longer than 15 digits");
      std::from_chars(s_.data() + start, s_.data() + pos_, out.integer);  // fits: <= 15 digits
      out.type = SfItem::Type::kInteger;
      return true;
    }
    if (int_digits > 12) return bad("decimal longer than 12 integer digits");
    ++pos_;
    std::size_t frac_start = pos_;
    while (pos_ < s_.size() && is_digit(s_[pos_])) ++pos_;
    if (pos_ == frac_start || pos_ - frac_start > 3)
      return bad("decimal needs 1-3 fraction digits");
    out.type = SfItem::Type::kDecimal;
    out.text.assign(s_.substr(start, pos_ - start));
    return true;
  }

  bool parse_string(SfItem& out) {
    ++pos_;  // '"'
    out.type = SfItem::Type::kString;
    while (pos_ < s_.size()) {
      char c = s_[pos_++];
      if (c == '"') return true;
      if (c == '\\') {
        if (!(at('"') || at('\\'))) return bad("bad escape in string");
        c = s_[pos_++];
      } else if (!is_printable(c)) {
        return bad("non-printable character in string");
      }
      out.text.push_back(c);
    }
    return bad("unterminated string");
  }

  bool parse_token(SfItem& out) {
    std::size_t start = pos_++;
    while (pos_ < s_.size() && (is_tchar(s_[pos_]) || s_[pos_] == ':' || s_[pos_] == '/')) ++pos_;
    out.type = SfItem::Type::kToken;
    out.text.assign(s_.substr(start, pos_ - start));
    return true;
  }

  bool parse_bytes(SfItem& out) {
    std::size_t start = ++pos_;  // after ':'
    while (pos_ < s_.size() && s_[pos_] != ':') {
      char c = s_[pos_];
      if (!(is_alpha(c) || is_digit(c) || c == '+' || c == '/' || c == '='))
        return bad("bad base64");
      ++pos_;
    }
    if (!at(':')) return bad("unterminated byte sequence");
    auto decoded = from_base64(s_.substr(start, pos_ - start));
    ++pos_;
    if (!decoded) return bad("byte sequence is not padded base64");
    out.type = SfItem::Type::kBytes;
    out.bytes = std::move(*decoded);
    return true;
  }

  bool parse_boolean(SfItem& out) {
    ++pos_;  // '?'
    if (!(at('0') || at('1'))) return bad("bad boolean");
    out.type = SfItem::Type::kBoolean;
    out.boolean = s_[pos_++] == '1';
    return true;
  }

  std::string_view s_;
  std::size_t pos_ = 0;
  std::string error_;
};

std::string serialize_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

// --- Request fields and components -------------------------------------------

// All lines of a header field (case-insensitive name), each trimmed of
// SP/HTAB, joined with ", " (RFC 9421 section 2.1). nullopt when absent.
std::optional<std::string> field_value(const HttpRequest& req, std::string_view lower_name) {
  std::optional<std::string> out;
  for (const auto& [name, value] : req.headers) {
    if (lowercase(name) != lower_name) continue;
    std::size_t b = value.find_first_not_of(" \t");
    std::size_t e = value.find_last_not_of(" \t");
    std::string_view v =
        b == std::string::npos ? std::string_view() : std::string_view(value).substr(b, e - b + 1);
    if (out)
      *out += ", ";
    else
      out.emplace();
    *out += v;
  }
  return out;
}

bool printable_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return is_printable(c) || c == '\t'; });
}

bool valid_component_name(std::string_view id) {
  static constexpr std::string_view kDerived[] = {"@method", "@target-uri", "@authority",
                                                  "@scheme", "@path",       "@query"};
  if (std::find(std::begin(kDerived), std::end(kDerived), id) != std::end(kDerived)) return true;
  if (id.empty() || id[0] == '@') return false;
  return std::all_of(id.begin(), id.end(),
                     [](char c) { return is_tchar(c) && !(c >= 'A' && c <= 'Z'); });
}

// The value of one covered component. `override_name`/`override_value` stand
// for a header the signer adds (Content-Digest) before sending.
Result<std::string> component_value(const HttpRequest& req, std::string_view id,
                                    std::string_view override_name,
                                    const std::string& override_value) {
  std::string_view target = req.target;
  std::size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  if (id == "@method") {
    if (req.method.empty() || !std::all_of(req.method.begin(), req.method.end(), is_tchar))
      return malformed("method is not an HTTP token");
    return req.method;
  }
  if (path.empty() || path[0] != '/' || path.find_first_of(" #") != std::string_view::npos)
    return malformed("request target must be origin-form (/path?query)");
  if (id == "@authority") return lowercase(req.authority);
  if (id == "@scheme") return lowercase(req.scheme);
  if (id == "@target-uri") {
    if (req.scheme.empty()) return malformed("@target-uri needs the request scheme");
    return lowercase(req.scheme) + "://" + lowercase(req.authority) + std::string(target);
  }
  if (id == "@path") return std::string(path);
  if (id == "@query")
    return q == std::string_view::npos ? std::string("?") : std::string(target.substr(q));
  if (!override_name.empty() && id == override_name) return override_value;
  auto v = field_value(req, id);
  if (!v)
    return Status::error("SIGNATURE_INVALID", "covered field '" + std::string(id) + "' is absent");
  return std::move(*v);
}

Result<std::string> build_base(const HttpRequest& req, const SignatureParams& sp,
                               std::string_view override_name, const std::string& override_value) {
  if (sp.components.size() > kCoveredComponentsMax) return malformed("too many covered components");
  std::string base;
  for (std::size_t i = 0; i < sp.components.size(); ++i) {
    const std::string& id = sp.components[i];
    if (!valid_component_name(id))
      return malformed("unsupported component identifier '" + id + "'");
    if (std::find(sp.components.begin(), sp.components.begin() + i, id) !=
        sp.components.begin() + i)
      return malformed("component '" + id + "' covered twice");
    auto value = component_value(req, id, override_name, override_value);
    if (!value) return value.status();
    if (!printable_ascii(*value))
      return Status::error("SIGNATURE_INVALID", "component '" + id + "' is not printable ASCII");
    base += serialize_string(id) + ": " + *value + "\n";
  }
  for (const auto& [name, value] : sp.params) {
    auto* s = std::get_if<std::string>(&value);
    if (name.empty() || !std::all_of(name.begin(), name.end(), is_lcalpha) ||
        (s && !std::all_of(s->begin(), s->end(), is_printable)))
      return malformed("signature parameter '" + name + "' cannot be serialized");
  }
  base += "\"@signature-params\": " + serialize_signature_params(sp);
  return base;
}

bool canonical_u32(std::string_view s, std::uint32_t& out) {
  if (s.empty() || s.size() > 10 || (s.size() > 1 && s[0] == '0')) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    if (!is_digit(c)) return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (v > UINT32_MAX) return false;
  out = static_cast<std::uint32_t>(v);
  return true;
}

Status check_nonce(std::string_view nonce) {
  if (nonce.size() < kNonceCharsMin || nonce.size() > kNonceCharsMax ||
      !std::all_of(nonce.begin(), nonce.end(), is_nonce_char))
    return malformed("nonce must be " + std::to_string(kNonceCharsMin) + "-" +
                     std::to_string(kNonceCharsMax) + " characters of [A-Za-z0-9_-]");
  return Status::ok();
}

SignatureParams profile_params(const HttpRequest& req, const SignOptions& opt) {
  SignatureParams sp;
  sp.components = {"@method", "@authority", "@path", "@query"};
  if (!req.body.empty()) sp.components.emplace_back("content-digest");
  sp.params = {{"created", opt.created_s},
               {"expires", opt.expires_s},
               {"keyid", opt.keyid},
               {"alg", std::string(kSignatureAlg)},
               {"nonce", opt.nonce}};
  return sp;
}

}  // namespace

// --- Public: parameters and serialization --------------------------------------

std::optional<std::int64_t> SignatureParams::int_param(std::string_view name) const {
  for (const auto& [n, v] : params)
    if (n == name) {
      if (auto* i = std::get_if<std::int64_t>(&v)) return *i;
      return std::nullopt;
    }
  return std::nullopt;
}

std::optional<std::string> SignatureParams::string_param(std::string_view name) const {
  for (const auto& [n, v] : params)
    if (n == name) {
      if (auto* s = std::get_if<std::string>(&v)) return *s;
      return std::nullopt;
    }
  return std::nullopt;
}

std::string serialize_signature_params(const SignatureParams& sp) {
  std::string out = "(";
  for (std::size_t i = 0; i < sp.components.size(); ++i) {
    if (i > 0) out += ' ';
    out += serialize_string(sp.components[i]);
  }
  out += ')';
  for (const auto& [name, value] : sp.params) {
    out += ';' + name + '=';
    if (auto* i = std::get_if<std::int64_t>(&value))
      out += std::to_string(*i);
    else
      out += serialize_string(std::get<std::string>(value));
  }
  return out;
}

Result<std::string> signature_base(const HttpRequest& req, const SignatureParams& sp) {
  return build_base(req, sp, {}, {});
}

std::string signature_input_field(std::string_view label, const SignatureParams& sp) {
  return std::string(label) + "=" + serialize_signature_params(sp);
}

std::string signature_field(std::string_view label, const crypto::Signature& sig) {
  return std::string(label) + "=:" + to_base64(ByteView(sig)) + ":";
}

std::string content_digest_field(std::string_view body) {
  return "sha-256=:" + to_base64(ByteView(crypto::sha256(as_bytes(body)))) + ":";
}

// --- Public: key ids -------------------------------------------------------------

std::string org_keyid(std::string_view org_id, std::uint32_t key_id) {
  return std::string(org_id) + "/" + std::to_string(key_id);
}

std::string holder_keyid(const Hash& holder_ref, std::uint32_t key_seq) {
  return "holder/" + to_hex(holder_ref) + "/" + std::to_string(key_seq);
}

Result<KeyId> parse_keyid(std::string_view keyid) {
  if (keyid.size() > kKeyIdBytesMax) return malformed("keyid too long");
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    std::size_t slash = keyid.find('/', start);
    parts.push_back(keyid.substr(start, slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  KeyId out;
  if (parts.size() == 2) {
    std::string_view org = parts[0];
    bool org_ok =
        !org.empty() && org.size() <= 64 && std::all_of(org.begin(), org.end(), [](char c) {
          return is_lcalpha(c) || is_digit(c) || c == '.' || c == '_' || c == '-';
        });
    if (!org_ok || !canonical_u32(parts[1], out.key))
      return malformed("org keyid must be <org id>/<key id>: '" + std::string(keyid) + "'");
    out.kind = KeyId::Kind::kOrg;
    out.org_id = std::string(org);
    return out;
  }
  auto ref = parts.size() == 3 ? hash_from_hex(parts[1]) : std::nullopt;
  if (parts.size() != 3 || parts[0] != "holder" || !ref || to_hex(*ref) != parts[1] ||
      !canonical_u32(parts[2], out.key))
    return malformed("keyid must be <org id>/<key id> or holder/<64 hex>/<key seq>: '" +
                     std::string(keyid) + "'");
  out.kind = KeyId::Kind::kHolder;
  out.holder_ref = *ref;
  return out;
}

// --- Public: signing --------------------------------------------------------------

Result<SignatureHeaders> sign_request(const HttpRequest& req, const crypto::KeyPair& key,
                                      const SignOptions& opt) {
  auto kid = parse_keyid(opt.keyid);
  if (!kid) return kid.status();
  EMLEDGER_TRY(check_nonce(opt.nonce));
  if (opt.created_s < 0 || opt.expires_s <= opt.created_s ||
      opt.expires_s - opt.created_s > kSignatureValidityMax_s)
    return malformed("need 0 <= created < expires <= created + " +
                     std::to_string(kSignatureValidityMax_s) + " s");
  SignatureHeaders out;
  if (!req.body.empty()) out.content_digest = content_digest_field(req.body);
  SignatureParams sp = profile_params(req, opt);
  auto base = build_base(req, sp, "content-digest", out.content_digest);
  if (!base) return base.status();
  out.signature_input = signature_input_field(kSignatureLabel, sp);
  out.signature = signature_field(kSignatureLabel, key.sign(as_bytes(*base)));
  return out;
}

// --- Public: verification -----------------------------------------------------------

namespace {

Result<SignatureParams> params_from_member(const SfMember& m) {
  if (!m.inner_list) return malformed("Signature-Input member is not an inner list");
  SignatureParams sp;
  for (const auto& [item, params] : m.items) {
    if (item.type != SfItem::Type::kString || !params.empty())
      return malformed("covered components must be strings without parameters");
    sp.components.push_back(item.text);
  }
  for (const auto& [name, item] : m.params) {
    bool is_int = name == "created" || name == "expires";
    bool is_str = name == "keyid" || name == "alg" || name == "nonce" || name == "tag";
    if (!is_int && !is_str) return malformed("unknown signature parameter '" + name + "'");
    if (is_int && item.type == SfItem::Type::kInteger)
      sp.params.emplace_back(name, item.integer);
    else if (is_str && item.type == SfItem::Type::kString)
      sp.params.emplace_back(name, item.text);
    else
      return malformed("signature parameter '" + name + "' has the wrong type");
  }
  return sp;
}

const SfMember* find_member(const SfDictionary& d, std::string_view label) {
  for (const auto& [k, v] : d)
    if (k == label) return &v;
  return nullptr;
}

Result<SfDictionary> parse_field(const HttpRequest& req, std::string_view name) {
  auto v = field_value(req, name);
  EMLEDGER_ASSERT(v.has_value());
  if (v->size() > kSignatureFieldBytesMax) return malformed(std::string(name) + " field too long");
  auto d = SfParser(*v).dictionary();
  if (!d) return malformed(std::string(name) + ": " + d.status().message());
  return d;
}

// The profile's demands on a parsed signature, before any key or time check.
Status check_profile(const HttpRequest& req, const SignatureParams& sp) {
  auto alg = sp.string_param("alg");
  if (!alg) return malformed("signature has no alg parameter");
  if (*alg != kSignatureAlg) return malformed("alg must be ed25519, not '" + *alg + "'");
  auto created = sp.int_param("created");
  auto expires = sp.int_param("expires");
  auto keyid = sp.string_param("keyid");
  auto nonce = sp.string_param("nonce");
  if (!created || !expires || !keyid || !nonce)
    return malformed("signature needs created, expires, keyid and nonce");
  if (*created < 0 || *expires <= *created || *expires - *created > kSignatureValidityMax_s)
    return malformed("validity window must be 0 < expires - created <= " +
                     std::to_string(kSignatureValidityMax_s) + " s");
  auto kid = parse_keyid(*keyid);
  if (!kid) return kid.status();
  EMLEDGER_TRY(check_nonce(*nonce));
  auto covers = [&](std::string_view c) {
    return std::find(sp.components.begin(), sp.components.end(), c) != sp.components.end();
  };
  for (std::string_view c : {"@method", "@authority", "@path", "@query"})
    if (!covers(c)) return malformed("signature must cover " + std::string(c));
  if (!req.body.empty() && !covers("content-digest"))
    return Status::error("CONTENT_DIGEST_MISMATCH",
                         "the request has a body but the signature covers no content-digest");
  return Status::ok();
}

Status check_time(std::int64_t created_s, std::int64_t expires_s, std::int64_t now_s) {
  if (created_s > now_s + kClockSkewMax_s)
    return Status::error(
        "SIGNATURE_STALE",
        "signature created " + std::to_string(created_s - now_s) + " s in the future");
  if (created_s + kSignatureValidityMax_s <= now_s)
    return Status::error("SIGNATURE_STALE",
                         "signature created " + std::to_string(now_s - created_s) + " s ago");
  if (expires_s <= now_s)
    return Status::error("SIGNATURE_EXPIRED",
                         "signature expired " + std::to_string(now_s - expires_s) + " s ago");
  return Status::ok();
}

Status check_content_digest(const HttpRequest& req) {
  auto v = field_value(req, "content-digest");
  EMLEDGER_ASSERT(v.has_value());  // the base could be built, so the field is present
  auto bad = [](std::string m) { return Status::error("CONTENT_DIGEST_MISMATCH", std::move(m)); };
  if (v->size() > kSignatureFieldBytesMax) return bad("Content-Digest field too long");
  auto d = SfParser(*v).dictionary();
  if (!d) return bad("Content-Digest: " + d.status().message());
  const SfMember* m = find_member(*d, "sha-256");
  if (!m || m->inner_list || m->item.type != SfItem::Type::kBytes ||
      m->item.bytes.size() != kHashSize)
    return bad("Content-Digest has no sha-256 byte sequence of 32 bytes");
  Hash want = crypto::sha256(as_bytes(req.body));
  if (!std::equal(want.begin(), want.end(), m->item.bytes.begin()))
    return bad("Content-Digest sha-256 differs from the body's");
  return Status::ok();
}

}  // namespace

Result<ParsedSignature> parse_signature(const HttpRequest& req, std::string_view label) {
  if (!field_value(req, "signature-input") || !field_value(req, "signature"))
    return Status::error("SIGNATURE_MISSING", "the request has no Signature-Input and Signature");
  auto inputs = parse_field(req, "signature-input");
  if (!inputs) return inputs.status();
  auto sigs = parse_field(req, "signature");
  if (!sigs) return sigs.status();
  const SfMember* in = find_member(*inputs, label);
  const SfMember* sg = find_member(*sigs, label);
  if (!in && !sg)
    return Status::error("SIGNATURE_MISSING", "no signature labelled '" + std::string(label) + "'");
  if (!in || !sg)
    return malformed("label '" + std::string(label) +
                     "' is in only one of Signature-Input and Signature");
  auto sp = params_from_member(*in);
  if (!sp) return sp.status();
  if (sg->inner_list || sg->item.type != SfItem::Type::kBytes || !sg->params.empty() ||
      sg->item.bytes.size() != crypto::kSignatureSize)
    return malformed("Signature member must be a 64-byte byte sequence");
  ParsedSignature out;
  out.params = std::move(*sp);
  std::copy(sg->item.bytes.begin(), sg->item.bytes.end(), out.signature.begin());
  return out;
}

Result<VerifiedSignature> verify_request(const HttpRequest& req, const PublicKeyLookup& lookup,
                                         std::int64_t now_s) {
  auto parsed = parse_signature(req, kSignatureLabel);
  if (!parsed) return parsed.status();
  const SignatureParams& sp = parsed->params;
  EMLEDGER_TRY(check_profile(req, sp));
  VerifiedSignature out{*sp.string_param("keyid"), *sp.string_param("nonce"),
                        *sp.int_param("created"), *sp.int_param("expires")};
  EMLEDGER_TRY(check_time(out.created_s, out.expires_s, now_s));
  auto pk = lookup(out.keyid);
  if (!pk) return Status::error("SIGNATURE_UNKNOWN_KEY", "no key for keyid '" + out.keyid + "'");
  auto base = signature_base(req, sp);
  if (!base) return base.status();
  if (!crypto::verify(*pk, as_bytes(*base), parsed->signature))
    return Status::error("SIGNATURE_INVALID", "Ed25519 signature does not verify");
  bool covers_digest = std::find(sp.components.begin(), sp.components.end(), "content-digest") !=
                       sp.components.end();
  if (covers_digest) EMLEDGER_TRY(check_content_digest(req));
  return out;
}

// --- NonceCache ------------------------------------------------------------------

NonceCache::NonceCache(std::size_t entries_max) : entries_max_(entries_max) {
  EMLEDGER_ASSERT(entries_max_ > 0);
}

void NonceCache::expire_locked(std::int64_t now_s) {
  // An entry can be dropped once no signature with its created time verifies.
  while (!by_created_.empty() && by_created_.begin()->first + kSignatureValidityMax_s <= now_s) {
    created_by_key_.erase(by_created_.begin()->second);
    by_created_.erase(by_created_.begin());
  }
}

Status NonceCache::check_and_remember(const VerifiedSignature& sig, std::int64_t now_s) {
  std::string key = sig.keyid + '\n' + sig.nonce;
  std::lock_guard<std::mutex> lock(mu_);
  expire_locked(now_s);
  if (start_s_ && sig.created_s <= *start_s_)
    return Status::error("SIGNATURE_PREDATES_START",
                         "signed at or before this node started (unix time " +
                             std::to_string(*start_s_) +
                             "), when nonces used earlier were forgotten: sign the request again");
  if (created_by_key_.count(key))
    return Status::error("SIGNATURE_REPLAYED", "nonce already used by " + sig.keyid);
  if (refuse_at_or_before_s_ && sig.created_s <= *refuse_at_or_before_s_)
    return Status::error("SIGNATURE_REPLAYED",
                         "nonce cache full: cannot tell whether a signature this old is new");
  if (created_by_key_.size() == entries_max_) {
    auto oldest = by_created_.begin();
    refuse_at_or_before_s_ =
        std::max(refuse_at_or_before_s_.value_or(oldest->first), oldest->first);
    created_by_key_.erase(oldest->second);
    by_created_.erase(oldest);
  }
  created_by_key_.emplace(key, sig.created_s);
  by_created_.emplace(sig.created_s, std::move(key));
  EMLEDGER_ASSERT(created_by_key_.size() == by_created_.size());
  EMLEDGER_ASSERT(created_by_key_.size() <= entries_max_);
  return Status::ok();
}

void NonceCache::refuse_signed_at_or_before(std::int64_t start_s) {
  std::lock_guard<std::mutex> lock(mu_);
  start_s_ = std::max(start_s_.value_or(start_s), start_s);
}

std::size_t NonceCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return created_by_key_.size();
}

}  // namespace emledger::ledger
