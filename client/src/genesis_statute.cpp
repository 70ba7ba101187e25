// `emledger genesis add-statute`: the statute policies of a genesis under
// construction (see genesis_edit.hpp).
#include "emledger/client/genesis_edit.hpp"
#include "emledger/ledger/limits.hpp"
#include "emledger/ledger/types.hpp"

namespace emledger::client {

Status add_statute(ledger::Json& genesis, const std::string& type_code, std::uint32_t roles) {
  auto bad = [](const std::string& why) { return Status::error("GENESIS_MALFORMED", why); };
  if (!genesis.is_object()) return bad("the genesis file is not a JSON object");
  if (type_code.empty() || type_code.size() > ledger::kTypeCodeBytesMax)
    return bad("a statute's type code has 1 to " + std::to_string(ledger::kTypeCodeBytesMax) +
               " bytes");
  if (roles == 0) return bad("a statute names at least one role");
  ledger::Json edited = genesis;
  if (!edited.contains("statutes")) edited["statutes"] = ledger::Json::array();
  ledger::Json& list = edited["statutes"];
  if (!list.is_array()) return bad("'statutes' is not a list");
  std::size_t pos = 0;
  for (; pos < list.size(); ++pos) {
    const ledger::Json& p = list[pos];
    if (!p.is_object() || !p.contains("type_code") || !p["type_code"].is_string())
      return bad("a statute without a type code");
    const std::string t = p["type_code"].get<std::string>();
    if (t == type_code) break;
    if (t > type_code) break;
  }
  std::uint32_t all = roles;
  const bool exists = pos < list.size() && list[pos]["type_code"] == type_code;
  if (exists && list[pos].contains("roles") && list[pos]["roles"].is_array())
    for (const auto& r : list[pos]["roles"])
      if (r.is_string())
        if (auto bit = ledger::role_from_name(r.get<std::string>())) all |= *bit;
  ledger::Json policy = {{"type_code", type_code}, {"roles", ledger::role_names(all)}};
  if (exists) {
    list[pos] = std::move(policy);
  } else {
    if (list.size() >= ledger::kStatutePoliciesMax) return bad("too many statute policies");
    list.insert(list.begin() + static_cast<std::ptrdiff_t>(pos), std::move(policy));
  }
  // A genesis with validators is complete: it must stay valid.
  if (edited.contains("validators") && edited["validators"].is_array() &&
      !edited["validators"].empty()) {
    auto g = ledger::genesis_from_json(edited);
    if (!g) return g.status();
    EMLEDGER_TRY(g->check());
  }
  genesis = std::move(edited);
  return Status::ok();
}

}  // namespace emledger::client
