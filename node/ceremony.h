#pragma once

// Setting up a real network of hospitals (docs/operations.md, "A production network"):
//   1. each hospital runs `ertrd init`: its keys (encrypted under its own passphrase), a
//      config.toml, and member.toml — the public half it sends to the coordinator;
//   2. the coordinator runs `ertrd genesis` over all member.toml files (their order is the
//      validator order), signs the genesis with one hospital admin key, and sends genesis.bin
//      and the printed [[peers]] list back;
//   3. each hospital copies genesis.bin into its home, sets node.validator_index and [[peers]],
//      and runs `ertrd start`.

#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "common/status.h"
#include "ledger/types.h"

namespace ertr::node {

// One hospital's member.toml: its institution (id, name, public keys) and the address its peers
// dial. `name` (the file) goes into error messages.
struct Member {
  ledger::Institution institution;
  std::string address;
};
Result<Member> ParseMember(std::string_view text, const std::string& name);

struct InitOptions {
  std::filesystem::path home;
  std::string institution_id;
  std::string name;
  std::string listen = "0.0.0.0:26600";
  std::string advertised_address;  // what peers dial; default: listen
  std::string http = "127.0.0.1:26700";
  std::string api = "127.0.0.1:26800";    // off loopback: add [api] TLS files to config.toml
  std::filesystem::path passphrase_file;  // empty: $ERTR_PASSPHRASE
};

// Writes <home>/keys/{validator,institution,admin}.key, <home>/config.toml, <home>/member.toml.
// AlreadyExists if the home holds keys already (keys are never overwritten).
Status InitNode(const InitOptions& options, std::ostream& out);

struct GenesisOptions {
  std::string chain_id;
  std::vector<std::filesystem::path> members;  // member.toml files, in validator order
  std::filesystem::path admin_key;             // one member's admin key file, signs the genesis
  std::filesystem::path passphrase_file;       // for admin_key; empty: $ERTR_PASSPHRASE
  std::filesystem::path out;                   // genesis.bin to write
};

// Writes the signed genesis and prints each member's validator index and the [[peers]] blocks.
Status CreateGenesis(const GenesisOptions& options, std::ostream& out);

}  // namespace ertr::node
