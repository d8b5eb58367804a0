#pragma once

// BlobReplicator: off-chain ciphertext replication between validators (docs/spec/wire.md
// section 5). A node that stores a blob announces it (BlobHave); every other node pulls it chunk
// by chunk from a holder (BlobRequest / BlobChunk, 1 MiB each, up to kPullWindowChunks requested
// ahead per pull, so the holder reads and sends the next chunk while this node writes the last,
// and at most kMaxPullChunksInFlight over all pulls), so memory stays bounded whatever the blob
// sizes. Pulls start in the order their blobs were first announced. A pull writes through the blob
// store's streaming writer with the expected digest, so a blob is published only when its content
// matches the digest; a pull whose holder disappears, stalls or misbehaves starts again from
// another holder (holders serve a blob from its start, in order: no seeking on request). Record
// transactions wait until f+1 nodes hold their blob at the size the record names (IsAvailable,
// counting the announcements, which carry each blob's size: ADR 0036), so a record stays fetchable
// when its uploader is offline unless f of those announcers lied (they are then the f faulty
// nodes). Erased blobs are deleted and never pulled again.
//
// The uploader sends a small blob along with its record's transaction (docs/spec/wire.md section
// 4): a node that admits the transaction stores it like a pulled blob (Accept), with no request.
// A record names the nodes that hold its blob (its uploader's). A node that learns of a small
// blob's record before any holder has announced the blob asks that named source at once (Fetch,
// given the source by the node): the pull then overlaps with the uploader's own sync. Only
// announcements count as holders; a source that turns out not to hold the blob is dropped once a
// holder announces it.
//
// A large blob stored here is announced in stages: first to the f peers needed for availability,
// so its first copies get the whole of this node's serving capacity instead of a share of it;
// then to every peer once f+1 nodes hold it, or when the chosen peers do not pull it (no chunk
// served for kStagedStall) or not fast enough (slower than kStagedMinRate overall).
//
// A large upload is also pushed while it arrives (ADR 0032): the node taking it streams the
// ciphertext to the f peers its staged announcement would tell first (BlobPush, in order; each
// receiver acknowledges what it has written, BlobPushAck), so that their copies are written at
// the same time as the uploader's instead of being pulled from it after the record is submitted.
// A receiver stores a complete push like a pulled blob (synced, then announced); a receiver that
// refuses, stalls or disconnects is dropped from the push, and the blob reaches it by the pulls as
// before. A blob a push leaves with no record is deleted by the node's orphan sweep.
//
// Thread-safety: the io_context's thread only.

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <absl/container/flat_hash_map.h>
#include <absl/container/flat_hash_set.h>

#include "common/ids.h"
#include "common/log_limiter.h"
#include "proto/peer_codec.h"
#include "storage/blob_store.h"

namespace spdlog {
class logger;
}

namespace ertr::node {

inline constexpr std::size_t kBlobChunkBytes = 1u << 20;
// Chunks requested ahead of the one being written, per pull (the holder's send queue and this
// node's receive buffers hold at most this many chunks of one pull).
inline constexpr std::uint64_t kPullWindowChunks = 4;
// Small blobs (one chunk: a 2 KiB record's) are pulled many at a time, so that their round trips
// overlap. Every pull may always ask for its next chunk; it asks for chunks beyond that only while
// the unanswered requests over all pulls, plus one for each pull that could still start, stay
// under kMaxPullChunksInFlight. So at most that many chunks (28 MiB) of the current pulls are
// unanswered: the next chunks of sixteen pulls, or four pulls with their whole window and twelve
// with one. (Chunks of pulls given up, from a holder that stalled, may still arrive on top; they
// are dropped.)
inline constexpr std::size_t kMaxConcurrentPulls = 16;
inline constexpr std::uint64_t kMaxPullChunksInFlight =
    kMaxConcurrentPulls + 4 * (kPullWindowChunks - 1);
// Blobs of more than one chunk that one peer may be pulling from this node at once (an honest
// peer pulls at most kMaxConcurrentPulls); beyond it the peer's least recently served session is
// dropped (one the peer gave up, usually).
inline constexpr std::size_t kMaxServingSessionsPerPeer = kMaxConcurrentPulls;
// Digests with known holders whose record has not committed here (those of committed records
// this node lacks are tracked besides, until pulled: they are bounded by the ledger).
inline constexpr std::size_t kMaxTrackedBlobs = 100'000;
// Of those, one peer may be a tracked holder of at most kMaxTrackedBlobs / (2f)
// (BlobReplicator::tracked_share): the f faulty peers announcing made-up digests fill half of the
// table at most, never the whole table that new records' availability needs. An honest peer's
// tracked blobs are those in flight (a few thousand at most under load).
// A tracked digest that nothing on this node needs (no record waiting for it, no pull, no staging)
// is forgotten after this long: the holders of blobs whose record was rejected or never sent, or
// of made-up digests, do not stay tracked for ever. (Longer than a record waits for its blob.)
inline constexpr auto kTrackedIdle = std::chrono::minutes(15);
// The idle check looks at this many tracked digests per Tick (once a second), going round the
// table: each may cost a state read (Hooks::is_referenced), so a full table is never read in one
// turn of the event loop. 100,000 digests take 25 ticks.
inline constexpr std::size_t kSweepBatch = 4'096;
// A committed record's blob with no tracked holder connected is asked of each connected peer in
// turn; peers that did not send it are asked again after this long.
inline constexpr auto kProbeRetry = std::chrono::minutes(5);
inline constexpr std::size_t kMaxSettledRemembered = 65'536;
inline constexpr std::uint64_t kMaxReplicatedBlobBytes = 4ull << 30;
// Blobs from this size are announced in stages (above).
inline constexpr std::uint64_t kStagedAnnounceBytes = 8u << 20;
inline constexpr auto kStagedStall = std::chrono::seconds(2);
inline constexpr std::uint64_t kStagedMinRate = 20u << 20;  // bytes per second
// Uploads declared at this size or more are pushed to their first holders as they arrive.
inline constexpr std::uint64_t kPushBytes = kStagedAnnounceBytes;
// Disk space a node keeps free for its own writes (ledger, consensus log): uploads at its API,
// pushes from its peers and pulls stop short of it.
inline constexpr std::uint64_t kDiskReserveBytes = 1ull << 30;
// Why storing `bytes` more would leave less than kDiskReserveBytes of the `free` bytes on the
// node's disk ("this node's disk has N MiB free, too little for `what` and the 1 GiB it keeps
// free"); nullopt if they fit, or the free space is not known.
std::optional<std::string> DiskShortfall(std::optional<std::uint64_t> free, std::uint64_t bytes,
                                         std::string_view what);
// Pushes one peer may be sending this node at once (an honest peer: its API's large uploads, 16).
inline constexpr std::size_t kMaxIncomingPushesPerPeer = 16;
// The least a push must bring on average since it started, beyond a first kPushRateGrace (one
// largest push message): a sender trickling a few bytes at a time cannot keep pushes open, and
// their temporary files on disk, for ever. A slower honest upload loses only its push: the blob is
// pulled once the upload has ended.
inline constexpr std::uint64_t kMinPushBytesPerSecond = 100u << 10;
inline constexpr std::uint64_t kPushRateGrace = 5u << 20;
// Blobs one peer pushed here complete whose record has not committed here (nor been erased) yet,
// beyond which its new pushes are refused: a peer cannot make this node store more blobs that no
// record needs (until the orphan sweep deletes them). An honest peer's records commit within
// seconds of their upload; twice its concurrent uploads leaves room for those it abandons.
inline constexpr std::size_t kMaxUnsettledPushesPerPeer = 2 * kMaxIncomingPushesPerPeer;
// Bytes a push may run ahead of its slowest receiver's writes before the upload waits for it.
inline constexpr std::uint64_t kPushWindowBytes = 4u << 20;
// Bytes of all of this node's pushes to one receiver that it has not acknowledged yet, beyond
// which every upload pushing to it waits: the link's send queue (64 MiB, shared with consensus
// messages) never fills with pushes.
inline constexpr std::uint64_t kMaxPushBytesInFlightPerPeer = 24u << 20;
// A push that lets its upload go on for none of this long (its receivers do not write fast
// enough) drops the receivers holding it back.
inline constexpr auto kPushStall = std::chrono::seconds(2);

struct BlobStats {
  std::uint64_t blobs_received = 0;
  std::uint64_t blobs_offered = 0;  // of those, sent along with their record's gossip (Accept)
  std::uint64_t bytes_received = 0;
  std::uint64_t bytes_served = 0;
  std::uint64_t pulls_failed = 0;
  std::uint64_t blobs_erased = 0;
  std::uint64_t blobs_pushed_in = 0;       // of blobs_received: complete pushes from their uploader
  std::uint64_t push_targets_dropped = 0;  // receivers dropped from this node's pushes
  std::uint64_t pulls_deferred_for_disk = 0;  // pulls stopped or not taken: too little disk space
};

class BlobReplicator {
 public:
  struct Hooks {
    // Sends to one peer (or broadcasts when nullopt); whether it was queued (a peer's full send
    // queue or a closed link drops it).
    std::function<bool(std::optional<ReplicaId>, const proto::PeerMessage&)> send;
    // Whether the digest belongs to an erased record (then it is never stored again).
    std::function<bool(const crypto::Digest&)> is_erased;
    // Whether a record this node knows of (waiting in its mempool, or committed) names the digest,
    // or an upload here not submitted yet is its content. An announced blob is pulled only then:
    // a peer cannot make this node store blobs no record needs by announcing them (a record that
    // arrives later, or commits, pulls its blob; Fetch, Settle). A tracked blob that none names
    // for kTrackedIdle is forgotten. Unset: every announced blob is pulled and kept tracked.
    std::function<bool(const crypto::Digest&)> is_referenced;
    // The ciphertext size of the committed record that names the digest; nullopt if none does.
    // A blob held here whose record has committed needs no holders tracked: its announcements
    // (every peer lists all it holds when it connects) are not kept, so that old blobs never
    // fill the kMaxTrackedBlobs table that new records' availability needs. A pull of such a
    // blob (announced after a restart, or repairing a copy that failed its check) takes only
    // chunks of that size. Unset: every announcement is tracked.
    std::function<std::optional<std::uint64_t>(const crypto::Digest&)> committed_size;
    // Called when a holder of a digest is counted and the holders announcing its size (or none),
    // with this node's copy whatever its size, are f+1 or more. A hint to look again:
    // IsAvailable(digest, size) answers for a record naming `size`.
    std::function<void(const crypto::Digest&)> on_available;
    // Runs `task` after the handlers already queued (the node: asio::post on its io thread).
    // Pulled blobs completed meanwhile are then synced together, in one SyncPending, and
    // announced in one message. Unset: each pulled blob is synced and announced at once.
    std::function<void(std::function<void()> task)> defer;
    // Runs `sync` off the io thread (the node: its blob sync thread, so that the event loop does
    // not wait for the disk), then `then` with its result back on the io thread. Blobs stored
    // meanwhile wait for the next sync, which starts when this one ends. Unset: synchronously.
    std::function<void(std::function<Status()> sync, std::function<void(const Status&)> then)>
        sync_in_background;
    // Runs `work` off the io thread (the node: its blob sync thread), then `then` back on the io
    // thread. For the listing of every blob held, sent to a peer that connects: it reads each
    // blob's size, a file's `stat` or a small blob's RocksDB value, which takes long with many.
    // Unset: both at once.
    std::function<void(std::function<void()> work, std::function<void()> then)> in_background;
    // The clock of stalls and staging; unset: std::chrono::steady_clock (tests set their own).
    std::function<std::chrono::steady_clock::time_point()> now;
    // Bytes free on the blob store's disk; unset: not checked. Nothing replicated is stored where
    // it would leave less than kDiskReserveBytes free (the node's own writes need it): a push is
    // refused, a pull waits until its whole blob fits (WaitingForDisk), a blob sent along with its
    // record is not taken (it is pulled later).
    std::function<std::optional<std::uint64_t>()> free_bytes;
  };

  // `store` and `logger` must outlive the replicator. `needed`: holders for availability (f+1).
  BlobReplicator(storage::BlobStore& store, std::size_t needed, Hooks hooks,
                 std::shared_ptr<spdlog::logger> logger);

  // A blob uploaded at this node: stored, then announced. Its digest.
  Result<crypto::Digest> StoreLocal(ByteSpan ciphertext);
  // Tells peers that this node holds a blob it stored itself, durably; a large one in stages
  // (above).
  void Announce(const crypto::Digest& digest);
  // The same for a blob this node stored itself unsynced (BlobWriter::CommitUnsynced: a streamed
  // upload, at its submission): synced together with the pulled blobs completed meanwhile, then
  // announced; this node's copy counts as a holder only from then. A blob over
  // storage::kSmallBlobBytes is a file, durable once written: announced at once, by Announce.
  void AnnounceUnsynced(const crypto::Digest& digest);
  // A small blob `from` sent along with its record's transaction: stored like a pulled one
  // (checked against `digest`, synced with the next group, then announced), ending a pull of it.
  // False if not taken: held or erased already, over storage::kSmallBlobBytes, or not matching.
  bool Accept(const crypto::Digest& digest, ByteSpan ciphertext, ReplicaId from);
  // Holders known for a digest, this node included.
  std::size_t Holders(const crypto::Digest& digest) const;
  bool IsAvailable(const crypto::Digest& digest) const { return Holders(digest) >= needed_; }
  // Of them, those whose copy has `size` bytes: this node if its copy counts and has that size,
  // and each peer that announced that size or none (an older node). A record naming another size
  // than its blob's never becomes available through honest holders (each announces the size of
  // the one content with that digest), so it is never ordered (ADR 0036).
  std::size_t Holders(const crypto::Digest& digest, std::uint64_t size) const;
  bool IsAvailable(const crypto::Digest& digest, std::uint64_t size) const {
    return Holders(digest, size) >= needed_;
  }
  // The same, given the size of the copy in the store (nullopt: none), read by the caller.
  bool IsAvailable(const crypto::Digest& digest, std::uint64_t size,
                   std::optional<std::uint64_t> stored) const;
  // Deletes the blob here and stops replicating it (erasure).
  Status Erase(const crypto::Digest& digest);
  // Pulls the blob from a known holder if this node lacks it. While no holder is known, `source`
  // is asked: a node the blob's record names as a holder (its uploader), which may not have
  // announced it yet. A committed record's blob (Settle) is asked of the connected peers in turn.
  // False if no peer can be asked.
  bool Fetch(const crypto::Digest& digest, std::optional<ReplicaId> source = std::nullopt);
  // This node's copy failed its check (a disk returned wrong data): deletes it and pulls it again
  // from every connected peer in turn (a committed record's blob is on f+1 nodes at least).
  // False if no peer is connected. `size`: the committed record's ciphertext size, when the
  // caller has read it already (else read through Hooks::committed_size).
  bool Repair(const crypto::Digest& digest, std::optional<std::uint64_t> size = std::nullopt);
  // The digest's record has committed: its availability no longer matters, so its holders are
  // forgotten once this node holds the blob (pulling it first if needed: from a tracked holder,
  // else from each connected peer in turn, since a committed record's blob is on f+1 nodes).
  // Keeps the tracking bounded by the blobs in flight rather than every blob ever seen. `size`:
  // the ciphertext size the committed record names (the chain's word: a transaction naming the
  // digest again is rejected), which a holder must then send; a pull waiting for disk room for
  // another size starts again.
  void Settle(const crypto::Digest& digest, std::optional<std::uint64_t> size = std::nullopt);

  // The record that wanted the digest is gone (it expired in the mempool): the blob is no longer
  // pulled, unless a committed record needs it (Settle). Its holders stay known until idle for
  // kTrackedIdle.
  void Abandon(const crypto::Digest& digest);

  // Pushes (sender): starts pushing an upload's ciphertext to the f connected peers a staged
  // announcement would tell first. Its id; nullopt when no peer is connected or f is 0.
  std::optional<std::uint64_t> BeginPush();
  // Sends the next `data` of push `id` to its receivers (in messages of at most
  // proto::kMaxBlobPushBytes);
  // `last`: the upload ended with it. `done` (if set) runs once every receiver still in the push
  // has written all but kPushWindowBytes of the data sent before this, and has less than
  // kMaxPushBytesInFlightPerPeer unacknowledged over all pushes; or has been dropped: at once
  // when none is left. A push that gets no data for kPullStall before its end is aborted (its
  // upload stalled, or its end was lost).
  void PushData(std::uint64_t id, Bytes data, bool last, std::function<void()> done);
  // The upload failed: its receivers discard what they have.
  void AbortPush(std::uint64_t id);
  // The node stops: every push ends here and its waiting `done`s run.
  void DropPushes();
  void OnPush(ReplicaId from, const proto::PeerBlobPush& m);
  void OnPushAck(ReplicaId from, const proto::PeerBlobPushAck& m);

  void OnPeerConnected(ReplicaId peer);
  void OnPeerDisconnected(ReplicaId peer);
  void OnHave(ReplicaId from, const proto::PeerBlobHave& m);
  void OnRequest(ReplicaId from, const proto::PeerBlobRequest& m);
  void OnChunk(ReplicaId from, const proto::PeerBlobChunk& m);
  // Restarts stalled pulls and starts queued ones; called every second.
  void Tick();

  const BlobStats& stats() const { return stats_; }
  std::size_t active_pulls() const { return pulls_.size(); }
  // Digests whose holders are tracked; of them, those whose record has not committed here (at
  // most kMaxTrackedBlobs); and how many of these one peer is a tracked holder of (at most
  // tracked_share()).
  std::size_t tracked_blobs() const { return holders_.size(); }
  std::size_t tracked_uncommitted() const { return uncommitted_tracked_; }
  std::size_t tracked_from(ReplicaId peer) const {
    const auto it = tracked_per_peer_.find(peer);
    return it == tracked_per_peer_.end() ? 0 : it->second;
  }
  std::size_t tracked_share() const {
    return kMaxTrackedBlobs / (2 * std::max<std::size_t>(needed_ - 1, 1));
  }
  // The largest tracked_from over the peers.
  std::size_t largest_tracked_share() const;
  // Whether the counts of tracked digests agree with the table (for tests and fuzzing).
  bool TrackingConsistent() const;
  // Whether every wanted digest is in exactly one of: the order of pulls to start, the pulls
  // waiting for disk space, the parked ones (for tests and fuzzing).
  bool WantedConsistent() const;
  // Wanted blobs with no peer left to ask (every connected one lacked it, or no holder is
  // connected): out of the order StartPulls walks until a holder announces one, a peer
  // connects, or the peers asked in vain are asked again (kProbeRetry).
  std::size_t pulls_parked() const { return parked_.size(); }
  // Committed records' blobs whose pull goes to peers not known to hold them (no tracked holder
  // connected), right now.
  std::size_t probing_pulls() const;
  // Bytes a wanted blob needs on this node's disk, beyond its reserve, if its pull waits for
  // space (hooks.free_bytes) and they still do not fit: an operator must free some.
  std::optional<std::uint64_t> WaitingForDisk(const crypto::Digest& digest) const;
  std::size_t pulls_waiting_for_disk() const { return waiting_for_disk_.size(); }
  // Large blobs announced to their first pullers only, so far.
  std::size_t staged_announcements() const { return staged_.size(); }
  // Pushes this node is sending, and receiving.
  std::size_t pushes_out() const { return pushes_.size(); }
  std::size_t pushes_in() const { return incoming_.size(); }

 private:
  // Hash tables for the digest-keyed sets that are never iterated and may grow to tens of
  // thousands (a wiped node's block sync wants every committed blob): as ordered trees, their
  // look-ups were about 5 % of that node's CPU, most of it cache misses. Never iterate them where
  // the order matters (std::hash<Digest> is seeded per process).
  template <typename V>
  using DigestMap = absl::flat_hash_map<crypto::Digest, V, std::hash<crypto::Digest>>;
  using DigestSet = absl::flat_hash_set<crypto::Digest, std::hash<crypto::Digest>>;

  struct Pull {
    ReplicaId from;
    // New for each pull started (never 0), sent in its requests and repeated in the answers:
    // answers to an earlier pull of the blob (given up, or stopped for disk space), still on
    // their way, are not taken for this one's.
    std::uint64_t id = 0;
    bool probe = false;  // `from` is asked without having announced the blob (PickHolder)
    std::unique_ptr<storage::BlobWriter> writer;
    std::uint64_t total = 0;      // 0 until the first chunk tells the size
    std::uint64_t requested = 0;  // offset of the next chunk to request
    std::chrono::steady_clock::time_point last_progress;
  };
  struct Serving {
    std::unique_ptr<storage::BlobReader> reader;
    std::uint64_t offset = 0;
    std::uint64_t last_used = 0;  // serve_count_ when it last served a chunk
  };
  struct Staged {
    std::uint64_t size = 0;                             // of the blob
    std::set<ReplicaId> told;                           // peers announced to
    std::chrono::steady_clock::time_point last_served;  // a chunk of it, to a told peer
    std::chrono::steady_clock::time_point deadline;     // at kStagedMinRate
  };

  struct Push {
    std::map<ReplicaId, std::uint64_t> written;  // receivers still in the push: bytes written
    std::uint64_t sent = 0;
    // `done`s of PushData, each with the bytes every receiver must have written before it runs.
    std::deque<std::pair<std::uint64_t, std::function<void()>>> waiting;
    std::chrono::steady_clock::time_point last_progress;  // a `done` ran, or began to wait
    std::chrono::steady_clock::time_point last_data;      // PushData
    bool ended = false;                                   // its last data was sent
  };
  struct Incoming {
    std::unique_ptr<storage::BlobWriter> writer;
    std::chrono::steady_clock::time_point started;
    std::chrono::steady_clock::time_point last_progress;
  };
  struct Tracked {
    // The peers announcing the digest, with the size each announced (0: none, an older node).
    std::map<ReplicaId, std::uint64_t> peers;
    // Its record committed here (settle_after_pull_): counted neither against the bound nor the
    // peers' shares.
    bool committed = false;
    std::chrono::steady_clock::time_point since;  // tracked, or last found needed (SweepTracked)
  };

  std::chrono::steady_clock::time_point Now() const {
    return hooks_.now ? hooks_.now() : std::chrono::steady_clock::now();
  }
  // 1 if this node's copy counts as a holder: `stored` here, and not waiting for a sync. (An
  // upload stored unsynced counts before its submission queues it; nothing asks until then.)
  std::size_t OwnCopy(const crypto::Digest& digest, bool stored) const {
    return stored && !unsynced_set_.count(digest) ? 1 : 0;
  }
  // Announce, for a blob of `size` bytes.
  void AnnounceStored(const crypto::Digest& digest, std::uint64_t size);
  // `size`: the one `peer` announced, 0 if it gave none.
  void AddHolder(const crypto::Digest& digest, ReplicaId peer, std::uint64_t size);
  // Peers of `tracked` that announced `size` or none (all of them when `size` is 0).
  static std::size_t PeersWithSize(const Tracked& tracked, std::uint64_t size);
  // Holders(digest, size) given the stored copy's size (nullopt: none).
  std::size_t HoldersGiven(const crypto::Digest& digest, std::uint64_t size,
                           std::optional<std::uint64_t> stored) const;
  // Stops tracking the digest's holders (or one of them), giving back their shares.
  void Untrack(const crypto::Digest& digest);
  void UntrackHolder(const crypto::Digest& digest, ReplicaId peer);
  // The digest's record has committed and this node lacks the blob: pulled from a tracked holder
  // or asked of the peers in turn (PickHolder), forgotten once here; its tracked holders are no
  // longer counted against the bound and the shares.
  // `size`: the ciphertext size the record names, when known (Settle): a holder must send that.
  void WantCommitted(const crypto::Digest& digest, std::optional<std::uint64_t> size);
  std::optional<std::uint64_t> CommittedSize(const crypto::Digest& digest) const;
  void Uncharge(const Tracked& tracked);
  // Forgets tracked digests idle for kTrackedIdle that nothing here needs, looking at the next
  // kSweepBatch of them after sweep_from_ (Tick).
  void SweepTracked();
  void Want(const crypto::Digest& digest);
  void Unwant(const crypto::Digest& digest);
  void StartPulls();
  // Chunk requests sent and not answered yet, over all pulls.
  std::uint64_t ChunksInFlight() const;
  // Makes room for a new serving session of `peer`: drops its least recently served one when it
  // has kMaxServingSessionsPerPeer.
  void MakeRoomToServe(ReplicaId peer);
  // Requests chunks until the window is full (one chunk while the size is unknown).
  void RequestMore(const crypto::Digest& digest, Pull& pull);
  // A connected tracked holder of the digest, at the size its committed record names if known
  // (one the digest picks, so that pulls spread over holders); else its named source, if
  // connected. Else, for a committed record's blob (settle_after_pull_), a connected peer not
  // asked for it in vain yet (`probe` set): starting at a peer that the digest picks, so that
  // probes spread over peers.
  std::optional<ReplicaId> PickHolder(const crypto::Digest& digest, bool* probe = nullptr) const;
  // Sends a listing of the store (taken off the io thread) to a peer that connected, if it still
  // is: blobs waiting for their sync or staged reach it through those instead.
  void SendListing(ReplicaId peer, const Result<std::vector<storage::ListedBlob>>& listed);
  // A listing of the store for peers that connected, taken by Hooks::in_background.
  struct Listing {
    std::atomic<bool> started{false};  // set by the background thread before it lists
    std::set<ReplicaId> peers;         // io thread only
    Result<std::vector<storage::ListedBlob>> blobs = Status::Internal("not listed");
  };
  // The latest listing asked for, until its result is sent: joined by peers that connect before
  // it starts.
  std::shared_ptr<Listing> listing_;
  // `absent`: the peer said it does not hold the blob, or sent nothing for kPullStall (a peer
  // asked without having announced the blob that sends none of it is not counted as a failure).
  void FailPull(const crypto::Digest& digest, const std::string& why, bool absent = false);
  // Why storing `bytes` more would leave less than kDiskReserveBytes free on this node's disk;
  // nullopt if they fit (or the free space is not known). `free` is the hook's answer, asked for
  // when unset.
  std::optional<std::string> NoRoomFor(std::uint64_t bytes,
                                       std::optional<std::uint64_t> free = std::nullopt) const;
  // Stops the pull of a blob whose rest does not fit: it stays wanted, its holders are kept, and
  // it is taken up again, from its beginning, once its `size` bytes fit (ResumeWaitingForDisk).
  void DeferForDisk(const crypto::Digest& digest, std::uint64_t size, const std::string& why);
  // Puts the blobs waiting for disk space that fit now back in the order of pulls to start,
  // oldest first, each only if it fits besides those before it (Tick: every second, so that
  // StartPulls never walks over blobs that wait).
  void ResumeWaitingForDisk();
  // Takes a wanted digest that no peer can be asked for out of wanted_order_ (after a failed
  // pull), and puts it (or all) back.
  void Park(const crypto::Digest& digest);
  void Unpark(const crypto::Digest& digest);
  void UnparkAll();
  // A blob stored whole, unsynced (pulled, or sent along with its record, `via`): no pull or want
  // of it remains, and it is queued for the next Publish.
  void Received(const crypto::Digest& digest, std::uint64_t size, ReplicaId from, const char* via);
  void Forget(const crypto::Digest& digest);
  // Fetch for a blob the store is known to lack (its look-up already done).
  bool FetchAbsent(const crypto::Digest& digest);
  // Queues a stored, not yet durable blob of `size` bytes for the next Publish (deferred: one for
  // a group).
  void QueuePublish(const crypto::Digest& digest, std::uint64_t size);
  // Syncs the blobs not yet durable (pulled, or uploaded here), then announces them and counts
  // them as held here (Published). While a sync runs in the background, the next waits for it.
  void Publish();
  void Published(const std::vector<storage::ListedBlob>& synced, const Status& sync);
  // Announces `blobs` (with their sizes) to `to` (every peer when nullopt), in messages of bounded
  // size.
  void SendHave(std::optional<ReplicaId> to, const std::vector<storage::ListedBlob>& blobs);
  // Announces a staged blob to connected peers not told yet until f of them know it.
  void TopUpStaged(const crypto::Digest& digest, Staged& staged);
  // Ends a blob's staging: every peer not told yet is.
  void EndStaging(const crypto::Digest& digest, const char* why);
  // Peers for a blob's first copies: f connected ones, rotating over the peers.
  std::vector<ReplicaId> FirstHolders(const std::set<ReplicaId>& already);
  // Drops a receiver from a push (it refused, stalled or left), then ReleasePush.
  void DropPushTarget(std::uint64_t id, ReplicaId peer, const std::string& why);
  // Runs the `done`s of a push that its receivers have written; forgets an ended push once
  // every receiver has written it all, or none is left.
  void ReleasePush(std::uint64_t id);
  // ReleasePush for every push to `peer` (its acknowledgement may free room for all of them).
  void ReleasePushesTo(ReplicaId peer);
  // Bytes of this node's pushes that `peer` has not acknowledged.
  std::uint64_t PushBytesInFlight(ReplicaId peer) const;
  // Refuses an incoming push (and forgets what this node had of it).
  void RefusePush(ReplicaId from, std::uint64_t id, const std::string& why);

  storage::BlobStore& store_;
  std::size_t needed_;
  Hooks hooks_;
  std::shared_ptr<spdlog::logger> log_;
  std::set<ReplicaId> connected_;
  std::map<crypto::Digest, Tracked> holders_;
  // Entries of holders_ not committed, and of them those naming each peer.
  std::size_t uncommitted_tracked_ = 0;
  std::map<ReplicaId, std::size_t> tracked_per_peer_;
  // Where SweepTracked goes on (the first digest not looked at in this round; none: the start),
  // and the digests it forgot since it last logged them (at a round's end, once a minute at most).
  std::optional<crypto::Digest> sweep_from_;
  std::size_t swept_this_round_ = 0;
  LogLimiter sweep_log_{std::chrono::minutes(1)};
  // Committed records' blobs pulled from peers not known to hold them (PickHolder): the peers
  // asked in vain, each asked again once kProbeRetry has passed since the set was last cleared.
  std::map<crypto::Digest, std::set<ReplicaId>> probed_;
  std::chrono::steady_clock::time_point last_probe_reset_{};
  // event=blob_not_found: at most one line every 10 s, whichever digest.
  LogLimiter not_found_log_{std::chrono::seconds(10)};
  // event=blob_pull_failed and event=blob_push_refused: a faulty peer causes one per message it
  // sends, so at most ten lines every 10 s each (the next logged line, or Tick once the window has
  // passed, says how many were not; failed pulls are counted in ertr_blob_pulls_failed_total).
  LogLimiter pull_failed_log_{std::chrono::seconds(10), 10};
  LogLimiter push_refused_log_{std::chrono::seconds(10), 10};
  // Peers a record names as holding a digest that this node wants, not announced (yet): asked
  // while no announced holder is connected. Never counted as holders.
  std::map<crypto::Digest, ReplicaId> sources_;
  // The ciphertext size a committed record names for a digest this node wants (WantCommitted:
  // from Settle, Repair, or an announcement after a restart; never an uncommitted one's, which any
  // signer could name for any digest), dropped with wanted_: a pull whose holder says another
  // size fails.
  DigestMap<std::uint64_t> sizes_;
  // Deletes this node's copy and what would still say it holds one: not announced (unsynced,
  // staged) nor served any more.
  Status DeleteCopy(const crypto::Digest& digest);
  // Digests with holders that this node lacks (to pull), and the order they were first wanted
  // in: pulls start oldest first. (Started in digest order, a blob whose digest sorts late could
  // wait seconds behind a steady stream of newer ones under load.)
  DigestMap<std::uint64_t> wanted_;
  std::map<std::uint64_t, crypto::Digest> wanted_order_;
  std::uint64_t next_wanted_ = 0;
  DigestSet settle_after_pull_;
  // Recently settled digests (bounded, oldest dropped first): late announcements of them are
  // ignored instead of being tracked again.
  DigestSet settled_;
  std::deque<crypto::Digest> settled_order_;
  std::map<crypto::Digest, Pull> pulls_;
  // Wanted digests no peer can be asked for now (in wanted_, not in wanted_order_; Park).
  std::set<crypto::Digest> parked_;
  // Wanted digests whose pull waits for disk space: the bytes the blob needs (in wanted_, not in
  // wanted_order_).
  std::map<crypto::Digest, std::uint64_t> waiting_for_disk_;
  // The last deferral and resumption logged (at most one line per 10 s each).
  LogLimiter disk_warning_log_{std::chrono::seconds(10)};
  LogLimiter disk_resume_log_{std::chrono::seconds(10)};
  // Stored (pulled, or uploaded here and submitted), not yet synced: not announced, and this node
  // does not count as a holder.
  std::vector<storage::ListedBlob> unsynced_;
  std::set<crypto::Digest> unsynced_set_;  // also those whose sync is running
  bool syncing_ = false;                   // a background sync is running
  std::map<std::pair<ReplicaId, crypto::Digest>, Serving> serving_;
  std::uint64_t serve_count_ = 0;
  std::uint64_t next_pull_id_ = 1;
  std::map<crypto::Digest, Staged> staged_;
  std::size_t next_staged_peer_ = 0;      // rotates the first pullers over the peers
  std::map<std::uint64_t, Push> pushes_;  // sent, by id
  std::uint64_t next_push_;               // random start: ids of a
                                          // restart do not collide
  std::map<std::pair<ReplicaId, std::uint64_t>, Incoming> incoming_;  // received, by sender and id
  // Blobs pushed here complete whose record has not committed (Settle) nor been erased: by sender.
  std::map<crypto::Digest, ReplicaId> pushed_unsettled_;
  BlobStats stats_;
};

}  // namespace ertr::node
