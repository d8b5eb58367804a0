// Direct tests of one replica's reactions, with the simulator's fast signatures.

#include <catch2/catch.hpp>

#include "consensus/replica.h"
#include "tests/sim/fake_crypto.h"

namespace ertr::consensus {
namespace {

// Four validators' keys, with the simulator's fast signatures.
struct FourKeys {
  sim::FakeKeys keys;
  std::vector<std::unique_ptr<sim::FakeSigner>> signers;
  std::vector<crypto::PublicKey> pks;
  FourKeys() {
    for (std::uint8_t i = 0; i < 4; ++i) {
      std::array<std::uint8_t, 32> secret{};
      secret[0] = i + 1;
      pks.push_back(keys.Add(secret));
      signers.push_back(std::make_unique<sim::FakeSigner>(keys, pks.back()));
    }
  }
};

struct OneReplica : FourKeys {
  std::unique_ptr<sim::FakeVerifier> verifier;
  std::unique_ptr<Replica> replica;  // replica 1 (a backup in view 0)

  // `restarted_from`: the persistent state of a previous life; `valid`: the node's check of a
  // transaction's bytes (ReplicaConfig::transaction_valid).
  explicit OneReplica(std::optional<PersistentState> restarted_from = std::nullopt,
                      std::function<bool(const Transaction&)> valid = {}) {
    verifier = std::make_unique<sim::FakeVerifier>(keys);
    ReplicaConfig c;
    c.chain_id = "ertr-test";
    c.validators = *ValidatorSet::Create(pks);
    c.self = ReplicaId(1);
    c.transaction_valid = std::move(valid);
    replica = restarted_from ? std::make_unique<Replica>(c, *signers[1], *verifier, *restarted_from,
                                                         Height(0), 0)
                             : std::make_unique<Replica>(c, *signers[1], *verifier);
  }

  PrePrepare Proposed(std::uint64_t time_ms, const std::vector<Transaction>& txs,
                      Height height = Height(1)) {
    PrePrepare pp{
        View(0), MakeProposal("ertr-test", height, time_ms, ReplicaId(0), txs), ReplicaId(0), {}};
    pp.signature = *signers[0]->Sign(crypto::SigningDomain::kPrePrepare, "ertr-test",
                                     VotePayload(View(0), height, pp.proposal.digest));
    return pp;
  }
  std::vector<Action> Deliver(const PrePrepare& pp) {
    return replica->Handle(Event{1000, MessageReceived{ReplicaId(0), pp}});
  }
  // The block of `txs` at `height`, decided in view 0 (commits of replicas 0, 2 and 3), as block
  // sync hands it over.
  // `checked`: the node already checked its transactions (DecidedReceived::transactions_checked).
  std::vector<Action> Decide(const std::vector<Transaction>& txs, Height height = Height(1),
                             bool checked = false) {
    Decided d{MakeProposal("ertr-test", height, 1000, ReplicaId(0), txs), {}, View(0)};
    for (std::uint32_t i : {0u, 2u, 3u}) {
      Commit c;
      c.view = View(0);
      c.height = height;
      c.digest = d.proposal.digest;
      c.sender = ReplicaId(i);
      c.signature = *signers[i]->Sign(crypto::SigningDomain::kCommit, "ertr-test",
                                      VotePayload(View(0), height, c.digest));
      d.commits.push_back(c);
    }
    return replica->Handle(Event{1000, DecidedReceived{d, checked}});
  }
};

std::size_t Count(const std::vector<Action>& actions, auto pred) {
  return static_cast<std::size_t>(std::count_if(actions.begin(), actions.end(), pred));
}

TEST_CASE("A backup votes once per slot, ignores repeats and catches an equivocating primary",
          "[unit]") {
  OneReplica r;
  std::vector<Transaction> txs = {{crypto::Hash(AsBytes("tx")), ToBytes("tx")}};
  auto first = r.Deliver(r.Proposed(1000, txs));
  // Persist the vote, then send it.
  auto persist = std::find_if(first.begin(), first.end(),
                              [](const Action& a) { return std::holds_alternative<Persist>(a); });
  auto prepare = std::find_if(first.begin(), first.end(), [](const Action& a) {
    auto* b = std::get_if<Broadcast>(&a);
    return b && std::holds_alternative<Prepare>(b->message);
  });
  REQUIRE(persist != first.end());
  REQUIRE(prepare != first.end());
  CHECK(persist < prepare);

  auto repeat = r.Deliver(r.Proposed(1000, txs));
  CHECK(Count(repeat, [](const Action& a) { return std::holds_alternative<Broadcast>(a); }) == 0);
  CHECK(r.replica->stats().equivocations_seen == 0);

  // Same transactions, another time: a different, validly signed proposal for the same slot.
  auto other = r.Deliver(r.Proposed(1001, txs));
  CHECK(r.replica->stats().equivocations_seen == 1);
  CHECK(r.replica->view_changing());
  CHECK(r.replica->view() == View(1));
  CHECK(Count(other, [](const Action& a) {
          auto* b = std::get_if<Broadcast>(&a);
          return b && std::holds_alternative<ViewChange>(b->message);
        }) == 1);
}

// The Persist of a backup's vote, and whether its PREPARE left.
struct VoteActions {
  std::optional<Persist> persist;
  bool prepared = false;
};
VoteActions Vote(const std::vector<Action>& actions) {
  VoteActions out;
  for (const auto& a : actions) {
    if (const auto* p = std::get_if<Persist>(&a)) out.persist = *p;
    const auto* b = std::get_if<Broadcast>(&a);
    if (b && std::holds_alternative<Prepare>(b->message)) out.prepared = true;
  }
  return out;
}

TEST_CASE(
    "A replica accepts a proposal only if every transaction's bytes are valid, however it "
    "arrives",
    "[unit]") {
  // Two copies of one transaction: the same id (the hash of its body), different bytes around
  // it, as with a forged signature. Since ADR 0038 the proposal digest covers the bytes, so the
  // two proposals differ; either could still be proposed by a faulty primary.
  const crypto::Digest id = crypto::Hash(AsBytes("body"));
  const std::vector<Transaction> good = {{id, ToBytes("body|signature")}};
  const std::vector<Transaction> forged = {{id, ToBytes("body|forgery")}};
  auto valid = [](const Transaction& tx) { return tx.bytes == ToBytes("body|signature"); };
  auto delivered = [](const std::vector<Action>& actions) {
    return Count(actions, [](const Action& a) { return std::holds_alternative<Deliver>(a); });
  };

  SECTION("as a PRE-PREPARE: no vote for the forged copy, a vote for the valid one") {
    OneReplica r(std::nullopt, valid);
    REQUIRE(r.Proposed(1000, good).proposal.digest != r.Proposed(1000, forged).proposal.digest);
    CHECK_FALSE(Vote(r.Deliver(r.Proposed(1000, forged))).prepared);
    CHECK(r.replica->stats().dropped_invalid == 1);
    CHECK(Vote(r.Deliver(r.Proposed(1000, good))).prepared);
  }
  SECTION("bytes handed over for ordering were checked by the node: the same bytes pass") {
    OneReplica r(std::nullopt, [](const Transaction&) { return false; });
    (void)r.replica->Handle(Event{1000, TransactionsReceived{forged}});
    CHECK(Vote(r.Deliver(r.Proposed(1000, forged))).prepared);
  }
  SECTION("the same bytes pass, other bytes with the same id do not") {
    OneReplica r(std::nullopt, [](const Transaction&) { return false; });
    (void)r.replica->Handle(Event{1000, TransactionsReceived{good}});
    CHECK_FALSE(Vote(r.Deliver(r.Proposed(1000, forged))).prepared);
  }
  SECTION("as a decided block from block sync, with a valid commit certificate") {
    OneReplica r(std::nullopt, valid);
    CHECK(delivered(r.Decide(forged)) == 0);
    CHECK(r.replica->stats().dropped_invalid == 1);
    CHECK(delivered(r.Decide(good)) == 1);
  }
  SECTION("a synced block whose transactions the node checked is not checked again") {
    int checks = 0;
    OneReplica r(std::nullopt, [&](const Transaction& t) {
      ++checks;
      return t.bytes != forged.front().bytes;
    });
    CHECK(delivered(r.Decide(good, Height(1), /*checked=*/true)) == 1);
    CHECK(checks == 0);
    // Its shape still is: a block whose body does not match its header is dropped.
    const std::vector<Transaction> other = {{crypto::Hash(AsBytes("other")), ToBytes("other|s")}};
    Decided d{MakeProposal("ertr-test", Height(2), 1000, ReplicaId(0), other), {}, View(0)};
    auto txs = d.proposal.txs.ToVector();
    txs.push_back(good.front());
    d.proposal.txs = std::move(txs);
    CHECK(r.replica->Handle(Event{1000, DecidedReceived{d, true}}).empty());
    CHECK(r.replica->stats().dropped_invalid == 1);
    // Not said checked: checked here.
    CHECK(delivered(r.Decide(other, Height(2))) == 1);
    CHECK(checks == 1);
  }
}

TEST_CASE("A delivered transaction is never proposed again while remembered: 4096 heights",
          "[unit]") {
  OneReplica r;
  auto one = [](const std::string& body) {
    return std::vector<Transaction>{{crypto::Hash(AsBytes(body)), ToBytes(body)}};
  };
  auto delivered = [](const std::vector<Action>& actions) {
    return Count(actions, [](const Action& a) { return std::holds_alternative<Deliver>(a); });
  };
  const auto tx = one("tx");
  const crypto::Digest id = tx[0].id;
  REQUIRE(delivered(r.Decide(tx)) == 1);
  CHECK(r.replica->RecentlyDelivered(id));
  // Remembered by the first 8 bytes of the id (the same answer on every replica).
  crypto::Digest same_prefix = id;
  same_prefix.data()[31] ^= 1;
  CHECK(r.replica->RecentlyDelivered(same_prefix));
  crypto::Digest other = id;
  other.data()[7] ^= 1;
  CHECK_FALSE(r.replica->RecentlyDelivered(other));
  // A proposal that orders it again gets no vote; a copy gossiped now is not pooled.
  CHECK_FALSE(Vote(r.Deliver(r.Proposed(1000, tx, Height(2)))).prepared);
  CHECK(r.replica->stats().dropped_invalid == 1);
  (void)r.replica->Handle(Event{1000, TransactionsReceived{tx}});
  CHECK(r.replica->pending_transactions() == 0);
  // Heights 2 to 4096 keep it; height 4097 makes it the oldest of more than 4096, forgotten.
  for (std::uint64_t h = 2; h <= 4096; ++h) {
    REQUIRE(delivered(r.Decide(one("tx" + std::to_string(h)), Height(h))) == 1);
  }
  CHECK(r.replica->RecentlyDelivered(id));
  REQUIRE(delivered(r.Decide(one("tx4097"), Height(4097))) == 1);
  CHECK_FALSE(r.replica->RecentlyDelivered(id));
  CHECK(r.replica->RecentlyDelivered(one("tx4097")[0].id));
  (void)r.replica->Handle(Event{1000, TransactionsReceived{tx}});
  CHECK(r.replica->pending_transactions() == 1);
}

TEST_CASE(
    "Votes wait for a durable vote horizon only above it, and a restarted replica abstains below",
    "[unit]") {
  // One transaction per height (a transaction is proposed once).
  auto tx_at = [](int h) {
    const std::string body = "tx" + std::to_string(h);
    return std::vector<Transaction>{{crypto::Hash(AsBytes(body)), ToBytes(body)}};
  };
  SECTION("first life: the first vote raises the horizon durably, the next rides along") {
    OneReplica r;
    auto first = Vote(r.Deliver(r.Proposed(1000, tx_at(1), Height(1))));
    REQUIRE(first.persist.has_value());
    CHECK(first.persist->durable_before_send);
    REQUIRE(first.persist->delta.vote_horizon.has_value());
    CHECK(*first.persist->delta.vote_horizon ==
          std::make_pair(View(0), Height(1 + kVoteHorizonStep)));
    CHECK(first.prepared);
    auto second = Vote(r.Deliver(r.Proposed(1000, tx_at(2), Height(2))));
    REQUIRE(second.persist.has_value());
    CHECK_FALSE(second.persist->durable_before_send);
    CHECK_FALSE(second.persist->delta.vote_horizon.has_value());
    REQUIRE(second.persist->delta.signed_votes.size() == 1);
    CHECK(second.persist->delta.signed_votes[0].first == std::make_pair(View(0), Height(2)));
    CHECK(second.prepared);
  }
  SECTION("after a restart: no vote under the horizon unless recorded, and the same one only") {
    PersistentState before;
    before.vote_horizon = {View(0), Height(5)};
    OneReplica probe;  // the digest of the proposal at height 3, as recorded before the crash
    const PrePrepare recorded = probe.Proposed(1000, tx_at(3), Height(3));
    before.signed_votes[{View(0), Height(3)}] = recorded.proposal.digest;
    OneReplica r(before);
    // Height 2: maybe signed before the crash, not recorded: abstains.
    auto lost = Vote(r.Deliver(r.Proposed(1000, tx_at(2), Height(2))));
    CHECK_FALSE(lost.persist.has_value());
    CHECK_FALSE(lost.prepared);
    CHECK(r.replica->stats().abstained_after_restart == 1);
    // Height 3: recorded; the same proposal is voted for again, another one is not.
    CHECK(Vote(r.Deliver(recorded)).prepared);
    CHECK_FALSE(Vote(r.Deliver(r.Proposed(1001, tx_at(4), Height(4)))).prepared);  // unrecorded
    // Above the horizon: votes again, after raising it durably.
    auto above = Vote(r.Deliver(r.Proposed(1000, tx_at(6), Height(6))));
    REQUIRE(above.persist.has_value());
    CHECK(above.persist->durable_before_send);
    CHECK(*above.persist->delta.vote_horizon ==
          std::make_pair(View(0), Height(6 + kVoteHorizonStep)));
    CHECK(above.prepared);
  }
}

TEST_CASE("A signed PRE-PREPARE is the primary's PREPARE, in the quorum and in the certificate",
          "[unit]") {
  OneReplica r;
  const std::vector<Transaction> txs = {{crypto::Hash(AsBytes("tx")), ToBytes("tx")}};
  const PrePrepare pp = r.Proposed(1000, txs);
  REQUIRE(Vote(r.Deliver(pp)).prepared);  // its own PREPARE left
  // One more backup's PREPARE makes q = 3 with the primary's PRE-PREPARE and its own vote.
  Prepare p2{{View(0), Height(1), pp.proposal.digest, ReplicaId(2), {}}};
  p2.signature = *r.signers[2]->Sign(crypto::SigningDomain::kPrepare, "ertr-test",
                                     VotePayload(View(0), Height(1), pp.proposal.digest));
  auto after = r.replica->Handle(Event{1001, MessageReceived{ReplicaId(2), p2}});
  std::optional<PreparedCertificate> cert;
  for (const auto& a : after) {
    if (const auto* p = std::get_if<Persist>(&a); p && p->delta.prepared) cert = p->delta.prepared;
  }
  REQUIRE(cert.has_value());
  CHECK(Count(after, [](const Action& a) {
          const auto* b = std::get_if<Broadcast>(&a);
          return b && std::holds_alternative<Commit>(b->message);
        }) == 1);
  REQUIRE(cert->prepares.size() == 3);
  CHECK(cert->prepares[0].sender == ReplicaId(0));
  CHECK(cert->prepares[0].signature == pp.signature);

  // The certificate holds in a view change; with the primary's entry signed by anyone else, or
  // as a PREPARE by a backup, it does not.
  auto view_change_with = [&](const PreparedCertificate& pc) {
    ViewChange vc;
    vc.new_view = View(1);
    vc.prepared = {pc};
    vc.sender = ReplicaId(3);
    vc.signature =
        *r.signers[3]->Sign(crypto::SigningDomain::kViewChange, "ertr-test", ViewChangePayload(vc));
    OneReplica other;
    other.replica->Handle(Event{1000, MessageReceived{ReplicaId(3), vc}});
    return other.replica->stats().dropped_invalid == 0;
  };
  CHECK(view_change_with(*cert));
  PreparedCertificate forged = *cert;
  forged.prepares[0].signature =
      *r.signers[3]->Sign(crypto::SigningDomain::kPrePrepare, "ertr-test",
                          VotePayload(View(0), Height(1), pp.proposal.digest));
  CHECK_FALSE(view_change_with(forged));
  PreparedCertificate not_primary = *cert;
  not_primary.prepares[1].signature =
      *r.signers[1]->Sign(crypto::SigningDomain::kPrePrepare, "ertr-test",
                          VotePayload(View(0), Height(1), pp.proposal.digest));
  CHECK_FALSE(view_change_with(not_primary));
}

TEST_CASE("The primary sends no PREPARE for its own proposal, and prepares with two backups' votes",
          "[unit]") {
  FourKeys k;
  sim::FakeVerifier verifier(k.keys);
  ReplicaConfig c;
  c.chain_id = "ertr-test";
  c.validators = *ValidatorSet::Create(k.pks);
  c.self = ReplicaId(0);  // the primary of view 0
  Replica primary(c, *k.signers[0], verifier);
  auto proposed = primary.Handle(
      Event{1000, TransactionsReceived{{{crypto::Hash(AsBytes("a")), ToBytes("a")}}}});
  const PrePrepare* pp = nullptr;
  for (const auto& a : proposed) {
    const auto* b = std::get_if<Broadcast>(&a);
    if (b == nullptr) continue;
    if (const auto* p = std::get_if<PrePrepare>(&b->message)) pp = p;
    CHECK_FALSE(std::holds_alternative<Prepare>(b->message));
  }
  REQUIRE(pp != nullptr);
  auto prepare_from = [&](std::uint32_t r) {
    Prepare p{{View(0), Height(1), pp->proposal.digest, ReplicaId(r), {}}};
    p.signature = *k.signers[r]->Sign(crypto::SigningDomain::kPrepare, "ertr-test",
                                      VotePayload(View(0), Height(1), pp->proposal.digest));
    return primary.Handle(Event{1001, MessageReceived{ReplicaId(r), p}});
  };
  auto committed = [](const std::vector<Action>& actions) {
    return Count(actions, [](const Action& a) {
      const auto* b = std::get_if<Broadcast>(&a);
      return b && std::holds_alternative<Commit>(b->message);
    });
  };
  CHECK(committed(prepare_from(1)) == 0);  // the PRE-PREPARE and one backup: two of three
  CHECK(committed(prepare_from(2)) == 1);
}

TEST_CASE("While a block is in flight the primary gathers a batch before proposing again",
          "[unit]") {
  FourKeys k;
  auto& signers = k.signers;
  sim::FakeVerifier verifier(k.keys);
  ReplicaConfig c;
  c.chain_id = "ertr-test";
  c.validators = *ValidatorSet::Create(k.pks);
  c.self = ReplicaId(0);  // the primary of view 0
  c.min_pipelined_batch = 3;
  Replica primary(c, *signers[0], verifier);
  std::uint64_t n = 0;
  auto arrive = [&](std::size_t count) {
    std::vector<Transaction> txs;
    for (std::size_t i = 0; i < count; ++i, ++n) {
      const std::string body = "tx-" + std::to_string(n);
      txs.push_back({crypto::Hash(AsBytes(body)), ToBytes(body)});
    }
    return primary.Handle(Event{1000 + n, TransactionsReceived{txs}});
  };
  auto proposals = [](const std::vector<Action>& actions) {
    std::vector<std::size_t> sizes;
    for (const auto& a : actions) {
      const auto* b = std::get_if<Broadcast>(&a);
      if (b == nullptr) continue;
      if (const auto* pp = std::get_if<PrePrepare>(&b->message)) {
        sizes.push_back(pp->transaction_count());
      }
    }
    return sizes;
  };
  // Nothing in flight: the first transaction is proposed at once.
  CHECK(proposals(arrive(1)) == std::vector<std::size_t>{1});
  // Height 1 is in flight: two more wait, the third makes a batch of three.
  CHECK(proposals(arrive(1)).empty());
  CHECK(proposals(arrive(1)).empty());
  CHECK(proposals(arrive(1)) == std::vector<std::size_t>{3});
  // With the default of 1, every arrival is pipelined (the old behaviour).
  c.min_pipelined_batch = 1;
  Replica eager(c, *signers[0], verifier);
  auto first =
      eager.Handle(Event{1, TransactionsReceived{{{crypto::Hash(AsBytes("a")), ToBytes("a")}}}});
  auto second =
      eager.Handle(Event{2, TransactionsReceived{{{crypto::Hash(AsBytes("b")), ToBytes("b")}}}});
  CHECK(proposals(first) == std::vector<std::size_t>{1});
  CHECK(proposals(second) == std::vector<std::size_t>{1});
}

// A primary (replica 0 of view 0) whose blocks replicas 1 and 2 prepare and commit on demand.
struct PrimaryHarness : FourKeys {
  sim::FakeVerifier verifier{keys};
  std::unique_ptr<Replica> primary;
  std::uint64_t n = 0;  // transactions made so far
  std::uint64_t now = 1000;
  std::vector<PrePrepare> proposed;  // every PRE-PREPARE it broadcast

  PrimaryHarness(std::uint32_t min_pipelined_batch, std::uint64_t batch_wait_us,
                 std::uint64_t max_block_bytes = 8u << 20) {
    ReplicaConfig c;
    c.max_block_bytes = max_block_bytes;
    c.chain_id = "ertr-test";
    c.validators = *ValidatorSet::Create(pks);
    c.self = ReplicaId(0);
    c.min_pipelined_batch = min_pipelined_batch;
    c.batch_wait_us = batch_wait_us;
    primary = std::make_unique<Replica>(c, *signers[0], verifier);
  }
  std::vector<Action> Handle(decltype(Event::body) body) {
    auto actions = primary->Handle(Event{++now, std::move(body)});
    for (const auto& a : actions) {
      const auto* b = std::get_if<Broadcast>(&a);
      if (b == nullptr) continue;
      if (const auto* pp = std::get_if<PrePrepare>(&b->message)) proposed.push_back(*pp);
    }
    return actions;
  }
  // `count` transactions of "tx-<n>", each padded to `size` bytes if that is longer.
  std::vector<Action> Arrive(std::size_t count, std::size_t size = 0) {
    std::vector<Transaction> txs;
    for (std::size_t i = 0; i < count; ++i, ++n) {
      std::string body = "tx-" + std::to_string(n);
      if (body.size() < size) body.resize(size, '.');
      txs.push_back({crypto::Hash(AsBytes(body)), ToBytes(body)});
    }
    return Handle(TransactionsReceived{txs});
  }
  // Replicas 1 and 2 prepare and commit the latest proposal; the actions of the last vote.
  std::vector<Action> Commit() {
    const PrePrepare& pp = proposed.back();
    const Height h = pp.proposal.header.height;
    std::vector<Action> last;
    for (auto domain : {crypto::SigningDomain::kPrepare, crypto::SigningDomain::kCommit}) {
      for (std::uint32_t r : {1u, 2u}) {
        consensus::Vote v{View(0), h, pp.proposal.digest, ReplicaId(r), {}};
        v.signature =
            *signers[r]->Sign(domain, "ertr-test", VotePayload(View(0), h, pp.proposal.digest));
        Message m = domain == crypto::SigningDomain::kPrepare ? Message(Prepare{v})
                                                              : Message(consensus::Commit{v});
        last = Handle(MessageReceived{ReplicaId(r), m});
      }
    }
    return last;
  }
  // A block of `block` transactions proposed and committed, then `next` arrive: whether they
  // start a batch wait of `us`.
  bool CommitThenWaits(std::size_t block, std::size_t next, std::uint64_t us = 1500);
  std::size_t Proposals() const { return proposed.size(); }
  std::size_t LastSize() const { return proposed.back().transaction_count(); }
};

bool SetsBatchWait(const std::vector<Action>& actions, std::uint64_t us) {
  return Count(actions, [&](const Action& a) {
           const auto* t = std::get_if<SetTimer>(&a);
           return t && t->id == TimerId::kBatchWait && t->delay_ms == 0 && t->delay_us == us;
         }) == 1;
}
bool PrimaryHarness::CommitThenWaits(std::size_t block, std::size_t next, std::uint64_t us) {
  Arrive(block);
  Commit();
  return SetsBatchWait(Arrive(next), us);
}
bool CancelsBatchWait(const std::vector<Action>& actions) {
  return Count(actions, [](const Action& a) {
           const auto* t = std::get_if<CancelTimer>(&a);
           return t && t->id == TimerId::kBatchWait;
         }) == 1;
}

TEST_CASE("After a commit the primary waits for its block's callers before proposing fewer",
          "[unit]") {
  PrimaryHarness p(/*min_pipelined_batch=*/32, /*batch_wait_us=*/1500);
  // Nothing delivered yet: proposed at once.
  p.Arrive(4);
  REQUIRE(p.Proposals() == 1);
  CHECK(p.LastSize() == 4);
  auto delivered = p.Commit();
  REQUIRE(Count(delivered, [](const Action& a) { return std::holds_alternative<Deliver>(a); }) ==
          1);
  // Its four callers send again: the first three wait, with one timer, never pushed back.
  CHECK(SetsBatchWait(p.Arrive(1), 1500));
  auto second = p.Arrive(2);
  CHECK_FALSE(SetsBatchWait(second, 1500));
  CHECK(p.Proposals() == 1);
  CHECK(p.primary->stats().batch_waits == 1);
  // The fourth completes the batch: one block of four, the timer cancelled.
  CHECK(CancelsBatchWait(p.Arrive(1)));
  REQUIRE(p.Proposals() == 2);
  CHECK(p.LastSize() == 4);
  // Next time only two come back in time: the timer proposes them.
  p.Commit();
  CHECK(SetsBatchWait(p.Arrive(2), 1500));
  CHECK(p.Proposals() == 2);
  p.Handle(TimerFired{TimerId::kBatchWait});
  REQUIRE(p.Proposals() == 3);
  CHECK(p.LastSize() == 2);
  CHECK(p.primary->stats().batch_waits == 2);
  CHECK(p.primary->stats().batch_waits_timed_out == 1);
  // A stale timer event (cancelled after it fired) changes nothing.
  p.Handle(TimerFired{TimerId::kBatchWait});
  CHECK(p.primary->stats().batch_waits_timed_out == 1);
  // The next delivery allows a new wait: its block held two.
  p.Commit();
  CHECK(SetsBatchWait(p.Arrive(1), 1500));
  p.Handle(TimerFired{TimerId::kBatchWait});
  CHECK(p.LastSize() == 1);
  CHECK(p.primary->stats().batch_waits == 3);
}

// After a block of `block` transactions commits, whether `next` more are proposed at once, as
// one block, without a batch wait.
bool ProposedAtOnceAfter(PrimaryHarness& p, std::size_t block, std::size_t next) {
  p.Arrive(block);
  p.Commit();
  const std::size_t before = p.Proposals();
  auto actions = p.Arrive(next);
  const bool waits = Count(actions, [](const Action& a) {
                       const auto* t = std::get_if<SetTimer>(&a);
                       return t && t->id == TimerId::kBatchWait;
                     }) > 0;
  return !waits && p.Proposals() == before + 1 && p.LastSize() == next &&
         p.primary->stats().batch_waits == 0;
}

TEST_CASE("The batch wait is bounded by min_pipelined_batch and absent for a lone caller or at 0",
          "[unit]") {
  SECTION("a lone caller's next transaction is proposed at once") {
    PrimaryHarness p(32, 1500);
    CHECK(ProposedAtOnceAfter(p, 1, 1));
  }
  SECTION("after a block of ten, three make a batch when min_pipelined_batch is 3") {
    PrimaryHarness p(3, 1500);
    CHECK(p.CommitThenWaits(10, 2));
    p.Arrive(1);
    REQUIRE(p.Proposals() == 2);
    CHECK(p.LastSize() == 3);
  }
  SECTION("a pending transaction too large for any block is not waited for") {
    PrimaryHarness p(32, 1500, /*max_block_bytes=*/64);
    p.Arrive(1, 100);  // never proposed
    CHECK(p.Proposals() == 0);
    // Two callers' block commits with the large one still pending: a target of three, which two
    // transactions and the large one meet.
    CHECK(ProposedAtOnceAfter(p, 2, 2));
  }
  SECTION("a wait's timer that fires in a view change proposes nothing and is not counted") {
    PrimaryHarness p(32, 1500);
    CHECK(p.CommitThenWaits(4, 1));
    // The progress timer runs out twice (the first asks for block sync): a view change.
    p.Handle(TimerFired{TimerId::kViewChange});
    p.Handle(TimerFired{TimerId::kViewChange});
    REQUIRE(p.primary->view_changing());
    p.Handle(TimerFired{TimerId::kBatchWait});
    CHECK(p.Proposals() == 1);
    CHECK(p.primary->stats().batch_waits == 1);
    CHECK(p.primary->stats().batch_waits_timed_out == 0);
  }
  SECTION("batch_wait_us 0 proposes at once") {
    PrimaryHarness p(32, 0);
    CHECK(ProposedAtOnceAfter(p, 4, 1));
  }
  SECTION("with the wait on, the same load waits") {
    PrimaryHarness p(32, 1500);
    CHECK_FALSE(ProposedAtOnceAfter(p, 4, 1));
  }
}

std::vector<Transaction> SomeTransactions(std::size_t count) {
  std::vector<Transaction> txs;
  for (std::size_t i = 0; i < count; ++i) {
    const std::string body = "tx-" + std::to_string(i);
    txs.push_back({crypto::Hash(AsBytes(body)), ToBytes(body)});
  }
  return txs;
}

template <typename M>
std::vector<M> Sent(const std::vector<Action>& actions, std::optional<ReplicaId> to = {}) {
  std::vector<M> out;
  for (const auto& a : actions) {
    const Message* m = nullptr;
    if (const auto* s = std::get_if<Send>(&a); s && (!to || s->to == *to)) m = &s->message;
    if (const auto* b = std::get_if<Broadcast>(&a); b && !to) m = &b->message;
    if (m && std::holds_alternative<M>(*m)) out.push_back(std::get<M>(*m));
  }
  return out;
}

TEST_CASE("The primary broadcasts its proposal compact unless configured not to", "[unit]") {
  for (bool compact : {true, false}) {
    FourKeys k;
    sim::FakeVerifier verifier(k.keys);
    ReplicaConfig c;
    c.chain_id = "ertr-test";
    c.validators = *ValidatorSet::Create(k.pks);
    c.self = ReplicaId(0);
    c.compact_pre_prepares = compact;
    Replica primary(c, *k.signers[0], verifier);
    const auto txs = SomeTransactions(3);
    auto pps = Sent<PrePrepare>(primary.Handle(Event{1000, TransactionsReceived{txs}}));
    REQUIRE(pps.size() == 1);
    CHECK(pps[0].compact() == compact);
    CHECK(pps[0].transaction_count() == 3);
    if (compact) {
      CHECK(pps[0].proposal.txs.empty());
      for (std::size_t i = 0; i < 3; ++i) CHECK(pps[0].tx_ids[i] == txs[i].id);
    } else {
      CHECK(pps[0].proposal.txs == txs);
    }
  }
}

TEST_CASE("A backup holding every transaction of a compact proposal prepares at once", "[unit]") {
  OneReplica r;
  const auto txs = SomeTransactions(4);
  r.replica->Handle(Event{1000, TransactionsReceived{txs}});
  auto out = r.Deliver(CompactPrePrepare(r.Proposed(1000, txs)));
  CHECK(Sent<Prepare>(out).size() == 1);
  CHECK(Sent<FetchTransactions>(out).empty());
  CHECK(r.replica->stats().transactions_fetched == 0);
}

TEST_CASE("A backup fills a compact proposal from what it holds and fetches the rest once",
          "[unit]") {
  // Bytes ending in '!' are forged copies (ReplicaConfig::transaction_valid refuses them).
  OneReplica r(std::nullopt, [](const Transaction& tx) { return tx.bytes.back() != '!'; });
  const auto txs = SomeTransactions(4);
  const PrePrepare full = r.Proposed(1000, txs);
  const PrePrepare compact = CompactPrePrepare(full);
  auto prepared = [](const std::vector<Action>& actions) {
    return Sent<Prepare>(actions).size() == 1;
  };

  // Held: transactions 0 and 2; missing: 1 and 3.
  r.replica->Handle(Event{1000, TransactionsReceived{{txs[0], txs[2]}}});
  auto out = r.Deliver(compact);
  CHECK_FALSE(prepared(out));
  const auto asked = Sent<FetchTransactions>(out, ReplicaId(0));
  REQUIRE(asked.size() == 1);
  CHECK(asked[0].ids == std::vector<crypto::Digest>{txs[1].id, txs[3].id});
  CHECK(asked[0].digest == full.proposal.digest);
  CHECK(asked[0].height == Height(1));
  CHECK(r.replica->stats().transactions_fetched == 2);
  // The same PRE-PREPARE again (the network duplicates): no second request.
  CHECK(Sent<FetchTransactions>(r.Deliver(compact)).empty());
  auto answer = [&](std::uint32_t from, std::vector<Transaction> given) {
    FetchedTransactions f{View(0), Height(1), full.proposal.digest, std::move(given),
                          ReplicaId(from)};
    return r.replica->Handle(Event{1001, MessageReceived{ReplicaId(from), f}});
  };

  SECTION("the primary's answer completes it, in the proposal's order") {
    CHECK_FALSE(prepared(answer(0, {txs[3]})));  // one of two: still waiting
    CHECK(prepared(answer(0, {txs[1]})));
    CHECK(r.replica->stats().dropped_invalid == 0);
  }
  SECTION("an answer from another replica is not taken") {
    CHECK_FALSE(prepared(answer(2, {txs[1], txs[3]})));
    CHECK(prepared(answer(0, {txs[1], txs[3]})));
  }
  SECTION("transactions it did not ask for change nothing") {
    const auto others = SomeTransactions(6);
    CHECK_FALSE(prepared(answer(0, {others[5], txs[0]})));
    CHECK(prepared(answer(0, {txs[1], txs[3]})));
  }
  SECTION("a copy in the answer that is not the proposal's: its own asked for again, refused") {
    // The filled proposal does not match the root: the copies taken from the pending set might
    // be the mismatch (ADR 0038), so those are asked for once more (the ones the primary sent are
    // kept), and the proposal is refused when it still does not match.
    Transaction forged = txs[3];
    forged.bytes.push_back('!');
    const auto again = Sent<FetchTransactions>(answer(0, {txs[1], forged}), ReplicaId(0));
    REQUIRE(again.size() == 1);
    CHECK(again[0].ids == std::vector<crypto::Digest>{txs[0].id, txs[2].id});
    CHECK(r.replica->stats().refetched_proposals == 1);
    CHECK(r.replica->stats().transactions_fetched == 2);  // the held ones are not counted
    CHECK(r.replica->stats().dropped_invalid == 0);
    CHECK_FALSE(prepared(answer(0, {txs[0], txs[2]})));
    CHECK(r.replica->stats().dropped_invalid == 1);
    CHECK(r.replica->stats().refetched_proposals == 1);                  // not a third request
    CHECK_FALSE(prepared(answer(0, {txs[0], txs[1], txs[2], txs[3]})));  // no longer awaited
  }
  SECTION("another compact proposal for the awaited height is equivocation") {
    const PrePrepare other = CompactPrePrepare(r.Proposed(1001, txs));
    r.Deliver(other);
    CHECK(r.replica->stats().equivocations_seen == 1);
    CHECK(r.replica->view_changing());
    CHECK_FALSE(prepared(answer(0, {txs[1], txs[3]})));  // the view it was for has ended
  }
}

TEST_CASE(
    "A backup whose copy of a transaction is not the primary's asks for the ones it held again "
    "and prepares the primary's",
    "[unit]") {
  // A signer that signs one body twice makes two valid copies with one id; gossip may bring a
  // backup the one the primary did not propose. Its filled proposal does not match the root
  // (ADR 0038); without asking again it would never vote for the primary's.
  OneReplica r;
  const auto txs = SomeTransactions(4);
  Transaction other = txs[1];
  other.bytes.push_back('2');
  r.replica->Handle(Event{1000, TransactionsReceived{{txs[0], other, txs[2]}}});
  const PrePrepare full = r.Proposed(1000, txs);
  auto fetched = [&](std::vector<Transaction> given) {
    FetchedTransactions f{View(0), Height(1), full.proposal.digest, std::move(given), ReplicaId(0)};
    return r.replica->Handle(Event{1001, MessageReceived{ReplicaId(0), f}});
  };
  const auto first = Sent<FetchTransactions>(r.Deliver(CompactPrePrepare(full)), ReplicaId(0));
  REQUIRE(first.size() == 1);
  CHECK(first[0].ids == std::vector<crypto::Digest>{txs[3].id});
  auto out = fetched({txs[3]});
  CHECK(Sent<Prepare>(out).empty());
  // The ones it held are asked for again; the one the primary sent is kept.
  const auto asked = Sent<FetchTransactions>(out, ReplicaId(0));
  REQUIRE(asked.size() == 1);
  CHECK(asked[0].ids == std::vector<crypto::Digest>{txs[0].id, txs[1].id, txs[2].id});
  CHECK(r.replica->stats().refetched_proposals == 1);
  CHECK(Sent<Prepare>(fetched({txs[0], txs[1], txs[2]})).size() == 1);
  CHECK(r.replica->stats().dropped_invalid == 0);
}

TEST_CASE("A compact proposal whose ids do not match its header is refused", "[unit]") {
  OneReplica r;
  const auto txs = SomeTransactions(3);
  r.replica->Handle(Event{1000, TransactionsReceived{txs}});
  SECTION("an id left out") {
    PrePrepare pp = CompactPrePrepare(r.Proposed(1000, txs));
    pp.tx_ids.pop_back();
    CHECK(Sent<Prepare>(r.Deliver(pp)).empty());
    CHECK(r.replica->stats().dropped_invalid == 1);
  }
  SECTION("ids of other held transactions: the root does not match") {
    PrePrepare pp = CompactPrePrepare(r.Proposed(1000, txs));
    std::swap(pp.tx_ids[0], pp.tx_ids[1]);
    auto out = r.Deliver(pp);
    CHECK(Sent<Prepare>(out).empty());
    // Its own copies could be the mismatch: all are asked for once more, and the primary's
    // answer does not match either.
    CHECK(Sent<FetchTransactions>(out, ReplicaId(0)).size() == 1);
    CHECK(r.replica->stats().dropped_invalid == 0);
    FetchedTransactions f{View(0), Height(1), pp.proposal.digest, txs, ReplicaId(0)};
    CHECK(Sent<Prepare>(r.replica->Handle(Event{1001, MessageReceived{ReplicaId(0), f}})).empty());
    CHECK(r.replica->stats().dropped_invalid == 1);
  }
  SECTION("a header that is not the one whose digest was signed: refused before any fetch") {
    PrePrepare pp = CompactPrePrepare(r.Proposed(1000, txs));
    pp.proposal.header.time_ms += 1;  // the signature is over the digest, which is unchanged
    auto out = r.Deliver(pp);
    CHECK(Sent<Prepare>(out).empty());
    CHECK(Sent<FetchTransactions>(out).empty());
    CHECK(r.replica->stats().dropped_invalid == 1);
    CHECK(r.replica->stats().refetched_proposals == 0);
  }
  SECTION("a missing id twice") {
    auto more = SomeTransactions(5);
    auto dup = std::vector<Transaction>{txs[0], more[4], more[4]};
    PrePrepare pp = CompactPrePrepare(r.Proposed(1000, dup));
    auto out = r.Deliver(pp);
    CHECK(Sent<FetchTransactions>(out).empty());
    CHECK(r.replica->stats().dropped_invalid == 1);
  }
}

TEST_CASE("A replica answers a fetch for its accepted proposal twice per asker at most", "[unit]") {
  OneReplica r;
  const auto txs = SomeTransactions(3);
  const PrePrepare full = r.Proposed(1000, txs);
  REQUIRE(Sent<Prepare>(r.Deliver(full)).size() == 1);
  auto ask = [&](std::uint32_t from, const crypto::Digest& digest,
                 std::vector<crypto::Digest> ids) {
    FetchTransactions f{View(0), Height(1), digest, std::move(ids), ReplicaId(from)};
    return Sent<FetchedTransactions>(
        r.replica->Handle(Event{1001, MessageReceived{ReplicaId(from), f}}), ReplicaId(from));
  };
  auto answers = ask(2, full.proposal.digest, {txs[2].id, txs[0].id});
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].txs == std::vector<Transaction>{txs[0], txs[2]});
  CHECK(answers[0].sender == ReplicaId(1));
  // The same request again (the network duplicated it): not answered, and not counted.
  CHECK(ask(2, full.proposal.digest, {txs[2].id, txs[0].id}).empty());
  // A second request (the asker's own copies did not match the root): answered once more.
  CHECK(ask(2, full.proposal.digest, {txs[0].id, txs[1].id, txs[2].id}).size() == 1);
  CHECK(ask(2, full.proposal.digest, {txs[1].id}).empty());  // twice per asker
  CHECK(ask(3, full.proposal.digest, {txs[1].id}).size() == 1);
  CHECK(ask(0, crypto::Hash(AsBytes("another proposal")), {txs[1].id}).empty());
  CHECK(r.replica->stats().fetches_answered == 3);
  // Once the block is delivered the answers given still count: replica 2 has had its two.
  REQUIRE(Count(r.Decide(txs),
                [](const Action& a) { return std::holds_alternative<Deliver>(a); }) == 1);
  CHECK(ask(2, full.proposal.digest, {txs[2].id}).empty());
  CHECK(ask(3, full.proposal.digest, {txs[2].id}).size() == 1);
  CHECK(ask(0, full.proposal.digest, {txs[2].id}).size() == 1);
}

TEST_CASE("A replica answers a fetch for a proposal the quorum decided already", "[unit]") {
  // The asker saw the PRE-PREPARE late: the others delivered the block before its request came.
  OneReplica r;
  const auto txs = SomeTransactions(3);
  r.Decide(txs);
  REQUIRE(r.replica->last_delivered() == Height(1));
  const crypto::Digest digest =
      MakeProposal("ertr-test", Height(1), 1000, ReplicaId(0), txs).digest;
  FetchTransactions f{View(0), Height(1), digest, {txs[1].id}, ReplicaId(3)};
  auto answers = Sent<FetchedTransactions>(
      r.replica->Handle(Event{1001, MessageReceived{ReplicaId(3), f}}), ReplicaId(3));
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].txs == std::vector<Transaction>{txs[1]});
}

// ---- view changes carry headers (ADR 0040) ----

// Replica r's signed PREPARE for (view, height, digest).
Prepare SignedPrepare(FourKeys& k, std::uint32_t r, View view, Height h, const crypto::Digest& d) {
  Prepare p{{view, h, d, ReplicaId(r), {}}};
  p.signature =
      *k.signers[r]->Sign(crypto::SigningDomain::kPrepare, "ertr-test", VotePayload(view, h, d));
  return p;
}

// Replica r's VIEW-CHANGE to `view`, naming `prepared` (no stable checkpoint).
ViewChange SignedViewChange(FourKeys& k, std::uint32_t r, View view,
                            std::vector<PreparedCertificate> prepared) {
  ViewChange vc;
  vc.new_view = view;
  vc.prepared = std::move(prepared);
  vc.sender = ReplicaId(r);
  vc.signature =
      *k.signers[r]->Sign(crypto::SigningDomain::kViewChange, "ertr-test", ViewChangePayload(vc));
  return vc;
}

// The NEW-VIEW of view 2 (led by replica 2) re-proposing `p` at height 1, prepared in view 0 by
// replicas 0, 2 and 3: the VIEW-CHANGEs of replicas 0 and 2 name it by header, replica 3's names
// nothing.
NewView NewViewReproposing(FourKeys& k, const Proposal& p) {
  PreparedCertificate cert{View(0), p, {}};
  for (std::uint32_t i : {0u, 2u, 3u}) {
    cert.prepares.push_back(SignedPrepare(k, i, View(0), Height(1), p.digest));
  }
  NewView nv;
  nv.view = View(2);
  nv.view_changes = {SignedViewChange(k, 0, View(2), {HeaderOnly(cert)}),
                     SignedViewChange(k, 2, View(2), {HeaderOnly(cert)}),
                     SignedViewChange(k, 3, View(2), {})};
  nv.sender = ReplicaId(2);
  nv.signature =
      *k.signers[2]->Sign(crypto::SigningDomain::kNewView, "ertr-test", NewViewPayload(nv));
  return nv;
}

TEST_CASE("A replica's VIEW-CHANGE names its prepared proposals by header, without transactions",
          "[unit]") {
  OneReplica r;
  const auto txs = SomeTransactions(3);
  const PrePrepare pp = r.Proposed(1000, txs);
  r.Deliver(pp);
  auto prepared = r.replica->Handle(Event{
      1001,
      MessageReceived{ReplicaId(2), SignedPrepare(r, 2, View(0), Height(1), pp.proposal.digest)}});
  REQUIRE(Sent<Commit>(prepared).size() == 1);
  // The view's timer fires twice (first it asks for blocks it may miss): the VIEW-CHANGE names
  // the prepared proposal's header and digest.
  r.replica->Handle(Event{5000, TimerFired{TimerId::kViewChange}});
  auto changed = r.replica->Handle(Event{6000, TimerFired{TimerId::kViewChange}});
  auto vcs = Sent<ViewChange>(changed);
  REQUIRE(vcs.size() == 1);
  REQUIRE(vcs[0].prepared.size() == 1);
  const Proposal& named = vcs[0].prepared[0].proposal;
  CHECK(named.txs.empty());
  CHECK(named.header == pp.proposal.header);
  CHECK(named.header.tx_count == 3);
  CHECK(named.digest == pp.proposal.digest);
  CHECK(vcs[0].prepared[0].prepares.size() == 3);
  // Another replica accepts it: the header is what the certificate's votes sign.
  OneReplica other;
  other.replica->Handle(Event{5000, MessageReceived{ReplicaId(1), vcs[0]}});
  CHECK(other.replica->stats().dropped_invalid == 0);
  // A header whose digest is not its own, or a certificate with some of its transactions, is not.
  for (int variant = 0; variant < 2; ++variant) {
    PreparedCertificate bad = vcs[0].prepared[0];
    if (variant == 0) {
      bad.proposal.header.time_ms += 1;
    } else {
      bad.proposal.txs = std::vector<Transaction>{txs[0]};
    }
    OneReplica third;
    third.replica->Handle(
        Event{5000, MessageReceived{ReplicaId(3), SignedViewChange(r, 3, View(1), {bad})}});
    CHECK(third.replica->stats().dropped_invalid == 1);
  }
}

TEST_CASE(
    "Entering a view, a replica asks the replicas that named a re-proposal for its "
    "transactions and prepares once an answer matches",
    "[unit]") {
  OneReplica r;  // replica 1, which never saw the proposal
  const auto txs = SomeTransactions(3);
  const Proposal p = MakeProposal("ertr-test", Height(1), 1000, ReplicaId(0), txs);
  // Its timer expired once in view 0 (it asked for sync), then the NEW-VIEW of view 2 came
  // without a view change of its own.
  r.replica->Handle(Event{1500, TimerFired{TimerId::kViewChange}});
  REQUIRE_FALSE(r.replica->view_changing());
  auto entered =
      r.replica->Handle(Event{2000, MessageReceived{ReplicaId(2), NewViewReproposing(r, p)}});
  REQUIRE(r.replica->view() == View(2));
  CHECK_FALSE(r.replica->view_changing());
  // Its vote is durable at once; the PREPARE waits for the transactions.
  CHECK(Sent<Prepare>(entered).empty());
  auto to0 = Sent<FetchProposal>(entered, ReplicaId(0));
  REQUIRE(to0.size() == 1);
  CHECK(to0[0].view == View(2));
  CHECK(to0[0].height == Height(1));
  CHECK(to0[0].digest == p.digest);
  CHECK(Sent<FetchProposal>(entered, ReplicaId(2)).size() == 1);
  CHECK(Sent<FetchProposal>(entered, ReplicaId(3)).empty());  // it did not name it
  CHECK(r.replica->stats().proposals_fetched == 1);

  // No answer by the progress timer's first expiry in view 2 (it may have been lost): asked again.
  auto again = r.replica->Handle(Event{3000, TimerFired{TimerId::kViewChange}});
  CHECK(Sent<FetchProposal>(again, ReplicaId(0)).size() == 1);
  CHECK(Sent<FetchProposal>(again, ReplicaId(2)).size() == 1);
  CHECK_FALSE(r.replica->view_changing());

  // An answer whose transactions are not the header's, or for another view, is refused.
  auto forged = txs;
  forged[1].bytes.push_back('!');
  Proposal wrong = p;
  wrong.txs = forged;
  auto refused = r.replica->Handle(
      Event{2001, MessageReceived{ReplicaId(0), FetchedProposal{View(2), wrong, ReplicaId(0)}}});
  CHECK(Sent<Prepare>(refused).empty());
  CHECK(r.replica->stats().dropped_invalid == 1);
  CHECK(Sent<Prepare>(
            r.replica->Handle(Event{
                2001, MessageReceived{ReplicaId(2), FetchedProposal{View(1), p, ReplicaId(2)}}}))
            .empty());

  auto accepted = r.replica->Handle(
      Event{2002, MessageReceived{ReplicaId(2), FetchedProposal{View(2), p, ReplicaId(2)}}});
  auto prepares = Sent<Prepare>(accepted);
  REQUIRE(prepares.size() == 1);
  CHECK(prepares[0].view == View(2));
  CHECK(prepares[0].digest == p.digest);
  // A second answer changes nothing.
  CHECK(Sent<Prepare>(
            r.replica->Handle(Event{
                2003, MessageReceived{ReplicaId(0), FetchedProposal{View(2), p, ReplicaId(0)}}}))
            .empty());

  // It now answers others' requests for it: once per asker, height and view.
  auto ask = [&](std::uint32_t from, View v) {
    return Sent<FetchedProposal>(
        r.replica->Handle(
            Event{2004, MessageReceived{ReplicaId(from),
                                        FetchProposal{v, Height(1), p.digest, ReplicaId(from)}}}),
        ReplicaId(from));
  };
  auto answer = ask(3, View(2));
  REQUIRE(answer.size() == 1);
  CHECK(answer[0].proposal.txs == p.txs);
  CHECK(answer[0].proposal.digest == p.digest);
  CHECK(ask(3, View(2)).size() == 1);  // asked again: the first answer may be lost
  CHECK(ask(3, View(2)).empty());
  CHECK(ask(3, View(3)).size() == 1);
  CHECK(ask(3, View(4)).empty());  // a view too far ahead of ours
  CHECK(Sent<FetchedProposal>(
            r.replica->Handle(Event{
                2005, MessageReceived{ReplicaId(0),
                                      FetchProposal{View(2), Height(1), crypto::Hash(AsBytes("x")),
                                                    ReplicaId(0)}}}))
            .empty());
  CHECK(r.replica->stats().proposal_fetches_answered == 3);
}

TEST_CASE(
    "A PRE-PREPARE for another proposal at a re-proposed height still awaited is equivocation",
    "[unit]") {
  OneReplica r;
  const Proposal p = MakeProposal("ertr-test", Height(1), 1000, ReplicaId(0), SomeTransactions(2));
  r.replica->Handle(Event{2000, MessageReceived{ReplicaId(2), NewViewReproposing(r, p)}});
  REQUIRE(r.replica->stats().proposals_fetched == 1);
  // Replica 2, primary of view 2, signs another proposal for height 1.
  const Proposal other =
      MakeProposal("ertr-test", Height(1), 2000, ReplicaId(2), SomeTransactions(1));
  PrePrepare pp{View(2), other, ReplicaId(2), {}};
  // Signed by another replica's key in its name, or the re-proposal itself, it proves nothing.
  pp.signature = *r.signers[3]->Sign(crypto::SigningDomain::kPrePrepare, "ertr-test",
                                     VotePayload(View(2), Height(1), other.digest));
  r.replica->Handle(Event{2001, MessageReceived{ReplicaId(2), pp}});
  PrePrepare same{View(2), p, ReplicaId(2), {}};
  same.signature = *r.signers[2]->Sign(crypto::SigningDomain::kPrePrepare, "ertr-test",
                                       VotePayload(View(2), Height(1), p.digest));
  r.replica->Handle(Event{2001, MessageReceived{ReplicaId(2), same}});
  CHECK(r.replica->stats().equivocations_seen == 0);
  CHECK_FALSE(r.replica->view_changing());
  pp.signature = *r.signers[2]->Sign(crypto::SigningDomain::kPrePrepare, "ertr-test",
                                     VotePayload(View(2), Height(1), other.digest));
  auto seen = r.replica->Handle(Event{2001, MessageReceived{ReplicaId(2), pp}});
  CHECK(Sent<Prepare>(seen).empty());
  CHECK(r.replica->stats().equivocations_seen == 1);
  CHECK(r.replica->view_changing());
  CHECK(r.replica->view() == View(3));
}

// The delay of the last SetTimer among `actions`, if any.
std::optional<std::uint64_t> TimerDelay(const std::vector<Action>& actions) {
  std::optional<std::uint64_t> delay;
  for (const auto& a : actions) {
    if (const auto* t = std::get_if<SetTimer>(&a)) delay = t->delay_ms;
  }
  return delay;
}

TEST_CASE(
    "A backup whose link to the primary is down changes view after the link timeout, without "
    "asking for blocks first",
    "[unit]") {
  OneReplica r;  // view_timeout_ms 1000, primary_link_timeout_ms 500 (the defaults)
  // The link going down with no work waiting arms nothing.
  CHECK_FALSE(TimerDelay(r.replica->Handle(Event{100, PeerLink{ReplicaId(0), false}})));
  // Work arrives: the timer runs with the link timeout, not the progress timeout.
  auto armed = r.replica->Handle(Event{200, TransactionsReceived{SomeTransactions(1)}});
  CHECK(TimerDelay(armed) == std::optional<std::uint64_t>(500));
  // Its one expiry starts the view change: no block-sync step first.
  auto changed = r.replica->Handle(Event{700, TimerFired{TimerId::kViewChange}});
  CHECK(r.replica->view_changing());
  CHECK(r.replica->view() == View(1));
  CHECK(Sent<ViewChange>(changed).size() == 1);
  CHECK(r.replica->stats().view_changes_primary_link_down == 1);
  // During the view change the timer is the progress timer again (the link matters outside one),
  // doubled for the failed view.
  CHECK(TimerDelay(changed) == std::optional<std::uint64_t>(2000));
}

TEST_CASE(
    "Another validator's link down, or the primary's back up, leaves the progress timeout and its "
    "block-sync step",
    "[unit]") {
  OneReplica r;
  CHECK(TimerDelay(r.replica->Handle(Event{100, TransactionsReceived{SomeTransactions(1)}})) ==
        std::optional<std::uint64_t>(1000));
  // Replica 2 is not the primary: nothing changes.
  CHECK_FALSE(TimerDelay(r.replica->Handle(Event{150, PeerLink{ReplicaId(2), false}})));
  // The primary's link down: short; back up before it fires: due when it was before (at 1100),
  // the time waited counting. A primary that reconnects over and over cannot put the expiry off.
  CHECK(TimerDelay(r.replica->Handle(Event{200, PeerLink{ReplicaId(0), false}})) ==
        std::optional<std::uint64_t>(500));
  CHECK(TimerDelay(r.replica->Handle(Event{300, PeerLink{ReplicaId(0), true}})) ==
        std::optional<std::uint64_t>(800));
  CHECK(TimerDelay(r.replica->Handle(Event{700, PeerLink{ReplicaId(0), false}})) ==
        std::optional<std::uint64_t>(400));  // sooner than the link timeout: the due time
  CHECK(TimerDelay(r.replica->Handle(Event{800, PeerLink{ReplicaId(0), true}})) ==
        std::optional<std::uint64_t>(300));
  // Its expiry is then a first one: blocks are asked for, and the view stays.
  r.replica->Handle(Event{1100, TimerFired{TimerId::kViewChange}});
  CHECK_FALSE(r.replica->view_changing());
  CHECK(r.replica->view() == View(0));
  CHECK(r.replica->stats().view_changes_primary_link_down == 0);
  // A report about itself or an unknown validator is ignored.
  r.replica->Handle(Event{1400, PeerLink{ReplicaId(1), false}});
  r.replica->Handle(Event{1400, PeerLink{ReplicaId(9), false}});
  r.replica->Handle(Event{2100, TimerFired{TimerId::kViewChange}});
  CHECK(r.replica->view() == View(1));  // the second expiry, as before
  CHECK(r.replica->stats().view_changes_primary_link_down == 0);
}

}  // namespace
}  // namespace ertr::consensus
