#pragma once

// Cluster: a real local network of ertrd processes for integration tests (`ertrd testnet` +
// `ertrd start`), driven only through the public interfaces: the CLI, the HTTP endpoints, signals
// and the files in each node's home. Fault injection: SIGKILL, SIGTERM, wiping a data directory.

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/api_client.h"
#include "crypto/box_key.h"
#include "crypto/signing.h"
#include "ledger/types.h"
#include "tests/support/ports.h"
#include "tests/support/temp_dir.h"

namespace ertr::testing {

struct NodeStatus {
  std::uint64_t height = 0;
  std::uint64_t view = 0;
  std::string state_root;
  std::uint64_t peers = 0;
};

// A minimal HTTP/1.1 client (Boost.Beast): status code and body, or nullopt if unreachable.
struct HttpResult {
  unsigned status = 0;
  std::string body;
  std::uint64_t content_length = 0;  // the Content-Length header (a HEAD response's, too)
};
std::optional<HttpResult> HttpCall(std::uint16_t port, const std::string& method,
                                   const std::string& target, const std::string& body = "");

class Cluster {
 public:
  // `benchmark_mode`: the genesis accepts unsigned NullOps (issue 11's null-op mode).
  explicit Cluster(int validators = 4, bool benchmark_mode = false);
  ~Cluster();  // SIGKILLs every node still running

  void Start(int i);
  // Starts every node and waits until each is connected to all others (FAILs with the logs).
  void StartAll();
  void Kill(int i);       // SIGKILL, reaped
  void Terminate(int i);  // SIGTERM, waits for a clean exit; CHECKs exit code 0
  // Waits at most `seconds` for node i to exit by itself: its exit code, or -1 if it ran on (it
  // is then SIGKILLed) or a signal ended it.
  int WaitExit(int i, int seconds = 90);
  void WipeData(int i);
  // Replaces the first `from` in node i's config.toml by `to` (REQUIREs it there); before Start.
  void EditConfig(int i, const std::string& from, const std::string& to);
  bool Running(int i) const { return pids_.count(i) > 0; }
  pid_t pid(int i) const { return pids_.at(i); }

  std::optional<NodeStatus> Status(int i) const;
  // A whole-number value of node i's /metrics; -1 if the node does not answer or lacks it.
  long long Metric(int i, const std::string& name) const;
  // Polls until pred holds (every 100 ms), at most `seconds`; false on timeout. A liveness bound
  // for failing the test, not a performance assertion.
  static bool WaitFor(const std::function<bool()>& pred, int seconds = 90);
  // True once every running node is at >= height with the same state root.
  bool Converged(std::uint64_t height) const;

  // A gRPC API client of node `via` signing with `key` (a copy is kept by the client).
  std::unique_ptr<cli::ApiClient> Client(int via, const crypto::SigningKey& key) const;
  // Hospital `inst`'s admin key (from its home).
  const crypto::SigningKey& admin_key(int inst) const {
    return admin_keys_[static_cast<std::size_t>(inst)];
  }
  // Validator i's signing identity, read from its home (for an impostor in a Byzantine test).
  std::unique_ptr<crypto::Signer> ValidatorSigner(int i) const;
  // Signs with hospital `inst`'s admin key and submits to node `via` without waiting; the id.
  Result<std::string> Submit(int via, int inst, const ledger::Payload& payload);
  // Signs with any key and submits to node `via` (the call is made by hospital 0's admin).
  Result<std::string> SubmitAs(int via, const crypto::Signer& signer,
                               const ledger::Payload& payload);
  // Hospital i's encryption key from the genesis.
  const crypto::BoxPublicKey& institution_key(int i) const {
    return institution_keys_[static_cast<std::size_t>(i)];
  }
  // A RegisterUser of a fresh physician at `inst`, signed by its admin.
  ledger::RegisterUser NewPhysician(int inst);
  // The committed outcome of a transaction as node i reports it ("accepted", "rejected:<reason>",
  // "pending", or "" if unknown).
  std::string Outcome(int i, const std::string& tx_id) const;

  std::uint16_t http_port(int i) const { return static_cast<std::uint16_t>(http_base_ + i); }
  std::uint16_t p2p_port(int i) const { return static_cast<std::uint16_t>(p2p_base_ + i); }
  std::uint16_t api_port(int i) const { return static_cast<std::uint16_t>(p2p_base_ + 20 + i); }
  std::string home(int i) const;
  std::string Log(int i) const;
  std::string chain_id() const { return chain_id_; }
  const crypto::PublicKey& validator_key(int i) const {
    return validator_keys_[static_cast<std::size_t>(i)];
  }
  int size() const { return n_; }

 private:
  int n_;
  TempDir dir_;
  testing::PortBlock ports_{100};  // the same blocks as tests/support/local_network.h
  std::uint16_t p2p_base_ = 0;
  std::uint16_t http_base_ = 0;
  std::string chain_id_;
  std::vector<std::unique_ptr<crypto::Signer>> admins_;
  std::vector<crypto::SigningKey> admin_keys_;
  crypto::SigningKey KeyFromHome(int i, const std::string& file_name) const;  // keys/<file_name>
  std::vector<crypto::PublicKey> validator_keys_;
  std::vector<crypto::BoxPublicKey> institution_keys_;
  std::map<int, pid_t> pids_;
};

}  // namespace ertr::testing
