#pragma once

// Replica: one PBFT validator as a pure, deterministic state machine (STYLE.md rule 1.1,
// docs/spec/consensus.md). Handle(event) returns the actions to run, in order; the replica does
// no I/O and reads no clock. Same state + same events = same actions.
//
// Thread-safety: none; one driver thread (or strand) calls Handle.

#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "consensus/actions.h"
#include "consensus/events.h"
#include "consensus/quorum.h"
#include "consensus/validator_set.h"
#include "crypto/digest_table.h"
#include "crypto/signing.h"

namespace ertr::consensus {

// Heights a durable vote horizon runs ahead of the vote that raised it (section 7): one synced
// write per this many heights instead of one per vote; a restarted replica abstains from at most
// this many heights of its view.
inline constexpr std::uint64_t kVoteHorizonStep = 64;

struct ReplicaConfig {
  std::string chain_id;
  ValidatorSet validators;
  ReplicaId self;
  std::uint32_t pipeline_window = 8;  // heights in flight beyond the last delivered
  // Adaptive batching: while a block of this primary is still in flight, a further block is
  // proposed only once this many transactions wait for one; otherwise they gather until the
  // block in flight is delivered. 1 pipelines every transaction as it arrives.
  std::uint32_t min_pipelined_batch = 1;
  // Batch wait (ADR 0042): after a block is delivered, a primary with no block in flight waits up
  // to this long for as many transactions as were pending plus those the block held (at most
  // min_pipelined_batch) before it proposes fewer. Callers that send their next request when told
  // of a commit then share one block instead of alternating between two part-filled ones. At most
  // one wait per delivered block. 0: propose at once.
  std::uint64_t batch_wait_us = 0;
  std::uint32_t max_block_transactions = 1000;
  std::uint64_t max_block_bytes = 8u << 20;
  std::uint64_t checkpoint_interval = 16;  // K: a checkpoint every K heights
  std::uint64_t view_timeout_ms = 1000;    // base progress timeout; doubles per failed view
  // While the link to the current view's primary is down (PeerLink), undecided work starts a view
  // change after this long, without the block-sync step of a first expiry (section 6): a crashed
  // primary is replaced in about this time instead of two progress timeouts. 0: links ignored.
  std::uint64_t primary_link_timeout_ms = 500;
  std::uint64_t max_clock_skew_ms = 30'000;  // a proposal's time may differ this much from ours
  // Whether a transaction's bytes may be decided: the node checks here what execution would (the
  // signature, among others), and a replica votes for and accepts in a view change only proposals
  // whose every transaction passes (docs/spec/consensus.md section 4.1, ADR 0022). A proposal's
  // digest covers every byte of its transactions (ADR 0038), so every copy of a decided block
  // holds the bytes that passed.
  // Must be deterministic. Transactions handed over in TransactionsReceived pass it already, and
  // a proposal's copy with the same bytes is not checked again. Unset: every transaction may.
  std::function<bool(const Transaction&)> transaction_valid;
  // The check for a transaction of a proposal that 2f+1 replicas vouch for already (a prepared
  // certificate in a VIEW-CHANGE, a synced decided block unless DecidedReceived says it was
  // vouched for): at least f+1 honest ones ran transaction_valid when they voted (with their rules
  // of the time). The node checks the signature again. Unset: transaction_valid.
  std::function<bool(const Transaction&)> certified_transaction_valid;
  // For the checker's own test only (tests/sim): votes needed to prepare and commit. 0 means the
  // correct quorum (2f+1). Never set by the node.
  std::uint32_t quorum_override_for_tests = 0;
  // Whether the primary broadcasts its PRE-PREPAREs compact, with transaction ids instead of the
  // transactions the backups hold already (ADR 0026). Either form is accepted on receipt.
  bool compact_pre_prepares = true;
};

// Counters of what the replica refused and did, for metrics and tests.
struct ReplicaStats {
  std::uint64_t dropped_bad_signature = 0;
  std::uint64_t dropped_unknown_sender = 0;
  std::uint64_t dropped_out_of_window = 0;
  std::uint64_t dropped_invalid = 0;
  // Votes that arrived after their slot's quorum formed: ignored unchecked (they change nothing).
  std::uint64_t late_votes_ignored = 0;
  // Votes not signed after a restart because they were under the vote horizon (section 7).
  std::uint64_t abstained_after_restart = 0;
  std::uint64_t equivocations_seen = 0;
  std::uint64_t view_changes_started = 0;
  // Of those, started early because the link to the primary was down (section 6).
  std::uint64_t view_changes_primary_link_down = 0;
  std::uint64_t views_entered = 0;
  std::uint64_t delivered = 0;
  // Transactions of compact PRE-PREPAREs this replica did not hold and asked the primary for
  // (section 4.1), and the requests it answered.
  std::uint64_t transactions_fetched = 0;
  std::uint64_t fetches_answered = 0;
  // Compact PRE-PREPAREs filled from the pending set that did not match their root (a copy held
  // here may differ from the primary's), whose transactions from the pending set were then asked
  // for again.
  std::uint64_t refetched_proposals = 0;
  // A NEW-VIEW's re-proposals whose transactions this replica did not hold and asked for (ADR
  // 0040), and the requests for them it answered.
  std::uint64_t proposals_fetched = 0;
  std::uint64_t proposal_fetches_answered = 0;
  // Batch waits this replica began as primary (ADR 0042), and those that ended by their timer
  // while it was still primary and not in a view change.
  std::uint64_t batch_waits = 0;
  std::uint64_t batch_waits_timed_out = 0;
};

class Replica {
 public:
  // `signer` and `verifier` must outlive the replica. `state` is what it persisted before a
  // restart (default: a fresh replica); `last_delivered` and `last_time_ms` come from the block
  // store (the newest stored block and its effective time).
  Replica(ReplicaConfig config, const crypto::Signer& signer, const crypto::Verifier& verifier,
          PersistentState state = {}, Height last_delivered = Height(0),
          std::uint64_t last_time_ms = 0);

  // Processes one event. Requires: events in non-decreasing now_ms.
  std::vector<Action> Handle(const Event& event);

  View view() const { return view_; }
  bool view_changing() const { return view_changing_; }
  Height last_delivered() const { return last_delivered_; }
  Height stable_height() const { return stable_height_; }
  bool IsPrimary() const { return config_.validators.Primary(view_) == config_.self; }
  const ReplicaStats& stats() const { return stats_; }
  std::size_t pending_transactions() const { return pending_.size(); }
  // True iff a transaction of this id (strictly: of this id's fingerprint, below) was delivered
  // in about the last kDeliveredMemoryHeights heights (never ordered again while remembered).
  bool RecentlyDelivered(const crypto::Digest& id) const {
    return delivered_ids_.count(Fingerprint(id)) > 0;
  }

 private:
  // The FETCH-TRANSACTIONS answered for one asker and proposal: at most two (section 4.1), and a
  // repeat of the last one (the network duplicated it) is not answered again, so that it cannot
  // use up the second.
  struct FetchAnswers {
    int given = 0;
    crypto::Digest last_request;  // crypto::Hash of the ids asked for
  };
  struct Slot {
    std::optional<PrePrepare> pre_prepare;  // accepted for view_
    VoteCounter<crypto::Digest, Prepare> prepares;
    VoteCounter<crypto::Digest, Commit> commits;
    bool prepared = false;
    bool committed = false;
    std::map<ReplicaId, FetchAnswers> fetches_answered;
  };
  // A compact PRE-PREPARE, its signature checked, waiting for the transactions this replica did
  // not hold: `txs` in order, each missing one with empty bytes and its index in `missing`.
  struct AwaitedPrePrepare {
    PrePrepare pre_prepare;
    std::vector<Transaction> txs;
    crypto::DigestMap<std::size_t> missing;
    // The indices of the transactions taken from this replica's pending set. If the filled
    // proposal does not match its root, one of them may be another copy of what the primary
    // proposed (another valid signature of the same body, ADR 0038): they are asked for again.
    std::vector<std::size_t> from_pending;
    bool refetch = false;  // this is that second request: a mismatch now is the primary's fault
  };

  void OnMessage(ReplicaId from, const Message& m);
  void OnPrePrepare(const PrePrepare& m);
  // A compact PRE-PREPARE that passed the checks of section 3: filled in from the pending
  // transactions, or held while the missing ones are fetched.
  void OnCompactPrePrepare(const PrePrepare& pp);
  // A compact PRE-PREPARE with every transaction filled in: checked against its header (count,
  // root, digest), then like any full one.
  void AcceptFilledPrePrepare(AwaitedPrePrepare filled);
  // The content checks of section 4.1 for a full PRE-PREPARE whose signature and proposal
  // (count, root, digest) were checked; accepts it if they pass.
  void CheckAndAcceptPrePrepare(const PrePrepare& pp);
  void OnFetchTransactions(const FetchTransactions& m);
  void OnFetchedTransactions(const FetchedTransactions& m);
  void OnFetchProposal(const FetchProposal& m);
  void OnFetchedProposal(const FetchedProposal& m);
  // A copy of the proposal (h, digest) with its transactions, from what this replica accepted,
  // prepared, decided or delivered lately; null if it holds none.
  const Proposal* FindTransactions(Height h, const crypto::Digest& digest) const;
  // The checks shared by PREPARE and COMMIT (section 3); true if the vote may be counted.
  bool AcceptsVote(const Message& m, const Vote& v, crypto::SigningDomain domain);
  void OnPrepare(const Prepare& m);
  void OnCommit(const Commit& m);
  void OnCheckpoint(const Checkpoint& m);
  void OnViewChange(const ViewChange& m);
  // `relayed`: passed on by a validator other than its primary (HelpLagger).
  void OnNewView(const NewView& m, bool relayed);
  void OnTimer(TimerId id);
  void OnPeerLink(const PeerLink& link);
  // Section 6: whether the progress timer runs with primary_link_timeout_ms, its expiry starting
  // a view change (or, in one, moving to the next view). True when the link to view_'s primary
  // (the new primary, in a view change) is down, outside a view change or in one with
  // ReplicasAtOrPastView() >= q.
  bool ChangeViewEarly() const;
  // Replicas whose VIEW-CHANGE for view_ or a later view this replica holds.
  std::size_t ReplicasAtOrPastView() const;
  void OnTransactions(const std::vector<Transaction>& txs);
  void OnExecuted(Height height, const crypto::Digest& root);
  void OnDecided(const Decided& d, bool transactions_checked);

  // Keeps a message of a view we are about to enter (section 5.3); true if it was kept.
  bool BufferIfFuture(View v, const Message& m);
  // A peer still in an older view: forward the NEW-VIEW we entered with, once per peer and view.
  void HelpLagger(ReplicaId peer, View their_view);
  // `reproposed`: a NEW-VIEW's re-proposal, which no one signed as a PRE-PREPARE.
  void AcceptPrePrepare(const PrePrepare& pp, bool reproposed = false);
  void CheckPrepared(Height h);
  void CheckCommitted(Height h);
  void TryDeliver();
  void TryPropose();
  void OnBatchWaitOver();
  void StartViewChange(View v);
  void SendViewChange();  // builds and broadcasts our VIEW-CHANGE for view_
  // Enters nv.view; `announce`: we are its primary and broadcast nv once it is durable.
  void EnterView(const NewView& nv, bool announce);
  void MaybeSendNewView(View v);
  void MaybeRequestSync();  // asks for decided blocks above last_delivered_ (once per height)
  // (Re)arms the progress timer. `fresh`: a wait starts now, due one CurrentTimeout() away;
  // otherwise the current wait keeps its due time. While ChangeViewEarly(), it fires
  // primary_link_timeout_ms from now instead if that is sooner.
  void ArmProgressTimer(bool fresh);

  // Validation helpers.
  bool VerifyVote(const Vote& v, crypto::SigningDomain domain) const;
  bool VerifyPrePrepare(const PrePrepare& pp) const;
  // `certified`: the proposal comes with 2f+1 signatures (config_.certified_transaction_valid).
  bool TransactionValid(const Transaction& tx, bool certified) const;
  bool TransactionsValid(const Proposal& p, bool certified) const;
  bool VerifyPrepareInCert(const Prepare& p) const;
  bool VerifyPreparedCert(const PreparedCertificate& pc) const;
  bool VerifyViewChange(const ViewChange& vc) const;
  bool VerifyCheckpointProof(Height h, const crypto::Digest& root,
                             const std::vector<Checkpoint>& proof) const;
  bool InWindow(Height h) const;
  std::size_t Quorum() const;
  std::uint64_t CurrentTimeout() const;
  // Computes the proposals a NewView re-issues (section 5): heights above the highest stable
  // checkpoint, each the highest-view prepared proposal or an empty one.
  std::map<Height, Proposal> ReProposals(const NewView& nv, Height* min_stable) const;

  // Signing and output helpers.
  crypto::Signature SignOrDie(crypto::SigningDomain domain, ByteSpan payload) const;
  // Our own PREPARE or COMMIT for (view_, h, d), signed.
  template <typename V>
  V OwnVote(crypto::SigningDomain domain, Height h, const crypto::Digest& d) const {
    V v;
    v.view = view_;
    v.height = h;
    v.digest = d;
    v.sender = config_.self;
    v.signature = SignOrDie(domain, VotePayload(view_, h, d));
    return v;
  }
  bool SignVote(View v, Height h,
                const crypto::Digest& d);  // persists; false if it would equivocate
  void Emit(Action a) { out_.push_back(std::move(a)); }
  void BroadcastMessage(Message m) { Emit(Broadcast{std::move(m)}); }

  ReplicaConfig config_;
  const crypto::Signer& signer_;
  const crypto::Verifier& verifier_;
  PersistentState persisted_;
  // The vote horizon persisted before the last start (SignVote).
  std::pair<View, Height> restart_horizon_;
  ReplicaStats stats_;
  std::vector<Action> out_;
  std::uint64_t now_ms_ = 0;

  View view_;
  bool view_changing_ = false;
  std::uint32_t failed_views_ = 0;  // consecutive view changes without a delivery
  Height last_delivered_;
  std::uint64_t last_time_ms_ = 0;
  Height next_height_;  // primary: next height to propose
  std::uint64_t last_proposed_time_ms_ = 0;
  // Batch wait (ADR 0042): the transactions to wait for after the last delivery (0: none), whether
  // the wait's timer is armed, and whether this delivery's wait is over.
  std::size_t batch_wait_target_ = 0;
  bool batch_wait_armed_ = false;
  bool batch_wait_over_ = false;
  Height stable_height_;
  crypto::Digest stable_root_;
  std::vector<Checkpoint> stable_proof_;
  Height sync_requested_;

  std::map<Height, Slot> slots_;
  std::map<Height, AwaitedPrePrepare> awaited_;  // of view_; none while view_changing_
  // Re-proposals of the NEW-VIEW of view_ whose transactions were asked for (ADR 0040): header and
  // digest only, and the replicas asked. Accepted once an answer matches; none while
  // view_changing_.
  struct AwaitedReproposal {
    Proposal proposal;
    std::vector<ReplicaId> holders;  // empty: asked of every replica
  };
  std::map<Height, AwaitedReproposal> awaited_reproposals_;
  void AskForReproposal(Height h, const AwaitedReproposal& a);
  // The FETCH-PROPOSALs answered, by the asker's view, the asker and the height (ADR 0040): two
  // per height (the first answer may be lost), for at most twice the log window's heights,
  // whatever the view's length.
  std::map<View, std::map<ReplicaId, std::map<Height, int>>> proposal_fetches_answered_;
  // The proposals delivered last, to answer a backup that asks for a compact PRE-PREPARE's
  // transactions after the others decided it without that backup (section 4.1): the
  // transactions are shared with the Deliver action, not copied.
  struct DeliveredProposal {
    Proposal proposal;
    std::map<ReplicaId, FetchAnswers> fetches_answered;
  };
  std::map<Height, DeliveredProposal> recently_delivered_;
  std::map<Height, std::pair<Proposal, CommitCertificate>> decided_;  // committed, not delivered
  std::map<Height, VoteCounter<crypto::Digest, Checkpoint>> checkpoints_;
  std::map<View, std::map<ReplicaId, ViewChange>> view_changes_;
  std::set<View> new_view_sent_;
  std::vector<Message> future_;  // normal-case messages of the view being entered
  std::map<ReplicaId, std::size_t> buffered_per_sender_;
  std::optional<NewView> entered_with_;  // the NEW-VIEW of the current view
  // Laggers we forwarded it to since our view timer last fired: once per timeout each (a lagger
  // sends many messages from its old view; one that lost the NEW-VIEW, or fell behind again after
  // a rebuild, is helped again after the next).
  std::set<ReplicaId> helped_;
  bool synced_before_view_change_ = false;
  // Transactions waiting to be decided (with their arrival number), those of them in no accepted
  // proposal in arrival order (what the primary proposes next), and which are in an accepted
  // proposal.
  // Hashed by id (ids are BLAKE2b outputs; nothing iterates these in an order that matters).
  crypto::DigestMap<std::pair<std::uint64_t, Transaction>> pending_;
  std::map<std::uint64_t, crypto::Digest> unproposed_;
  std::uint64_t arrival_ = 0;
  crypto::DigestSet proposed_;
  // The transactions delivered in the last kDeliveredMemoryHeights heights (and at most about
  // kDeliveredMemoryIds of them, whatever the block size), remembered by the first 8 bytes of
  // their ids: ids are BLAKE2b outputs, so another id shares a remembered fingerprint with a
  // chance of at most 2^20 / 2^64 = 2^-44, the same on every replica (the rule stays
  // deterministic), and is then refused like a duplicate (its signer sends a new transaction).
  // A quarter of the memory of whole ids, which this table's growth and look-ups touched at
  // random (several percent of a validator's CPU at peak, issue 11).
  static constexpr std::uint64_t kDeliveredMemoryHeights = 4096;
  static constexpr std::size_t kDeliveredMemoryIds = 1u << 20;
  static std::uint64_t Fingerprint(const crypto::Digest& id) {
    std::uint64_t f = 0;
    std::memcpy(&f, id.data(), sizeof f);
    return f;
  }
  absl::flat_hash_set<std::uint64_t> delivered_ids_;
  std::map<Height, std::vector<std::uint64_t>> delivered_by_height_;
  bool timer_armed_ = false;
  // The progress timer runs with primary_link_timeout_ms (the primary's link is down).
  bool timer_short_ = false;
  // When the current wait of the progress timer is due on the progress timeout.
  std::uint64_t timer_due_ms_ = 0;
  // Validators whose link the driver reported down (PeerLink) and not back since.
  std::set<ReplicaId> links_down_;
};

}  // namespace ertr::consensus
