#pragma once

// SimCluster: n replicas in one process on a virtual clock, connected by a seeded network that
// delays, drops, duplicates, reorders and partitions (STYLE.md section 9). Crashes (also in the
// middle of an action list) restart a replica from what it persisted. Byzantine replicas are
// wrappers that rewrite or withhold their replica's actions. Safety is checked after every step;
// a violation stops the run and keeps the event trace.

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "consensus/replica.h"
#include "tests/sim/fake_crypto.h"

namespace ertr::sim {

enum class Byzantine {
  kNone,
  kSilent,             // sends nothing
  kEquivocate,         // as primary, a different proposal to half the replicas
  kDoubleVote,         // also votes for a random digest
  kBadSignatures,      // corrupts every signature it sends (and the transactions it fetches)
  kFutureViews,        // sends view changes for far-future views
  kWithholdVotes,      // never sends prepares or commits
  kCensor,             // ignores half of the transactions (never proposes them)
  kImpersonate,        // sends messages claiming another replica as sender
  kGarbage,            // mangles the bytes of what it sends (flipped, cut, random)
  kForgeTransactions,  // as primary, half the replicas get a proposal of the same transactions
                       // with every signature forged (the same ids; built and signed anew, since
                       // ADR 0038 the digest covers them); so is every transaction it sends a
                       // backup that fetches them
};

// The simulated transactions model the node's: an id that covers the body only, and bytes around
// it (a signature). Bytes are body || 8-byte tag; the tag is valid when it is the first 8 bytes of
// the body's hash, or the next 8 (ReplicaConfig::transaction_valid): a body can carry two valid
// tags, as a signer can sign one body twice with different nonces.
constexpr std::size_t kSimTagBytes = 8;
crypto::Digest SimTransactionId(ByteSpan bytes);
bool SimTransactionValid(const consensus::Transaction& tx);

const char* ByzantineName(Byzantine b);

struct SimOptions {
  std::uint32_t n = 4;
  std::uint64_t seed = 1;
  double drop = 0;       // probability a message is lost (until Heal)
  double duplicate = 0;  // probability a message is delivered twice
  std::uint64_t min_delay_ms = 1;
  std::uint64_t max_delay_ms = 20;
  std::uint32_t pipeline_window = 4;
  std::uint32_t min_pipelined_batch = 1;
  std::uint64_t checkpoint_interval = 8;
  std::uint32_t max_block_transactions = 10;
  std::uint64_t view_timeout_ms = 500;
  std::uint32_t quorum_override_for_tests = 0;  // the deliberately broken variant
  bool real_crypto = false;  // Ed25519 (libsodium) instead of the fast MAC stand-in (bench/)
  bool compact_pre_prepares = true;  // ReplicaConfig::compact_pre_prepares (ADR 0026)
  // ReplicaConfig::primary_link_timeout_ms; RunSeeds sets it to 0 (links ignored) for every n-th
  // seed (0: never), so that crash scenarios run both ways of noticing a crashed primary.
  std::uint64_t primary_link_timeout_ms = 100;
  std::uint32_t links_ignored_every = 3;
  // RunSeeds turns compact_pre_prepares off for every n-th seed (0: never), so that scenarios
  // run both forms of the PRE-PREPARE.
  std::uint32_t full_pre_prepares_every = 4;
  // ReplicaConfig::batch_wait_us (ADR 0042); RunSeeds turns it on for every n-th seed (0: never;
  // 5 is prime to the other variations' 3 and 4, so that every combination runs), with
  // batch_wait_min_batch as min_pipelined_batch if that is lower, so that scenarios run with
  // primaries that wait for the delivered blocks' callers.
  std::uint64_t batch_wait_us = 0;
  std::uint32_t batch_wait_every = 5;
  std::uint32_t batch_wait_min_batch = 4;
};

class SimCluster {
 public:
  explicit SimCluster(SimOptions options);

  // Submits `count` new transactions to every live replica (as gossip would) at the current time.
  void Submit(std::size_t count);
  // The same, to replica `first` at once and to the others `late_ms` later: until then they see
  // the transactions only in the primary's proposals.
  void SubmitLate(std::size_t count, std::uint32_t first, std::uint64_t late_ms);
  // `count` new transactions, each signed twice (both tags valid, one id): even replicas get one
  // copy, odd replicas the other, as a faulty client's gossip could arrange.
  void SubmitDoubleSigned(std::size_t count);
  // Runs events until virtual time `until_ms` or a safety violation.
  void RunUntil(std::uint64_t until_ms);
  // Runs until every submitted transaction is delivered at every honest live replica, or the
  // deadline passes. Returns whether it finished.
  bool RunUntilAllDelivered(std::uint64_t deadline_ms);

  void Crash(std::uint32_t r);
  // Crashes r while it handles its next event, after a random prefix of that event's actions.
  void CrashMidActions(std::uint32_t r);
  // Crashes r right after it next delivers a block: before the block is synced (ADR 0024).
  void CrashAfterNextDelivery(std::uint32_t r);
  void Restart(std::uint32_t r);
  // Crashes r and restarts it without its consensus log (its view, votes and certificates), with
  // its blocks: what an operator's rebuild leaves once block sync has run (in view 0).
  void RestartWithoutConsensusLog(std::uint32_t r);
  // The link between a and b goes down and comes back after down_ms, as after a TCP reset: both
  // ends are told (PeerLink), and what either sends the other meanwhile is lost (until Heal). A
  // crash tells every peer its link to the crashed replica went down, and a restart that it is
  // back; a later report about a link voids an earlier one still in flight.
  void DropLink(std::uint32_t a, std::uint32_t b, std::uint64_t down_ms);
  void Partition(const std::set<std::uint32_t>& side);  // side vs everyone else
  void Heal();                                          // no partition, no loss from now on
  void SetByzantine(std::uint32_t r, Byzantine b);

  std::uint64_t now() const { return now_; }
  bool ok() const { return violation_.empty(); }
  const std::string& violation() const { return violation_; }
  std::string Trace() const;    // the last events, for a failure report
  std::string Summary() const;  // each replica's height, view and counters
  std::uint64_t delivered_height(std::uint32_t r) const;
  std::uint64_t max_view() const;
  std::uint64_t total_view_changes() const {
    return SumOfLive(&consensus::ReplicaStats::view_changes_started);
  }
  // Transactions the live replicas asked a primary for (compact PRE-PREPAREs, ADR 0026).
  std::uint64_t transactions_fetched() const {
    return SumOfLive(&consensus::ReplicaStats::transactions_fetched);
  }
  // Re-proposals of NEW-VIEWs whose transactions the live replicas asked for (ADR 0040).
  std::uint64_t proposals_fetched() const {
    return SumOfLive(&consensus::ReplicaStats::proposals_fetched);
  }
  // View changes the live replicas started early, their primary's link down (PeerLink).
  std::uint64_t view_changes_primary_link_down() const {
    return SumOfLive(&consensus::ReplicaStats::view_changes_primary_link_down);
  }
  // Batch waits the live replicas began as primary, and those their timer ended (ADR 0042).
  std::uint64_t batch_waits() const { return SumOfLive(&consensus::ReplicaStats::batch_waits); }
  std::uint64_t batch_waits_timed_out() const {
    return SumOfLive(&consensus::ReplicaStats::batch_waits_timed_out);
  }
  // Transactions decided again in a later block and skipped by the executor (section 5).
  std::uint64_t redecided() const { return redecided_; }
  // Messages whose bytes did not decode (refused before reaching a replica).
  std::uint64_t undecodable() const { return undecodable_; }
  // Delivered blocks that crashes took from block stores before they were synced.
  std::uint64_t lost_blocks() const { return lost_blocks_; }
  // Signatures made and checked by the replicas (not by the checker).
  std::uint64_t signatures_made() const;
  std::uint64_t signatures_verified() const { return verifier_->count(); }
  bool IsHonest(std::uint32_t r) const { return nodes_[r].byzantine == Byzantine::kNone; }

 private:
  struct Node {
    std::unique_ptr<CountingSigner> signer;
    std::unique_ptr<consensus::Replica> replica;
    consensus::PersistentState durable;
    // Persists not needed durable before the next send (votes under the vote horizon): written
    // with the next durable one, lost if the node crashes first (consensus.md section 7).
    std::vector<consensus::PersistDelta> unsynced;
    // Every (view, height) -> digest this node ever signed a vote for, across its crashes: the
    // ground truth an honest replica must never contradict.
    std::map<std::pair<View, Height>, crypto::Digest> ever_signed;
    std::vector<consensus::Deliver> delivered;  // the node's block store
    std::vector<crypto::Digest> roots;          // the state root after each delivered block
    // Delivered blocks are appended unsynced and made durable by the node's next synced save (a
    // durable Persist, or before a CHECKPOINT leaves; the node's 10 ms timer is not modelled): a
    // crash loses the ones after this count, although their callers were already told (ADR 0024).
    std::size_t durable_blocks = 0;
    std::set<crypto::Digest> executed;  // transactions applied (each once)
    crypto::Digest state_root;
    bool alive = true;
    bool crash_mid_actions = false;
    bool crash_after_delivery = false;
    Byzantine byzantine = Byzantine::kNone;
    // Per timer id (consensus::TimerId's values): a timer event of an older generation was
    // re-armed or cancelled since.
    std::array<std::uint64_t, 3> timer_generation{};
    std::uint64_t& Generation(consensus::TimerId id) {
      return timer_generation.at(static_cast<std::size_t>(id));
    }
  };
  struct Item {
    Item(std::uint32_t to_replica, consensus::Event e, std::uint64_t generation = 0)
        : to(to_replica), event(std::move(e)), timer_generation(generation) {}
    std::uint32_t to = 0;
    consensus::Event event;
    std::uint64_t timer_generation = 0;  // for timer events
    std::optional<Bytes> wire;           // a message in flight, as encoded bytes
    std::uint32_t from = 0;
  };

  consensus::ReplicaConfig Config(std::uint32_t r) const;
  std::uint64_t SumOfLive(std::uint64_t consensus::ReplicaStats::*counter) const;
  static std::pair<std::uint32_t, std::uint32_t> LinkKey(std::uint32_t a, std::uint32_t b);
  // Reports to `to` that its link to `peer` went down or came back, at `at`.
  void TellLink(std::uint32_t to, std::uint32_t peer, bool connected, std::uint64_t at);
  void Schedule(std::uint64_t at, Item item);
  void Step(std::uint64_t at, Item item);
  void Execute(std::uint32_t r, const consensus::Action& a);
  // A synced save of the node's one log (a durable Persist, or before a CHECKPOINT leaves): the
  // delivered blocks and every persist still unsynced become durable together.
  void Sync(Node& node);
  void SyncBeforeCheckpoint(Node& node);
  void Send(std::uint32_t from, std::uint32_t to, const consensus::Message& m);
  std::vector<consensus::Action> Corrupt(std::uint32_t r, std::vector<consensus::Action> actions);
  void CheckSafety(std::uint32_t r, const consensus::Deliver& d);
  void CheckPersistedBeforeSend(std::uint32_t r, const consensus::Message& m);
  void Fail(const std::string& what);
  void Log(const std::string& line);

  SimOptions options_;
  std::mt19937_64 rng_;
  FakeKeys keys_;
  std::unique_ptr<crypto::Verifier> checker_verifier_;  // the checker's own (not counted)
  std::unique_ptr<CountingVerifier> verifier_;          // the replicas'
  consensus::ValidatorSet validators_;
  std::vector<Node> nodes_;
  std::multimap<std::pair<std::uint64_t, std::uint64_t>, Item> queue_;
  std::uint64_t sequence_ = 0;
  std::uint64_t now_ = 0;
  std::set<std::uint32_t> partition_;
  // Per link (LinkKey): until when DropLink loses its messages, and the number of its latest
  // report (PeerLink); an older report still in flight is not delivered.
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::uint64_t> link_down_until_;
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::uint64_t> link_epoch_;
  bool healed_ = false;
  std::map<crypto::Digest, consensus::Transaction> submitted_;
  std::map<crypto::Digest, Bytes> second_copies_;    // SubmitDoubleSigned's other copy of an id
  std::map<std::uint64_t, crypto::Digest> decided_;  // height -> digest, first honest delivery
  std::string violation_;
  std::uint64_t redecided_ = 0;
  std::uint64_t undecodable_ = 0;
  std::uint64_t lost_blocks_ = 0;
  std::deque<std::string> trace_;
};

}  // namespace ertr::sim
