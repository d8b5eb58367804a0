#pragma once

// ReplicaDriver: runs the consensus replica inside the node (STYLE.md rule 1.3). It stamps events
// with the clock, hands them to the replica one at a time, and executes the resulting actions in
// order, with one rule: a Persist is durable (synced to the consensus log) before any later Send
// leaves, so a restarted replica never signs two digests for one (view, height).
//
// Group commit: events posted while the io thread is busy are queued and handled together in one
// drain (run from the io_context, after the handlers already ready). Persists within a drain are
// applied to the in-memory snapshot; messages sent after the first of them are held back, and at
// the end of the drain the snapshot is written once (unsynced). The write-ahead log is synced on
// the driver's sync thread while the io thread goes on (ADR 0027). That thread starts the next
// sync as soon as one returns if saves were written meanwhile; the io thread sends the held
// messages whose saves a completed sync covers, in order, at its next drain or when the sync's
// completion reaches it, whichever comes first. One fsync thus covers every vote of the batches
// handled while the previous one ran.
//
// Timers map to Asio steady timers. Delivered blocks go to the node's executor, whose state root
// is fed back.
//
// A failure the replica cannot survive (the consensus log or a block cannot be written) calls
// on_fatal: the node must stop rather than risk equivocating or forking.
//
// Thread-safety: the io_context's thread only (the sync thread is the driver's own).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "consensus/replica.h"
#include "net/asio.h"
#include "storage/consensus_log_store.h"

namespace spdlog {
class logger;
}

namespace ertr::node {

struct DriverHooks {
  std::function<void(ReplicaId to, const consensus::Message&)> send;
  std::function<void(const consensus::Message&)> broadcast;
  // Executes and stores a decided block; returns the state root after it. `body_stored`: the
  // consensus log's save stored exactly these transactions as the block body at its height
  // (storage::StagedBody, ADR 0025), so the append leaves the body out.
  std::function<Result<crypto::Digest>(const consensus::Deliver&, bool body_stored)> deliver;
  std::function<void(Height from)> request_sync;
  std::function<void(const Status&)> on_fatal;
  // Optional: told how long each sync of the consensus log took, on the thread that syncs.
  std::function<void(std::chrono::steady_clock::duration)> on_synced;
  // Optional: told of each new stable checkpoint, with its proof, when the replica reaches it.
  std::function<void(const consensus::CheckpointProof&)> on_stable;
};

// The consensus log keys of the replica's persistent state (ADR 0010): its small part (view,
// signed votes, stable checkpoint) under kReplicaStateKey, and each prepared certificate under
// kPreparedKeyPrefix + the height (8 bytes, big-endian), so a flush writes only what changed.
inline constexpr std::string_view kReplicaStateKey = "replica/state";
// How long a delivered block may stay unsynced when no other synced save comes first.
inline constexpr std::chrono::milliseconds kBlockSyncDelay{10};
inline constexpr std::string_view kPreparedKeyPrefix = "replica/prepared/";
Bytes PreparedKey(Height height);

// Loads the replica state saved by a previous run (fresh state if none). A prepared certificate
// logged without its transactions gets them from the body staged at its height (ADR 0025); one
// whose body is not there any more because a different block was decided at that height (at or
// below `latest_block`) is dropped, and DataLoss is returned for any other without its body.
Result<consensus::PersistentState> LoadReplicaState(const storage::ConsensusLogStore& log,
                                                    Height latest_block);

class ReplicaDriver {
 public:
  // `replica`, `log` and `logger` must outlive the driver. `state` is what the replica was
  // constructed with (the driver keeps it current to persist whole snapshots).
  ReplicaDriver(boost::asio::io_context& io, consensus::Replica& replica,
                storage::ConsensusLogStore& log, consensus::PersistentState state,
                DriverHooks hooks, std::shared_ptr<spdlog::logger> logger);
  // Waits for a sync in progress; held messages are dropped (never sent unsynced).
  ~ReplicaDriver();
  ReplicaDriver(const ReplicaDriver&) = delete;
  ReplicaDriver& operator=(const ReplicaDriver&) = delete;

  // Queues an event; the queue is processed from the io_context soon after (re-entrant posts from
  // hooks run after the current event's actions, in the same drain).
  void Post(decltype(consensus::Event::body) body);

  const consensus::Replica& replica() const { return replica_; }
  bool failed() const { return failed_; }
  // The first height delivered and not yet covered by a completed sync (the blocks from it on may
  // still be lost in a machine crash), if any.
  std::optional<Height> first_unsynced_block() const { return first_unsynced_block_; }

 private:
  void Drain();
  void Run(const consensus::Action& action);
  // Writes the snapshot (unsynced) if a save is due or a held message waits for one, starts a
  // sync, and arms the block sync timer while delivered blocks stay unsynced.
  void Flush();
  // Asks the sync thread to sync every save written so far.
  void RequestSync();
  // The sync thread's loop: syncs while saves are requested beyond the last one synced.
  void SyncLoop();
  // On the io thread: takes the syncs completed so far, sends the held messages they cover, and
  // stops the node if a sync failed.
  void TakeSynced();
  void Fail(const Status& s);
  // Sends `m` now, or holds it until the save it depends on (or the one before it) is synced.
  void SendOrHold(std::optional<ReplicaId> to, const consensus::Message& m);
  std::uint64_t NowMs();

  boost::asio::io_context& io_;
  consensus::Replica& replica_;
  storage::ConsensusLogStore& log_;
  consensus::PersistentState state_;
  DriverHooks hooks_;
  std::shared_ptr<spdlog::logger> logger_;
  std::deque<decltype(consensus::Event::body)> queue_;
  std::map<consensus::TimerId, std::unique_ptr<boost::asio::steady_timer>> timers_;
  // Bumped on every set and cancel: a completion already queued when a timer was re-armed or
  // cancelled carries an old generation and is ignored.
  std::map<consensus::TimerId, std::uint64_t> timer_generation_;
  std::uint64_t last_now_ms_ = 0;
  bool draining_ = false;
  bool scheduled_ = false;  // a Drain is posted to the io_context
  bool failed_ = false;
  bool unsynced_ = false;  // a save is due: Persist deltas, or blocks kept waiting too long
  // Blocks were delivered (appended unsynced) and no completed sync covers them yet. They are
  // synced with the next Persist, before a CHECKPOINT leaves, or by block_sync_timer_, whichever
  // comes first.
  std::optional<Height> first_unsynced_block_;
  std::optional<Height> last_appended_;
  // Saves are numbered from 1; synced_ is the last one a completed sync covers (as the io thread
  // has taken it).
  std::uint64_t saved_ = 0;
  std::uint64_t synced_ = 0;
  // The last block appended before each save not yet synced (a sync covering the save covers it).
  std::map<std::uint64_t, std::optional<Height>> save_covers_;
  bool block_sync_armed_ = false;
  boost::asio::steady_timer block_sync_timer_{io_};
  // Heights whose prepared certificate changed since the last sync, and those in the log.
  std::set<Height> dirty_prepared_;
  std::set<Height> logged_prepared_;
  // The transactions a synced save staged as the block body at each height not yet delivered
  // (ADR 0025); a block delivered with exactly these is appended without its body.
  std::map<Height, consensus::TxList> staged_bodies_;
  // Messages held until save `gen` is synced, in the order they were sent; `to` empty for a
  // broadcast. Their gens never decrease.
  struct Held {
    std::uint64_t gen;
    std::optional<ReplicaId> to;
    consensus::Message message;
  };
  std::deque<Held> held_;
  // Shared with the sync thread: the last save requested, the first failure and the stop flag
  // (under sync_mu_), and the last save synced and whether a sync failed (written under sync_mu_,
  // read by the io thread without it). Its completions reach the io thread only while the driver
  // is alive.
  std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  std::uint64_t sync_requested_ = 0;
  std::optional<Status> sync_error_;
  bool sync_stop_ = false;
  std::atomic<std::uint64_t> sync_done_{0};
  std::atomic<bool> sync_failed_{false};
  std::shared_ptr<char> alive_ = std::make_shared<char>();
  std::thread sync_thread_;
};

}  // namespace ertr::node
