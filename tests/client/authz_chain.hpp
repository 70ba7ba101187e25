// The authorization layer's test network: its orgs, keys, holder and genesis.
// The node that runs it is the real one (live_node.hpp); chain contents are
// made by submitting signed transactions through the SDK.
#pragma once

#include "emledger/client/audit.hpp"
#include "emledger/client/authz.hpp"
#include "emledger/client/request_signing.hpp"
#include "test_net.hpp"

namespace emledger::client_test {

// Orgs: gov.issuer (issuer), id.org (identity), x.consumer and y.consumer
// (consumer), z.auditor (auditor), v.node (validator). Statute: any consumer
// may read "pub.license" records without a grant.
struct AuthzKeys {
  crypto::KeyPair issuer = key_from(21);
  crypto::KeyPair identity = key_from(22);
  crypto::KeyPair consumer_x = key_from(23);
  crypto::KeyPair consumer_y = key_from(24);
  crypto::KeyPair auditor = key_from(25);
  crypto::KeyPair validator = key_from(26);
  crypto::KeyPair holder = key_from(27);
  Hash holder_ref = [] {
    Hash h{};
    h.fill(0x5a);
    return h;
  }();
  // Near the real time: the node checks request signatures, which the SDK
  // dates with the system clock, against its own (test-held) clock.
  std::uint64_t genesis_time_ms = static_cast<std::uint64_t>(client::unix_now_s() - 60) * 1000;

  Genesis make_genesis() const {
    Genesis g;
    g.chain_id = "authz-test";
    g.time_ms = genesis_time_ms;
    g.orgs = {
        Org{"gov.issuer", "r1", kRoleIssuer, {OrgKey{1, issuer.public_key()}}},
        Org{"id.org", "r1", kRoleIdentity, {OrgKey{1, identity.public_key()}}},
        Org{"v.node", "r1", kRoleValidator, {OrgKey{1, validator.public_key()}}},
        Org{"x.consumer", "r1", kRoleConsumer, {OrgKey{1, consumer_x.public_key()}}},
        Org{"y.consumer", "r2", kRoleConsumer, {OrgKey{1, consumer_y.public_key()}}},
        Org{"z.auditor", "r1", kRoleAuditor, {OrgKey{1, auditor.public_key()}}},
    };
    g.validators = {Validator{"v.node", validator.public_key(), "127.0.0.1:1"}};
    g.statutes = {StatutePolicy{"pub.license", kRoleConsumer}};
    REQUIRE(g.check().is_ok());
    return g;
  }
};

}  // namespace emledger::client_test
