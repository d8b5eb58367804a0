#include "node/replica_driver.h"

#include <spdlog/spdlog.h>

#include <chrono>

#include "node/testnet.h"
#include "proto/codec.h"
#include "proto/consensus_codec.h"

namespace ertr::node {

Bytes PreparedKey(Height height) {
  Bytes key = ToBytes(kPreparedKeyPrefix);
  for (int shift = 56; shift >= 0; shift -= 8) {
    key.push_back(static_cast<std::uint8_t>(height.value() >> shift));
  }
  return key;
}

namespace {

// The transactions of `proposal`, logged without them, from the body staged at its height:
// false if that body is missing or does not hold what the proposal's header says.
Result<bool> RestoreTransactions(const storage::ConsensusLogStore& log,
                                 consensus::Proposal& proposal) {
  ERTR_ASSIGN_OR_RETURN(auto body, log.LoadStagedBody(proposal.header.height));
  if (!body) return false;
  auto txs = proto::DecodeBlockBodyTransactions(*body);
  if (!txs) return false;
  consensus::Proposal restored = proposal;
  restored.txs = std::move(*txs);
  if (!consensus::CheckProposal(restored).ok()) return false;
  proposal = std::move(restored);
  return true;
}

}  // namespace

Result<consensus::PersistentState> LoadReplicaState(const storage::ConsensusLogStore& log,
                                                    Height latest_block) {
  ERTR_ASSIGN_OR_RETURN(auto entries, log.LoadAll());
  consensus::PersistentState state;
  std::vector<consensus::PreparedCertificate> prepared;
  for (const auto& [key, value] : entries) {
    const std::string_view k = AsStringView(key);
    if (k == kReplicaStateKey) {
      auto s = proto::DecodeReplicaState(value);
      if (!s) {
        return Status::DataLoss("the consensus log's replica state does not decode: " +
                                s.error().message());
      }
      state = std::move(*s);  // an older log may hold its prepared certificates here too
    } else if (k.starts_with(kPreparedKeyPrefix)) {
      auto pc = proto::DecodePreparedCertificate(value);
      if (!pc) {
        return Status::DataLoss("the consensus log's prepared certificate does not decode: " +
                                pc.error().message());
      }
      prepared.push_back(std::move(*pc));
    }
  }
  for (auto& pc : prepared) {
    const Height h = pc.proposal.header.height;
    if (h <= state.stable_height) continue;
    if (pc.proposal.txs.empty() && pc.proposal.header.tx_count > 0) {
      ERTR_ASSIGN_OR_RETURN(bool restored, RestoreTransactions(log, pc.proposal));
      // A different block was decided here (this replica prepared a proposal that a later view
      // replaced, and synced the decided block): that block's commit certificate supersedes it.
      if (!restored && h <= latest_block) continue;
      if (!restored) {
        return Status::DataLoss(
            "the consensus log's prepared certificate at height " + h.ToString() +
            " has no block body staged there that matches it (ADR 0025): the database is "
            "damaged. Stop the node and restore the data directory, or wipe it and let the node "
            "resync from its peers");
      }
    }
    state.prepared[h] = std::move(pc);
  }
  return state;
}

ReplicaDriver::ReplicaDriver(boost::asio::io_context& io, consensus::Replica& replica,
                             storage::ConsensusLogStore& log, consensus::PersistentState state,
                             DriverHooks hooks, std::shared_ptr<spdlog::logger> logger)
    : io_(io),
      replica_(replica),
      log_(log),
      state_(std::move(state)),
      hooks_(std::move(hooks)),
      logger_(std::move(logger)) {
  // Written to their own keys at the first sync (a log of an older version kept them inside
  // the state entry); deleting an absent key is harmless.
  for (const auto& [h, pc] : state_.prepared) dirty_prepared_.insert(h);
  sync_thread_ = std::thread([this] { SyncLoop(); });
}

ReplicaDriver::~ReplicaDriver() {
  alive_.reset();
  {
    std::lock_guard lock(sync_mu_);
    sync_stop_ = true;
  }
  sync_cv_.notify_one();
  if (sync_thread_.joinable()) sync_thread_.join();
}

std::uint64_t ReplicaDriver::NowMs() {
  // Wall-clock milliseconds (block times are wall time), never going backwards for the replica.
  const std::uint64_t now = WallClockMs();
  last_now_ms_ = std::max(last_now_ms_, now);
  return last_now_ms_;
}

void ReplicaDriver::Post(decltype(consensus::Event::body) body) {
  if (failed_) return;
  queue_.push_back(std::move(body));
  if (draining_ || scheduled_) return;
  scheduled_ = true;
  boost::asio::post(io_, [this] {
    scheduled_ = false;
    Drain();
  });
}

void ReplicaDriver::Drain() {
  draining_ = true;
  TakeSynced();
  while (!queue_.empty() && !failed_) {
    consensus::Event event{NowMs(), std::move(queue_.front())};
    queue_.pop_front();
    const View view_before = replica_.view();
    const bool changing_before = replica_.view_changing();
    const std::uint64_t link_down_before = replica_.stats().view_changes_primary_link_down;
    for (const auto& action : replica_.Handle(event)) {
      Run(action);
      if (failed_) break;
    }
    if (replica_.view() != view_before || replica_.view_changing() != changing_before) {
      const bool link_down = replica_.stats().view_changes_primary_link_down != link_down_before;
      logger_->info("event={} view={} primary={}{}",
                    replica_.view_changing() ? "view_change_started" : "view_entered",
                    replica_.view().value(), replica_.IsPrimary() ? "self" : "other",
                    link_down ? " reason=primary_link_down" : "");
    }
  }
  Flush();
  draining_ = false;
}

void ReplicaDriver::Flush() {
  TakeSynced();
  if (failed_) return;
  if (unsynced_ || (!held_.empty() && held_.back().gen > saved_)) {
    StateDelta writes;
    writes.Put(ToBytes(kReplicaStateKey), proto::EncodeReplicaState(state_));
    // A prepared proposal's transactions are written once (ADR 0025): as the block body at its
    // height, in this same batch, and the block's append leaves that body as it is. At or below
    // the last delivered height the decided block's body is there already: the certificate is
    // written as it is, with its transactions or, re-voted in a new view on its header alone
    // (ADR 0040), without; LoadReplicaState then takes them from that block.
    std::vector<storage::StagedBody> bodies;
    std::vector<std::pair<Height, consensus::TxList>> staged;
    for (Height h : dirty_prepared_) {
      auto it = state_.prepared.find(h);
      if (it == state_.prepared.end()) continue;
      if (h > replica_.last_delivered()) {
        const auto& txs = it->second.proposal.txs;
        bodies.push_back({h, proto::EncodeBlockBody(txs)});
        staged.emplace_back(h, txs);
        writes.Put(PreparedKey(h), proto::EncodePreparedCertificateWithoutTransactions(it->second));
      } else {
        writes.Put(PreparedKey(h), proto::EncodePreparedCertificate(it->second));
      }
      logged_prepared_.insert(h);
    }
    // Certificates truncated by a stable checkpoint leave the log too.
    for (auto it = logged_prepared_.begin(); it != logged_prepared_.end();) {
      if (state_.prepared.count(*it)) {
        ++it;
        continue;
      }
      writes.Delete(PreparedKey(*it));
      it = logged_prepared_.erase(it);
    }
    // Unsynced: the sync thread makes it durable (ADR 0027); nothing that depends on it leaves
    // before that.
    if (auto s = log_.Save(writes, bodies, /*sync=*/false); !s.ok()) {
      held_.clear();
      return Fail(s.WithContext("persisting the replica state"));
    }
    for (auto& [h, txs] : staged) staged_bodies_[h] = std::move(txs);
    dirty_prepared_.clear();
    unsynced_ = false;
    save_covers_[++saved_] = last_appended_;
    RequestSync();
  }
  if (first_unsynced_block_ && !block_sync_armed_) {
    block_sync_armed_ = true;
    block_sync_timer_.expires_after(kBlockSyncDelay);
    block_sync_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;  // cancelled: the driver is going away
      block_sync_armed_ = false;
      if (!first_unsynced_block_) return;  // a sync came first
      unsynced_ = true;
      Flush();
    });
  }
}

void ReplicaDriver::RequestSync() {
  {
    std::lock_guard lock(sync_mu_);
    sync_requested_ = saved_;
  }
  sync_cv_.notify_one();
}

void ReplicaDriver::SyncLoop() {
  std::unique_lock lock(sync_mu_);
  while (true) {
    sync_cv_.wait(lock, [&] {
      return sync_stop_ || sync_requested_ > sync_done_.load(std::memory_order_relaxed);
    });
    if (sync_stop_) return;
    // Every save up to `target` returned on the io thread before it was requested, so this sync
    // covers it (and possibly later ones, which are not counted on).
    const std::uint64_t target = sync_requested_;
    lock.unlock();
    const auto start = std::chrono::steady_clock::now();
    Status s = log_.Sync();
    if (hooks_.on_synced) hooks_.on_synced(std::chrono::steady_clock::now() - start);
    lock.lock();
    if (s.ok()) {
      sync_done_.store(target, std::memory_order_release);
    } else {
      sync_error_ = std::move(s);
      sync_failed_.store(true, std::memory_order_release);
    }
    boost::asio::post(io_, [this, alive = std::weak_ptr<char>(alive_)] {
      if (!alive.expired()) TakeSynced();
    });
    if (sync_error_) return;  // the node stops; nothing more is made durable
  }
}

void ReplicaDriver::TakeSynced() {
  if (failed_) return;
  if (sync_failed_.load(std::memory_order_acquire)) {
    Status error;
    {
      std::lock_guard lock(sync_mu_);
      error = *sync_error_;
    }
    held_.clear();
    return Fail(error);
  }
  const std::uint64_t done = sync_done_.load(std::memory_order_acquire);
  if (done <= synced_) return;  // nothing new
  synced_ = done;
  // Heights only grow, so the last save covered holds the highest block it covers.
  std::optional<Height> covered;
  for (auto it = save_covers_.begin(); it != save_covers_.end() && it->first <= synced_;
       it = save_covers_.erase(it)) {
    if (it->second) covered = it->second;
  }
  if (first_unsynced_block_ && covered && *covered >= *first_unsynced_block_) {
    if (last_appended_ && *last_appended_ > *covered) {
      first_unsynced_block_ = covered->Next();
    } else {
      first_unsynced_block_.reset();
    }
  }
  while (!held_.empty() && held_.front().gen <= synced_) {
    const Held h = std::move(held_.front());
    held_.pop_front();
    if (h.to) {
      hooks_.send(*h.to, h.message);
    } else {
      hooks_.broadcast(h.message);
    }
  }
}

void ReplicaDriver::SendOrHold(std::optional<ReplicaId> to, const consensus::Message& m) {
  // A CHECKPOINT claims executed blocks; q of them truncate the prepared certificates that could
  // bring those blocks back, so they must be durable here first. Votes do not depend on them.
  const bool needs_save =
      unsynced_ || (first_unsynced_block_ && std::holds_alternative<consensus::Checkpoint>(m));
  if (needs_save) {
    held_.push_back({saved_ + 1, to, m});  // the save at the end of this drain
  } else if (!held_.empty()) {
    held_.push_back({held_.back().gen, to, m});  // after the messages already waiting
  } else if (to) {
    hooks_.send(*to, m);
  } else {
    hooks_.broadcast(m);
  }
}

void ReplicaDriver::Fail(const Status& s) {
  failed_ = true;
  logger_->error("event=fatal reason=\"{}\"", s.ToString());
  if (hooks_.on_fatal) hooks_.on_fatal(s);
}

void ReplicaDriver::Run(const consensus::Action& action) {
  struct Visitor {
    ReplicaDriver& d;
    void operator()(const consensus::Persist& p) const {
      consensus::ApplyPersistDelta(d.state_, p.delta);
      if (p.delta.stable && d.hooks_.on_stable) {
        d.hooks_.on_stable(consensus::CheckpointProof{p.delta.stable->first, p.delta.stable->second,
                                                      p.delta.stable_proof});
      }
      if (p.delta.prepared) d.dirty_prepared_.insert(p.delta.prepared->proposal.header.height);
      // Saved by Flush and synced before any later message leaves; a vote under the durable
      // horizon is written with the next save instead (consensus.md section 7).
      if (p.durable_before_send) d.unsynced_ = true;
    }
    void operator()(const consensus::Send& s) const { d.SendOrHold(s.to, s.message); }
    void operator()(const consensus::Broadcast& b) const { d.SendOrHold(std::nullopt, b.message); }
    void operator()(const consensus::SetTimer& t) const {
      auto& timer = d.timers_[t.id];
      if (!timer) timer = std::make_unique<boost::asio::steady_timer>(d.io_);
      timer->expires_after(std::chrono::milliseconds(t.delay_ms) +
                           std::chrono::microseconds(t.delay_us));
      d.logger_->debug("event=timer_set timer={} delay_ms={} delay_us={}", static_cast<int>(t.id),
                       t.delay_ms, t.delay_us);
      const std::uint64_t gen = ++d.timer_generation_[t.id];
      timer->async_wait([&d = d, id = t.id, gen](const boost::system::error_code& ec) {
        if (!ec && d.timer_generation_[id] == gen) {
          d.logger_->debug("event=timer_fired");
          d.Post(consensus::TimerFired{id});
        }
      });
    }
    void operator()(const consensus::CancelTimer& t) const {
      ++d.timer_generation_[t.id];
      auto it = d.timers_.find(t.id);
      if (it != d.timers_.end()) it->second->cancel();
      d.logger_->debug("event=timer_cancelled");
    }
    void operator()(const consensus::Deliver& del) const {
      const Height h = del.proposal.header.height;
      auto staged = d.staged_bodies_.find(h);
      const bool body_stored =
          staged != d.staged_bodies_.end() && staged->second == del.proposal.txs;
      d.staged_bodies_.erase(d.staged_bodies_.begin(), d.staged_bodies_.upper_bound(h));
      auto root = d.hooks_.deliver(del, body_stored);
      if (!root) {
        d.Fail(
            root.error().WithContext("executing block " + del.proposal.header.height.ToString()));
        return;
      }
      d.queue_.push_back(consensus::BlockExecuted{del.proposal.header.height, *root});
      // Appended unsynced: durable with the next sync after the next save (ADR 0024, 0027).
      if (!d.first_unsynced_block_) d.first_unsynced_block_ = del.proposal.header.height;
      d.last_appended_ = del.proposal.header.height;
    }
    void operator()(const consensus::RequestSync& r) const { d.hooks_.request_sync(r.from_height); }
  };
  std::visit(Visitor{*this}, action);
}

}  // namespace ertr::node
