// Node: messages from peers, transaction gossip and block sync (docs/spec/wire.md section 4).

#include <spdlog/spdlog.h>

#include "consensus/commit_certificate.h"
#include "ledger/transaction.h"
#include "node/node.h"
#include "proto/codec.h"
#include "proto/consensus_codec.h"

namespace ertr::node {

namespace {

constexpr auto kSyncTimeout = std::chrono::seconds(3);
// After an answer with nothing or a refused one: no request before this. Just under the period of
// the peers' statuses (one a second), which trigger the next request, so that the first status
// after it does (with exactly a second, a status arriving at the same phase was a little early,
// and the next request waited two).
constexpr auto kSyncHoldOff = std::chrono::milliseconds(900);
constexpr std::size_t kMaxSyncResponseBytes = 8u << 20;
// How long a transaction submitted here is gossiped again until it commits, at least.
constexpr auto kOutboxTtl = std::chrono::minutes(10);

// "10 minutes", "1 minute", "2 hours", "45 s".
std::string WaitText(std::chrono::seconds wait) {
  const auto s = wait.count();
  if (s % 3600 == 0) return std::to_string(s / 3600) + (s == 3600 ? " hour" : " hours");
  if (s % 60 == 0) return std::to_string(s / 60) + (s == 60 ? " minute" : " minutes");
  return std::to_string(s) + " s";
}

consensus::Decided ToDecided(proto::Block&& b) {
  consensus::Decided d;
  d.proposal.header = b.header;
  d.proposal.digest = b.hash;
  std::vector<consensus::Transaction> txs;
  txs.reserve(b.transactions.size());
  // The bytes as the peer sent them (DecodeBlock keeps one per transaction), not encoded again.
  for (std::size_t i = 0; i < b.transactions.size(); ++i) {
    txs.push_back(
        consensus::Transaction{b.transactions[i].id, std::move(b.transaction_bytes.at(i))});
  }
  d.proposal.txs = std::move(txs);
  d.view = b.certificate.view;
  for (const auto& v : b.certificate.votes) {
    consensus::Commit c;
    c.view = b.certificate.view;
    c.height = b.certificate.height;
    c.digest = b.certificate.block_hash;
    c.sender = v.replica;
    c.signature = v.signature;
    d.commits.push_back(c);
  }
  return d;
}

}  // namespace

bool Node::SendMessage(std::optional<ReplicaId> to, const proto::PeerMessage& m) {
  const Bytes bytes = proto::EncodePeerMessage(m);
  if (to) return transport_->Send(*to, bytes);
  transport_->Broadcast(bytes);
  return true;
}

void Node::OnPeerMessage(ReplicaId from, Bytes payload) {
  auto m = proto::DecodePeerMessage(payload);
  if (!m) {
    ++peer_messages_bad_;
    log_->warn("event=bad_peer_message peer={} reason=\"{}\"", from.value(), m.error().message());
    return;
  }
  struct Visitor {
    Node& n;
    ReplicaId from;
    void operator()(const proto::PeerConsensus& c) const {
      auto msg = proto::DecodeConsensusMessage(c.message, proto::PeekTransactionId);
      if (!msg) {
        ++n.peer_messages_bad_;
        n.log_->warn("event=bad_consensus_message peer={} reason=\"{}\"", from.value(),
                     msg.error().message());
        return;
      }
      n.driver_->Post(consensus::MessageReceived{from, std::move(*msg)});
    }
    void operator()(const proto::PeerTransactions& t) const { n.OnTransactions(from, t); }
    void operator()(const proto::PeerBlockRequest& r) const { n.ServeBlocks(from, r); }
    void operator()(const proto::PeerBlockResponse& r) const { n.OnBlocks(from, r); }
    void operator()(const proto::PeerStatus& s) const { n.OnStatus(from, s); }
    void operator()(const proto::PeerBlobHave& h) const { n.replicator_->OnHave(from, h); }
    void operator()(const proto::PeerBlobRequest& r) const {
      // Not served while much is still queued for this peer: the chunk would likely be dropped
      // after its read, and a peer asking faster than it takes must not keep the io thread
      // reading for nothing. Its pull stalls, and it asks another holder.
      if (!n.ServeDeferred(from)) n.replicator_->OnRequest(from, r);
    }
    void operator()(const proto::PeerBlobChunk& c) const { n.replicator_->OnChunk(from, c); }
    void operator()(const proto::PeerBlobPush& p) const { n.replicator_->OnPush(from, p); }
    void operator()(const proto::PeerBlobPushAck& a) const { n.replicator_->OnPushAck(from, a); }
    // State transfer (ADR 0037): answered at once, an empty proof or `not_held` included, so
    // that a peer asking goes on to another one, or to block sync, without waiting for a timeout.
    void operator()(const proto::PeerStateProofRequest&) const {
      n.SendMessage(from, proto::PeerStateProof{n.state_server_.proof()});
    }
    void operator()(const proto::PeerStatePageRequest& r) const { n.ServeStatePage(from, r); }
    // Answers to requests this node does not make yet: dropped.
    void operator()(const proto::PeerStateProof&) const {}
    void operator()(const proto::PeerStatePage&) const {}
  };
  std::visit(Visitor{*this, from}, *m);
}

void Node::OnTransactions(ReplicaId from, const proto::PeerTransactions& m) {
  AdmitBatch batch;
  batch.offered.reserve(m.blobs.size());
  for (const auto& blob : m.blobs) batch.offered.push_back({&blob, std::nullopt});
  for (const auto& tx : m.transactions) {
    auto r = Admit(tx, from, batch);
    if (!r && r.error().code() != StatusCode::kAlreadyExists) {
      log_->debug("event=gossip_tx_refused peer={} reason=\"{}\"", from.value(),
                  r.error().message());
    }
  }
  FlushAdmitted(batch, from);
}

bool Node::ServeDeferred(ReplicaId peer) {
  if (transport_->QueuedBytes(peer) <= kServeQueueLimit) return false;
  ++serve_deferred_;
  return true;
}

void Node::ServeBlocks(ReplicaId to, const proto::PeerBlockRequest& r) {
  // As for blob requests: an answer (up to 8 MiB read and encoded here, on the io thread) is
  // not made while much is still queued for the peer; it asks another peer after its timeout.
  if (ServeDeferred(to)) return;
  const Height latest = stores_.blocks->LatestHeight();
  proto::PeerBlockResponse response;
  std::size_t bytes = 0;
  for (Height h = r.from; h <= latest && response.blocks.size() < r.max_blocks; h = h.Next()) {
    auto stored = stores_.blocks->LoadBlock(h);
    if (!stored) {
      log_->error("event=block_unreadable height={} reason=\"{}\"", h.value(),
                  stored.error().ToString());
      break;
    }
    // Its stored parts as they are (state root zero: the receiver re-executes); the receiver
    // checks everything, and the store checked each value's checksum when it read it.
    Bytes encoded = proto::EncodeBlock(stored->header, stored->body, stored->certificate);
    if (!response.blocks.empty() && bytes + encoded.size() > kMaxSyncResponseBytes) break;
    bytes += encoded.size();
    response.blocks.push_back(std::move(encoded));
  }
  // Answered even when empty (nothing beyond `latest`, or a block that cannot be read here): the
  // requester then asks another peer next, a second later, instead of waiting for its timeout
  // and coming back here.
  SendMessage(to, response);
}

void Node::TakeStateSnapshot(Height h) {
  auto snapshot = stores_.state->Snapshot();
  if (!snapshot) {
    // Only state transfer's serving side misses it; the node goes on.
    log_->error("event=state_snapshot_failed height={} reason=\"{}\"", h.value(),
                snapshot.error().ToString());
    return;
  }
  // Taken on the thread that appends, right after block h: its state and nothing later.
  if ((*snapshot)->height() == h) state_server_.AddSnapshot(std::move(*snapshot));
}

void Node::OnStableCheckpoint(const consensus::CheckpointProof& proof) {
  const auto result = state_server_.OnStable(proof, std::chrono::steady_clock::now());
  if (result == StateServer::Stable::kRootDiffers) {
    // The chain code or the store here disagrees with a quorum: this node's state is not the
    // network's. Not served; the replica's own checkpoint handling decides the rest.
    log_->error("event=state_root_differs height={} certified_root={}", proof.height.value(),
                proof.state_root.ShortHex());
  }
}

void Node::ServeStatePage(ReplicaId to, const proto::PeerStatePageRequest& r) {
  // As for blocks: a page (up to 4 MiB read here, on the io thread) is not made while much is
  // still queued for the peer; it asks again after its timeout.
  if (ServeDeferred(to)) return;
  auto page = state_server_.Page(r, std::chrono::steady_clock::now());
  if (!page) {
    log_->error("event=state_page_unreadable peer={} reason=\"{}\"", to.value(),
                page.error().ToString());
    page = proto::PeerStatePage{r.height, r.after_key, {}, false, true};
  }
  SendMessage(to, *page);
}

void Node::OnBlocks(ReplicaId from, const proto::PeerBlockResponse& r) {
  if (sync_peer_ != from) return;  // not asked for: a peer cannot steer our sync
  sync_inflight_until_ = {};
  sync_peer_.reset();
  if (r.blocks.empty()) {
    // Asked again with a peer's status after a second, another peer first: not at once, so that
    // peers that all lack the blocks are not asked in a loop.
    sync_unhelpful_ = from;
    sync_inflight_until_ = std::chrono::steady_clock::now() + kSyncHoldOff;
    return;
  }
  sync_unhelpful_.reset();
  // Blocks run through the verify thread and the driver a little later: continue after the last
  // one handed on, not after the last one stored.
  const Height before = SyncedOrPending();
  Height posted = before;
  std::vector<proto::Block> blocks;
  bool bad = false;
  for (const auto& bytes : r.blocks) {
    auto block = proto::DecodeBlock(bytes);
    if (!block) {
      ++peer_messages_bad_;
      RefuseSyncedBlocks(from, posted.Next(), block.error().message());
      bad = true;  // the blocks before it still count; ask this peer no more now
      break;
    }
    if (block->header.height <= posted) continue;
    // Only blocks that follow on: an answer to a request sent before a refusal (or a Tick) moved
    // the height back would leave a gap, and blocks above it would only wait in the replica.
    if (block->header.height != posted.Next()) break;
    posted = block->header.height;
    ++blocks_synced_;
    blocks.push_back(std::move(*block));
  }
  if (!blocks.empty()) {
    ++sync_batches_in_flight_;
    sync_pending_height_ = posted;
    // Commit certificates checked on the verify pool (results cached), in pieces so that every
    // thread works and the first blocks execute while later ones are checked; the replica checks
    // the certificate against the validator set again before delivery, then from the cache. The
    // transactions' signatures are not checked: the certificate covers every byte of them
    // (ADR 0038), and honest replicas voted only for blocks whose signatures verify (ADR 0022).
    std::size_t i = 0;
    while (i < blocks.size()) {
      VerifiedPiece piece{{}, from, false, std::nullopt};
      std::size_t txs = 0;
      while (i < blocks.size() && (piece.blocks.empty() || txs < kVerifyPieceTransactions)) {
        txs += blocks[i].transactions.size() + 1;
        piece.blocks.push_back(std::move(blocks[i++]));
      }
      piece.ends_batch = i == blocks.size();
      auto verify = [this, n = next_piece_++, piece = std::move(piece)]() mutable {
        for (const auto& b : piece.blocks) {
          // (DecodeBlock checked that the certificate is for this block.)
          if (piece.refused_at) break;  // the rest of the piece is dropped
          if (!consensus::VerifyCommitCertificate(b.certificate, *validators_, chain_id_,
                                                  *verifier_)
                   .ok()) {
            piece.refused_at = b.header.height;
            break;
          }
        }
        boost::asio::post(io_, [this, n, piece = std::move(piece)]() mutable {
          verified_pieces_.emplace(n, std::move(piece));
          DeliverVerifiedPieces();
        });
      };
      boost::asio::post(*verify_pool_, std::move(verify));
    }
  }
  if (bad) return;
  if (best_peer_height_ > posted && sync_batches_in_flight_ < kMaxSyncBatchesInFlight) {
    // Stay with a peer that helped; ask another after an answer that brought nothing.
    RequestBlocks(posted.Next(), posted > before ? std::optional<ReplicaId>(from) : std::nullopt);
  }
}

void Node::DeliverVerifiedPieces() {
  for (auto it = verified_pieces_.begin();
       it != verified_pieces_.end() && it->first == next_piece_delivered_;
       it = verified_pieces_.erase(it), ++next_piece_delivered_) {
    VerifiedPiece& piece = it->second;
    if (!skipping_sync_batch_) {
      for (auto& b : piece.blocks) {
        if (piece.refused_at && b.header.height >= *piece.refused_at) break;
        synced_through_ = std::max(synced_through_, b.header.height);
        // Its transactions are certified with it (ADR 0038): not checked again on the event
        // loop (the replica still checks the proposal's shape and the certificate).
        driver_->Post(consensus::DecidedReceived{ToDecided(std::move(b)),
                                                 /*transactions_checked=*/true});
      }
      if (piece.refused_at) {
        // Nothing from this peer's batch after it: the next request starts there, at another
        // peer (the replica would drop these blocks too, and the batch's later pieces could
        // only wait behind the gap).
        RefuseSyncedBlocks(piece.from, *piece.refused_at,
                           "its commit certificate does not verify (a signature, a signer that is "
                           "not a validator, or fewer than a quorum of votes)");
        skipping_sync_batch_ = true;
        sync_pending_height_ =
            std::min(sync_pending_height_, Height(piece.refused_at->value() - 1));
      }
    }
    if (!piece.ends_batch) continue;
    skipping_sync_batch_ = false;
    --sync_batches_in_flight_;
    // The pipeline has room again: fetch on (batches verifying while others execute).
    if (best_peer_height_ > SyncedOrPending()) RequestBlocks(SyncedOrPending().Next(), piece.from);
  }
}

void Node::RefuseSyncedBlocks(ReplicaId from, Height height, std::string_view why) {
  ++sync_blocks_refused_;
  // Asked next, as after an answer with nothing: another peer first (while one is connected), and
  // not before a second has passed, so that a peer sending bad blocks cannot keep this node
  // checking them in a loop. Its answer to a request still out (pipelined) is not taken.
  sync_unhelpful_ = from;
  const auto now = std::chrono::steady_clock::now();
  if (sync_peer_ == from) {
    sync_peer_.reset();
    sync_inflight_until_ = now + kSyncHoldOff;  // that request's timeout no longer applies
  } else {
    sync_inflight_until_ = std::max(sync_inflight_until_, now + kSyncHoldOff);
  }
  const auto unlogged = sync_refused_log_.Admit(now);
  if (!unlogged) return;
  log_->warn(
      "event=sync_block_refused peer={} height={} not_logged={} reason=\"{}\" action=\"refused "
      "before execution, nothing of it is stored; the blocks are asked of another peer. If it "
      "repeats, check validator {}'s node: its disk or its software may be faulty, or its key "
      "may be used by someone else\"",
      from.value(), height.value(), *unlogged, why, from.value());
}

Height Node::SyncedOrPending() const {
  return std::max(stores_.blocks->LatestHeight(), sync_pending_height_);
}

void Node::UpdateBestPeerHeight() {
  std::vector<Height> claims;
  for (const auto& [peer, height] : peer_heights_) claims.push_back(height);
  std::sort(claims.rbegin(), claims.rend());
  const std::size_t f = validators_->max_faulty();
  // The (f+1)-th highest claim; while fewer than f+1 peers report, the highest (a node with few
  // peers still learns it is behind; one faulty peer among them can delay its reads).
  best_peer_height_ = claims.empty() ? Height(0) : claims.size() > f ? claims[f] : claims[0];
}

void Node::OnStatus(ReplicaId from, const proto::PeerStatus& s) {
  peer_heights_[from] = s.height;
  UpdateBestPeerHeight();
  // Only as far as f+1 peers report (best_peer_height_): one faulty peer's claims do not set
  // the pace of this node's requests.
  if (s.height > SyncedOrPending() && best_peer_height_ > SyncedOrPending() &&
      sync_batches_in_flight_ < kMaxSyncBatchesInFlight) {
    RequestBlocks(SyncedOrPending().Next(), from);
  }
}

void Node::RequestBlocks(Height from, std::optional<ReplicaId> peer) {
  const auto now = std::chrono::steady_clock::now();
  if (now < sync_inflight_until_) return;  // one request at a time
  // The last request went unanswered (sync_peer_ is cleared by an answer): not that peer again
  // now, even if its status is the first to arrive after the timeout (every time, at a steady
  // phase), so that a peer that cannot serve does not hold the sync.
  const std::uint32_t unanswered = sync_peer_ ? sync_peer_->value() : UINT32_MAX;
  const std::uint32_t unhelpful = sync_unhelpful_ ? sync_unhelpful_->value() : UINT32_MAX;
  std::uint32_t chosen = peer ? peer->value() : UINT32_MAX;
  if (chosen == unanswered || chosen == unhelpful) chosen = UINT32_MAX;
  if (chosen == UINT32_MAX) {
    // Rotate over the connected peers, so that one slow or lying peer cannot hold us back.
    const auto n = static_cast<std::uint32_t>(validators_->size());
    for (std::uint32_t i = 0; i < 2 * n && chosen == UINT32_MAX; ++i) {
      const std::uint32_t candidate = (next_sync_peer_ + i) % n;
      // The first round passes over the peer that left the last request unanswered or answered
      // it with nothing.
      if (candidate != config_.validator_index.value() &&
          transport_->IsConnected(ReplicaId(candidate)) &&
          (i >= n || (candidate != unanswered && candidate != unhelpful))) {
        chosen = candidate;
        next_sync_peer_ = candidate + 1;
      }
    }
    if (chosen == UINT32_MAX) return;
  }
  sync_inflight_until_ = now + kSyncTimeout;
  sync_peer_ = ReplicaId(chosen);
  log_->debug("event=sync_request peer={} from={}", chosen, from.value());
  SendMessage(ReplicaId(chosen),
              proto::PeerBlockRequest{from, static_cast<std::uint32_t>(proto::kMaxSyncBlocks)});
}

void Node::Tick() {
  // Once a second with nothing in the pipeline, what is stored is the truth again: a synced block
  // the replica refused after the verify pool's checks passed it (another chain's, say) is asked
  // for again.
  if (sync_batches_in_flight_ == 0) sync_pending_height_ = Height(0);
  // Caught up (no block came through consensus since block sync, which shares them at once): the
  // key shares noted meanwhile go now, once nothing is left to sync. Between two synced batches
  // the state is still behind, and a share it lacks may be in a block not replayed yet.
  const Height latest = stores_.blocks->LatestHeight();
  if (sync_batches_in_flight_ == 0 && latest >= synced_through_ && latest >= best_peer_height_) {
    ShareDeferredKeys();
    AuditKeyShares();
  }
  // A share due for a retry was refused or has expired: no copy of it can still commit, so a node
  // a few blocks behind (as the slowest node under load often is) need not wait to post it.
  if (sync_batches_in_flight_ == 0 && RequireSynced().ok()) RetryKeyShares();
  SendMessage(std::nullopt, proto::PeerStatus{latest, replica_->view()});
  replicator_->Tick();
  TickApi();
  const auto now = std::chrono::steady_clock::now();
  state_server_.Expire(now);
  // The ends of bursts cut short in the log are said once their windows pass.
  LogUnlogged(
      *log_,
      {{&sync_refused_log_, "sync_block_refused"}, {&forged_log_, "forged_transaction_refused"}},
      now);
  transport_->LogUnloggedRefusals();
  // Records whose blob never reached f+1 holders, and this node's own transactions that never
  // committed, do not stay forever.
  std::vector<crypto::Digest> available, taken, expired;
  for (auto& [digest, g] : gated_) {
    // f+1 holders of any size (ReleaseGated asks for each size the records name): normally
    // released at once; this is the backstop.
    if (replicator_->IsAvailable(digest)) available.push_back(digest);
    // Records are gated in the order they arrive, and an emptied entry goes: the first waited
    // longest.
    const auto waited = now - g.txs.front().since;
    // A record naming a ciphertext that a committed record names already can never become
    // available (its holders are no longer tracked): looked for here, off the admission path,
    // once per digest that has waited a second (records gated before that commit went with its
    // block).
    if (!g.committed_checked && waited >= std::chrono::seconds(1)) {
      g.committed_checked = true;
      if (CommittedRecordNames(digest).value_or(false)) {
        taken.push_back(digest);
        continue;
      }
    }
    if (waited > BlobWait()) expired.push_back(digest);
  }
  for (const auto& d : available) ReleaseGated(d);
  for (const auto& d : taken) {
    DropGated(d,
              "a committed record names its ciphertext already (a ciphertext belongs to one "
              "record: upload the record again for a new one)");
  }
  for (const auto& d : expired) DropExpiredGated(d, now - BlobWait());
  // Gossiped again for as long as a record may wait for its blob anywhere (the node's own wait,
  // at least kOutboxTtl), so that a primary back from a restart still gets it.
  const auto outbox_ttl = std::max<std::chrono::steady_clock::duration>(kOutboxTtl, BlobWait());
  absl::erase_if(outbox_, [&](const auto& e) { return now - e.second.admitted > outbox_ttl; });
  ResendOutbox(std::nullopt);
  RelayStale(now);
  tick_.expires_after(std::chrono::seconds(1));
  tick_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) Tick();
  });
}

void Node::DropExpiredGated(const crypto::Digest& digest,
                            std::chrono::steady_clock::time_point gated_before) {
  // f+1 holders of another size: the records name a size the ciphertext does not have.
  const std::string why =
      replicator_->IsAvailable(digest)
          ? "f+1 nodes hold its blob, but none announced the ciphertext_size it names"
          : "its blob did not reach f+1 holders within " + WaitText(BlobWait()) +
                " (this node's mempool.blob_wait_seconds)";
  const auto dropped =
      DropGated(digest, why, [&](const GatedTx& t) { return t.since < gated_before; });
  // None waits for it now (released ones went to consensus: still pulled): pulled again if a
  // record naming it arrives or commits.
  if (dropped > 0 && gated_.count(digest) == 0) replicator_->Abandon(digest);
}

}  // namespace ertr::node
