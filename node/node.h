#pragma once

// Node: one hospital's running ertrd (docs/operations.md). Wires the stores, the chain code, the
// consensus replica and its driver, the transport, the mempool, block sync and the HTTP
// endpoints on one Asio io_context thread (STYLE.md rules 1.3 and 1.8).

#include <chrono>
#include <map>
#include <memory>
#include <optional>

#include "consensus/replica.h"
#include "crypto/box_key.h"
#include "crypto/signing.h"
#include "ledger/chain_code.h"
#include "net/asio.h"
#include "net/transport.h"
#include "node/blob_replicator.h"
#include "node/config.h"
#include "node/http_server.h"
#include "node/mempool.h"
#include "node/replica_driver.h"
#include "proto/peer_codec.h"
#include "storage/stores.h"

namespace spdlog {
class logger;
}

namespace ertr::node {

// Upper bounds (ms) of the commit latency histogram's buckets; +Inf follows.
inline constexpr std::uint64_t kLatencyBoundsMs[] = {50, 100, 250, 500, 1000, 2500, 5000, 10000};

class Node {
 public:
  // Loads keys, genesis and stores, applies the genesis on a fresh data directory, and restores
  // the replica from the consensus log. Errors say what to fix (config field, file, passphrase).
  static Result<std::unique_ptr<Node>> Open(const NodeConfig& config,
                                            std::shared_ptr<spdlog::logger> logger);
  ~Node();

  // Runs until SIGTERM/SIGINT (then drains and returns OK) or a fatal error.
  Status Run();

 private:
  Node(const NodeConfig& config, std::shared_ptr<spdlog::logger> logger);
  Status Init();

  // Peers (node_peers.cc).
  void OnPeerMessage(ReplicaId from, Bytes payload);
  void OnTransactions(ReplicaId from, const proto::PeerTransactions& m);
  void ServeBlocks(ReplicaId to, const proto::PeerBlockRequest& r);
  void OnBlocks(ReplicaId from, const proto::PeerBlockResponse& r);
  void OnStatus(ReplicaId from, const proto::PeerStatus& s);
  void RequestBlocks(Height from, std::optional<ReplicaId> peer);
  void Tick();
  void SendMessage(std::optional<ReplicaId> to, const proto::PeerMessage& m);

  // Consensus and execution (node.cc).
  Result<crypto::Digest> Execute(const consensus::Deliver& d);
  // Admits a transaction from a client or a peer; gossips it on when new.
  Result<crypto::Digest> Admit(ByteSpan tx, std::optional<ReplicaId> from);

  // Blobs (node_blobs.cc).
  bool IsErasedBlob(const crypto::Digest& digest) const;
  void ReleaseGated(const crypto::Digest& digest);
  void DropGated(const crypto::Digest& digest);
  // After a block: delete erased records' blobs; make sure committed records' blobs replicate.
  void OnBlockBlobs(const std::vector<ledger::Transaction>& txs, const ledger::BlockResult& result);
  HttpResponse PostBlob(const HttpRequest& req);
  HttpResponse GetBlob(const std::string& hex);

  // HTTP (node_http.cc).
  HttpResponse OnHttp(const HttpRequest& req);
  std::string Metrics() const;
  std::string StatusJson() const;

  NodeConfig config_;
  std::shared_ptr<spdlog::logger> log_;
  boost::asio::io_context io_;
  std::unique_ptr<crypto::Signer> signer_;
  std::unique_ptr<crypto::Verifier> verifier_;
  std::optional<crypto::BoxKeyPair> institution_key_;
  std::string chain_id_;
  storage::LedgerStores stores_;
  std::unique_ptr<ledger::ChainCode> chain_code_;
  std::optional<consensus::ValidatorSet> validators_;
  std::unique_ptr<consensus::Replica> replica_;
  std::unique_ptr<ReplicaDriver> driver_;
  std::unique_ptr<net::Transport> transport_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<Mempool> mempool_;
  std::unique_ptr<storage::BlobStore> blobs_;
  std::unique_ptr<BlobReplicator> replicator_;
  // Record transactions waiting until f+1 nodes hold their blob, by ciphertext digest; dropped
  // (and removed from the mempool) if the blob does not appear within kGatedTimeout.
  struct Gated {
    std::vector<consensus::Transaction> txs;
    std::chrono::steady_clock::time_point since;
  };
  std::map<crypto::Digest, Gated> gated_;
  boost::asio::steady_timer tick_{io_};
  std::optional<Status> fatal_;

  // Sync.
  Height best_peer_height_;
  std::chrono::steady_clock::time_point sync_inflight_until_{};
  std::optional<ReplicaId> sync_peer_;  // the peer asked last; answers from others are ignored
  std::uint64_t blocks_synced_ = 0;
  std::uint32_t next_sync_peer_ = 0;

  // Metrics.
  std::map<crypto::Digest, std::chrono::steady_clock::time_point> admitted_at_;
  std::vector<std::uint64_t> latency_buckets_;  // counts per kLatencyBoundsMs bucket (+Inf last)
  double latency_sum_s_ = 0;
  std::uint64_t latency_count_ = 0;
  std::uint64_t tx_committed_ = 0;
  std::uint64_t tx_rejected_ = 0;
  std::uint64_t peer_messages_bad_ = 0;
};

}  // namespace ertr::node
