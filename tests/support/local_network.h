#pragma once

// A local network of real ertrd processes on 127.0.0.1, made with `ertrd testnet` in a temporary
// directory: for ertr-bench (bench/) and the chaos harness (tests/chaos/). Processes are started
// with fork/exec, logs go to <dir>/node<i>.log, and the directory is removed by Stop() unless it
// is kept (a failed chaos run keeps it).

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/api_client.h"
#include "crypto/signing.h"
#include "tests/support/ports.h"

namespace ertr::testing {

std::string Slurp(const std::filesystem::path& p);
// GET http://127.0.0.1:port/path; the raw response (empty if the node does not answer).
std::string HttpGet(int port, const std::string& path);
// One Prometheus value from a /metrics text (0 if absent).
double Metric(const std::string& text, const std::string& name);
// A JSON string or number field of /v1/status ("" if absent).
std::string JsonField(const std::string& text, const std::string& name);

struct ProcStats {
  double cpu_seconds = 0;
  std::uint64_t rss_kb = 0;
  std::uint64_t peak_rss_kb = 0;
};
ProcStats ReadProc(pid_t pid);

struct LocalNetworkOptions {
  std::string ertrd;  // path of the binary
  int validators = 4;
  int view_timeout_ms = 0;  // 0: the testnet default
  std::string log_level = "warn";
  // Genesis of the testnet: benchmark mode (unsigned NullOps) and the block size (0: default).
  bool benchmark_mode = false;
  std::uint32_t max_block_transactions = 0;
  // Extra "key = value" lines replacing those of [consensus] in every config (by key).
  std::map<std::string, std::string> consensus;
  // If set, every node runs with this storage-fault library preloaded (tests/chaos/faultfs.cc),
  // controlled by SetStorageFault.
  std::string faultfs;
};

class LocalNetwork {
 public:
  explicit LocalNetwork(LocalNetworkOptions options);
  ~LocalNetwork();
  LocalNetwork(const LocalNetwork&) = delete;
  LocalNetwork& operator=(const LocalNetwork&) = delete;

  // Creates the testnet (ports from a random base) and writes the configs. False + stderr on error.
  bool Create();
  // Points node i's connection to peer j at 127.0.0.1:port (a proxy) instead of j itself.
  bool RoutePeer(int i, int j, int port);

  void Start(int i);
  void StartAll();
  // Sends `sig`; for SIGKILL/SIGTERM also waits for the process and forgets it.
  void Signal(int i, int sig);
  bool Running(int i) const { return pid(i) > 0; }
  // If node i's process has exited on its own, forgets it and returns its wait status.
  std::optional<int> Reap(int i);
  // Sets the storage fault in force at node i (faultfs): "" (none), "enospc" or "eio-sync".
  // Returns once the node's next storage call is sure to see it.
  void SetStorageFault(int i, const std::string& fault) const;
  // Deletes node i's data directory (keys and config stay). The node must be stopped.
  void Wipe(int i);
  // Stops every node (SIGTERM) and removes the directory unless keep_ is set.
  void Stop();
  void Keep() { keep_ = true; }

  int validators() const { return options_.validators; }
  std::filesystem::path dir() const { return dir_; }
  std::filesystem::path Home(int i) const;
  int p2p_port(int i) const { return base_ + i; }
  int http_port(int i) const { return base_ + 10 + i; }
  int api_port(int i) const { return base_ + 20 + i; }
  pid_t pid(int i) const { return pids_[static_cast<std::size_t>(i)]; }
  const std::string& chain_id() const { return chain_id_; }

  std::unique_ptr<cli::ApiClient> Client(int i, std::unique_ptr<crypto::Signer> signer) const;
  std::unique_ptr<crypto::Signer> AdminKey(int i) const;
  // Node i's height from /metrics, -1 if it does not answer.
  double Height(int i) const;
  double NodeMetric(int i, const std::string& name) const;
  double SumMetric(const std::string& name) const;  // over running nodes
  // Waits until every running node reports all its peers connected; false on timeout.
  bool WaitConnected(int seconds) const;
  // Registers a patient (at hosp-a) and one integrator per hospital, through each hospital's
  // admin, and waits until every node applied them. integrators[i] belongs to node i.
  Status RegisterLoadUsers(ledger::Pseudonym& patient,
                           std::vector<crypto::SigningKey>& integrators) const;

 private:
  LocalNetworkOptions options_;
  // Nodes use base+0..29; the chaos proxy base+40 onwards (up to 7 x 7 links).
  PortBlock ports_{100};
  std::filesystem::path dir_;
  int base_ = 0;
  std::string chain_id_;
  std::vector<pid_t> pids_;
  bool keep_ = false;
};

}  // namespace ertr::testing
