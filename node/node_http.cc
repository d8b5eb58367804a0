// Node: the plain HTTP endpoints for operators (docs/operations.md): Prometheus metrics, health and
// status, read-only and on loopback. Records, transactions and everything else go through the
// authenticated gRPC API (node_api.cc).

#include <sstream>

#include "common/version.h"
#include "node/api_internal.h"
#include "node/node.h"

namespace ertr::node {

namespace {

HttpResponse Json(unsigned status, const std::string& body) {
  return HttpResponse{status, "application/json", body + "\n"};
}

}  // namespace

std::string Node::StatusJson() const {
  std::ostringstream o;
  o << "{\"chain_id\":\"" << chain_id_
    << "\",\"validator_index\":" << config_.validator_index.value() << ",\"institution_id\":\""
    << config_.institution_id << "\",\"height\":" << stores_.blocks->LatestHeight().value()
    << ",\"state_root\":\"" << stores_.state->StateRoot().ToHex()
    << "\",\"view\":" << replica_->view().value()
    << ",\"view_changing\":" << (replica_->view_changing() ? "true" : "false")
    << ",\"peers_connected\":" << transport_->connected_peers()
    << ",\"mempool_transactions\":" << mempool_->size()
    << ",\"best_peer_height\":" << best_peer_height_.value() << ",\"version\":\"" << kVersion
    << "\"}";
  return o.str();
}

std::string Node::Metrics() const {
  const auto& rs = replica_->stats();
  const auto& ts = transport_->stats();
  std::ostringstream o;
  auto gauge = [&](const char* name, const char* help, auto value) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " gauge\n"
      << name << " " << value << "\n";
  };
  auto counter = [&](const char* name, const char* help, auto value) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " counter\n"
      << name << " " << value << "\n";
  };
  const std::uint64_t height = stores_.blocks->LatestHeight().value();
  gauge("ertr_height", "Height of the newest committed block.", height);
  gauge("ertr_state_snapshots",
        "Snapshots of the state held for state transfer (ADR 0037): at checkpoint heights not yet "
        "stable, and at the newest stable checkpoints.",
        state_server_.snapshots());
  // Blocks are synced with the next consensus log save, at most kBlockSyncDelay later.
  const auto unsynced = driver_->first_unsynced_block();
  const std::string durable_help =
      "Height of the newest committed block synced to disk (trails ertr_height by at most " +
      std::to_string(kBlockSyncDelay.count()) + " ms of blocks).";
  gauge("ertr_height_durable", durable_help.c_str(), unsynced ? unsynced->value() - 1 : height);
  if (const auto free = FreeDiskBytes()) {
    gauge("ertr_disk_free_bytes",
          "Bytes free on the data directory's disk; uploads, pushes and pulls of blobs keep 1 GiB "
          "of it free.",
          *free);
  }
  gauge("ertr_view", "Current consensus view.", replica_->view().value());
  gauge("ertr_view_changing",
        "1 while a view change is under way (ertr_view is the view it changes to), else 0.",
        replica_->view_changing() ? 1 : 0);
  counter("ertr_view_changes_total", "View changes started.", rs.view_changes_started);
  counter("ertr_view_changes_primary_link_down_total",
          "View changes started after consensus.primary_link_timeout_ms, the link to the "
          "primary down (not two progress timeouts).",
          rs.view_changes_primary_link_down);
  counter("ertr_consensus_batch_waits_total",
          "Waits of this node as primary, after a commit, for its callers' next transactions "
          "(consensus.batch_wait_us).",
          rs.batch_waits);
  counter("ertr_consensus_batch_waits_timed_out_total",
          "Of those, waits that ended after consensus.batch_wait_us, before enough transactions "
          "came.",
          rs.batch_waits_timed_out);
  gauge("ertr_peers_connected", "Validators connected.", transport_->connected_peers());
  gauge("ertr_mempool_transactions", "Transactions waiting to be ordered.", mempool_->size());
  gauge("ertr_mempool_bytes", "Bytes of transactions waiting to be ordered.", mempool_->bytes());
  gauge("ertr_key_shares_pending",
        "Key shares this node posted or must post again that have not committed yet.",
        key_shares_.size());
  counter("ertr_transactions_committed_total", "Transactions applied.", tx_committed_);
  counter("ertr_transactions_rejected_total", "Transactions committed but rejected by the rules.",
          tx_rejected_);
  gauge("ertr_sync_best_peer_height",
        "Height f+1 connected peers announced (the highest while fewer did).",
        best_peer_height_.value());
  counter("ertr_sync_blocks_received_total", "Decided blocks received by block sync.",
          blocks_synced_);
  counter("ertr_sync_blocks_refused_total",
          "Block sync answers cut at a refused block (it and the rest of the answer are not "
          "taken): undecodable (a body that is not its header's tx_root, such as a forged "
          "signature) or a commit certificate that does not verify (event=sync_block_refused "
          "names the peer).",
          sync_blocks_refused_);
  counter("ertr_consensus_dropped_total",
          "Consensus messages dropped (bad signature, unknown "
          "sender, out of window, invalid).",
          rs.dropped_bad_signature + rs.dropped_unknown_sender + rs.dropped_out_of_window +
              rs.dropped_invalid);
  counter("ertr_consensus_late_votes_total",
          "Votes that arrived after their quorum formed (ignored without a signature check).",
          rs.late_votes_ignored);
  counter("ertr_equivocations_seen_total", "Conflicting votes or proposals seen from validators.",
          rs.equivocations_seen);
  counter("ertr_consensus_transactions_fetched_total",
          "Transactions of compact PRE-PREPAREs this node did not hold and asked the primary for "
          "(ADR 0026).",
          rs.transactions_fetched);
  counter("ertr_consensus_proposals_refetched_total",
          "Compact PRE-PREPAREs whose transactions this node asked for again because a copy it "
          "held was not the primary's (a transaction signed twice; ADR 0038).",
          rs.refetched_proposals);
  counter("ertr_consensus_reproposals_fetched_total",
          "Re-proposals of a new view whose transactions this node did not hold and asked the "
          "replicas that prepared them for (ADR 0040).",
          rs.proposals_fetched);
  counter("ertr_peer_messages_bad_total", "Peer messages that did not decode.", peer_messages_bad_);
  counter("ertr_state_pages_served_total",
          "Pages of this node's state at a stable checkpoint sent to peers catching up by state "
          "transfer (ADR 0037).",
          state_server_.pages_served());
  counter("ertr_forged_transactions_total",
          "Transaction copies refused in proposals and prepared certificates: no node admits "
          "them (a signature that does not verify, bytes not canonical, another chain, too "
          "large, a payload that breaks the shape rules); a faulty validator sent them (ADR 0022, "
          "ADR 0034).",
          forged_transactions_);
  counter("ertr_api_refused_total",
          "API calls refused before they ran (unsigned, forged, stale, replayed, stranger).",
          ApiRefused());
  const std::string waiters_help =
      "API calls (or a batch call's transactions) waiting for a commit at this node (at most " +
      std::to_string(api::kMaxCommitWaiters) + "; more are admitted but not waited for).";
  gauge("ertr_api_commit_waiters", waiters_help.c_str(), commit_waiters_.size());
  gauge("ertr_api_uploads_small",
        "Uploads in progress that declared a size under 256 KiB (at most 64 at once).",
        ApiUploadsInProgress(true));
  gauge("ertr_api_uploads_large",
        "Uploads in progress of 256 KiB or more, or of undeclared size (at most 16 at once).",
        ApiUploadsInProgress(false));
  counter("ertr_api_uploads_idle_ended_total",
          "Uploads ended because their client sent no message for api.upload_idle_seconds.",
          ApiIdleUploadsEnded());
  counter("ertr_api_calls_idle_ended_total",
          "Calls cancelled because their client sent no request, or took no response, for "
          "api.upload_idle_seconds.",
          ApiIdleCallsEnded());
  counter("ertr_handshakes_refused_total", "Connections refused at the handshake.",
          ts.handshakes_refused);
  counter("ertr_p2p_serve_deferred_total",
          "Block and blob requests not served because much was still queued for the peer.",
          serve_deferred_);
  counter("ertr_p2p_bytes_sent_total", "Bytes sent to peers.", ts.bytes_sent);
  counter("ertr_p2p_bytes_received_total", "Bytes received from peers.", ts.bytes_received);
  counter("ertr_p2p_dropped_total", "Messages dropped: peer queue full or not connected.",
          ts.dropped_queue_full + ts.dropped_not_connected);
  const auto& bs = replicator_->stats();
  counter("ertr_blob_bytes_received_total", "Blob bytes replicated to this node.",
          bs.bytes_received);
  counter("ertr_blob_bytes_served_total", "Blob bytes sent to peers.", bs.bytes_served);
  counter("ertr_blobs_received_total", "Blobs replicated to this node.", bs.blobs_received);
  counter("ertr_blobs_offered_total",
          "Blobs replicated to this node that came with their record's transaction (ADR 0029).",
          bs.blobs_offered);
  counter("ertr_blobs_pushed_in_total",
          "Blobs replicated to this node that their uploader pushed while the upload arrived "
          "(ADR 0032).",
          bs.blobs_pushed_in);
  counter("ertr_blob_push_receivers_dropped_total",
          "Peers dropped from this node's pushes of uploads (refused, stalled or disconnected); "
          "they pull the blob instead.",
          bs.push_targets_dropped);
  gauge("ertr_blob_pushes_out", "Uploads this node is pushing to their first holders.",
        replicator_->pushes_out());
  gauge("ertr_blob_pushes_in", "Pushes of uploads this node is receiving.",
        replicator_->pushes_in());
  counter("ertr_blobs_erased_total", "Blobs deleted on erasure.", bs.blobs_erased);
  counter("ertr_blob_pulls_failed_total",
          "Blob pulls that failed (bad chunk or digest, or a holder that stalled).",
          bs.pulls_failed);
  gauge("ertr_blob_pulls_active", "Blobs being pulled from peers.", replicator_->active_pulls());
  gauge("ertr_blob_pulls_probing",
        "Of those, committed records' blobs asked of a peer that has not announced them (no "
        "tracked holder is connected).",
        replicator_->probing_pulls());
  gauge("ertr_blob_holders_tracked",
        "Blobs whose holders this node tracks (records not committed yet, blobs it lacks; at "
        "most 100000 whose record has not committed).",
        replicator_->tracked_blobs());
  gauge("ertr_blob_holders_tracked_largest_share",
        "The most blobs of records not committed yet that one peer is a tracked holder of (at "
        "most 100000 / 2f; a peer at that bound is not followed further).",
        replicator_->largest_tracked_share());
  gauge("ertr_blob_pulls_waiting_for_disk",
        "Blobs this node wants but does not pull: storing them would leave less than the 1 GiB "
        "it keeps free.",
        replicator_->pulls_waiting_for_disk());
  counter("ertr_blob_pulls_deferred_for_disk_total",
          "Blob pulls stopped or not started for lack of disk space.", bs.pulls_deferred_for_disk);
  gauge("ertr_blob_staged_announcements",
        "Large blobs of this node announced to their first pullers only (ADR 0013).",
        replicator_->staged_announcements());
  counter("ertr_transactions_regossiped_total",
          "Own transactions gossiped again: to a peer that (re)connected, or still uncommitted.",
          regossiped_);
  counter("ertr_transactions_relayed_total",
          "Transactions from a peer passed on to the others because they were still waiting "
          "2 s after they arrived (the origin's link to some peer may be down).",
          relayed_);
  counter("ertr_transactions_relayed_at_once_total",
          "Transactions from a peer passed on at once because the relay queue was full.",
          relayed_at_once_);
  gauge("ertr_records_waiting_for_blob", "Record transactions waiting for f+1 blob holders.",
        gated_.size());
  gauge("ertr_uploads_uncommitted",
        "Blobs stored here that no committed record names: uploads whose record has not "
        "committed, and blobs the periodic sweep found unreferenced; deleted 30 minutes after "
        "the upload or the finding unless a record names them by then.",
        unsubmitted_uploads_.size());
  o << "# HELP ertr_commit_latency_seconds From admission at this node to commit.\n"
    << "# TYPE ertr_commit_latency_seconds histogram\n";
  commit_latency_.Render(o, "ertr_commit_latency_seconds");
  o << "# HELP ertr_disk_sync_seconds How long this node's disk took to make a write durable "
       "(fdatasync): the consensus log's saves, which this node's votes and checkpoints wait for, "
       "and the small blobs stored since the last sync, before this node announces it holds "
       "them.\n"
    << "# TYPE ertr_disk_sync_seconds histogram\n";
  consensus_log_syncs_.Render(o, "ertr_disk_sync_seconds", "log=\"consensus\"");
  blob_syncs_.Render(o, "ertr_disk_sync_seconds", "log=\"blobs\"");
  return o.str();
}

HttpResponse Node::OnHttp(const HttpRequest& req) {
  if (req.method == "GET" && req.target == "/healthz") {
    const bool ok = !driver_->failed();
    return HttpResponse{ok ? 200u : 503u, "text/plain; charset=utf-8", ok ? "ok\n" : "failed\n"};
  }
  if (req.method == "GET" && req.target == "/metrics") {
    return HttpResponse{200, "text/plain; version=0.0.4", Metrics()};
  }
  if (req.method == "GET" && req.target == "/v1/status") return Json(200, StatusJson());
  return JsonError(Status::NotFound("no endpoint " + req.method + " " + req.target +
                                    "; see docs/operations.md"));
}

}  // namespace ertr::node
