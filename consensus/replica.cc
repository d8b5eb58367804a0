// PBFT replica. Section numbers refer to docs/spec/consensus.md.

#include "consensus/replica.h"

#include <algorithm>

#include "common/check.h"

namespace ertr::consensus {

void ApplyPersistDelta(PersistentState& s, const PersistDelta& d) {
  if (d.view) {
    s.view = d.view->first;
    s.view_changing = d.view->second;
  }
  for (const auto& [key, digest] : d.signed_votes) s.signed_votes[key] = digest;
  if (d.vote_horizon) s.vote_horizon = *d.vote_horizon;
  if (d.prepared) {
    Height h = d.prepared->proposal.header.height;
    auto it = s.prepared.find(h);
    if (it == s.prepared.end() || it->second.view <= d.prepared->view) s.prepared[h] = *d.prepared;
  }
  if (d.stable && d.stable->first > s.stable_height) {
    s.stable_height = d.stable->first;
    s.stable_root = d.stable->second;
    s.checkpoint_proof = d.stable_proof;
    s.prepared.erase(s.prepared.begin(), s.prepared.upper_bound(s.stable_height));
    std::erase_if(s.signed_votes, [&](const auto& e) { return e.first.second <= s.stable_height; });
  }
}

Replica::Replica(ReplicaConfig config, const crypto::Signer& signer,
                 const crypto::Verifier& verifier, PersistentState state, Height last_delivered,
                 std::uint64_t last_time_ms)
    : config_(std::move(config)),
      signer_(signer),
      verifier_(verifier),
      persisted_(std::move(state)),
      restart_horizon_(persisted_.vote_horizon),
      view_(persisted_.view),
      view_changing_(persisted_.view_changing),
      last_delivered_(last_delivered),
      last_time_ms_(last_time_ms),
      next_height_(last_delivered.Next()),
      stable_height_(persisted_.stable_height),
      stable_root_(persisted_.stable_root),
      stable_proof_(persisted_.checkpoint_proof) {
  ERTR_CHECK(config_.validators.Contains(config_.self));
  ERTR_CHECK(config_.checkpoint_interval > 0 && config_.pipeline_window > 0);
}

std::vector<Action> Replica::Handle(const Event& event) {
  out_.clear();
  now_ms_ = std::max(now_ms_, event.now_ms);
  // Restarted in the middle of a view change: our VIEW-CHANGE may never have left (review of
  // section 7), so rebuild it from the persisted state and send it.
  if (view_changing_ && !view_changes_[view_].count(config_.self)) SendViewChange();
  std::uint64_t delivered_before = stats_.delivered;
  const std::uint64_t views_before = stats_.view_changes_started + stats_.views_entered;
  std::visit(
      [&](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, MessageReceived>) OnMessage(e.from, e.message);
        if constexpr (std::is_same_v<T, TimerFired>) {
          if (e.id == TimerId::kBatchWait) {
            OnBatchWaitOver();
          } else {
            OnTimer(e.id);
          }
        }
        if constexpr (std::is_same_v<T, TransactionsReceived>) OnTransactions(e.txs);
        if constexpr (std::is_same_v<T, BlockExecuted>) OnExecuted(e.height, e.state_root);
        if constexpr (std::is_same_v<T, DecidedReceived>) {
          OnDecided(e.decided, e.transactions_checked);
        }
        if constexpr (std::is_same_v<T, PeerLink>) OnPeerLink(e);
      },
      event.body);
  // Progress timer (section 6): armed while there is undecided work or a view change is under
  // way; re-armed on progress and on each new view change.
  // Only accepted proposals count: a lone vote for an empty slot must not force view changes.
  bool outstanding = view_changing_ || !pending_.empty() || !awaited_reproposals_.empty() ||
                     std::any_of(slots_.upper_bound(last_delivered_), slots_.end(),
                                 [](const auto& e) { return e.second.pre_prepare.has_value(); });
  // Progress restarts the timer: a delivery, a view change started, or a view entered.
  const bool progress = stats_.delivered != delivered_before ||
                        stats_.view_changes_started + stats_.views_entered != views_before;
  // With the primary's link down the timer runs short, and back to its due time once it is up
  // again: a link event never starts a wait anew (a primary that reconnects over and over must
  // not put off its replacement).
  if (outstanding && (!timer_armed_ || progress)) {
    ArmProgressTimer(true);
  } else if (outstanding && ChangeViewEarly() != timer_short_) {
    ArmProgressTimer(false);
  } else if (!outstanding && timer_armed_) {
    Emit(CancelTimer{TimerId::kViewChange});
    timer_armed_ = false;
    timer_short_ = false;
  }
  return std::move(out_);
}

// ---- inbound messages (section 4) ----

void Replica::OnMessage(ReplicaId from, const Message& m) {
  ReplicaId sender = MessageSender(m);
  // A NEW-VIEW proves itself (its primary's signature over 2f+1 signed VIEW-CHANGEs): any
  // validator may pass it on to a lagger (HelpLagger), even one this replica signed itself before
  // it lost its consensus log (OnNewView then asks for the next view instead of entering).
  const bool relayed_new_view = std::holds_alternative<NewView>(m) &&
                                config_.validators.Contains(from) && from != config_.self;
  if (!config_.validators.Contains(sender) || (sender != from && !relayed_new_view)) {
    ++stats_.dropped_unknown_sender;
    return;
  }
  if (sender == config_.self && !relayed_new_view) return;
  std::visit(
      [&](const auto& msg) {
        using T = std::decay_t<decltype(msg)>;
        if constexpr (std::is_same_v<T, PrePrepare>) OnPrePrepare(msg);
        if constexpr (std::is_same_v<T, Prepare>) OnPrepare(msg);
        if constexpr (std::is_same_v<T, Commit>) OnCommit(msg);
        if constexpr (std::is_same_v<T, Checkpoint>) OnCheckpoint(msg);
        if constexpr (std::is_same_v<T, ViewChange>) OnViewChange(msg);
        if constexpr (std::is_same_v<T, NewView>) OnNewView(msg, sender != from);
        if constexpr (std::is_same_v<T, FetchTransactions>) OnFetchTransactions(msg);
        if constexpr (std::is_same_v<T, FetchedTransactions>) OnFetchedTransactions(msg);
        if constexpr (std::is_same_v<T, FetchProposal>) OnFetchProposal(msg);
        if constexpr (std::is_same_v<T, FetchedProposal>) OnFetchedProposal(msg);
      },
      m);
}

bool Replica::BufferIfFuture(View v, const Message& m) {
  bool future = v > view_ || (v == view_ && view_changing_);
  if (!future || v.value() > view_.value() + 2) return false;
  // Checked before it takes memory (section 3): signature, and for proposals the block limits;
  // each sender gets a bounded share of the buffer.
  const ReplicaId sender = MessageSender(m);
  std::size_t quota = 2 * (config_.pipeline_window + 2 * config_.checkpoint_interval) + 16;
  if (buffered_per_sender_[sender] >= quota) {
    ++stats_.dropped_out_of_window;
    return true;
  }
  bool ok = std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, PrePrepare>) {
          std::uint64_t bytes = 0;
          for (const auto& tx : x.proposal.txs) bytes += tx.bytes.size();
          return x.sender == config_.validators.Primary(x.view) &&
                 x.transaction_count() <= config_.max_block_transactions &&
                 bytes <= config_.max_block_bytes && VerifyPrePrepare(x);
        } else if constexpr (std::is_same_v<T, Prepare>) {
          return VerifyVote(x, crypto::SigningDomain::kPrepare);
        } else if constexpr (std::is_same_v<T, Commit>) {
          return VerifyVote(x, crypto::SigningDomain::kCommit);
        } else {
          return false;
        }
      },
      m);
  if (!ok) {
    ++stats_.dropped_bad_signature;
    return true;
  }
  ++buffered_per_sender_[sender];
  future_.push_back(m);
  return true;
}

void Replica::HelpLagger(ReplicaId peer, View their_view) {
  // Also while this replica is in a view change: the view it entered last is still ahead of the
  // peer's, and a peer that never learns of it (one rebuilt in an idle network, in view 0) asks
  // for view changes nobody else joins, while this replica's own one may lack a quorum without
  // that peer.
  if (!entered_with_ || their_view >= entered_with_->view) return;
  if (!helped_.insert(peer).second) return;
  Emit(Send{peer, *entered_with_});
}

void Replica::OnPrePrepare(const PrePrepare& pp) {
  const Height h = pp.proposal.header.height;
  if (BufferIfFuture(pp.view, pp)) return;
  HelpLagger(pp.sender, pp.view);
  if (view_changing_ || pp.view != view_ || !InWindow(h)) {
    ++stats_.dropped_out_of_window;
    return;
  }
  if (h <= last_delivered_) return;
  if (pp.sender != config_.validators.Primary(view_) || !VerifyPrePrepare(pp)) {
    ++stats_.dropped_bad_signature;
    return;
  }
  // A second proposal for an occupied (view, height) is a duplicate or, signed differently, proof
  // of equivocation: AcceptPrePrepare tells which, before any content check could hide it.
  if (auto it = slots_.find(h); it != slots_.end() && it->second.pre_prepare) {
    AcceptPrePrepare(pp);
    return;
  }
  // So is one for a re-proposal whose transactions are still asked for (ADR 0040): our vote for
  // it is durable, so another proposal there is never accepted, but it proves equivocation.
  if (auto it = awaited_reproposals_.find(h); it != awaited_reproposals_.end()) {
    if (it->second.proposal.digest != pp.proposal.digest) {
      ++stats_.equivocations_seen;
      StartViewChange(view_.Next());
    }
    return;
  }
  if (pp.compact()) {
    OnCompactPrePrepare(pp);
    return;
  }
  CheckAndAcceptPrePrepare(pp);
}

void Replica::OnCompactPrePrepare(const PrePrepare& pp) {
  const Height h = pp.proposal.header.height;
  // (The header must be what was signed before its transactions are filled in, or asked for.)
  if (pp.tx_ids.size() != pp.proposal.header.tx_count ||
      pp.tx_ids.size() > config_.max_block_transactions ||
      ProposalDigest(pp.proposal.header) != pp.proposal.digest) {
    ++stats_.dropped_invalid;
    return;
  }
  if (auto it = awaited_.find(h); it != awaited_.end()) {
    // Signed by the primary of view_ for this height like the one awaited: the same proposal
    // (its request is out already) or proof of equivocation.
    if (it->second.pre_prepare.proposal.digest != pp.proposal.digest) {
      ++stats_.equivocations_seen;
      StartViewChange(view_.Next());
    }
    return;
  }
  AwaitedPrePrepare a;
  a.txs.reserve(pp.tx_ids.size());
  FetchTransactions request{pp.view, h, pp.proposal.digest, {}, config_.self};
  for (const auto& id : pp.tx_ids) {
    // The ids come from the primary, but a transaction taken from pending_ carries the id this
    // replica computed from its bytes; a fetched one, the id its decoder computed.
    if (auto p = pending_.find(id); p != pending_.end()) {
      a.from_pending.push_back(a.txs.size());
      a.txs.push_back(p->second.second);
      continue;
    }
    if (!a.missing.emplace(id, a.txs.size()).second) {
      ++stats_.dropped_invalid;  // a transaction twice in the block
      return;
    }
    a.txs.push_back(Transaction{id, {}});
    request.ids.push_back(id);
  }
  a.pre_prepare = PrePrepare{
      pp.view, Proposal{pp.proposal.header, {}, pp.proposal.digest}, pp.sender, pp.signature, {}};
  if (a.missing.empty()) {
    AcceptFilledPrePrepare(std::move(a));
    return;
  }
  stats_.transactions_fetched += request.ids.size();
  awaited_.emplace(h, std::move(a));
  Emit(Send{pp.sender, std::move(request)});
}

void Replica::OnFetchTransactions(const FetchTransactions& m) {
  // The accepted proposal of the asker's view, or a delivered one (the quorum may have decided
  // it before the asker saw the PRE-PREPARE).
  const Proposal* proposal = nullptr;
  std::map<ReplicaId, FetchAnswers>* answered = nullptr;
  if (auto it = slots_.find(m.height);
      it != slots_.end() && it->second.pre_prepare && it->second.pre_prepare->view == m.view) {
    proposal = &it->second.pre_prepare->proposal;
    answered = &it->second.fetches_answered;
  } else if (auto d = recently_delivered_.find(m.height); d != recently_delivered_.end()) {
    proposal = &d->second.proposal;
    answered = &d->second.fetches_answered;
  }
  // Two answers per asker and proposal (counted on from the slot to the delivered proposal)
  // bound what a peer can draw: the missing transactions, then, if its own copies did not match
  // the root, those again.
  if (proposal == nullptr || proposal->digest != m.digest || m.ids.size() > proposal->txs.size()) {
    return;
  }
  Bytes asked;
  asked.reserve(m.ids.size() * crypto::Digest::kSize);
  for (const auto& id : m.ids) Append(asked, id.span());
  const crypto::Digest request = crypto::Hash(asked);
  FetchAnswers& given = (*answered)[m.sender];
  if (given.given >= 2 || (given.given > 0 && given.last_request == request)) return;
  ++given.given;
  given.last_request = request;
  crypto::DigestSet wanted(m.ids.begin(), m.ids.end());
  FetchedTransactions answer{m.view, m.height, m.digest, {}, config_.self};
  for (const auto& tx : proposal->txs) {
    if (wanted.count(tx.id)) answer.txs.push_back(tx);
  }
  ++stats_.fetches_answered;
  Emit(Send{m.sender, std::move(answer)});
}

void Replica::OnFetchedTransactions(const FetchedTransactions& m) {
  auto it = awaited_.find(m.height);
  if (it == awaited_.end()) return;
  AwaitedPrePrepare& a = it->second;
  if (m.sender != a.pre_prepare.sender || m.view != a.pre_prepare.view ||
      m.digest != a.pre_prepare.proposal.digest) {
    return;
  }
  for (const auto& tx : m.txs) {
    auto missing = a.missing.find(tx.id);
    if (missing == a.missing.end()) continue;
    a.txs[missing->second] = tx;
    a.missing.erase(missing);
  }
  // An answer without some of them leaves the proposal unaccepted: the view's timer replaces a
  // primary that cannot show what it proposed.
  if (!a.missing.empty()) return;
  AwaitedPrePrepare filled = std::move(a);
  awaited_.erase(it);
  AcceptFilledPrePrepare(std::move(filled));
}

void Replica::OnFetchProposal(const FetchProposal& m) {
  // An asker that entered a view asks only the replicas whose VIEW-CHANGE named the digest; those
  // are in that view, about to enter it, or (it failed already) one past it.
  if (m.view.value() + 1 < view_.value() || m.view.value() > view_.value() + 1) return;
  const Proposal* proposal = FindTransactions(m.height, m.digest);
  if (proposal == nullptr) return;
  // Two answers per asker, height and view (the asker asks again if the first is lost), for at
  // most twice a log window's heights per asker and view: what a peer can draw stays bounded
  // however long a view lasts (ADR 0040).
  const std::size_t log = 2 * config_.checkpoint_interval + config_.pipeline_window;
  std::map<Height, int>& given = proposal_fetches_answered_[m.view][m.sender];
  auto answered = given.find(m.height);
  if (answered == given.end() ? given.size() >= 2 * log : answered->second >= 2) return;
  ++given[m.height];
  ++stats_.proposal_fetches_answered;
  Emit(Send{m.sender, FetchedProposal{m.view, *proposal, config_.self}});
}

void Replica::OnFetchedProposal(const FetchedProposal& m) {
  const Height h = m.proposal.header.height;
  auto it = awaited_reproposals_.find(h);
  if (it == awaited_reproposals_.end() || m.view != view_ || view_changing_) return;
  // The header is the one the NEW-VIEW's certificate named, and the transactions are its; 2f+1
  // replicas prepared it, so they are checked as certified (like a full certificate's were).
  const Proposal& named = it->second.proposal;
  if (m.proposal.digest != named.digest || !CheckProposal(m.proposal).ok() ||
      m.proposal.header != named.header || !TransactionsValid(m.proposal, /*certified=*/true)) {
    ++stats_.dropped_invalid;  // another replica that named the digest may answer
    return;
  }
  awaited_reproposals_.erase(it);
  AcceptPrePrepare(PrePrepare{view_, m.proposal, config_.validators.Primary(view_), {}},
                   /*reproposed=*/true);
  TryPropose();
}

void Replica::AskForReproposal(Height h, const AwaitedReproposal& a) {
  FetchProposal request{view_, h, a.proposal.digest, config_.self};
  if (a.holders.empty()) BroadcastMessage(request);  // (only we named it, and lost it since)
  for (ReplicaId r : a.holders) Emit(Send{r, request});
}

const Proposal* Replica::FindTransactions(Height h, const crypto::Digest& digest) const {
  auto full = [&](const Proposal& p) {
    return p.digest == digest && HasTransactions(p) ? &p : nullptr;
  };
  const Proposal* found = nullptr;
  if (auto it = slots_.find(h); it != slots_.end() && it->second.pre_prepare) {
    found = full(it->second.pre_prepare->proposal);
  }
  if (auto it = persisted_.prepared.find(h); found == nullptr && it != persisted_.prepared.end()) {
    found = full(it->second.proposal);
  }
  if (auto it = recently_delivered_.find(h); found == nullptr && it != recently_delivered_.end()) {
    found = full(it->second.proposal);
  }
  if (auto it = decided_.find(h); found == nullptr && it != decided_.end()) {
    found = full(it->second.first);
  }
  return found;
}

void Replica::AcceptFilledPrePrepare(AwaitedPrePrepare filled) {
  PrePrepare full = std::move(filled.pre_prepare);
  full.proposal.txs = std::move(filled.txs);
  const Height h = full.proposal.header.height;
  if (auto slot = slots_.find(h); slot != slots_.end() && slot->second.pre_prepare) {
    AcceptPrePrepare(full);  // a duplicate, or proof of equivocation
    return;
  }
  if (!CheckProposal(full.proposal).ok()) {
    if (!filled.from_pending.empty() && !filled.refetch) {
      // A copy from the pending set may have the primary's id but not its bytes: a signer that
      // signed one body twice (ADR 0038). The primary's bytes decide: those are asked for once
      // more, the ones it sent are kept. (If its own were the mismatch, it is refused next.)
      AwaitedPrePrepare again;
      again.refetch = true;
      again.txs = full.proposal.txs.ToVector();
      FetchTransactions request{full.view, h, full.proposal.digest, {}, config_.self};
      for (const std::size_t i : filled.from_pending) {
        const crypto::Digest id = again.txs[i].id;
        if (!again.missing.emplace(id, i).second) continue;  // twice in the block: refused next
        again.txs[i].bytes.clear();
        request.ids.push_back(id);
      }
      full.proposal.txs = {};
      const ReplicaId primary = full.sender;
      again.pre_prepare = std::move(full);
      ++stats_.refetched_proposals;
      awaited_.emplace(h, std::move(again));
      Emit(Send{primary, std::move(request)});
      return;
    }
    ++stats_.dropped_invalid;
    return;
  }
  CheckAndAcceptPrePrepare(full);
}

void Replica::CheckAndAcceptPrePrepare(const PrePrepare& pp) {
  const auto& hd = pp.proposal.header;
  bool time_ok = hd.time_ms + config_.max_clock_skew_ms >= now_ms_ &&
                 hd.time_ms <= now_ms_ + config_.max_clock_skew_ms;
  std::uint64_t bytes = 0;
  crypto::DigestSet ids;
  ids.reserve(pp.proposal.txs.size());
  bool txs_ok = pp.proposal.txs.size() <= config_.max_block_transactions;
  for (const auto& tx : pp.proposal.txs) {
    bytes += tx.bytes.size();
    // Not twice in the block, not delivered, not in another accepted proposal (section 4.1).
    txs_ok = txs_ok && ids.insert(tx.id).second && !RecentlyDelivered(tx.id) &&
             !proposed_.count(tx.id) && TransactionValid(tx, /*certified=*/false);
  }
  if (hd.chain_id != config_.chain_id || hd.proposer != pp.sender || !time_ok || !txs_ok ||
      bytes > config_.max_block_bytes) {
    ++stats_.dropped_invalid;
    return;
  }
  AcceptPrePrepare(pp);
}

void Replica::AcceptPrePrepare(const PrePrepare& pp, bool reproposed) {
  const Height h = pp.proposal.header.height;
  Slot& slot = slots_[h];
  if (slot.pre_prepare) {
    if (slot.pre_prepare->proposal.digest != pp.proposal.digest) {
      // Two different proposals for one (view, height): the primary equivocates (section 6).
      ++stats_.equivocations_seen;
      StartViewChange(view_.Next());
    }
    return;
  }
  if (!SignVote(view_, h, pp.proposal.digest)) return;
  slot.pre_prepare = pp;
  for (const auto& tx : pp.proposal.txs) {
    proposed_.insert(tx.id);
    if (auto pend = pending_.find(tx.id); pend != pending_.end()) {
      unproposed_.erase(pend->second.first);
    }
  }
  // A signed PRE-PREPARE is the primary's PREPARE (section 4.1): the same payload, signed in its
  // own domain, and it enters the prepared certificate as the primary's vote. The primary sends
  // no PREPARE for it. A re-proposal of a NEW-VIEW is not signed: there every replica, the
  // primary too, sends a PREPARE.
  if (!reproposed) {
    slot.prepares.Add(pp.sender, pp.proposal.digest,
                      Prepare{{pp.view, h, pp.proposal.digest, pp.sender, pp.signature}});
  }
  if (reproposed || pp.sender != config_.self) {
    auto p = OwnVote<Prepare>(crypto::SigningDomain::kPrepare, h, pp.proposal.digest);
    BroadcastMessage(p);
    slot.prepares.Add(config_.self, p.digest, p);
  }
  CheckPrepared(h);
}

bool Replica::AcceptsVote(const Message& m, const Vote& v, crypto::SigningDomain domain) {
  if (BufferIfFuture(v.view, m)) return false;
  HelpLagger(v.sender, v.view);
  if (view_changing_ || v.view != view_ || !InWindow(v.height)) {
    ++stats_.dropped_out_of_window;
    return false;
  }
  // Votes for a delivered height still count when a new view re-proposed it (others need them).
  if (v.height <= last_delivered_ && !slots_.count(v.height)) return false;
  // The (2f+2)-th vote and later ones for a slot of this view that is prepared (for a PREPARE)
  // or committed (for a COMMIT) can change nothing: not worth a signature check (a third of a
  // replica's vote checks with n = 4).
  if (auto it = slots_.find(v.height); it != slots_.end()) {
    const bool prepare = domain == crypto::SigningDomain::kPrepare;
    if ((prepare && it->second.prepared) ||
        (domain == crypto::SigningDomain::kCommit && it->second.committed)) {
      ++stats_.late_votes_ignored;
      return false;
    }
  }
  if (!VerifyVote(v, domain)) {
    ++stats_.dropped_bad_signature;
    return false;
  }
  return true;
}

void Replica::OnPrepare(const Prepare& p) {
  if (!AcceptsVote(p, p, crypto::SigningDomain::kPrepare)) return;
  slots_[p.height].prepares.Add(p.sender, p.digest, p);
  CheckPrepared(p.height);
}

void Replica::CheckPrepared(Height h) {
  Slot& slot = slots_[h];
  if (!slot.pre_prepare || slot.prepared) return;
  const crypto::Digest& d = slot.pre_prepare->proposal.digest;
  if (slot.prepares.Count(d) < Quorum()) return;
  slot.prepared = true;
  PreparedCertificate cert{view_, slot.pre_prepare->proposal, {}};
  for (const auto& [r, vote] : slot.prepares.Votes(d)) {
    if (cert.prepares.size() == Quorum()) break;
    cert.prepares.push_back(vote);
  }
  // Persist the certificate before the commit leaves (section 7): a restarted replica must carry
  // it into any view change.
  PersistDelta delta;
  delta.prepared = std::move(cert);
  ApplyPersistDelta(persisted_, delta);
  Emit(Persist{std::move(delta)});
  auto c = OwnVote<Commit>(crypto::SigningDomain::kCommit, h, d);
  BroadcastMessage(c);
  slot.commits.Add(config_.self, d, c);
  CheckCommitted(h);
}

void Replica::OnCommit(const Commit& c) {
  if (!AcceptsVote(c, c, crypto::SigningDomain::kCommit)) return;
  Slot& slot = slots_[c.height];
  slot.commits.Add(c.sender, c.digest, c);
  if (slot.pre_prepare) {
    CheckCommitted(c.height);
  } else if (slot.commits.Count(c.digest) >= Quorum()) {
    MaybeRequestSync();  // decided elsewhere, and we never saw the proposal
  }
}

void Replica::CheckCommitted(Height h) {
  Slot& slot = slots_[h];
  if (!slot.prepared || slot.committed) return;
  const crypto::Digest& d = slot.pre_prepare->proposal.digest;
  if (slot.commits.Count(d) < Quorum()) return;
  slot.committed = true;
  CommitCertificate cert{h, view_, d, {}};
  for (const auto& [r, vote] : slot.commits.Votes(d)) {
    if (cert.votes.size() == Quorum()) break;
    cert.votes.push_back({r, vote.signature});
  }
  decided_.emplace(h, std::make_pair(slot.pre_prepare->proposal, std::move(cert)));
  TryDeliver();
}

void Replica::TryDeliver() {
  for (auto it = decided_.find(last_delivered_.Next()); it != decided_.end();
       it = decided_.find(last_delivered_.Next())) {
    auto [proposal, cert] = std::move(it->second);
    decided_.erase(it);
    last_time_ms_ = std::max(last_time_ms_, proposal.header.time_ms);
    last_delivered_ = last_delivered_.Next();
    for (const auto& tx : proposal.txs) {
      auto p = pending_.find(tx.id);
      if (p != pending_.end()) {
        unproposed_.erase(p->second.first);
        pending_.erase(p);
      }
      proposed_.erase(tx.id);
      delivered_ids_.insert(Fingerprint(tx.id));
    }
    // Remembered for a bounded number of heights (memory stays flat under any load); older
    // duplicates are the chain code's to handle (ledger.md: refused by their outcome; a
    // benchmark chain's NullOp has none and is ordered again, with no effect).
    auto& ids = delivered_by_height_[last_delivered_];
    ids.reserve(proposal.txs.size());
    for (const auto& tx : proposal.txs) ids.push_back(Fingerprint(tx.id));
    while (!delivered_by_height_.empty() &&
           (delivered_by_height_.begin()->first.value() + kDeliveredMemoryHeights <=
                last_delivered_.value() ||
            delivered_ids_.size() > kDeliveredMemoryIds)) {
      for (std::uint64_t f : delivered_by_height_.begin()->second) delivered_ids_.erase(f);
      delivered_by_height_.erase(delivered_by_height_.begin());
    }
    // The answers already given from the slot count on: two per asker and proposal in all.
    std::map<ReplicaId, FetchAnswers> answered;
    if (auto slot = slots_.find(last_delivered_); slot != slots_.end()) {
      answered = std::move(slot->second.fetches_answered);
    }
    slots_.erase(last_delivered_);
    recently_delivered_[last_delivered_] = DeliveredProposal{proposal, std::move(answered)};
    while (recently_delivered_.size() > 2 * std::size_t{config_.pipeline_window}) {
      recently_delivered_.erase(recently_delivered_.begin());
    }
    ++stats_.delivered;
    // The callers of this block's transactions may send their next ones as soon as they are told
    // of it: what a primary with nothing in flight waits for next (ADR 0042).
    batch_wait_target_ =
        std::min<std::size_t>({unproposed_.size() + proposal.txs.size(),
                               config_.min_pipelined_batch, config_.max_block_transactions});
    batch_wait_over_ = false;
    failed_views_ = 0;
    synced_before_view_change_ = false;
    Emit(Deliver{std::move(proposal), std::move(cert), last_time_ms_});
  }
  decided_.erase(decided_.begin(), decided_.upper_bound(last_delivered_));
  awaited_.erase(awaited_.begin(), awaited_.upper_bound(last_delivered_));
  awaited_reproposals_.erase(awaited_reproposals_.begin(),
                             awaited_reproposals_.upper_bound(last_delivered_));
  if (next_height_ <= last_delivered_) next_height_ = last_delivered_.Next();
  TryPropose();
}

// ---- proposing (section 4.1) ----

void Replica::OnTransactions(const std::vector<Transaction>& txs) {
  for (const auto& tx : txs) {
    if (RecentlyDelivered(tx.id) || pending_.count(tx.id)) continue;
    // A backup may hold the proposal before the transaction's gossip reached it.
    if (!proposed_.count(tx.id)) unproposed_[arrival_] = tx.id;
    pending_.emplace(tx.id, std::make_pair(arrival_++, tx));
  }
  TryPropose();
}

void Replica::TryPropose() {
  // A primary that still waits for a re-proposal's transactions proposes nothing new: those
  // transactions look unproposed to it until they arrive.
  if (!IsPrimary() || view_changing_ || !awaited_reproposals_.empty()) return;
  while (next_height_.value() <= last_delivered_.value() + config_.pipeline_window &&
         InWindow(next_height_)) {
    std::vector<Transaction> batch;
    std::uint64_t bytes = 0;
    bool full = false;
    std::size_t unfit = 0;
    for (const auto& [order, id] : unproposed_) {
      const Transaction& tx = pending_.at(id).second;
      if (tx.bytes.size() > config_.max_block_bytes) {
        ++unfit;  // can never fit (the node refuses it): not waited for either
        continue;
      }
      if (batch.size() == config_.max_block_transactions ||
          (!batch.empty() && bytes + tx.bytes.size() > config_.max_block_bytes)) {
        full = true;
        break;
      }
      bytes += tx.bytes.size();
      batch.push_back(tx);
    }
    if (batch.empty()) return;
    const bool in_flight = next_height_.value() > last_delivered_.value() + 1;
    if (in_flight && batch.size() < config_.min_pipelined_batch &&
        batch.size() < config_.max_block_transactions) {
      return;  // gather more while the block in flight commits
    }
    if (!in_flight && !full && config_.batch_wait_us > 0 && !batch_wait_over_ &&
        batch.size() + unfit < batch_wait_target_) {
      if (!batch_wait_armed_) {  // a wait's timer is never pushed back
        batch_wait_armed_ = true;
        ++stats_.batch_waits;
        Emit(SetTimer{TimerId::kBatchWait, 0, config_.batch_wait_us});
      }
      return;
    }
    if (batch_wait_armed_) Emit(CancelTimer{TimerId::kBatchWait});
    batch_wait_armed_ = false;
    batch_wait_target_ = 0;
    std::uint64_t time = std::max({now_ms_, last_proposed_time_ms_, last_time_ms_});
    last_proposed_time_ms_ = time;
    Proposal proposal =
        MakeProposal(config_.chain_id, next_height_, time, config_.self, std::move(batch));
    if (!SignVote(view_, next_height_, proposal.digest)) return;
    PrePrepare pp{view_, std::move(proposal), config_.self, {}};
    pp.signature = SignOrDie(crypto::SigningDomain::kPrePrepare,
                             VotePayload(view_, next_height_, pp.proposal.digest));
    next_height_ = next_height_.Next();
    BroadcastMessage(
        config_.compact_pre_prepares && !pp.proposal.txs.empty() ? CompactPrePrepare(pp) : pp);
    AcceptPrePrepare(pp);
  }
}

void Replica::OnBatchWaitOver() {
  if (!batch_wait_armed_) return;  // a timer cancelled after it fired: the wait ended already
  batch_wait_armed_ = false;
  batch_wait_over_ = true;  // until the next delivery: what waits is proposed as it is
  if (IsPrimary() && !view_changing_) ++stats_.batch_waits_timed_out;
  TryPropose();
}

// ---- checkpoints (section 8) ----

void Replica::OnExecuted(Height height, const crypto::Digest& root) {
  if (height.value() % config_.checkpoint_interval != 0 || height <= stable_height_) return;
  Checkpoint cp{height, root, config_.self, {}};
  cp.signature = SignOrDie(crypto::SigningDomain::kCheckpoint, CheckpointPayload(height, root));
  BroadcastMessage(cp);
  checkpoints_[height].Add(config_.self, root, cp);
  OnCheckpoint(cp);
}

void Replica::OnCheckpoint(const Checkpoint& cp) {
  if (cp.height <= stable_height_) return;
  if (cp.height.value() % config_.checkpoint_interval != 0 ||
      cp.height.value() > stable_height_.value() + 64 * config_.checkpoint_interval) {
    ++stats_.dropped_out_of_window;
    return;
  }
  if (cp.sender != config_.self &&
      !verifier_.Verify(config_.validators.key(cp.sender), crypto::SigningDomain::kCheckpoint,
                        config_.chain_id, CheckpointPayload(cp.height, cp.state_root),
                        cp.signature)) {
    ++stats_.dropped_bad_signature;
    return;
  }
  auto& votes = checkpoints_[cp.height];
  votes.Add(cp.sender, cp.state_root, cp);
  if (votes.Count(cp.state_root) < config_.validators.quorum()) return;
  stable_height_ = cp.height;
  stable_root_ = cp.state_root;
  stable_proof_.clear();
  for (const auto& [r, c] : votes.Votes(cp.state_root)) stable_proof_.push_back(c);
  PersistDelta delta;
  delta.stable = std::make_pair(stable_height_, stable_root_);
  delta.stable_proof = stable_proof_;
  ApplyPersistDelta(persisted_, delta);
  Emit(Persist{std::move(delta)});
  checkpoints_.erase(checkpoints_.begin(), checkpoints_.upper_bound(stable_height_));
  slots_.erase(slots_.begin(), slots_.upper_bound(stable_height_));
  if (stable_height_ > last_delivered_) MaybeRequestSync();
}

// ---- view change (sections 5 and 6) ----

void Replica::OnTimer(TimerId id) {
  if (id != TimerId::kViewChange) return;
  timer_armed_ = false;
  timer_short_ = false;
  helped_.clear();
  sync_requested_ = Height(0);  // a lost sync answer is asked for again
  // Section 6: no progress for one timeout may mean we are behind (after a restart or a cut):
  // first ask for the decided blocks we miss; only if that brings nothing, change view. With the
  // primary's link down there is no primary to wait for: the view change starts now (and a view
  // change whose new primary's link is down moves on to the next view).
  const bool primary_gone = ChangeViewEarly();
  if (!view_changing_ && !synced_before_view_change_ && !primary_gone) {
    synced_before_view_change_ = true;
    MaybeRequestSync();
    // A re-proposal's answer may have been lost (a full send queue drops it): asked again (a
    // holder answers twice per asker, height and view).
    for (const auto& [h, a] : awaited_reproposals_) AskForReproposal(h, a);
    ArmProgressTimer(true);
    return;
  }
  synced_before_view_change_ = false;
  if (primary_gone) ++stats_.view_changes_primary_link_down;
  if (view_changing_) {
    MaybeRequestSync();  // stuck in a view change: maybe behind
    // Replicas that want our target view or a later one: a VIEW-CHANGE for a later view counts,
    // since its sender has given up on ours too. (Counting only our view's, a replica that moved
    // one view ahead of the others, with one replica down, left nobody a quorum: the others
    // waited for its VIEW-CHANGE for their view, it for theirs for its own.)
    auto vcs = view_changes_.find(view_);
    if (ReplicasAtOrPastView() < Quorum()) {
      // Without 2f+1 of them we do not move on (a lone replica would race ahead of the others):
      // re-send ours, since it may have been lost, and wait again.
      if (vcs != view_changes_.end() && vcs->second.count(config_.self)) {
        BroadcastMessage(vcs->second.at(config_.self));
      }
      ArmProgressTimer(true);
      return;
    }
  }
  StartViewChange(view_.Next());
}

void Replica::OnPeerLink(const PeerLink& link) {
  if (!config_.validators.Contains(link.peer) || link.peer == config_.self) return;
  if (link.connected) {
    links_down_.erase(link.peer);
  } else {
    links_down_.insert(link.peer);
  }
}

void Replica::ArmProgressTimer(bool fresh) {
  if (fresh) timer_due_ms_ = now_ms_ + CurrentTimeout();
  timer_short_ = ChangeViewEarly();
  std::uint64_t due = timer_due_ms_;
  if (timer_short_) due = std::min(due, now_ms_ + config_.primary_link_timeout_ms);
  Emit(SetTimer{TimerId::kViewChange, due > now_ms_ ? due - now_ms_ : 0});
  timer_armed_ = true;
}

std::size_t Replica::ReplicasAtOrPastView() const {
  std::set<ReplicaId> past_ours;
  for (auto it = view_changes_.lower_bound(view_); it != view_changes_.end(); ++it) {
    for (const auto& [r, m] : it->second) past_ours.insert(r);
  }
  return past_ours.size();
}

bool Replica::ChangeViewEarly() const {
  if (config_.primary_link_timeout_ms == 0 || IsPrimary() ||
      links_down_.count(config_.validators.Primary(view_)) == 0) {
    return false;
  }
  // In a view change, only once the expiry would move on (q replicas want this view or a later
  // one): before that it re-sends its VIEW-CHANGE and waits, at the progress timeout's pace.
  return !view_changing_ || ReplicasAtOrPastView() >= Quorum();
}

void Replica::StartViewChange(View v) {
  if (v <= view_) return;  // only ever forward
  view_ = v;
  view_changing_ = true;
  awaited_.clear();
  awaited_reproposals_.clear();
  synced_before_view_change_ = false;
  ++failed_views_;
  ++stats_.view_changes_started;
  PersistDelta delta;
  delta.view = std::make_pair(view_, true);
  ApplyPersistDelta(persisted_, delta);
  Emit(Persist{std::move(delta)});
  SendViewChange();
  MaybeSendNewView(v);
}

void Replica::SendViewChange() {
  ViewChange vc;
  vc.new_view = view_;
  vc.stable_height = stable_height_;
  vc.stable_root = stable_root_;
  vc.checkpoint_proof = stable_proof_;
  for (const auto& [h, cert] : persisted_.prepared) {
    // Headers only (ADR 0040): a replica that lacks a re-proposal's transactions asks for them.
    if (h > stable_height_) vc.prepared.push_back(HeaderOnly(cert));
  }
  vc.sender = config_.self;
  vc.signature = SignOrDie(crypto::SigningDomain::kViewChange, ViewChangePayload(vc));
  view_changes_[view_][config_.self] = vc;
  BroadcastMessage(vc);
}

void Replica::OnViewChange(const ViewChange& vc) {
  if (vc.new_view <= view_) HelpLagger(vc.sender, View(vc.new_view.value() - 1));
  View floor = view_changing_ ? view_ : view_.Next();
  if (vc.new_view < floor || vc.new_view.value() > view_.value() + 64) {
    ++stats_.dropped_out_of_window;
    return;
  }
  if (!VerifyViewChange(vc)) {
    ++stats_.dropped_invalid;
    return;
  }
  view_changes_[vc.new_view][vc.sender] = vc;
  // Join rule (section 6): f+1 replicas want a higher view, so at least one honest one does.
  std::map<ReplicaId, View> highest;
  for (const auto& [v, by] : view_changes_) {
    if (v <= view_) continue;
    for (const auto& [r, m] : by) highest[r] = std::max(highest[r], v);
  }
  if (highest.size() >= config_.validators.max_faulty() + 1) {
    std::vector<View> views;
    for (const auto& [r, v] : highest) views.push_back(v);
    std::sort(views.rbegin(), views.rend());
    StartViewChange(views[config_.validators.max_faulty()]);
  }
  MaybeSendNewView(vc.new_view);
}

void Replica::MaybeSendNewView(View v) {
  if (config_.validators.Primary(v) != config_.self || !view_changing_ || view_ != v ||
      new_view_sent_.count(v)) {
    return;
  }
  const auto& vcs = view_changes_[v];
  if (vcs.size() < Quorum()) return;
  NewView nv;
  nv.view = v;
  for (const auto& [r, m] : vcs) {
    if (nv.view_changes.size() == Quorum()) break;
    nv.view_changes.push_back(m);
  }
  nv.sender = config_.self;
  nv.signature = SignOrDie(crypto::SigningDomain::kNewView, NewViewPayload(nv));
  new_view_sent_.insert(v);
  EnterView(nv, /*announce=*/true);  // persists the view before the NEW-VIEW leaves
}

void Replica::OnNewView(const NewView& nv, bool relayed) {
  if (nv.view < view_ || (nv.view == view_ && !view_changing_) ||
      nv.sender != config_.validators.Primary(nv.view)) {
    ++stats_.dropped_out_of_window;
    return;
  }
  bool ok = verifier_.Verify(config_.validators.key(nv.sender), crypto::SigningDomain::kNewView,
                             config_.chain_id, NewViewPayload(nv), nv.signature) &&
            nv.view_changes.size() >= Quorum();
  std::set<ReplicaId> senders;
  for (const auto& vc : nv.view_changes) {
    ok = ok && vc.new_view == nv.view && senders.insert(vc.sender).second &&
         config_.validators.Contains(vc.sender) && VerifyViewChange(vc);
  }
  if (!ok) {
    ++stats_.dropped_invalid;
    return;
  }
  if (relayed && nv.sender == config_.self) {
    // Our own NEW-VIEW, passed back to us: the network entered nv.view as we led it, and we have
    // lost our consensus log since (rebuilt). Entering again we would propose again in a view we
    // proposed in, maybe other blocks at the same heights: instead we ask for the next view,
    // which the others join once their timers fire (or at once, by the join rule). A backup
    // enters on any copy: in the view it re-signs the NEW-VIEW's re-proposals and follows the
    // primary's one proposal per height, as it did before.
    StartViewChange(nv.view.Next());
    return;
  }
  EnterView(nv, /*announce=*/false);
}

std::map<Height, Proposal> Replica::ReProposals(const NewView& nv, Height* min_stable) const {
  Height min_s(0), max_s(0);
  for (const auto& vc : nv.view_changes) min_s = std::max(min_s, vc.stable_height);
  std::map<Height, const PreparedCertificate*> best;
  for (const auto& vc : nv.view_changes) {
    for (const auto& pc : vc.prepared) {
      Height h = pc.proposal.header.height;
      if (h <= min_s) continue;
      max_s = std::max(max_s, h);
      auto& b = best[h];
      // (Of two copies of one certificate, one with its transactions: from a node that sent them
      // before ADR 0040.)
      if (b == nullptr || b->view < pc.view ||
          (b->view == pc.view && b->proposal.digest == pc.proposal.digest &&
           !HasTransactions(b->proposal) && HasTransactions(pc.proposal))) {
        b = &pc;
      }
    }
  }
  std::map<Height, Proposal> out;
  for (Height h = min_s.Next(); h <= max_s; h = h.Next()) {
    auto it = best.find(h);
    out[h] = it != best.end()
                 ? it->second->proposal
                 : MakeProposal(config_.chain_id, h, 0, config_.validators.Primary(nv.view), {});
  }
  *min_stable = min_s;
  return out;
}

void Replica::EnterView(const NewView& nv, bool announce) {
  Height min_s;
  std::map<Height, Proposal> reproposals = ReProposals(nv, &min_s);
  // The certificates name headers (ADR 0040): the transactions come from what this replica holds
  // (before its slots are cleared below), or are asked for further down.
  for (auto& [h, proposal] : reproposals) {
    if (HasTransactions(proposal)) continue;
    if (const Proposal* held = FindTransactions(h, proposal.digest)) proposal.txs = held->txs;
  }
  // One durable write before anything leaves (section 7): the new view, the stable checkpoint we
  // adopt, and our vote for every re-proposal. A crash can then never leave us in the new view
  // without the votes that stop a conflicting proposal at a re-proposed height.
  const ViewChange* stable_vc = nullptr;
  for (const auto& vc : nv.view_changes) {
    if (vc.stable_height == min_s && min_s > stable_height_) {
      stable_vc = &vc;
      break;
    }
  }
  PersistDelta delta;
  delta.view = std::make_pair(nv.view, false);
  if (stable_vc != nullptr) {
    delta.stable = std::make_pair(min_s, stable_vc->stable_root);
    delta.stable_proof = stable_vc->checkpoint_proof;
  }
  for (const auto& [h, proposal] : reproposals) {
    if (!persisted_.signed_votes.count({nv.view, h})) {
      delta.signed_votes.emplace_back(std::make_pair(nv.view, h), proposal.digest);
    }
  }
  ApplyPersistDelta(persisted_, delta);
  Emit(Persist{std::move(delta)});
  if (announce) BroadcastMessage(nv);

  view_ = nv.view;
  view_changing_ = false;
  // The new view's first timer expiry asks for sync (and for awaited re-proposals) again, also
  // when this replica entered it without a view change of its own.
  synced_before_view_change_ = false;
  awaited_.clear();
  entered_with_ = nv;
  ++stats_.views_entered;
  slots_.clear();
  proposed_.clear();
  // Every pending transaction may be proposed again (the NEW-VIEW's re-proposals, accepted
  // next, take theirs out again).
  unproposed_.clear();
  for (const auto& [id, entry] : pending_) unproposed_[entry.first] = id;
  view_changes_.erase(view_changes_.begin(), view_changes_.upper_bound(view_));
  proposal_fetches_answered_.erase(
      proposal_fetches_answered_.begin(),
      proposal_fetches_answered_.lower_bound(View(view_.value() > 0 ? view_.value() - 1 : 0)));
  if (stable_vc != nullptr) {
    stable_height_ = min_s;
    stable_root_ = stable_vc->stable_root;
    stable_proof_ = stable_vc->checkpoint_proof;
  }
  if (min_s > last_delivered_) MaybeRequestSync();
  next_height_ = std::max(last_delivered_.Next(), min_s.Next());
  awaited_reproposals_.clear();
  for (auto& [h, proposal] : reproposals) {
    next_height_ = std::max(next_height_, h.Next());
    if (!HasTransactions(proposal) && h > last_delivered_) {
      // Asked of the replicas whose VIEW-CHANGE named this digest (at least one honest one of
      // them prepared it, section 5.2). Our vote for it is durable already; it leaves once the
      // transactions are here and pass.
      AwaitedReproposal a;
      for (const auto& vc : nv.view_changes) {
        for (const auto& pc : vc.prepared) {
          if (pc.proposal.header.height == h && pc.proposal.digest == proposal.digest &&
              vc.sender != config_.self) {
            a.holders.push_back(vc.sender);
          }
        }
      }
      a.proposal = std::move(proposal);
      AskForReproposal(h, a);
      ++stats_.proposals_fetched;
      awaited_reproposals_.emplace(h, std::move(a));
      continue;
    }
    // Heights we delivered are re-voted too: replicas that did not deliver them need our votes
    // (for a header alone if we hold the block no longer: nothing is delivered from it).
    AcceptPrePrepare(PrePrepare{view_, std::move(proposal), config_.validators.Primary(view_), {}},
                     /*reproposed=*/true);
  }
  // Messages of this view that arrived before the NEW-VIEW.
  std::vector<Message> buffered;
  buffered.swap(future_);
  buffered_per_sender_.clear();
  for (const auto& m : buffered) {
    View v = std::visit(
        [](const auto& x) -> View {
          if constexpr (requires { x.view; }) return x.view;
          return View(0);
        },
        m);
    if (v == view_) {
      OnMessage(MessageSender(m), m);
    } else if (v > view_) {
      future_.push_back(m);
    }
  }
  TryPropose();
}

// ---- catch-up ----

void Replica::MaybeRequestSync() {
  Height from = last_delivered_.Next();
  if (from <= sync_requested_) return;
  sync_requested_ = from;
  Emit(RequestSync{from});
}

void Replica::OnDecided(const Decided& d, bool transactions_checked) {
  const Height h = d.proposal.header.height;
  if (h <= last_delivered_ || decided_.count(h)) return;
  if (!CheckProposal(d.proposal).ok() || d.proposal.header.chain_id != config_.chain_id ||
      (!transactions_checked && !TransactionsValid(d.proposal, /*certified=*/true))) {
    ++stats_.dropped_invalid;  // the node asks another peer for it (section 9)
    return;
  }
  CommitCertificate cert{h, d.view, d.proposal.digest, {}};
  for (const auto& c : d.commits) cert.votes.push_back({c.sender, c.signature});
  if (!VerifyCommitCertificate(cert, config_.validators, config_.chain_id, verifier_).ok()) {
    ++stats_.dropped_bad_signature;
    return;
  }
  decided_.emplace(h, std::make_pair(d.proposal, std::move(cert)));
  TryDeliver();
}

// ---- helpers ----

bool Replica::InWindow(Height h) const {
  std::uint64_t log = 2 * config_.checkpoint_interval + config_.pipeline_window;
  return h > stable_height_ && h.value() <= stable_height_.value() + log;
}

std::size_t Replica::Quorum() const {
  return config_.quorum_override_for_tests != 0 ? config_.quorum_override_for_tests
                                                : config_.validators.quorum();
}

std::uint64_t Replica::CurrentTimeout() const {
  return config_.view_timeout_ms << std::min<std::uint32_t>(failed_views_, 4);  // at most 16x
}

bool Replica::VerifyVote(const Vote& v, crypto::SigningDomain domain) const {
  return config_.validators.Contains(v.sender) &&
         verifier_.Verify(config_.validators.key(v.sender), domain, config_.chain_id,
                          VotePayload(v.view, v.height, v.digest), v.signature);
}

bool Replica::VerifyPrePrepare(const PrePrepare& pp) const {
  // A compact one's proposal is checked once its transactions are filled in.
  return (pp.compact() || CheckProposal(pp.proposal).ok()) &&
         verifier_.Verify(config_.validators.key(pp.sender), crypto::SigningDomain::kPrePrepare,
                          config_.chain_id,
                          VotePayload(pp.view, pp.proposal.header.height, pp.proposal.digest),
                          pp.signature);
}

bool Replica::VerifyPrepareInCert(const Prepare& p) const {
  // The primary's vote is its PRE-PREPARE's signature, or a PREPARE if the proposal was a
  // re-proposal (or the certificate was made before primaries stopped sending PREPAREs).
  return (p.sender == config_.validators.Primary(p.view) &&
          VerifyVote(p, crypto::SigningDomain::kPrePrepare)) ||
         VerifyVote(p, crypto::SigningDomain::kPrepare);
}

bool Replica::TransactionValid(const Transaction& tx, bool certified) const {
  const auto& check = certified && config_.certified_transaction_valid
                          ? config_.certified_transaction_valid
                          : config_.transaction_valid;
  if (!check) return true;
  auto it = pending_.find(tx.id);
  if (it != pending_.end() && it->second.second.bytes == tx.bytes) return true;
  return check(tx);
}

bool Replica::TransactionsValid(const Proposal& p, bool certified) const {
  return std::all_of(p.txs.begin(), p.txs.end(), [this, certified](const Transaction& tx) {
    return TransactionValid(tx, certified);
  });
}

bool Replica::VerifyPreparedCert(const PreparedCertificate& pc) const {
  // Headers only (ADR 0040), or, from a node before it, with every transaction, checked.
  const bool with_transactions = HasTransactions(pc.proposal);
  if (pc.proposal.header.chain_id != config_.chain_id ||
      (with_transactions
           ? !CheckProposal(pc.proposal).ok() || !TransactionsValid(pc.proposal, /*certified=*/true)
           : !pc.proposal.txs.empty() ||
                 ProposalDigest(pc.proposal.header) != pc.proposal.digest)) {
    return false;
  }
  std::set<ReplicaId> senders;
  for (const auto& p : pc.prepares) {
    if (p.view != pc.view || p.height != pc.proposal.header.height ||
        p.digest != pc.proposal.digest || !senders.insert(p.sender).second ||
        !VerifyPrepareInCert(p)) {
      return false;
    }
  }
  return senders.size() >= Quorum();
}

bool Replica::VerifyCheckpointProof(Height h, const crypto::Digest& root,
                                    const std::vector<Checkpoint>& proof) const {
  return consensus::VerifyCheckpointProof(h, root, proof, config_.validators, config_.chain_id,
                                          verifier_)
      .ok();
}

bool Replica::VerifyViewChange(const ViewChange& vc) const {
  std::uint64_t log = 2 * config_.checkpoint_interval + config_.pipeline_window;
  if (!config_.validators.Contains(vc.sender) || vc.prepared.size() > log ||
      !verifier_.Verify(config_.validators.key(vc.sender), crypto::SigningDomain::kViewChange,
                        config_.chain_id, ViewChangePayload(vc), vc.signature) ||
      !VerifyCheckpointProof(vc.stable_height, vc.stable_root, vc.checkpoint_proof)) {
    return false;
  }
  std::set<Height> heights;
  for (const auto& pc : vc.prepared) {
    Height h = pc.proposal.header.height;
    if (h <= vc.stable_height || h.value() > vc.stable_height.value() + log ||
        pc.view >= vc.new_view || !heights.insert(h).second || !VerifyPreparedCert(pc)) {
      return false;
    }
  }
  return true;
}

crypto::Signature Replica::SignOrDie(crypto::SigningDomain domain, ByteSpan payload) const {
  auto sig = signer_.Sign(domain, config_.chain_id, payload);
  ERTR_CHECK(sig.has_value());  // only fails for an invalid chain id, checked at start-up
  return *sig;
}

bool Replica::SignVote(View v, Height h, const crypto::Digest& d) {
  auto key = std::make_pair(v, h);
  auto it = persisted_.signed_votes.find(key);
  if (it != persisted_.signed_votes.end()) return it->second == d;
  // Up to the horizon found at start-up, this view's votes that did not reach the disk may have
  // been signed before the crash, with any digest: abstain (the blocks come by sync).
  if (v == restart_horizon_.first && h <= restart_horizon_.second) {
    ++stats_.abstained_after_restart;
    return false;
  }
  PersistDelta delta;
  delta.signed_votes.emplace_back(key, d);
  // Section 7: a vote above the durable horizon leaves only once a higher horizon is durable;
  // below it, the record of the vote is written with the next durable write.
  const bool above = persisted_.vote_horizon.first != v || h > persisted_.vote_horizon.second;
  if (above) delta.vote_horizon = std::make_pair(v, Height(h.value() + kVoteHorizonStep));
  ApplyPersistDelta(persisted_, delta);
  Emit(Persist{std::move(delta), above});
  return true;
}

}  // namespace ertr::consensus
