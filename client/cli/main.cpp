// emledger: the command line for auditors, agencies and operators.
// Reference: docs/cli.md. Exit codes: 0 ok or valid, 1 verified false,
// 2 bad usage or input (or the node refused), 3 node unreachable or I/O error.
#include <iostream>
#include <string_view>

#include "cli.hpp"

int main(int argc, char** argv) {
  using namespace emledger::cli;
  CLI::App app(
      "emledger: register, verify and audit government e-licenses and e-materials on an "
      "emledger network.\n\n"
      "Verification commands (verify, proof, record, chain verify) trust nothing but the genesis "
      "file given with --trust: every answer of the node is checked against the signatures of "
      "that network's validators. Exit codes: 0 valid/done, 1 verified false (tampered, revoked, "
      "superseded, expired, not anchored), 2 bad usage or input (or the node refused the "
      "request), 3 node unreachable or I/O error. Every command takes --json.",
      "emledger");
  app.require_subcommand(1);
  app.set_version_flag("--version", "emledger 0.1.0");
  app.get_formatter()->column_width(34);

  Action action;
  add_key_commands(app, action);
  add_write_commands(app, action);
  add_verify_commands(app, action);
  add_query_commands(app, action);
  add_genesis_commands(app, action);
  add_authz_commands(app, action);
  add_audit_commands(app, action);
  add_validators_commands(app, action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // --json promises one JSON object on stdout, even for a usage error.
    for (int i = 1; i < argc; ++i) {
      if (std::string_view(argv[i]) == "--json") {
        print_json({{"error", {{"code", "BAD_ARGUMENT"}, {"message", e.what()}}}});
        return kExitBadInput;
      }
    }
    app.exit(e);  // prints the message and the usage hint
    return kExitBadInput;
  }
  if (!action) {
    std::cerr << app.help();
    return kExitBadInput;
  }
  return action();
}
