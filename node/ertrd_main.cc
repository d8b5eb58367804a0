// ertrd: the ertrchain node daemon. Wires concrete implementations together (STYLE.md rule 1.8).

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

#include "common/version.h"
#include "crypto/init.h"
#include "crypto/key_file.h"
#include "node/build_info.h"
#include "node/ceremony.h"
#include "node/config.h"
#include "node/node.h"
#include "node/selfcheck.h"
#include "node/testnet.h"
#include "proto/grpc_status.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#ifdef ERTR_JEMALLOC
#include <jemalloc/jemalloc.h>

// jemalloc is ertrd's allocator (ADR 0016). One arena (threads keep their own caches in front
// of it), and freed pages go back to the kernel about two seconds after they fall idle (the
// default is ten), so a large upload's buffers do not stay resident. Half a second cost a fifth
// of the null-op peak in purging and faulting the same pages back in (ADR 0016). MALLOC_CONF in
// the environment overrides this.
extern "C" {
// NOLINTNEXTLINE: the name and type are jemalloc's interface.
const char* malloc_conf = "narenas:1,dirty_decay_ms:2000,muzzy_decay_ms:0";
}

namespace {
std::string AllocatorInfo() {
  const char* v = nullptr;
  std::size_t len = sizeof(v);
  if (mallctl("version", static_cast<void*>(&v), &len, nullptr, 0) != 0 || v == nullptr) {
    return "  allocator jemalloc\n";
  }
  return std::string("  allocator jemalloc ") + v + "\n";
}
}  // namespace
#else
namespace {
std::string AllocatorInfo() { return "  allocator system malloc (sanitizer build)\n"; }
}  // namespace
#endif

namespace {
// init and testnet refuse only their own flags with InvalidArgument: a usage error (exit 2).
int FlagsOrFailed(const ertr::Status& s) {
  return s.code() == ertr::StatusCode::kInvalidArgument ? 2 : 1;
}
}  // namespace

int main(int argc, char** argv) {
  ertr::proto::PrepareGrpcProcess();
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

    std::string net_dir;
    ertr::node::TestnetOptions tn;
    auto* testnet = app.add_subcommand(
        "testnet",
        "Create keys, genesis and configs for N hospitals on 127.0.0.1 (one directory each)");
    testnet->add_option("--dir", net_dir, "Directory to create (node0/, node1/, ...)")->required();
    testnet->add_option("--validators", tn.validators, "Number of hospitals (4 tolerates 1 fault)")
        ->capture_default_str();
    testnet->add_option("--base-port", tn.base_port, "P2P port of node0; node i uses base+i")
        ->capture_default_str();
    testnet
        ->add_option("--base-http-port", tn.base_http_port,
                     "HTTP port of node0; node i uses base+i")
        ->capture_default_str();
    testnet
        ->add_option("--base-api-port", tn.base_api_port,
                     "gRPC API port of node0; node i uses base+i")
        ->capture_default_str();
    testnet->add_option("--view-timeout-ms", tn.view_timeout_ms, "Consensus progress timeout")
        ->capture_default_str();
    testnet->add_flag("--benchmark-mode", tn.benchmark_mode,
                      "Accept unsigned NullOp transactions (load tests; never in production)");
    testnet
        ->add_option("--max-block-transactions", tn.max_block_transactions,
                     "Genesis parameter: most transactions in a block (default: the genesis "
                     "default)")
        ->check(CLI::Range(1u, 100'000u));

    ertr::node::InitOptions io;
    std::string init_home, init_pass;
    auto* init =
        app.add_subcommand("init", "Create one hospital's keys, config.toml and member.toml");
    init->add_option("--home", init_home, "Home directory to create")->required();
    init->add_option("--institution-id", io.institution_id, "Short id, e.g. hosp-a")->required();
    init->add_option("--name", io.name, "Display name of the department")->required();
    init->add_option("--listen", io.listen, "P2P listen address")->capture_default_str();
    init->add_option("--advertise", io.advertised_address,
                     "Address peers dial: this host's name or IP as they reach it (default: "
                     "--listen; needed when that is 0.0.0.0, the default)");
    init->add_option("--http", io.http, "HTTP address (keep on loopback)")->capture_default_str();
    init->add_option("--api", io.api, "gRPC API address (off loopback it needs TLS files)")
        ->capture_default_str();
    init->add_option("--passphrase-file", init_pass,
                     "Key passphrase file (default: $ERTR_PASSPHRASE)");

    ertr::node::GenesisOptions go;
    std::string genesis_out, genesis_admin, genesis_pass;
    std::vector<std::string> members;
    auto* genesis =
        app.add_subcommand("genesis", "Sign a genesis from the hospitals' member.toml files");
    genesis->add_option("--chain-id", go.chain_id, "Name of the network")->required();
    genesis->add_option("--admin-key", genesis_admin, "One member's keys/admin.key")->required();
    genesis->add_option("--passphrase-file", genesis_pass,
                        "Its passphrase file (default: $ERTR_PASSPHRASE)");
    genesis->add_option("--out", genesis_out, "genesis.bin to write")->required();
    genesis->add_option("members", members, "member.toml files, in validator order")->required();

    std::string home;
    auto* start =
        app.add_subcommand("start", "Run the node of the hospital whose home directory is given");
    start->add_option("--home", home, "Node home directory (holds config.toml)")->required();
    std::string log_level = "info";
    start->add_option("--log-level", log_level, "trace, debug, info, warn or error")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
        ->capture_default_str();

    auto* show_id = app.add_subcommand("show-node-id", "Print this node's validator public key");
    show_id->add_option("--home", home, "Node home directory (holds config.toml)")->required();

    app.footer(
        "Quick start: ertrd testnet --dir net && ertrd start --home net/node0 (and node1..3).\n"
        "Passphrases come from the config's keys.passphrase_file or $ERTR_PASSPHRASE.\n"
        "Exit codes: 0 success, 1 the operation failed (message on stderr), 2 usage error (a\n"
        "flag that cannot work, e.g. an institution id with a space).");

    try {
      app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
      return app.exit(e);
    } catch (const CLI::ParseError& e) {
      app.exit(e);
      return 2;
    }
    if (version) {
      std::cout << ertr::node::BuildInfo() << AllocatorInfo();
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
    if (init->parsed()) {
      io.home = init_home;
      io.passphrase_file = init_pass;
      auto s = ertr::node::InitNode(io, std::cout);
      if (!s.ok()) {
        std::cerr << "ertrd init: " << s.ToString() << "\n";
        return FlagsOrFailed(s);
      }
      return 0;
    }
    if (genesis->parsed()) {
      go.admin_key = genesis_admin;
      go.passphrase_file = genesis_pass;
      go.out = genesis_out;
      for (const auto& m : members) go.members.emplace_back(m);
      auto s = ertr::node::CreateGenesis(go, std::cout);
      if (!s.ok()) {
        std::cerr << "ertrd genesis: " << s.ToString() << "\n";
        return 1;
      }
      return 0;
    }
    if (testnet->parsed()) {
      auto s = ertr::node::CreateTestnet(net_dir, tn, std::cout);
      if (!s.ok()) {
        std::cerr << "ertrd testnet: " << s.ToString() << "\n";
        return FlagsOrFailed(s);
      }
      return 0;
    }
    if (show_id->parsed()) {
      auto config = ertr::node::LoadNodeConfig(home);
      if (!config) {
        std::cerr << "ertrd show-node-id: " << config.error().ToString() << "\n";
        return 1;
      }
      const auto path = config->Resolve(config->validator_key_file);
      auto file = ertr::crypto::ReadKeyFileBytes(path);
      auto info = file ? ertr::crypto::InspectKeyFile(*file)
                       : ertr::Result<ertr::crypto::KeyFileInfo>(file.error());
      if (!info) {
        std::cerr << "ertrd show-node-id: " << path.string()
                  << " (keys.validator): " << info.error().ToString() << "\n";
        return 1;
      }
      if (info->type != ertr::crypto::KeyType::kEd25519) {
        std::cerr << "ertrd show-node-id: " << path.string()
                  << " (keys.validator) holds an X25519 encryption key, not an Ed25519 signing "
                     "key; point keys.validator at the validator key (keys/validator.key)\n";
        return 1;
      }
      std::cout << ertr::ToHex(info->public_key) << "\n";
      return 0;
    }
    if (start->parsed()) {
      auto logger = spdlog::stderr_color_mt("ertrd");
      logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
      logger->set_level(spdlog::level::from_str(log_level));
      spdlog::set_default_logger(logger);  // RocksDB's diagnostics go here too
      auto config = ertr::node::LoadNodeConfig(home);
      if (!config) {
        logger->error("event=config_error reason=\"{}\"", config.error().ToString());
        return 1;
      }
      auto node = ertr::node::Node::Open(*config, logger);
      if (!node) {
        logger->error("event=start_failed reason=\"{}\"", node.error().ToString());
        return 1;
      }
      auto s = (*node)->Run();
      if (!s.ok()) {
        logger->error("event=node_failed reason=\"{}\"", s.ToString());
        logger->flush();
        // A node that failed stops at once, as a crash would. Above all after a storage failure:
        // closing the stores cleanly would write again to the disk that just failed (and wait on
        // RocksDB's own recovery), while everything acknowledged is already synced and RocksDB
        // replays its WAL at the next start, the path the crash tests exercise.
        std::_Exit(1);
      }
      return 0;
    }
    std::cerr << app.help();  // no command given: a usage error
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "ertrd: unexpected error: " << e.what() << "\n";
    return 1;
  }
}
