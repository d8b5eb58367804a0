// ertrd: the ertrchain node daemon. Wires concrete implementations together (STYLE.md rule 1.8).

#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>

#include "common/version.h"
#include "crypto/init.h"
#include "node/build_info.h"
#include "node/selfcheck.h"

int main(int argc, char** argv) {
  try {
    CLI::App app{
        "ertrd - the ertrchain node daemon.\n"
        "Each radiation-oncology department runs one ertrd: a validating peer that agrees with "
        "the\n"
        "other hospitals on one ledger of encrypted treatment records (PBFT consensus) and keeps\n"
        "the record ciphertexts off-chain.",
        "ertrd"};
    app.require_subcommand(0, 1);
    bool version = false;
    app.add_flag("--version", version, "Print the version and library versions, then exit");

    std::string scratch;
    auto* selfcheck = app.add_subcommand(
        "selfcheck", "Check this machine's crypto and storage end to end in a scratch directory");
    selfcheck->add_option("--dir", scratch, "Scratch directory (created; must not hold a database)")
        ->required();

    app.footer(
        "Node operation (init, testnet, start) arrives with the networked node; see README.md.\n"
        "Exit codes: 0 success, 1 the operation failed (message on stderr), 2 usage error.");

    try {
      app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
      return app.exit(e);
    } catch (const CLI::ParseError& e) {
      app.exit(e);
      return 2;
    }
    if (version) {
      std::cout << ertr::node::BuildInfo();
      return 0;
    }
    if (auto s = ertr::crypto::Init(); !s.ok()) {
      std::cerr << "ertrd: " << s.ToString() << "\n";
      return 1;
    }
    if (selfcheck->parsed()) {
      std::error_code ec;
      std::filesystem::create_directories(scratch, ec);
      auto s = ertr::node::RunSelfCheck(scratch, std::cout);
      if (!s.ok()) {
        std::cerr << "ertrd selfcheck: " << s.ToString() << "\n";
        return 1;
      }
      return 0;
    }
    std::cout << app.help();
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "ertrd: unexpected error: " << e.what() << "\n";
    return 1;
  }
}
