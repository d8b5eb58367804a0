#include "node/blob_replicator.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "crypto/secure_buffer.h"

namespace ertr::node {

namespace {

constexpr auto kPullStall = std::chrono::seconds(10);
constexpr std::size_t kMaxDigestsPerHave = 4096;

}  // namespace

BlobReplicator::BlobReplicator(storage::BlobStore& store, std::size_t needed, Hooks hooks,
                               std::shared_ptr<spdlog::logger> logger)
    : store_(store),
      needed_(needed),
      hooks_(std::move(hooks)),
      log_(std::move(logger)),
      next_push_(crypto::RandomU64()) {
  last_probe_reset_ = Now();
}

Result<crypto::Digest> BlobReplicator::StoreLocal(ByteSpan ciphertext) {
  ERTR_ASSIGN_OR_RETURN(auto digest, storage::PutBlob(store_, ciphertext));
  if (hooks_.is_erased(digest)) {
    (void)store_.Delete(digest);
    return Status::FailedPrecondition("this content belongs to an erased record; it is not stored");
  }
  AnnounceStored(digest, ciphertext.size());
  return digest;
}

void BlobReplicator::Announce(const crypto::Digest& digest) {
  auto size = store_.Size(digest);
  if (!size) {  // not here (erased meanwhile): nothing to announce
    log_->warn("event=blob_not_announced digest={} reason=\"{}\"", digest.ShortHex(),
               size.error().ToString());
    return;
  }
  AnnounceStored(digest, *size);
}

void BlobReplicator::AnnounceStored(const crypto::Digest& digest, std::uint64_t size) {
  // Staging helps only when some connected peer would be left out of the first round, and
  // while the first copies are still to be made (a pushed upload's may be made already).
  if (size >= kStagedAnnounceBytes && needed_ > 1 && connected_.size() > needed_ - 1 &&
      !staged_.count(digest) && !IsAvailable(digest)) {
    const auto now = Now();
    Staged& s = staged_[digest];
    s.size = size;
    s.last_served = now;
    s.deadline = now + kStagedStall + std::chrono::seconds(size / kStagedMinRate);
    TopUpStaged(digest, s);
  } else {
    SendHave(std::nullopt, {{digest, size}});
  }
  if (IsAvailable(digest)) hooks_.on_available(digest);
}

std::vector<ReplicaId> BlobReplicator::FirstHolders(const std::set<ReplicaId>& already) {
  std::size_t have = 0;
  for (ReplicaId p : already) have += connected_.count(p);
  std::vector<ReplicaId> out;
  const std::vector<ReplicaId> peers(connected_.begin(), connected_.end());
  for (std::size_t i = 0; i < peers.size() && have + out.size() + 1 < needed_; ++i) {
    const ReplicaId p = peers[(next_staged_peer_ + i) % peers.size()];
    if (!already.count(p)) out.push_back(p);
  }
  ++next_staged_peer_;
  return out;
}

void BlobReplicator::TopUpStaged(const crypto::Digest& digest, Staged& staged) {
  for (ReplicaId p : FirstHolders(staged.told)) {
    staged.told.insert(p);
    SendHave(p, {{digest, staged.size}});
  }
}

void BlobReplicator::EndStaging(const crypto::Digest& digest, const char* why) {
  auto it = staged_.find(digest);
  if (it == staged_.end()) return;
  for (ReplicaId p : connected_) {
    if (!it->second.told.count(p)) SendHave(p, {{digest, it->second.size}});
  }
  log_->debug("event=blob_announced_to_all digest={} reason={}", digest.ShortHex(), why);
  staged_.erase(it);
}

std::size_t BlobReplicator::Holders(const crypto::Digest& digest) const {
  auto it = holders_.find(digest);
  std::size_t n = it == holders_.end() ? 0 : it->second.peers.size();
  return n + OwnCopy(digest, store_.Contains(digest));
}

std::size_t BlobReplicator::Holders(const crypto::Digest& digest, std::uint64_t size) const {
  std::optional<std::uint64_t> stored;
  if (!unsynced_set_.count(digest)) {  // else not counted: not looked up
    if (auto s = store_.Size(digest)) stored = *s;
  }
  return HoldersGiven(digest, size, stored);
}

bool BlobReplicator::IsAvailable(const crypto::Digest& digest, std::uint64_t size,
                                 std::optional<std::uint64_t> stored) const {
  return HoldersGiven(digest, size, stored) >= needed_;
}

std::size_t BlobReplicator::HoldersGiven(const crypto::Digest& digest, std::uint64_t size,
                                         std::optional<std::uint64_t> stored) const {
  auto it = holders_.find(digest);
  const std::size_t n = it == holders_.end() ? 0 : PeersWithSize(it->second, size);
  return n + (stored == size && !unsynced_set_.count(digest) ? 1 : 0);
}

std::size_t BlobReplicator::PeersWithSize(const Tracked& tracked, std::uint64_t size) {
  if (size == 0) return tracked.peers.size();
  std::size_t n = 0;
  for (const auto& [p, announced] : tracked.peers) n += announced == 0 || announced == size;
  return n;
}

Status BlobReplicator::DeleteCopy(const crypto::Digest& digest) {
  unsynced_set_.erase(digest);
  std::erase_if(unsynced_, [&](const storage::ListedBlob& b) { return b.digest == digest; });
  staged_.erase(digest);
  for (auto it = serving_.begin(); it != serving_.end();) {
    it = it->first.second == digest ? serving_.erase(it) : std::next(it);
  }
  return store_.Delete(digest);
}

Status BlobReplicator::Erase(const crypto::Digest& digest) {
  pulls_.erase(digest);  // the writer's temporary file goes with it
  Untrack(digest);
  Unwant(digest);
  settle_after_pull_.erase(digest);
  probed_.erase(digest);
  pushed_unsettled_.erase(digest);
  const bool had = store_.Contains(digest);
  ERTR_RETURN_IF_ERROR(DeleteCopy(digest));
  if (had) {
    ++stats_.blobs_erased;
    log_->info("event=blob_erased digest={}", digest.ShortHex());
  }
  return Status::Ok();
}

bool BlobReplicator::Fetch(const crypto::Digest& digest, std::optional<ReplicaId> source) {
  if (store_.Contains(digest)) return true;
  // Bounded like the holders: a stream of records naming sources cannot grow it without limit.
  if (source && !settled_.count(digest) &&
      (sources_.size() < kMaxTrackedBlobs || sources_.count(digest))) {
    sources_.insert_or_assign(digest, *source);
  }
  return FetchAbsent(digest);
}

bool BlobReplicator::FetchAbsent(const crypto::Digest& digest) {
  if (pulls_.count(digest)) return true;
  if (!PickHolder(digest)) return false;
  Unpark(digest);
  Want(digest);
  StartPulls();
  return true;
}

bool BlobReplicator::Repair(const crypto::Digest& digest, std::optional<std::uint64_t> size) {
  if (pulls_.count(digest)) return true;
  if (connected_.empty()) return false;  // keep the damaged copy until a good one can come
  if (auto s = DeleteCopy(digest); !s.ok()) {
    log_->error("event=blob_repair_failed digest={} reason=\"{}\"", digest.ShortHex(),
                s.ToString());
    return false;
  }
  settled_.erase(digest);
  probed_.erase(digest);
  // Asked of every connected peer in turn (PickHolder), for the size its record names; forgotten
  // again once the good copy is here.
  WantCommitted(digest, size ? size : CommittedSize(digest));
  return FetchAbsent(digest);
}

void BlobReplicator::Settle(const crypto::Digest& digest, std::optional<std::uint64_t> size) {
  const bool stored = store_.Contains(digest);  // one look-up: asked for every committed record
  if (stored && !pulls_.count(digest)) return Forget(digest);
  // Not here yet: keep its holders (and learn new ones) until the pull completes. Wanted even with
  // no tracked holder: a committed record's blob is on f+1 nodes, so connected peers are asked in
  // turn (PickHolder), and the pull starts when one announces it (as every peer does with all its
  // blobs when it connects).
  WantCommitted(digest, size);
  StartPulls();
}

void BlobReplicator::WantCommitted(const crypto::Digest& digest,
                                   std::optional<std::uint64_t> size) {
  settled_.erase(digest);  // its announcements count again (a copy held here was lost)
  if (settle_after_pull_.insert(digest).second) {
    if (auto it = holders_.find(digest); it != holders_.end()) {
      Uncharge(it->second);
      it->second.committed = true;
    }
  }
  if (!pulls_.count(digest)) Want(digest);
  Unpark(digest);  // now asked of the peers in turn
  if (!size) return;
  sizes_.insert_or_assign(digest, *size);  // bounded by wanted_: Unwant drops it
  // Waiting for room for a size a holder made up: asked again, for the record's size.
  if (auto w = waiting_for_disk_.find(digest);
      w != waiting_for_disk_.end() && w->second != *size && wanted_.count(digest)) {
    waiting_for_disk_.erase(w);
    wanted_order_.emplace(wanted_.at(digest), digest);
  }
}

std::optional<std::uint64_t> BlobReplicator::CommittedSize(const crypto::Digest& digest) const {
  return hooks_.committed_size ? hooks_.committed_size(digest) : std::nullopt;
}

void BlobReplicator::Uncharge(const Tracked& tracked) {
  if (tracked.committed) return;
  --uncommitted_tracked_;
  for (const auto& [p, size] : tracked.peers) {
    if (--tracked_per_peer_[p] == 0) tracked_per_peer_.erase(p);
  }
}

void BlobReplicator::Abandon(const crypto::Digest& digest) {
  if (settle_after_pull_.count(digest)) return;
  pulls_.erase(digest);  // its temporary file goes with its writer
  Unwant(digest);
}

void BlobReplicator::Forget(const crypto::Digest& digest) {
  Untrack(digest);
  pushed_unsettled_.erase(digest);
  Unwant(digest);
  settle_after_pull_.erase(digest);
  probed_.erase(digest);
  if (!settled_.insert(digest).second) return;
  settled_order_.push_back(digest);
  if (settled_order_.size() > kMaxSettledRemembered) {
    settled_.erase(settled_order_.front());
    settled_order_.pop_front();
  }
}

void BlobReplicator::OnPeerConnected(ReplicaId peer) {
  connected_.insert(peer);
  UnparkAll();  // pulls with no peer to ask may have one now
  if (!hooks_.in_background) {
    SendListing(peer, store_.List());
  } else if (listing_ && !listing_->started.load()) {
    // A listing not begun yet sees every blob stored before this connection: it serves this
    // peer too (peers that reconnect often, or all at start-up, queue one scan, not one each).
    listing_->peers.insert(peer);
  } else {
    auto listing = std::make_shared<Listing>();
    listing->peers.insert(peer);
    listing_ = listing;
    hooks_.in_background(
        [this, listing] {
          listing->started.store(true);
          listing->blobs = store_.List();
        },
        [this, listing] {
          if (listing_ == listing) listing_.reset();
          for (const ReplicaId p : listing->peers) SendListing(p, listing->blobs);
        });
  }
  for (auto& [digest, staged] : staged_) TopUpStaged(digest, staged);
  StartPulls();
}

void BlobReplicator::SendListing(ReplicaId peer,
                                 const Result<std::vector<storage::ListedBlob>>& listed) {
  // Gone meanwhile: listed again when it reconnects. (Blobs stored since the listing are
  // announced to every connected peer as usual; one erased since may be named: the peer's pull
  // of it is told at once that this node lacks it.)
  if (!connected_.count(peer)) return;
  if (!listed) {
    log_->error("event=blob_list_failed reason=\"{}\"", listed.error().ToString());
    return;
  }
  auto list = *listed;
  // Staged blobs reach the new peer through their staging (now, if it fills a first-round slot);
  // unsynced ones at their sync.
  std::erase_if(list, [&](const storage::ListedBlob& b) {
    return unsynced_set_.count(b.digest) > 0 || staged_.count(b.digest) > 0;
  });
  SendHave(peer, list);
}

void BlobReplicator::OnPeerDisconnected(ReplicaId peer) {
  connected_.erase(peer);
  // Its pushes to us end (the writers' temporary files go with them); ours to it go on without it.
  std::erase_if(incoming_, [&](const auto& in) { return in.first.first == peer; });
  std::vector<std::uint64_t> pushing;
  for (const auto& [id, push] : pushes_) {
    if (push.written.count(peer)) pushing.push_back(id);
  }
  for (std::uint64_t id : pushing) DropPushTarget(id, peer, "disconnected");
  for (auto it = serving_.begin(); it != serving_.end();) {
    it = it->first.first == peer ? serving_.erase(it) : std::next(it);
  }
  // Pulls from that peer start again from another holder.
  for (auto it = pulls_.begin(); it != pulls_.end();) {
    it = it->second.from == peer ? pulls_.erase(it) : std::next(it);
  }
  // A first puller gone: another peer takes its place.
  for (auto& [digest, staged] : staged_) TopUpStaged(digest, staged);
  StartPulls();
}

void BlobReplicator::Untrack(const crypto::Digest& digest) {
  const auto it = holders_.find(digest);
  if (it == holders_.end()) return;
  Uncharge(it->second);
  holders_.erase(it);
}

void BlobReplicator::UntrackHolder(const crypto::Digest& digest, ReplicaId peer) {
  const auto it = holders_.find(digest);
  if (it == holders_.end() || it->second.peers.erase(peer) == 0) return;
  if (!it->second.committed && --tracked_per_peer_[peer] == 0) tracked_per_peer_.erase(peer);
  if (it->second.peers.empty()) Untrack(digest);
}

std::size_t BlobReplicator::largest_tracked_share() const {
  std::size_t most = 0;
  for (const auto& [peer, n] : tracked_per_peer_) most = std::max(most, n);
  return most;
}

bool BlobReplicator::TrackingConsistent() const {
  std::size_t uncommitted = 0;
  std::map<ReplicaId, std::size_t> per_peer;
  for (const auto& [digest, tracked] : holders_) {
    if (tracked.peers.empty() || tracked.committed != (settle_after_pull_.count(digest) > 0)) {
      return false;
    }
    if (tracked.committed) continue;
    ++uncommitted;
    for (const auto& [p, size] : tracked.peers) ++per_peer[p];
  }
  if (uncommitted != uncommitted_tracked_ || uncommitted > kMaxTrackedBlobs) return false;
  for (const auto& [peer, n] : per_peer) {
    if (n > tracked_share()) return false;
  }
  return per_peer == tracked_per_peer_;
}

void BlobReplicator::AddHolder(const crypto::Digest& digest, ReplicaId peer, std::uint64_t size) {
  if (settled_.count(digest)) return;
  auto tracked = holders_.find(digest);
  bool committed =
      tracked != holders_.end() ? tracked->second.committed : settle_after_pull_.count(digest) > 0;
  // A digest not tracked yet whose record has committed here, but was not settled by this process
  // (it committed before the node restarted, say; every peer lists all it holds on connecting).
  if (tracked == holders_.end() && !committed) {
    if (const auto committed_size = CommittedSize(digest)) {
      // Held here durably: nothing to track (remembered as settled).
      if (!unsynced_set_.count(digest) && !pulls_.count(digest) && store_.Contains(digest)) {
        return Forget(digest);
      }
      // Pulled (for the size its record names), then forgotten; tracked meanwhile outside the
      // bounds.
      WantCommitted(digest, committed_size);
      committed = true;
    }
  }
  // Bounded, and by a share per peer: a peer announcing endless made-up digests cannot grow this
  // without limit, nor fill it for the others. (Committed records' blobs that this node lacks
  // count against neither: they are bounded by the ledger, and pulled before they are forgotten.)
  if (!committed && ((tracked == holders_.end() && uncommitted_tracked_ >= kMaxTrackedBlobs) ||
                     ((tracked == holders_.end() || !tracked->second.peers.count(peer)) &&
                      tracked_from(peer) >= tracked_share()))) {
    return;
  }
  // Our own copy counts once synced, and is not wanted while it is here at all. Announcements come
  // from every holder, mostly of blobs this node is pulling or about to: what the replicator
  // tracks answers those without a look-up of the store (for a small blob that is absent, a
  // database read and a stat of the file tier).
  const bool stored = unsynced_set_.count(digest) > 0 ||
                      (!pulls_.count(digest) && !wanted_.count(digest) && store_.Contains(digest));
  const std::size_t own = OwnCopy(digest, stored);
  if (tracked == holders_.end()) {
    tracked = holders_.emplace(digest, Tracked{{}, committed, Now()}).first;
    if (!committed) ++uncommitted_tracked_;
  }
  auto& peers = tracked->second.peers;
  const auto [entry, added] = peers.try_emplace(peer, size);
  if (added && !committed) ++tracked_per_peer_[peer];
  const bool counted_anew = added || entry->second != size;  // a new holder, or a new size
  entry->second = size;
  Unpark(digest);  // a holder to pull from
  // Asked again at every announcement of a blob not wanted yet: its record may have arrived
  // since (while no holder was connected to pull it from).
  if (!stored && !wanted_.count(digest) &&
      (!hooks_.is_referenced || hooks_.is_referenced(digest))) {
    Want(digest);
  }
  // A pull from a named source that is not a holder and has sent nothing yet: the source may not
  // hold the blob at all (a record can name any institution), so the announced holder takes over.
  if (auto pull = pulls_.find(digest); pull != pulls_.end() && pull->second.from != peer &&
                                       !peers.count(pull->second.from) &&
                                       pull->second.writer->bytes_written() == 0) {
    pulls_.erase(pull);
    sources_.erase(digest);
    Want(digest);
  }
  if (counted_anew && PeersWithSize(tracked->second, size) + own >= needed_) {
    hooks_.on_available(digest);
  }
}

void BlobReplicator::SweepTracked() {
  const auto now = Now();
  std::vector<crypto::Digest> idle;
  auto it = sweep_from_ ? holders_.lower_bound(*sweep_from_) : holders_.begin();
  for (std::size_t looked = 0; it != holders_.end() && looked < kSweepBatch; ++it, ++looked) {
    auto& [digest, tracked] = *it;
    if (now - tracked.since < kTrackedIdle) continue;
    const bool needed = wanted_.count(digest) || pulls_.count(digest) || staged_.count(digest) ||
                        unsynced_set_.count(digest) ||
                        (!hooks_.is_referenced || hooks_.is_referenced(digest));
    if (needed) {
      tracked.since = now;  // looked at again in kTrackedIdle
    } else {
      idle.push_back(digest);
    }
  }
  if (it == holders_.end()) {
    sweep_from_.reset();
  } else {
    sweep_from_ = it->first;
  }
  for (const auto& d : idle) Untrack(d);
  swept_this_round_ += idle.size();
  // At the end of a round (every tick when the table is small), at most once a minute.
  if (!sweep_from_ && swept_this_round_ != 0 && sweep_log_.Admit(now)) {
    log_->info("event=blob_holders_forgotten digests={} reason=\"no record here names them\"",
               swept_this_round_);
    swept_this_round_ = 0;
  }
}

void BlobReplicator::OnHave(ReplicaId from, const proto::PeerBlobHave& m) {
  for (std::size_t i = 0; i < m.digests.size(); ++i) {
    const crypto::Digest& d = m.digests[i];
    if (hooks_.is_erased(d)) continue;
    AddHolder(d, from, i < m.sizes.size() ? m.sizes[i] : 0);
    if (staged_.count(d) && IsAvailable(d)) EndStaging(d, "available");
  }
  StartPulls();
}

void BlobReplicator::Want(const crypto::Digest& digest) {
  if (wanted_.try_emplace(digest, next_wanted_).second)
    wanted_order_.emplace(next_wanted_++, digest);
}

void BlobReplicator::Unwant(const crypto::Digest& digest) {
  sources_.erase(digest);
  sizes_.erase(digest);
  waiting_for_disk_.erase(digest);
  parked_.erase(digest);
  const auto it = wanted_.find(digest);
  if (it == wanted_.end()) return;
  wanted_order_.erase(it->second);
  wanted_.erase(it);
}

void BlobReplicator::StartPulls() {
  for (auto w = wanted_order_.begin(); w != wanted_order_.end();) {
    if (pulls_.size() >= kMaxConcurrentPulls) return;
    const crypto::Digest digest = (w++)->second;
    if (pulls_.count(digest)) continue;
    // The holder first: blobs of committed records are wanted before any holder is known, and
    // the store's look-ups are not free.
    bool probe = false;
    auto from = PickHolder(digest, &probe);
    if (!from) continue;
    if (store_.Contains(digest) || hooks_.is_erased(digest)) {
      Unwant(digest);
      continue;
    }
    auto writer = store_.Create(digest);
    if (!writer) {
      log_->error("event=blob_pull_failed digest={} reason=\"{}\"", digest.ShortHex(),
                  writer.error().ToString());
      continue;
    }
    Pull& pull = pulls_[digest];
    pull.from = *from;
    pull.id = next_pull_id_++;
    pull.probe = probe;
    pull.writer = std::move(*writer);
    pull.last_progress = Now();
    RequestMore(digest, pull);
  }
}

void BlobReplicator::RequestMore(const crypto::Digest& digest, Pull& pull) {
  pull.last_progress = Now();
  // Holders serve a session's chunks in order, kBlobChunkBytes each but the last, so the offsets
  // of the chunks ahead are known once the size is.
  const std::uint64_t written = pull.writer->bytes_written();
  const std::uint64_t end = pull.total == 0 ? written + 1 : pull.total;
  const std::uint64_t window = pull.total == 0 ? 1 : kPullWindowChunks;
  pull.requested = std::max(pull.requested, written);
  // Pulls that could still start each keep room for their first request.
  std::uint64_t in_flight =
      ChunksInFlight() + (kMaxConcurrentPulls - std::min(pulls_.size(), kMaxConcurrentPulls));
  while (pull.requested < end && pull.requested - written < window * kBlobChunkBytes &&
         (pull.requested == written || in_flight < kMaxPullChunksInFlight)) {
    hooks_.send(pull.from, proto::PeerBlobRequest{digest, pull.requested, pull.id});
    pull.requested += kBlobChunkBytes;
    ++in_flight;
  }
}

void BlobReplicator::MakeRoomToServe(ReplicaId peer) {
  // The peer's sessions are adjacent in the map (keyed by peer first; Digest{} sorts first).
  std::size_t sessions = 0;
  auto oldest = serving_.end();
  for (auto s = serving_.lower_bound(std::make_pair(peer, crypto::Digest{}));
       s != serving_.end() && s->first.first == peer; ++s) {
    ++sessions;
    if (oldest == serving_.end() || s->second.last_used < oldest->second.last_used) oldest = s;
  }
  if (sessions >= kMaxServingSessionsPerPeer) serving_.erase(oldest);
}

std::uint64_t BlobReplicator::ChunksInFlight() const {
  std::uint64_t n = 0;
  for (const auto& [digest, pull] : pulls_) {
    const std::uint64_t written = pull.writer->bytes_written();
    if (pull.requested > written) {
      n += (pull.requested - written + kBlobChunkBytes - 1) / kBlobChunkBytes;
    }
  }
  return n;
}

std::optional<ReplicaId> BlobReplicator::PickHolder(const crypto::Digest& digest,
                                                    bool* probe) const {
  if (probe) *probe = false;
  if (auto it = holders_.find(digest); it != holders_.end()) {
    // Of the connected holders announcing the size a committed record names (or none: an older
    // node), one chosen by the digest, so that pulls of many blobs (a wiped node catching up)
    // spread over the holders instead of all going to the lowest id. Failed ones were untracked.
    const auto named = sizes_.find(digest);
    auto fits = [&](ReplicaId p, std::uint64_t size) {
      return connected_.count(p) > 0 &&
             (named == sizes_.end() || size == 0 || size == named->second);
    };
    const auto& peers = it->second.peers;
    const auto n = static_cast<std::size_t>(std::count_if(
        peers.begin(), peers.end(), [&](const auto& e) { return fits(e.first, e.second); }));
    if (n > 0) {
      std::size_t skip = digest.data()[1] % n;
      for (const auto& [p, size] : peers) {
        if (fits(p, size) && skip-- == 0) return p;
      }
    }
  }
  if (auto it = sources_.find(digest); it != sources_.end() && connected_.count(it->second)) {
    return it->second;
  }
  if (connected_.empty() || !settle_after_pull_.count(digest)) return std::nullopt;
  const auto asked = probed_.find(digest);
  auto p = std::next(connected_.begin(),
                     static_cast<std::ptrdiff_t>(digest.data()[0] % connected_.size()));
  for (std::size_t i = 0; i < connected_.size(); ++i) {
    if (asked == probed_.end() || !asked->second.count(*p)) {
      if (probe) *probe = true;
      return *p;
    }
    if (++p == connected_.end()) p = connected_.begin();
  }
  return std::nullopt;  // every connected peer was asked in vain: again after kProbeRetry
}

std::size_t BlobReplicator::probing_pulls() const {
  return static_cast<std::size_t>(
      std::count_if(pulls_.begin(), pulls_.end(), [](const auto& p) { return p.second.probe; }));
}

void BlobReplicator::OnRequest(ReplicaId from, const proto::PeerBlobRequest& m) {
  if (!store_.Contains(m.digest)) {
    // Not held (any more, or never: the requester asked without an announcement): said at once,
    // so that it asks another peer now rather than after kPullStall.
    hooks_.send(from, proto::PeerBlobChunk{m.digest, m.offset, 0, {}, m.pull_id});
    return;
  }
  const auto key = std::make_pair(from, m.digest);
  auto it = serving_.find(key);
  if (it == serving_.end() || it->second.offset != m.offset) {
    // Blobs are served from the start, in order (a reader has no cheap seek, and a peer must not
    // make us re-read large blobs at will). A request elsewhere (this node lost its place: a
    // chunk it could not send, a session it closed to serve others) is told "not held", so that
    // the puller starts again now, from another holder, instead of stalling.
    if (m.offset != 0) {
      hooks_.send(from, proto::PeerBlobChunk{m.digest, m.offset, 0, {}, m.pull_id});
      return;
    }
    if (hooks_.is_erased(m.digest)) {
      // Its record was erased but deleting the copy failed then (event=blob_erase_failed): never
      // served; deleted again now.
      hooks_.send(from, proto::PeerBlobChunk{m.digest, m.offset, 0, {}, m.pull_id});
      if (auto s = Erase(m.digest); !s.ok()) {
        log_->error("event=blob_erase_failed digest={} reason=\"{}\"", m.digest.ShortHex(),
                    s.ToString());
      }
      return;
    }
    auto reader = store_.Open(m.digest);
    if (!reader) return;
    if (it != serving_.end()) {
      it->second = Serving{std::move(*reader), 0, 0};  // the peer starts this blob again
    } else {
      if ((*reader)->size() > kBlobChunkBytes) MakeRoomToServe(from);  // one chunk: served at once
      it = serving_.emplace(key, Serving{std::move(*reader), 0, 0}).first;
    }
  }
  Serving& s = it->second;
  s.last_used = ++serve_count_;
  // Sized to what is left: a 2 KiB blob does not cost a zeroed 1 MiB buffer per request.
  Bytes data(static_cast<std::size_t>(std::min<std::uint64_t>(
      kBlobChunkBytes, s.reader->size() - std::min(s.offset, s.reader->size()))));
  std::size_t filled = 0;
  std::uint8_t probe = 0;
  for (;;) {
    // Once the buffer is full, one more read of the last chunk reaches the end of the blob,
    // where the reader checks the digest: corrupt content is reported here, not served.
    const bool last = s.offset + data.size() >= s.reader->size();
    if (filled == data.size() && !last) break;
    auto n = filled < data.size()
                 ? s.reader->Read(MutableByteSpan(data.data() + filled, data.size() - filled))
                 : s.reader->Read(MutableByteSpan(&probe, 1));
    if (n && filled == data.size() && *n != 0) {
      n = Status::DataLoss("the blob is longer than its size said");
    }
    if (!n) {
      log_->error(
          "event=blob_corrupt digest={} reason=\"{}\" action=\"not served; the copy is deleted "
          "and pulled again from the peers\"",
          m.digest.ShortHex(), n.error().ToString());
      serving_.erase(it);
      // Told as "not held", so that the peer asks another holder now instead of after a stall.
      hooks_.send(from, proto::PeerBlobChunk{m.digest, m.offset, 0, {}, m.pull_id});
      if (const auto size = CommittedSize(m.digest)) {
        // A committed record's blob is on f+1 nodes: asked of the peers in turn.
        if (!Repair(m.digest, size)) {
          log_->error("event=blob_repair_failed digest={} reason=\"no peer to pull it from\"",
                      m.digest.ShortHex());
        }
      } else if (auto deleted = DeleteCopy(m.digest); deleted.ok()) {
        Fetch(m.digest);  // from a holder it knows of, if any (not every peer: not committed)
      } else {
        log_->error("event=blob_repair_failed digest={} reason=\"{}\"", m.digest.ShortHex(),
                    deleted.ToString());
      }
      return;
    }
    if (*n == 0) break;
    filled += *n;
  }
  data.resize(filled);
  const std::uint64_t offset = s.offset;
  const std::uint64_t total = s.reader->size();
  s.offset += filled;
  stats_.bytes_served += filled;
  if (auto st = staged_.find(m.digest); st != staged_.end() && st->second.told.count(from)) {
    st->second.last_served = Now();
  }
  if (s.offset >= total) serving_.erase(it);
  if (!hooks_.send(from,
                   proto::PeerBlobChunk{m.digest, offset, total, std::move(data), m.pull_id})) {
    // Dropped (the peer's send queue is full, or its link closed): this session's place is past
    // a chunk the peer never gets. Ended, so that its next request is told to start again.
    serving_.erase(key);
  }
}

void BlobReplicator::OnChunk(ReplicaId from, const proto::PeerBlobChunk& m) {
  auto it = pulls_.find(m.digest);
  if (it == pulls_.end() || it->second.from != from) return;  // not asked for (any more)
  Pull& pull = it->second;
  // The answer to an earlier pull of this blob from this peer: this pull's come after it. (A
  // holder from before pull ids answers with 0: taken, as it was.)
  if (m.pull_id != 0 && m.pull_id != pull.id) return;
  if (m.total_size == 0 && m.data.empty()) {  // the peer does not hold the blob (OnRequest)
    FailPull(m.digest,
             "peer " + std::to_string(from.value()) +
                 " does not hold it (or lost its place in serving it: asked again from the start)",
             true);
    return StartPulls();  // from another peer, at once
  }
  if (m.offset != pull.writer->bytes_written() || m.offset > m.total_size ||
      (pull.total != 0 && m.total_size != pull.total)) {
    return FailPull(m.digest,
                    "peer " + std::to_string(from.value()) + " sent a chunk out of order");
  }
  // A whole chunk, less only at the end (docs/spec/wire.md section 4): a holder trickling a few
  // bytes at a time would otherwise hold the pull's slot, each byte counting as progress.
  if (m.data.size() != std::min<std::uint64_t>(kBlobChunkBytes, m.total_size - m.offset)) {
    return FailPull(m.digest, "peer " + std::to_string(from.value()) + " sent a chunk of " +
                                  std::to_string(m.data.size()) + " bytes at offset " +
                                  std::to_string(m.offset) + " of " + std::to_string(m.total_size) +
                                  ", not a whole one");
  }
  if (m.total_size > kMaxReplicatedBlobBytes) {
    return FailPull(m.digest,
                    "blob of " + std::to_string(m.total_size) + " bytes is over the limit");
  }
  if (const auto named = sizes_.find(m.digest);
      named != sizes_.end() && named->second != m.total_size) {
    return FailPull(m.digest, "peer " + std::to_string(from.value()) + " says the blob has " +
                                  std::to_string(m.total_size) + " bytes, its record " +
                                  std::to_string(named->second));
  }
  pull.total = m.total_size;
  // The whole rest of the blob must fit, not only this chunk: a pull that could not end is not
  // worth its writes.
  if (auto why = NoRoomFor(m.total_size - m.offset)) {
    return DeferForDisk(m.digest, m.total_size, *why);  // starts again from the beginning
  }
  if (auto s = pull.writer->Write(m.data); !s.ok()) return FailPull(m.digest, s.ToString());
  stats_.bytes_received += m.data.size();
  if (pull.writer->bytes_written() < pull.total) return RequestMore(m.digest, pull);
  // Checks the content against the digest; durable only at the next Publish.
  auto committed = pull.writer->CommitUnsynced();
  if (!committed) return FailPull(m.digest, committed.error().ToString());
  Received(m.digest, m.total_size, from, "pull");
  StartPulls();
}

void BlobReplicator::Received(const crypto::Digest& digest, std::uint64_t size, ReplicaId from,
                              const char* via) {
  pulls_.erase(digest);  // for a blob sent along: a chunk still coming is dropped as not asked for
  Unwant(digest);
  ++stats_.blobs_received;
  log_->info("event=blob_replicated digest={} bytes={} from={} via={}", digest.ShortHex(), size,
             from.value(), via);
  QueuePublish(digest, size);
}

bool BlobReplicator::Accept(const crypto::Digest& digest, ByteSpan ciphertext, ReplicaId from) {
  if (ciphertext.size() > storage::kSmallBlobBytes || store_.Contains(digest) ||
      hooks_.is_erased(digest)) {
    return false;
  }
  // Not taken without room: the record's pull of it then waits for the space (and says so).
  if (NoRoomFor(ciphertext.size())) return false;
  auto writer = store_.Create(digest);
  if (!writer) {
    log_->error("event=blob_store_failed digest={} reason=\"{}\"", digest.ShortHex(),
                writer.error().ToString());
    return false;
  }
  if (auto s = (*writer)->Write(ciphertext); !s.ok()) {
    log_->error("event=blob_store_failed digest={} reason=\"{}\"", digest.ShortHex(), s.ToString());
    return false;
  }
  // Checks the content against the digest; durable only at the next Publish.
  if (auto committed = (*writer)->CommitUnsynced(); !committed) {
    log_->warn("event=offered_blob_refused digest={} reason=\"{}\"", digest.ShortHex(),
               committed.error().ToString());
    return false;
  }
  ++stats_.blobs_offered;
  stats_.bytes_received += ciphertext.size();
  Received(digest, ciphertext.size(), from, "gossip");
  return true;
}

void BlobReplicator::AnnounceUnsynced(const crypto::Digest& digest) {
  auto size = store_.Size(digest);
  if (!size) return;  // not here (deleted meanwhile): nothing to announce
  if (*size > storage::kSmallBlobBytes) return AnnounceStored(digest, *size);
  QueuePublish(digest, *size);
}

void BlobReplicator::QueuePublish(const crypto::Digest& digest, std::uint64_t size) {
  if (unsynced_set_.insert(digest).second) unsynced_.push_back({digest, size});
  if (!hooks_.defer) {
    Publish();
  } else if (unsynced_.size() == 1) {
    hooks_.defer([this] { Publish(); });
  }
}

void BlobReplicator::SendHave(std::optional<ReplicaId> to,
                              const std::vector<storage::ListedBlob>& blobs) {
  for (std::size_t i = 0; i < blobs.size(); i += kMaxDigestsPerHave) {
    const auto end = std::min(blobs.size(), i + kMaxDigestsPerHave);
    proto::PeerBlobHave have;
    have.digests.reserve(end - i);
    have.sizes.reserve(end - i);
    for (std::size_t j = i; j < end; ++j) {
      have.digests.push_back(blobs[j].digest);
      have.sizes.push_back(blobs[j].size);
    }
    hooks_.send(to, have);
  }
}

void BlobReplicator::Publish() {
  if (unsynced_.empty() || syncing_) return;
  std::vector<storage::ListedBlob> done;
  done.swap(unsynced_);
  if (!hooks_.sync_in_background) return Published(done, store_.SyncPending());
  syncing_ = true;
  hooks_.sync_in_background([this] { return store_.SyncPending(); },
                            [this, done = std::move(done)](const Status& s) {
                              syncing_ = false;
                              Published(done, s);
                              Publish();  // those stored while it ran
                            });
}

void BlobReplicator::Published(const std::vector<storage::ListedBlob>& done, const Status& sync) {
  if (!sync.ok()) {
    // Not durable: never announced. They stay uncounted (the node's consensus writes go to
    // the same disk and stop the node if it is failing).
    log_->error("event=blob_sync_failed blobs={} reason=\"{}\"", done.size(), sync.ToString());
    return;
  }
  // Not those deleted while the sync ran (erased, or a copy that failed its check): DeleteCopy
  // took them out of unsynced_set_. Nor those stored again since (fetched anew after the
  // delete): back in unsynced_, that copy is announced after the next sync, not this one.
  std::set<crypto::Digest> stored_again;
  for (const auto& b : unsynced_) stored_again.insert(b.digest);
  std::vector<storage::ListedBlob> kept;
  kept.reserve(done.size());
  for (const auto& b : done) {
    if (unsynced_set_.count(b.digest) && !stored_again.count(b.digest)) kept.push_back(b);
  }
  SendHave(std::nullopt, kept);
  for (const auto& [d, size] : kept) {
    unsynced_set_.erase(d);  // our own copy counts from now on, at its size
    const auto it = holders_.find(d);
    const std::size_t peers = it == holders_.end() ? 0 : PeersWithSize(it->second, size);
    if (peers < needed_ && peers + 1 >= needed_) hooks_.on_available(d);
    if (settle_after_pull_.count(d)) Forget(d);
  }
}

void BlobReplicator::FailPull(const crypto::Digest& digest, const std::string& why, bool absent) {
  auto it = pulls_.find(digest);
  if (it == pulls_.end()) return;
  const ReplicaId from = it->second.from;
  if (absent && it->second.probe && it->second.writer->bytes_written() == 0) {
    // A peer asked without having announced the blob sent none of it: most likely it does not
    // hold it (a committed record's blob is on f+1 nodes, not necessarily all). Not a failure.
    log_->debug("event=blob_probe_missed digest={} peer={}", digest.ShortHex(), from.value());
    auto& asked = probed_[digest];
    asked.insert(from);
    const bool all =
        std::includes(asked.begin(), asked.end(), connected_.begin(), connected_.end());
    if (const auto unlogged = all ? not_found_log_.Admit(Now()) : std::nullopt) {
      log_->warn(
          "event=blob_not_found digest={} peers_asked={} same_events_not_logged={} "
          "reason=\"no connected peer sent a committed record's data; asked again within {} "
          "minutes and whenever a holder announces it\"",
          digest.ShortHex(), asked.size(), *unlogged,
          std::chrono::duration_cast<std::chrono::minutes>(kProbeRetry).count());
    }
  } else {
    ++stats_.pulls_failed;
    if (const auto unlogged = pull_failed_log_.Admit(Now())) {
      log_->warn("event=blob_pull_failed digest={} peer={} same_events_not_logged={} reason=\"{}\"",
                 digest.ShortHex(), from.value(), *unlogged, why);
    }
  }
  // Forget the holder (or named source, or peer asked) that failed us; the next pull starts
  // afresh from another.
  UntrackHolder(digest, from);
  if (auto s = sources_.find(digest); s != sources_.end() && s->second == from) sources_.erase(s);
  if (settle_after_pull_.count(digest)) probed_[digest].insert(from);
  pulls_.erase(it);
  if (wanted_.count(digest) && !PickHolder(digest)) Park(digest);
}

void BlobReplicator::Park(const crypto::Digest& digest) {
  if (waiting_for_disk_.count(digest) || !parked_.insert(digest).second) return;
  wanted_order_.erase(wanted_.at(digest));
}

void BlobReplicator::Unpark(const crypto::Digest& digest) {
  if (parked_.erase(digest)) wanted_order_.emplace(wanted_.at(digest), digest);
}

void BlobReplicator::UnparkAll() {
  for (const auto& d : parked_) wanted_order_.emplace(wanted_.at(d), d);
  parked_.clear();
}

bool BlobReplicator::WantedConsistent() const {
  std::size_t in_order = 0;
  for (const auto& [order, digest] : wanted_order_) {
    const auto it = wanted_.find(digest);
    if (it == wanted_.end() || it->second != order || waiting_for_disk_.count(digest) ||
        parked_.count(digest)) {
      return false;
    }
    ++in_order;
  }
  for (const auto& d : parked_) {
    if (!wanted_.count(d) || waiting_for_disk_.count(d)) return false;
  }
  for (const auto& [d, size] : waiting_for_disk_) {
    if (!wanted_.count(d)) return false;
  }
  return in_order + parked_.size() + waiting_for_disk_.size() == wanted_.size();
}

std::optional<std::string> DiskShortfall(std::optional<std::uint64_t> free, std::uint64_t bytes,
                                         std::string_view what) {
  if (!free || *free >= bytes + kDiskReserveBytes) return std::nullopt;
  return "this node's disk has " + std::to_string(*free >> 20) + " MiB free, too little for " +
         std::string(what) + " and the " + std::to_string(kDiskReserveBytes >> 30) +
         " GiB it keeps free";
}

std::optional<std::string> BlobReplicator::NoRoomFor(std::uint64_t bytes,
                                                     std::optional<std::uint64_t> free) const {
  if (!free) free = hooks_.free_bytes ? hooks_.free_bytes() : std::nullopt;
  return DiskShortfall(free, bytes, std::to_string((bytes + (1u << 20) - 1) >> 20) + " MiB");
}

void BlobReplicator::DeferForDisk(const crypto::Digest& digest, std::uint64_t size,
                                  const std::string& why) {
  pulls_.erase(digest);  // its temporary file goes with its writer; the holder is not blamed
  const auto wanted = wanted_.find(digest);
  if (wanted == wanted_.end()) return;
  // Out of the order StartPulls walks (on every message), back in it once the blob fits (Tick).
  wanted_order_.erase(wanted->second);
  waiting_for_disk_.insert_or_assign(digest, size);
  ++stats_.pulls_deferred_for_disk;
  // One line per 10 s at most: on a full disk every blob of every record would log one.
  const auto unlogged = disk_warning_log_.Admit(Now());
  if (!unlogged) return;
  log_->error(
      "event=blob_pull_deferred digest={} bytes={} waiting={} same_events_not_logged={} "
      "reason=\"{}; blobs wait until space is freed (docs/operations.md, 'Disk space')\"",
      digest.ShortHex(), size, waiting_for_disk_.size(), *unlogged, why);
}

void BlobReplicator::ResumeWaitingForDisk() {
  if (waiting_for_disk_.empty()) return;
  std::optional<std::uint64_t> free = hooks_.free_bytes ? hooks_.free_bytes() : std::nullopt;
  // Oldest wanted first, as StartPulls goes.
  std::map<std::uint64_t, std::pair<crypto::Digest, std::uint64_t>> waiting;
  for (const auto& [digest, size] : waiting_for_disk_) {
    waiting.emplace(wanted_.at(digest), std::make_pair(digest, size));
  }
  for (const auto& [order, blob] : waiting) {
    const auto& [digest, size] = blob;
    if (NoRoomFor(size, free)) continue;
    if (free) *free -= size;  // the next one resumes only if it fits besides
    waiting_for_disk_.erase(digest);
    wanted_order_.emplace(order, digest);
    // One line for the first of a group that resumes together (the rest within 10 s).
    if (disk_resume_log_.Admit(Now())) {
      log_->info(
          "event=blob_pull_resumed digest={} bytes={} still_waiting={} reason=\"disk space "
          "freed\"",
          digest.ShortHex(), size, waiting_for_disk_.size());
    }
  }
}

std::optional<std::uint64_t> BlobReplicator::WaitingForDisk(const crypto::Digest& digest) const {
  const auto it = waiting_for_disk_.find(digest);
  if (it == waiting_for_disk_.end() || !NoRoomFor(it->second)) return std::nullopt;
  return it->second;
}

std::optional<std::uint64_t> BlobReplicator::BeginPush() {
  const std::vector<ReplicaId> to = FirstHolders({});
  if (to.empty()) return std::nullopt;
  const std::uint64_t id = next_push_++;
  Push& push = pushes_[id];
  for (ReplicaId p : to) push.written.emplace(p, 0);
  push.last_progress = push.last_data = Now();
  return id;
}

void BlobReplicator::PushData(std::uint64_t id, Bytes data, bool last, std::function<void()> done) {
  auto it = pushes_.find(id);
  if (it == pushes_.end()) {
    if (done) done();
    return;
  }
  Push& push = it->second;
  const std::uint64_t before = push.sent;
  push.last_data = Now();
  // One message per upload chunk (at most kMaxBlobPushBytes each); the last carries `last`.
  std::size_t at = 0;
  do {
    const std::size_t n = std::min(data.size() - at, proto::kMaxBlobPushBytes);
    proto::PeerBlobPush m{id, push.sent, {}, last && at + n == data.size(), false};
    if (at == 0 && n == data.size()) {
      m.data = std::move(data);
    } else {
      m.data.assign(data.begin() + static_cast<std::ptrdiff_t>(at),
                    data.begin() + static_cast<std::ptrdiff_t>(at + n));
    }
    push.sent += n;
    at += n;
    for (const auto& [peer, written] : push.written) hooks_.send(peer, m);
  } while (at < data.size());
  if (push.waiting.empty()) push.last_progress = Now();
  if (done) push.waiting.emplace_back(before - std::min(before, kPushWindowBytes), std::move(done));
  push.ended = push.ended || last;
  ReleasePush(id);
}

void BlobReplicator::AbortPush(std::uint64_t id) {
  auto it = pushes_.find(id);
  if (it == pushes_.end()) return;
  for (const auto& [peer, written] : it->second.written) {
    hooks_.send(peer, proto::PeerBlobPush{id, it->second.sent, {}, false, true});
  }
  it->second.written.clear();
  ReleasePush(id);
}

void BlobReplicator::DropPushes() {
  auto pushes = std::move(pushes_);
  pushes_.clear();
  for (auto& [id, push] : pushes) {
    for (auto& [sent, done] : push.waiting) done();
  }
}

void BlobReplicator::DropPushTarget(std::uint64_t id, ReplicaId peer, const std::string& why) {
  auto it = pushes_.find(id);
  if (it == pushes_.end() || it->second.written.erase(peer) == 0) return;
  ++stats_.push_targets_dropped;
  log_->warn("event=blob_push_dropped push={} peer={} reason=\"{}\"", id, peer.value(), why);
  ReleasePush(id);
  ReleasePushesTo(peer);  // its other pushes may have room now
}

std::uint64_t BlobReplicator::PushBytesInFlight(ReplicaId peer) const {
  std::uint64_t n = 0;
  for (const auto& [id, push] : pushes_) {
    if (auto w = push.written.find(peer); w != push.written.end()) n += push.sent - w->second;
  }
  return n;
}

void BlobReplicator::ReleasePush(std::uint64_t id) {
  auto it = pushes_.find(id);
  if (it == pushes_.end()) return;
  Push& push = it->second;
  std::uint64_t all_have = push.sent;
  bool room = true;  // every receiver is under its bound over all pushes
  for (const auto& [peer, written] : push.written) {
    all_have = std::min(all_have, written);
    if (!push.waiting.empty())
      room = room && PushBytesInFlight(peer) < kMaxPushBytesInFlightPerPeer;
  }
  std::vector<std::function<void()>> ready;
  while (room && !push.waiting.empty() && push.waiting.front().first <= all_have) {
    ready.push_back(std::move(push.waiting.front().second));
    push.waiting.pop_front();
  }
  if (!ready.empty()) push.last_progress = Now();
  if (push.written.empty() || (push.ended && all_have == push.sent)) pushes_.erase(it);
  for (auto& done : ready) done();
}

void BlobReplicator::ReleasePushesTo(ReplicaId peer) {
  std::vector<std::uint64_t> ids;
  for (const auto& [id, push] : pushes_) {
    if (push.written.count(peer)) ids.push_back(id);
  }
  for (std::uint64_t id : ids) ReleasePush(id);
}

void BlobReplicator::OnPushAck(ReplicaId from, const proto::PeerBlobPushAck& m) {
  auto it = pushes_.find(m.push_id);
  if (it == pushes_.end()) return;
  auto target = it->second.written.find(from);
  if (target == it->second.written.end()) return;
  if (m.refused) return DropPushTarget(m.push_id, from, "refused by the receiver");
  if (m.written > it->second.sent) {
    return DropPushTarget(m.push_id, from, "acknowledged more than was sent");
  }
  // Progress is what lets an upload go on (ReleasePush), not any acknowledgement: a receiver
  // that acknowledges a byte at a time is still dropped as stalled.
  target->second = std::max(target->second, m.written);
  ReleasePushesTo(from);
}

void BlobReplicator::RefusePush(ReplicaId from, std::uint64_t id, const std::string& why) {
  incoming_.erase({from, id});
  if (const auto unlogged = push_refused_log_.Admit(Now())) {
    log_->warn("event=blob_push_refused peer={} push={} same_events_not_logged={} reason=\"{}\"",
               from.value(), id, *unlogged, why);
  }
  hooks_.send(from, proto::PeerBlobPushAck{id, 0, true});
}

void BlobReplicator::OnPush(ReplicaId from, const proto::PeerBlobPush& m) {
  const auto key = std::make_pair(from, m.push_id);
  auto it = incoming_.find(key);
  if (m.abort) {
    if (it != incoming_.end()) {
      log_->info("event=blob_push_aborted peer={} push={}", from.value(), m.push_id);
      incoming_.erase(it);
    }
    return;
  }
  if (it == incoming_.end() || m.offset == 0) {
    // A push starts at offset 0 (a repeated start begins it again); anything else of a push this
    // node does not have (refused, or dropped for stalling) is refused again.
    if (m.offset != 0) return RefusePush(from, m.push_id, "data of a push this node does not have");
    if (it == incoming_.end()) {
      std::size_t of_peer = 0;
      for (auto in = incoming_.lower_bound({from, 0});
           in != incoming_.end() && in->first.first == from; ++in) {
        ++of_peer;
      }
      if (of_peer >= kMaxIncomingPushesPerPeer) {
        return RefusePush(
            from, m.push_id,
            "over " + std::to_string(kMaxIncomingPushesPerPeer) + " pushes from one peer at once");
      }
      std::size_t unsettled = 0;
      for (const auto& [digest, sender] : pushed_unsettled_) unsettled += sender == from ? 1 : 0;
      if (unsettled >= kMaxUnsettledPushesPerPeer) {
        return RefusePush(from, m.push_id,
                          "over " + std::to_string(kMaxUnsettledPushesPerPeer) +
                              " blobs pushed by one peer whose record has not committed here");
      }
    }
    auto writer = store_.Create();
    if (!writer) return RefusePush(from, m.push_id, writer.error().ToString());
    it = incoming_.insert_or_assign(key, Incoming{std::move(*writer), Now(), Now()}).first;
  }
  Incoming& in = it->second;
  if (m.offset != in.writer->bytes_written()) {
    return RefusePush(from, m.push_id,
                      "data at offset " + std::to_string(m.offset) + " where " +
                          std::to_string(in.writer->bytes_written()) + " bytes were written");
  }
  if (m.offset + m.data.size() > kMaxReplicatedBlobBytes) {
    return RefusePush(from, m.push_id, "over the largest blob replicated (4 GiB)");
  }
  if (auto why = NoRoomFor(m.data.size())) return RefusePush(from, m.push_id, *why);
  if (auto s = in.writer->Write(m.data); !s.ok()) return RefusePush(from, m.push_id, s.ToString());
  in.last_progress = Now();
  stats_.bytes_received += m.data.size();
  const std::uint64_t written = in.writer->bytes_written();
  if (!m.last) {
    hooks_.send(from, proto::PeerBlobPushAck{m.push_id, written, false});
    return;
  }
  // Complete: published under the digest of what arrived (the content names itself); durable at
  // the next Publish, like a pulled blob.
  auto writer = std::move(in.writer);
  incoming_.erase(it);
  auto digest = writer->CommitUnsynced();
  if (!digest) return RefusePush(from, m.push_id, digest.error().ToString());
  if (hooks_.is_erased(*digest)) {
    (void)store_.Delete(*digest);
    return RefusePush(from, m.push_id, "the content belongs to an erased record");
  }
  hooks_.send(from, proto::PeerBlobPushAck{m.push_id, written, false});
  ++stats_.blobs_pushed_in;
  if (!settled_.count(*digest)) pushed_unsettled_.insert_or_assign(*digest, from);
  Received(*digest, written, from, "push");
  StartPulls();
}

void BlobReplicator::Tick() {
  const auto now = Now();
  // The ends of bursts of warnings cut short in the log, once their windows pass (the pulls
  // resumed together are said by their first line, at info level, by design).
  LogUnlogged(*log_,
              {{&not_found_log_, "blob_not_found"},
               {&pull_failed_log_, "blob_pull_failed"},
               {&push_refused_log_, "blob_push_refused"},
               {&disk_warning_log_, "blob_pull_deferred"}},
              now);
  // A push that has let its upload go on for none of kPushStall drops the receivers holding it
  // back (behind its window, or over their bound); a sender silent for kPullStall loses its push.
  std::vector<std::pair<std::uint64_t, ReplicaId>> slow;
  std::vector<std::uint64_t> idle;
  for (const auto& [id, push] : pushes_) {
    if (push.waiting.empty()) {
      // No data for kPullStall: its upload stalled or its end was lost. An ended push whose
      // receivers stay silent about its end is forgotten.
      if (now - push.last_data >= kPullStall) idle.push_back(id);
      continue;
    }
    if (now - push.last_progress < kPushStall) continue;
    for (const auto& [peer, written] : push.written) {
      if (written < push.waiting.front().first ||
          PushBytesInFlight(peer) >= kMaxPushBytesInFlightPerPeer) {
        slow.emplace_back(id, peer);
      }
    }
  }
  for (const auto& [id, peer] : slow) DropPushTarget(id, peer, "stalled");
  for (std::uint64_t id : idle) {
    auto it = pushes_.find(id);
    if (it == pushes_.end()) continue;
    if (it->second.ended) {
      pushes_.erase(it);
    } else {
      log_->warn("event=blob_push_aborted push={} reason=\"no data for {} s\"", id,
                 std::chrono::duration_cast<std::chrono::seconds>(kPullStall).count());
      AbortPush(id);
    }
  }
  for (auto it = incoming_.begin(); it != incoming_.end();) {
    const Incoming& in = it->second;
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now - in.started).count();
    const std::uint64_t written = in.writer->bytes_written();
    std::string why;
    if (now - in.last_progress >= kPullStall) {
      why = "sender stalled: no data for " +
            std::to_string(std::chrono::duration_cast<std::chrono::seconds>(kPullStall).count()) +
            " s";
    } else if (written + kPushRateGrace <
               static_cast<std::uint64_t>(seconds) * kMinPushBytesPerSecond) {
      why = "sender too slow: " + std::to_string(written) + " bytes in " + std::to_string(seconds) +
            " s, at least " + std::to_string(kMinPushBytesPerSecond >> 10) + " KiB/s expected";
    } else {
      ++it;
      continue;
    }
    if (const auto unlogged = push_refused_log_.Admit(now)) {
      log_->warn("event=blob_push_refused peer={} push={} same_events_not_logged={} reason=\"{}\"",
                 it->first.first.value(), it->first.second, *unlogged, why);
    }
    it = incoming_.erase(it);
  }
  std::vector<crypto::Digest> stalled;
  for (const auto& [digest, pull] : pulls_) {
    if (now - pull.last_progress >= kPullStall) stalled.push_back(digest);
  }
  // A silent holder is dropped for that blob; the pull starts again from another one.
  for (const auto& d : stalled) FailPull(d, "holder stalled", true);
  // Staged blobs whose first pullers do not pull, or too slowly, go to everyone.
  std::vector<std::pair<crypto::Digest, const char*>> ending;
  for (const auto& [digest, s] : staged_) {
    if (now - s.last_served >= kStagedStall) {
      ending.emplace_back(digest, "first_pullers_idle");
    } else if (now >= s.deadline) {
      ending.emplace_back(digest, "first_pullers_slow");
    }
  }
  for (const auto& [digest, why] : ending) EndStaging(digest, why);
  SweepTracked();
  if (now - last_probe_reset_ >= kProbeRetry) {
    last_probe_reset_ = now;
    probed_.clear();
    UnparkAll();
  }
  ResumeWaitingForDisk();
  StartPulls();
}

}  // namespace ertr::node
