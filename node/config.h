#pragma once

// NodeConfig: a hospital node's configuration, `<home>/config.toml` (docs/operations.md).
// Every field is validated on load; an error names the file, the field and what to write.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/host.h"
#include "common/ids.h"
#include "common/status.h"

namespace ertr::node {

struct PeerConfig {
  ReplicaId validator_index;
  std::string host;
  std::uint16_t port = 0;
};

struct NodeConfig {
  std::filesystem::path home;  // directory holding config.toml; relative paths start here
  ReplicaId validator_index;
  std::string institution_id;
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 26600;
  std::string http_host = "127.0.0.1";
  std::uint16_t http_port = 26700;
  // The HTTP endpoints answer anyone: off loopback only when the operator says so.
  bool http_allow_remote = false;
  // The integrator gRPC API (docs/api.md). Off loopback it needs TLS: both files set.
  std::string api_host = "127.0.0.1";
  std::uint16_t api_port = 26800;
  std::filesystem::path api_tls_cert_file;  // PEM certificate chain
  std::filesystem::path api_tls_key_file;   // PEM private key
  // The passphrase of an encrypted api_tls_key_file (its first line); never the node's own.
  std::filesystem::path api_tls_key_passphrase_file;
  // An upload that sends no message for this long is ended (its slot freed for others).
  std::uint32_t api_upload_idle_seconds = 120;
  std::filesystem::path data_dir = "data";
  std::filesystem::path genesis_file = "genesis.bin";
  std::filesystem::path validator_key_file = "keys/validator.key";
  std::filesystem::path institution_key_file = "keys/institution.key";
  // Empty: read the passphrase from $ERTR_PASSPHRASE.
  std::filesystem::path passphrase_file;
  std::uint64_t view_timeout_ms = 2000;
  // consensus::ReplicaConfig::primary_link_timeout_ms (0: links ignored).
  std::uint64_t primary_link_timeout_ms = 500;
  std::uint32_t pipeline_window = 4;
  std::uint32_t min_pipelined_batch = 32;
  std::uint32_t batch_wait_us = 1000;  // ADR 0042
  // The mempool's bounds: its total size, and the transactions it holds from one signer (an
  // integrator's user, or this node itself: access events and key shares).
  std::uint32_t mempool_max_mib = 64;
  std::uint32_t mempool_max_per_signer = 2000;
  // A record submitted here, or gossiped to this node, waits at most this long for its ciphertext
  // to reach f+1 nodes before it is dropped (a caller still waiting for its commit, and
  // GetTransaction, say why).
  std::uint32_t mempool_blob_wait_seconds = 600;
  std::vector<PeerConfig> peers;

  std::filesystem::path Resolve(const std::filesystem::path& p) const {
    return p.is_absolute() ? p : home / p;
  }
};

inline constexpr const char* kPassphraseEnv = "ERTR_PASSPHRASE";

// Why node.http stays on loopback unless node.http_allow_remote says otherwise (config and
// ceremony errors quote it).
inline constexpr const char* kHttpOffLoopback =
    "Its endpoints (/metrics, /healthz, /v1/status) answer anyone, without authentication: they "
    "hold no patient data, but show the node's height, peers and load to whoever reaches the port";

// Reads and validates <home>/config.toml.
Result<NodeConfig> LoadNodeConfig(const std::filesystem::path& home);
// Validates config text; errors name `file_name` and the field.
Result<NodeConfig> ParseNodeConfig(std::string_view text, const std::filesystem::path& home,
                                   const std::string& file_name);
// The TOML text of a config (what `ertrd testnet` and `ertrd init` write).
std::string RenderNodeConfig(const NodeConfig& config);

}  // namespace ertr::node
