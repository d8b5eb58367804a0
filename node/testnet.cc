#include "node/testnet.h"

#include <chrono>
#include <fstream>

#include "crypto/box_key.h"
#include "crypto/key_file.h"
#include "crypto/secure_buffer.h"
#include "node/config.h"
#include "proto/codec.h"
#include "proto/ledger_codec.h"

namespace ertr::node {

namespace fs = std::filesystem;

namespace {

std::string RandomHex(std::size_t bytes) {
  Bytes b(bytes);
  crypto::RandomBytes(b);
  return ToHex(b);
}

}  // namespace

Status WriteHomeFile(const fs::path& file, std::string_view text, fs::perms perms) {
  std::ofstream o(file, std::ios::binary | std::ios::trunc);
  o << text;
  o.close();
  if (!o) return Status::IoError("cannot write " + file.string());
  std::error_code ec;
  fs::permissions(file, perms, ec);
  if (ec)
    return Status::IoError("cannot set permissions of " + file.string() + ": " + ec.message());
  return Status::Ok();
}

std::uint64_t WallClockMs() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

Status WriteGenesis(const fs::path& file, const ledger::Transaction& genesis) {
  Bytes data = proto::EncodeSignedTransaction(genesis.signed_tx);
  return WriteHomeFile(file, std::string(AsStringView(data)),
                       fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                           fs::perms::others_read);
}

Status CreateTestnet(const fs::path& dir, const TestnetOptions& options, std::ostream& out) {
  if (options.validators < 1 || options.validators > 26) {
    return Status::InvalidArgument(
        "--validators must be 1..26 (n = 3f+1 tolerates f faults: 4 "
        "tolerates 1, 7 tolerates 2)");
  }
  // Each node's ports are its base + i: all of them must be real ports (1..65535).
  for (const auto& [flag, base] : {std::pair{"--base-port", options.base_port},
                                   std::pair{"--base-http-port", options.base_http_port},
                                   std::pair{"--base-api-port", options.base_api_port}}) {
    if (base == 0 || base + options.validators - 1 > 65535) {
      return Status::InvalidArgument(std::string(flag) + " " + std::to_string(base) + " with " +
                                     std::to_string(options.validators) +
                                     " validators gives ports outside 1..65535; pick a base "
                                     "of at most " +
                                     std::to_string(65535 - options.validators + 1));
    }
  }
  std::error_code ec;
  if (fs::exists(dir / "node0" / "config.toml", ec)) {
    return Status::AlreadyExists(dir.string() +
                                 " holds a testnet already; remove it or pick "
                                 "another --dir");
  }
  const auto n = static_cast<std::size_t>(options.validators);
  struct NodeKeys {
    crypto::SigningKey validator = crypto::SigningKey::Generate();
    crypto::BoxKeyPair institution = crypto::BoxKeyPair::Generate();
    crypto::SigningKey admin = crypto::SigningKey::Generate();
  };
  std::vector<NodeKeys> keys(n);
  ledger::Genesis genesis;
  genesis.chain_id = "ertr-testnet-" + RandomHex(4);
  genesis.genesis_time_ms = WallClockMs();
  genesis.parameters.benchmark_mode = options.benchmark_mode;
  genesis.parameters.block_time_in_state = true;  // new chains can take a transferred state
  if (options.max_block_transactions != 0) {
    genesis.parameters.max_block_transactions = options.max_block_transactions;
  }
  for (std::size_t i = 0; i < n; ++i) {
    const std::string id = std::string("hosp-") + static_cast<char>('a' + i);
    genesis.institutions.push_back(ledger::Institution{
        id,
        "Radiation Oncology " + std::string(1, static_cast<char>('A' + i)) + " (testnet)",
        keys[i].validator.public_key(),
        keys[i].institution.public_key(),
        {keys[i].admin.public_key()}});
  }
  // Key files first (encrypted under a random per-node passphrase), then the genesis, signed by
  // the first institution's admin.
  for (std::size_t i = 0; i < n; ++i) {
    const fs::path home = dir / ("node" + std::to_string(i));
    fs::create_directories(home / "keys", ec);
    if (ec)
      return Status::IoError("cannot create " + (home / "keys").string() + ": " + ec.message());
    const std::string passphrase = RandomHex(24);
    ERTR_RETURN_IF_ERROR(WriteHomeFile(home / "keys" / "passphrase", passphrase + "\n",
                                       fs::perms::owner_read | fs::perms::owner_write));
    const auto cost = crypto::KdfCost::Interactive();
    ERTR_RETURN_IF_ERROR(
        crypto::SaveKeyFile(home / "keys" / "validator.key", keys[i].validator, passphrase, cost));
    ERTR_RETURN_IF_ERROR(crypto::SaveKeyFile(home / "keys" / "institution.key", keys[i].institution,
                                             passphrase, cost));
    ERTR_RETURN_IF_ERROR(
        crypto::SaveKeyFile(home / "keys" / "admin.key", keys[i].admin, passphrase, cost));
  }
  ledger::TransactionHeader h;
  h.chain_id = genesis.chain_id;
  h.nonce = 1;
  auto signer = crypto::MakeEd25519Signer(std::move(keys[0].admin));
  ERTR_ASSIGN_OR_RETURN(auto genesis_tx, proto::MakeTransaction(h, genesis, *signer));
  for (std::size_t i = 0; i < n; ++i) {
    const fs::path home = dir / ("node" + std::to_string(i));
    ERTR_RETURN_IF_ERROR(WriteGenesis(home / "genesis.bin", genesis_tx));
    NodeConfig c;
    c.home = home;
    c.validator_index = ReplicaId(static_cast<std::uint32_t>(i));
    c.institution_id = genesis.institutions[i].id;
    c.listen_port = static_cast<std::uint16_t>(options.base_port + i);
    c.http_port = static_cast<std::uint16_t>(options.base_http_port + i);
    c.api_port = static_cast<std::uint16_t>(options.base_api_port + i);
    c.passphrase_file = "keys/passphrase";
    c.view_timeout_ms = options.view_timeout_ms;
    for (std::size_t j = 0; j < n; ++j) {
      if (j == i) continue;
      c.peers.push_back(PeerConfig{ReplicaId(static_cast<std::uint32_t>(j)), "127.0.0.1",
                                   static_cast<std::uint16_t>(options.base_port + j)});
    }
    ERTR_RETURN_IF_ERROR(
        WriteHomeFile(home / "config.toml", RenderNodeConfig(c),
                      fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read));
    out << "  " << home.string() << "  " << c.institution_id << "  validator "
        << keys[i].validator.public_key().ShortHex() << "…  p2p 127.0.0.1:" << c.listen_port
        << "  http 127.0.0.1:" << c.http_port << "  api 127.0.0.1:" << c.api_port << "\n";
  }
  out << "chain " << genesis.chain_id << " with " << n << " validators (tolerates " << (n - 1) / 3
      << " faulty)\n";
  return Status::Ok();
}

}  // namespace ertr::node
