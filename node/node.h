#pragma once

// Node: one hospital's running ertrd (docs/operations.md). Wires the stores, the chain code, the
// consensus replica and its driver, the transport, the mempool, block sync and the HTTP
// endpoints on one Asio io_context thread (STYLE.md rules 1.3 and 1.8).

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string_view>

#include "common/log_limiter.h"
#include "consensus/replica.h"
#include "crypto/box_key.h"
#include "crypto/digest_table.h"
#include "crypto/payload_cipher.h"
#include "crypto/signing.h"
#include "ertr/v1/api.pb.h"
#include "ledger/chain_code.h"
#include "ledger/state.h"
#include "net/asio.h"
#include "net/transport.h"
#include "node/blob_replicator.h"
#include "node/commit_waiters.h"
#include "node/config.h"
#include "node/http_server.h"
#include "node/key_share_book.h"
#include "node/latency_histogram.h"
#include "node/mempool.h"
#include "node/replica_driver.h"
#include "node/state_server.h"
#include "proto/codec.h"
#include "proto/peer_codec.h"
#include "storage/stores.h"

namespace spdlog {
class logger;
}
namespace grpc {
class Server;
}

namespace ertr::node {

// A transaction submitted here and not committed this long after it was last gossiped is gossiped
// again (Node::ResendOutbox).
inline constexpr auto kRegossipAfter = std::chrono::seconds(5);
// A transaction that came from a peer is passed on to the other peers only if it is still waiting
// this long after it arrived (Node::RelayStale): its origin sends it to every peer itself, so a
// relay is needed only when a link of the origin is down. At most kMaxRelayQueue transactions
// and kMaxRelayBytes wait to be relayed; past that, a new arrival is relayed at once (as every
// arrival was before ADR 0018), never not at all.
inline constexpr auto kRelayAfter = std::chrono::seconds(2);
inline constexpr std::size_t kMaxRelayQueue = std::size_t{1} << 17;
inline constexpr std::size_t kMaxRelayBytes = std::size_t{16} << 20;

class Node {
 public:
  // Loads keys, genesis and stores, applies the genesis on a fresh data directory, and restores
  // the replica from the consensus log. Errors say what to fix (config field, file, passphrase).
  static Result<std::unique_ptr<Node>> Open(const NodeConfig& config,
                                            std::shared_ptr<spdlog::logger> logger);
  ~Node();

  // Runs until SIGTERM/SIGINT (then drains and returns OK) or a fatal error.
  Status Run();

  // A record a caller may read: its metadata, data key and ciphertext (node_api.cc).
  struct OpenedRecord {
    crypto::Digest digest;  // of the ciphertext
    ertr::v1::RecordInfo info;
    crypto::DataKey key;
    std::unique_ptr<storage::BlobReader> reader;
  };

 private:
  Node(const NodeConfig& config, std::shared_ptr<spdlog::logger> logger);
  Status Init();

  // Peers (node_peers.cc).
  void OnPeerMessage(ReplicaId from, Bytes payload);
  void OnTransactions(ReplicaId from, const proto::PeerTransactions& m);
  void ServeBlocks(ReplicaId to, const proto::PeerBlockRequest& r);
  // State transfer's serving side (ADR 0037): a snapshot after each checkpoint height's block,
  // the proofs of stable checkpoints, and the pages peers ask for.
  void TakeStateSnapshot(Height h);
  void OnStableCheckpoint(const consensus::CheckpointProof& proof);
  void ServeStatePage(ReplicaId to, const proto::PeerStatePageRequest& r);
  // Block and blob requests are not served while more than this is queued for the asking peer
  // (three quarters of the transport's per-peer queue, 64 MiB: an answer of up to 8 MiB would
  // likely be dropped after its read): counted in ertr_p2p_serve_deferred_total.
  static constexpr std::size_t kServeQueueLimit = 48u << 20;
  // Whether a request from `peer` is not served now (and counted as such).
  bool ServeDeferred(ReplicaId peer);
  std::uint64_t serve_deferred_ = 0;
  void OnBlocks(ReplicaId from, const proto::PeerBlockResponse& r);
  void OnStatus(ReplicaId from, const proto::PeerStatus& s);
  void RequestBlocks(Height from, std::optional<ReplicaId> peer);
  void Tick();
  // Whether a message to one peer was queued (a broadcast: true).
  bool SendMessage(std::optional<ReplicaId> to, const proto::PeerMessage& m);

  // Consensus and execution (node.cc).
  Result<crypto::Digest> Execute(const consensus::Deliver& d, bool body_stored);
  // Whether Admit looks the transaction's outcome up (a committed one is refused), or its caller
  // has just done so, in the same event-loop task, and found none.
  enum class OutcomeCheck { kLookUp, kCallerFoundNone };
  // Admits a transaction from a client or a peer; gossips it on when new.
  Result<crypto::Digest> Admit(ByteSpan tx, std::optional<ReplicaId> from,
                               OutcomeCheck check = OutcomeCheck::kLookUp);
  // Transactions gathered for gossip, sent in PeerTransactions messages within a peer message's
  // bounds, to the peers `to` accepts.
  struct GossipBatch {
    std::vector<Bytes> txs;
    std::vector<Bytes> blobs;  // small blobs that record transactions of the batch name
    std::size_t bytes = 0;
  };
  using PeerFilter = std::function<bool(ReplicaId)>;
  // Adds `tx` (and the small blob it names, sent along), first sending what the batch holds if
  // they would not fit in the same message.
  void AddToGossip(GossipBatch& batch, const Bytes& tx, const PeerFilter& to,
                   std::optional<Bytes> blob = std::nullopt);
  // Sends what the batch holds in one message (if anything) and empties it.
  void SendGossip(GossipBatch& batch, const PeerFilter& to);
  // Every peer but `from` (gossip goes on to all but the peer it came from).
  static PeerFilter AllBut(std::optional<ReplicaId> from) {
    return [from](ReplicaId p) { return !from || p != *from; };
  }
  // Transactions admitted together (a peer's gossip message, a SubmitTransactions call): gossiped
  // on in one message and handed to the replica in one event by FlushAdmitted.
  struct AdmitBatch {
    GossipBatch gossip;
    std::vector<consensus::Transaction> ready;
    // Small blobs sent along with the transactions being admitted (a peer's gossip message): a
    // record transaction's blob found here is stored instead of pulled. A blob is hashed only
    // when a record of the message has its size.
    struct Offered {
      const Bytes* blob;
      std::optional<crypto::Digest> digest;
    };
    std::vector<Offered> offered;
  };
  Result<crypto::Digest> Admit(ByteSpan tx, std::optional<ReplicaId> from, AdmitBatch& batch,
                               OutcomeCheck check = OutcomeCheck::kLookUp);
  void FlushAdmitted(AdmitBatch& batch, std::optional<ReplicaId> from);
  // Stores the record's blob if `from` sent it along in the batch's message (ADR 0029), hashing
  // only the blobs of the record's ciphertext size, each once. Whether the blob was taken.
  bool TakeOfferedBlob(const ledger::SubmitRecord& record, ReplicaId from, AdmitBatch& batch);
  // Gossips again this node's own uncommitted transactions: to `to` all of them (it just
  // connected), or to every peer those last sent kRegossipAfter ago or more. Gossip is sent once
  // and a peer that was not connected then, or whose queue was full, never got it; the primary
  // proposes only what reached it.
  void ResendOutbox(std::optional<ReplicaId> to);
  // Relays the transactions from peers that arrived kRelayAfter ago or more and are still pooled.
  void RelayStale(std::chrono::steady_clock::time_point now);

  // Blobs (node_blobs.cc).
  bool IsErasedBlob(const crypto::Digest& digest) const;
  // Whether a record this node knows names the digest: gated in its mempool, or committed.
  bool IsReferencedBlob(const crypto::Digest& digest) const;
  // The ciphertext size of the committed record that names the digest; nullopt if none does (or
  // the state cannot be read).
  std::optional<std::uint64_t> CommittedBlobSize(const crypto::Digest& digest) const;
  // Whether a committed record names the digest; nullopt if the state cannot be read.
  std::optional<bool> CommittedRecordNames(const crypto::Digest& digest) const;
  // Ciphertext digests IsErasedBlob found not erased (it is asked for every announcement of
  // every holder, and reads the state twice); a digest leaves when a block erases its record.
  static constexpr std::size_t kMaxNotErasedRemembered = 1u << 16;
  mutable crypto::DigestSet not_erased_;
  // Orders the gated records of the digest whose ciphertext size f+1 holders announced
  // (BlobReplicator::IsAvailable); drops those naming another size than this node's copy, which
  // honest holders never announce (ADR 0036). The others wait on.
  void ReleaseGated(const crypto::Digest& digest);
  // For a small blob (storage::kSmallBlobBytes at most): the first validator other than this node
  // among the institutions its record names as holding it (its uploader's), to pull from before
  // any holder has announced it. None for a large one: it is a file, durable once written, and
  // announced in stages as soon as its record is submitted (ADR 0013); asking its uploader before
  // would bypass the staging and split the uploader's serving over every peer.
  std::optional<ReplicaId> NamedHolder(const ledger::SubmitRecord& record) const;
  // Which gated records of a digest DropGated drops; all when empty.
  struct GatedTx;
  using GatedFilter = std::function<bool(const GatedTx&)>;
  // Drops the gated records of the digest that `which` selects (from the mempool too), telling
  // why (NoteDropped); returns how many. Copies of `committed` transactions (the block's just
  // executed, answered by OnBlockApi) are forgotten without a word.
  std::size_t DropGated(const crypto::Digest& digest, std::string_view why,
                        const GatedFilter& which = {},
                        const crypto::DigestSet* committed = nullptr);
  // Drops the gated records of the digest that were gated before `gated_before` (BlobWait()
  // ago), saying why; stops pulling the blob once none is left.
  void DropExpiredGated(const crypto::Digest& digest,
                        std::chrono::steady_clock::time_point gated_before);
  // Why a record naming `named` bytes for the ciphertext `digest`, held here with `stored` bytes,
  // is refused or dropped: one wording wherever it is found.
  static std::string WrongCiphertextSize(const crypto::Digest& digest, std::uint64_t named,
                                         std::uint64_t stored);
  // Remembers why this node dropped a transaction uncommitted, for GetTransaction, and answers
  // the calls waiting for its commit with it.
  void NoteDropped(const crypto::Digest& id, std::string_view why);
  // After a block: delete erased records' blobs; make sure committed records' blobs replicate.
  void OnBlockBlobs(const std::vector<ledger::Transaction>& txs, const ledger::BlockResult& result);

  // The integrator gRPC API (node_api.cc). gRPC threads authenticate calls and stream payloads;
  // everything that reads or changes node state runs on the io thread through PostApi.
  class ApiService;
  class UnaryCall;
  class UploadCall;
  class ReadCall;
  // Reads the API's TLS certificate and key (api.tls_*), opening an encrypted key with its own
  // passphrase (refused if it is the node's, which Init holds); StartApi hands them to gRPC and
  // wipes the key.
  Status LoadApiTls(std::string_view node_passphrase);
  Status StartApi();
  // Runs `run` on the io thread, or `cancel` with the reason (on the calling thread) once the API
  // is closed or its queue is full.
  void PostApi(std::function<void()> run, std::function<void(const Status&)> cancel);
  void DrainApi();
  // Refuses further work, cancels queued work and commit waits, and stops the gRPC server.
  void CloseApi();
  // API calls refused before they ran: unsigned, forged, stale, replayed, or by a stranger.
  std::uint64_t ApiRefused() const;
  // Uploads in progress at the API: declared under 256 KiB (`small`) or not.
  std::uint64_t ApiUploadsInProgress(bool small) const;
  // The API service's part of TickApi: ends the uploads whose client sent nothing for
  // api.upload_idle_seconds, and logs how many refusals went unlogged in a burst.
  void TickApiService();
  std::uint64_t ApiIdleUploadsEnded() const;
  // Unary and GetRecord calls cancelled after waiting on their client (api.upload_idle_seconds).
  std::uint64_t ApiIdleCallsEnded() const;
  // The caller as an active user of the chain; Unauthenticated / PermissionDenied otherwise.
  Result<ledger::UserState> ApiCaller(const crypto::PublicKey& key) const;
  // Block time for API decisions: the newest block's time or the wall clock, whichever is later.
  std::uint64_t ApiTimeMs() const;
  // Signs a payload with this node's validator key and admits it (access events, key shares);
  // the height after which it can no longer commit.
  Result<Height> SubmitOwn(const ledger::Payload& payload);
  // Denials are batched (flushed within kAccessFlushDelay); reads flush at once.
  void QueueAccessEvent(ledger::AccessEvent event);
  Status FlushAccessEvents();
  // After a block that granted access (all records of `patients`) or committed this
  // institution's `records`: seal their keys to newly entitled institutions (KeyShare
  // transactions). For a block `replayed` by block sync it only notes which are due (and forgets
  // those no longer due): the state at that height lacks the envelopes the chain got later, such
  // as this node's own shares from before an outage. ShareDeferredKeys shares them once caught up.
  // A share still in flight (key_shares_) is not posted again; one the mempool refuses is noted
  // for RetryKeyShares, and so is the rest of the call once the mempool is full.
  void PostKeyShares(const std::set<ledger::Pseudonym>& patients,
                     const std::set<ledger::RecordId>& records, std::uint64_t time_ms,
                     bool replayed);
  // The institutions entitled to `record`'s key (ledger::MissingEnvelopes) that hold no envelope
  // and have no share of it from this node on its way (key_shares_, at height `latest`).
  Result<std::vector<std::string>> UnsharedEnvelopes(const ledger::StateView& view,
                                                     const ledger::RecordId& record,
                                                     std::uint64_t time_ms, Height latest) const;
  // Shares the keys noted while catching up that the state still lacks.
  void ShareDeferredKeys();
  // Looks again at the shares key_shares_ says are due (refused, or expired uncommitted).
  void RetryKeyShares();
  KeyShareBook key_shares_;
  // How long a share the mempool refused waits before it is tried again.
  static constexpr std::chrono::seconds kKeyShareRetryDelay{2};
  // Once per start, after kKeyShareAuditDelay and once caught up: every record of this institution
  // is looked at, a slice per tick, and the keys the state still lacks are shared. key_shares_
  // starts empty, so shares that were refused and waiting, or made just before a crash and never
  // sent, would otherwise wait for the patient's next grant. The delay lets shares sent before a
  // restart commit first.
  void AuditKeyShares();
  static constexpr std::chrono::seconds kKeyShareAuditDelay{5};
  static constexpr std::size_t kKeyShareAuditRecords = 256;  // records looked at per tick
  std::chrono::steady_clock::time_point key_share_audit_from_ =
      std::chrono::steady_clock::now() + kKeyShareAuditDelay;
  // The state key the audit goes on from; nullopt once it is done.
  std::optional<Bytes> key_share_audit_next_ = ledger::keys::Records();
  // After a block: answer the calls waiting for its transactions; forget submitted uploads.
  void OnBlockApi(const storage::StoredBlock& block, const ledger::BlockResult& result,
                  const std::vector<ledger::Transaction>& txs, std::uint64_t time_ms);
  // Expired commit waits and uploads never submitted (their blobs are deleted).
  void TickApi();
  // The calls, on the io thread. Errors are what the caller is told.
  void ApiStatus(ertr::v1::NodeStatus& out) const;
  // `stored`: asked again at the end, with the ciphertext on this disk already; the disk must
  // then keep only its reserve free, not room for the record a second time.
  Status ApiUploadAllowed(const ledger::UserState& caller, const ertr::v1::UploadStart& start,
                          bool stored = false);
  Status ApiUploadDone(const ledger::UserState& caller, const ertr::v1::UploadStart& start,
                       const crypto::Digest& digest, std::uint64_t size, const crypto::DataKey& key,
                       ertr::v1::UploadRecordResponse& out);
  void ApiSubmit(const ertr::v1::SubmitTransactionRequest& req,
                 ertr::v1::SubmitTransactionResponse& out, std::function<void(const Status&)> done);
  void ApiSubmitBatch(const ertr::v1::SubmitTransactionsRequest& req,
                      ertr::v1::SubmitTransactionsResponse& out,
                      std::function<void(const Status&)> done);
  Status ApiReceipt(const storage::StoredBlock& block, std::uint32_t index, ertr::v1::Receipt& out);
  Status ApiGetTransaction(const ertr::v1::GetTransactionRequest& req,
                           ertr::v1::TransactionInfo& out);
  // A record's blob is corrupt here (found while it was read): deleted and pulled again from the
  // peers (io thread).
  void RepairBlob(const crypto::Digest& digest);
  Result<OpenedRecord> ApiOpenRecord(const ledger::UserState& caller,
                                     const ertr::v1::GetRecordRequest& req);
  Status ApiListRecords(const ledger::UserState& caller, const ertr::v1::ListRecordsRequest& req,
                        ertr::v1::ListRecordsResponse& out);
  // May the caller see the patient's audit trail and grants, or those of one of its records: its
  // home institution, an institution that submitted any of its records, or a user who may read
  // any of them (docs/api.md).
  Status ApiMayAudit(const ledger::UserState& caller, const ledger::Pseudonym& patient);
  Status ApiListGrants(const ledger::UserState& caller, const ertr::v1::ListGrantsRequest& req,
                       ertr::v1::ListGrantsResponse& out);
  Status ApiAuditTrail(const ledger::UserState& caller, const ertr::v1::GetAuditTrailRequest& req,
                       ertr::v1::GetAuditTrailResponse& out);
  Status ApiGetReceipt(const ertr::v1::GetReceiptRequest& req, ertr::v1::Receipt& out);
  Status ApiGetBlock(const ertr::v1::GetBlockRequest& req, ertr::v1::Block& out);

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
  // Metrics: how long the disk took to make the consensus log's saves and the small blobs' writes
  // durable (each an fdatasync of a RocksDB write-ahead log), recorded by the threads that wait
  // for it. Declared before those threads' owners, so that they outlive them.
  LatencyHistogram consensus_log_syncs_;
  LatencyHistogram blob_syncs_;
  std::unique_ptr<ReplicaDriver> driver_;
  // One thread that checks the commit certificates of synced blocks ahead of the io thread,
  // filling the verifier's cache: during catch-up it verifies the next batch while the io thread
  // executes the previous one. Blocks reach the driver in the order they arrived.
  std::unique_ptr<boost::asio::thread_pool> verify_pool_;
  // One thread that syncs the small-blob database for the replicator (its Hooks), and takes the
  // listing of held blobs sent to a peer that connects, so that the io thread does not wait for
  // the disk.
  std::unique_ptr<boost::asio::thread_pool> blob_sync_pool_;
  std::unique_ptr<net::Transport> transport_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<Mempool> mempool_;
  std::unique_ptr<storage::BlobStore> blobs_;
  std::unique_ptr<BlobReplicator> replicator_;
  // How long a record waits for f+1 holders of its blob (mempool.blob_wait_seconds).
  std::chrono::seconds BlobWait() const {
    return std::chrono::seconds(config_.mempool_blob_wait_seconds);
  }
  // Record transactions waiting until f+1 nodes hold their blob at the size they name, by
  // ciphertext digest; dropped (and removed from the mempool) if it does not come within
  // BlobWait().
  struct GatedTx {
    consensus::Transaction tx;
    std::uint64_t size = 0;  // the record's ciphertext_size
    std::chrono::steady_clock::time_point since;
  };
  struct Gated {
    std::vector<GatedTx> txs;
    // Whether Tick looked for a committed record naming the digest (once it waited a second).
    bool committed_checked = false;
  };
  std::map<crypto::Digest, Gated> gated_;
  boost::asio::steady_timer tick_{io_};
  std::optional<Status> fatal_;
  ledger::ChainParameters params_;
  std::vector<std::string> institution_ids_;  // by validator index
  std::uint64_t last_block_time_ms_ = 0;

  // API.
  // shared_ptr: their types are complete only in node_api.cc.
  std::shared_ptr<ApiService> api_service_;
  std::shared_ptr<grpc::Server> grpc_server_;
  int api_port_ = 0;
  std::string api_tls_cert_;                         // PEM chain, if TLS is configured
  std::optional<crypto::SecureBuffer> api_tls_key_;  // unencrypted PEM, until StartApi
  std::mutex api_mu_;
  struct ApiWork {
    std::function<void()> run;
    std::function<void(const Status&)> cancel;
  };
  std::deque<ApiWork> api_queue_;  // guarded by api_mu_
  bool api_closed_ = false;        // guarded by api_mu_
  CommitWaiters commit_waiters_;
  // Transactions this node dropped uncommitted, with why (NoteDropped): the newest
  // kMaxDroppedRemembered, oldest forgotten first.
  static constexpr std::size_t kMaxDroppedRemembered = 4096;
  std::map<crypto::Digest, std::string> dropped_;
  std::deque<crypto::Digest> dropped_order_;
  std::vector<ledger::AccessEvent> pending_access_;
  boost::asio::steady_timer access_flush_{io_};
  bool access_flush_armed_ = false;
  // Uploaded blobs whose SubmitRecord has not committed yet, and blobs no record references
  // (found by the periodic sweep), with when they may be deleted.
  std::map<crypto::Digest, std::chrono::steady_clock::time_point> unsubmitted_uploads_;
  std::chrono::steady_clock::time_point next_orphan_sweep_{};
  // The sweep's listing (taken on the blob sync thread: it reads every blob's size) and the
  // digests of it still to look up in the state, kOrphanChecksPerTick per tick, so that a store
  // of many blobs never stalls the io thread.
  bool orphan_listing_ = false;
  std::vector<crypto::Digest> orphan_candidates_;
  static constexpr std::size_t kOrphanChecksPerTick = 4096;
  // Runs `work` on the blob sync thread, then `then` on the io thread.
  void InBackground(std::function<void()> work, std::function<void()> then);
  // Active users' keys, for the gRPC threads to refuse strangers before anything else
  // (kept current by OnBlockApi).
  mutable std::mutex users_mu_;
  std::set<crypto::PublicKey> active_users_;  // guarded by users_mu_
  bool IsActiveUser(const crypto::PublicKey& key) const;
  Status LoadActiveUsers();
  // Refuses data calls while this node is behind its peers (its policy view would be stale).
  Status RequireSynced() const;
  // Bytes free on the data directory's disk; nullopt if that cannot be read.
  std::optional<std::uint64_t> FreeDiskBytes() const;
  // RESOURCE_EXHAUSTED if writing `bytes` more of an upload would leave less than
  // kDiskReserveBytes free (thread-safe: the API's writer threads ask before each chunk).
  Status UploadRoomFor(std::uint64_t bytes) const;
  // The height after which a transaction this node prepares expires.
  std::uint64_t ValidUntilHeight() const;

  // Sync.
  // The height the connected peers report, believed only as far as f+1 of them report it (the
  // (f+1)-th highest claim; the highest while fewer report): one faulty peer claiming a huge
  // height cannot keep this node "catching up" for ever, refusing reads and uploads.
  Height best_peer_height_;
  std::map<ReplicaId, Height> peer_heights_;  // the last status of each connected peer
  void UpdateBestPeerHeight();
  std::chrono::steady_clock::time_point sync_inflight_until_{};
  std::optional<ReplicaId> sync_peer_;  // the peer asked last; answers from others are ignored
  // The peer whose last answer held no block (it lacks them, or cannot read them): passed over
  // by the next request while another peer is connected.
  std::optional<ReplicaId> sync_unhelpful_;
  // Synced batches handed to the verify thread and not yet to the driver (bounded, so a fast
  // network cannot queue the whole chain in memory), and the highest height among them.
  static constexpr int kMaxSyncBatchesInFlight = 4;
  int sync_batches_in_flight_ = 0;
  Height sync_pending_height_;
  // A batch is verified in pieces of about kVerifyPieceTransactions on every thread of the
  // verify pool; pieces reach the driver in the order they were cut (verified_pieces_ holds
  // those that finished early).
  static constexpr std::size_t kVerifyPieceTransactions = 512;
  struct VerifiedPiece {
    std::vector<proto::Block> blocks;
    ReplicaId from;
    bool ends_batch = false;
    // The first of its blocks whose commit certificate did not verify: it and every later block
    // of its batch are dropped, and the peer that served them is named.
    std::optional<Height> refused_at;
  };
  std::uint64_t next_piece_ = 0;
  std::uint64_t next_piece_delivered_ = 0;
  std::map<std::uint64_t, VerifiedPiece> verified_pieces_;
  void DeliverVerifiedPieces();
  // The height blocks are stored or on their way to the driver up to.
  Height SyncedOrPending() const;
  Height synced_through_;  // the highest certified block handed on by block sync
  // This institution's records whose keys were due to an institution in a replayed block
  // (PostKeyShares): only those still due are remembered.
  std::set<ledger::RecordId> deferred_key_shares_;
  std::uint64_t blocks_synced_ = 0;
  // Synced blocks refused before execution: undecodable (a body that does not match its
  // header's tx_root among others) or a commit certificate that does not verify. The rest of a
  // refused batch is skipped (skipping_sync_batch_); counted and said once per batch.
  std::uint64_t sync_blocks_refused_ = 0;
  bool skipping_sync_batch_ = false;
  LogLimiter sync_refused_log_{std::chrono::minutes(1), 10};
  void RefuseSyncedBlocks(ReplicaId from, Height height, std::string_view why);
  std::uint32_t next_sync_peer_ = 0;

  // Transactions submitted at this node's API, until they commit or their time passes (Tick):
  // gossiped again by ResendOutbox, and their commit latency measured from `admitted`.
  struct Outbound {
    Bytes bytes;
    std::chrono::steady_clock::time_point admitted;
    std::chrono::steady_clock::time_point sent;
  };
  crypto::DigestMap<Outbound> outbox_;
  std::uint64_t regossiped_ = 0;
  // Transactions admitted from peers, in arrival order, until RelayStale looks at them.
  struct Relay {
    std::chrono::steady_clock::time_point arrived;
    ReplicaId from;
    crypto::Digest id;
    Bytes bytes;
  };
  std::deque<Relay> relay_queue_;
  std::size_t relay_queue_bytes_ = 0;
  std::uint64_t relayed_ = 0;
  std::uint64_t relayed_at_once_ = 0;  // the queue was full

  // The block receipts were last built from, decoded once (ApiReceipt, io thread). The callers
  // waiting on one block are answered one after another, each with a receipt from that block.
  // Decoding its whole body again for each of them grows with the square of the records per
  // block (1.8 % of a validator's profile at 64 record clients). Holds one block's transactions.
  struct ReceiptSource {
    Height height;
    Bytes header;
    std::vector<consensus::Transaction> txs;  // the bytes as decided, with their ids
    std::vector<crypto::Digest> leaves;       // consensus::TransactionLeaf of each
  };
  std::optional<ReceiptSource> receipt_source_;

  // Metrics.
  LatencyHistogram commit_latency_;
  std::uint64_t tx_committed_ = 0;
  std::uint64_t tx_rejected_ = 0;
  std::uint64_t peer_messages_bad_ = 0;
  // Copies of transactions refused in proposals and prepared certificates (ADR 0022), and when
  // the next warning about them may be logged.
  std::uint64_t forged_transactions_ = 0;
  bool benchmark_mode_ = false;            // the genesis parameter: unsigned NullOps are allowed
  std::uint64_t checkpoint_interval_ = 0;  // the genesis parameter
  StateServer state_server_;
  LogLimiter forged_log_{std::chrono::seconds(10)};
  // Counts (and logs, rate-limited) a copy refused by transaction_valid or
  // certified_transaction_valid.
  // What the replica checks of a certified transaction (in a prepared certificate, ADR 0022): its
  // bytes are canonical and it is authentic (signed by its signer, or a benchmark chain's NullOp).
  bool CertifiedTransactionValid(ByteSpan bytes, const crypto::Digest& id) const;
  void CountForgedTransaction(const crypto::Digest& id);
};

}  // namespace ertr::node
