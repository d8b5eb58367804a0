#pragma once

// `ertrd testnet`: everything N hospitals need to run a local network on 127.0.0.1 — per node a
// home directory with config.toml, encrypted key files (validator, institution, admin) with a
// random passphrase in keys/passphrase (mode 0600; a testnet convenience, never for production),
// and the signed genesis shared by all (docs/operations.md).

#include <filesystem>
#include <ostream>

#include "common/status.h"
#include "ledger/types.h"

namespace ertr::node {

struct TestnetOptions {
  int validators = 4;
  std::uint16_t base_port = 26600;       // node i listens on base_port + i
  std::uint16_t base_http_port = 26700;  // and serves HTTP on base_http_port + i
  std::uint16_t base_api_port = 26800;   // and the gRPC API on base_api_port + i
  std::uint64_t view_timeout_ms = 2000;
  bool benchmark_mode = false;
  std::uint32_t max_block_transactions = 0;  // 0: the genesis default
};

// Writes <dir>/node<i>/ for every validator. AlreadyExists if <dir> holds a testnet already.
Status CreateTestnet(const std::filesystem::path& dir, const TestnetOptions& options,
                     std::ostream& out);

// Writes a small file of a node's home (config, genesis, passphrase) and sets its permissions.
Status WriteHomeFile(const std::filesystem::path& file, std::string_view text,
                     std::filesystem::perms perms);

// Wall-clock milliseconds since the Unix epoch (genesis and block times are wall time).
std::uint64_t WallClockMs();

// The genesis file: a signed genesis transaction (ertr.v1.SignedTransaction bytes), read with
// proto::LoadGenesis.
Status WriteGenesis(const std::filesystem::path& file, const ledger::Transaction& genesis);

}  // namespace ertr::node
