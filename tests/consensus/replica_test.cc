// Direct tests of one replica's reactions, with the simulator's fast signatures.

#include <catch2/catch.hpp>

#include "consensus/replica.h"
#include "tests/sim/fake_crypto.h"

namespace ertr::consensus {
namespace {

struct OneReplica {
  sim::FakeKeys keys;
  std::vector<std::unique_ptr<sim::FakeSigner>> signers;
  std::unique_ptr<sim::FakeVerifier> verifier;
  std::unique_ptr<Replica> replica;  // replica 1 (a backup in view 0)

  OneReplica() {
    std::vector<crypto::PublicKey> pks;
    for (std::uint8_t i = 0; i < 4; ++i) {
      std::array<std::uint8_t, 32> secret{};
      secret[0] = i + 1;
      pks.push_back(keys.Add(secret));
      signers.push_back(std::make_unique<sim::FakeSigner>(keys, pks.back()));
    }
    verifier = std::make_unique<sim::FakeVerifier>(keys);
    ReplicaConfig c;
    c.chain_id = "ertr-test";
    c.validators = *ValidatorSet::Create(pks);
    c.self = ReplicaId(1);
    replica = std::make_unique<Replica>(c, *signers[1], *verifier);
  }

  PrePrepare Proposed(std::uint64_t time_ms, const std::vector<Transaction>& txs) {
    PrePrepare pp{View(0),
                  MakeProposal("ertr-test", Height(1), time_ms, ReplicaId(0), txs),
                  ReplicaId(0),
                  {}};
    pp.signature = *signers[0]->Sign(crypto::SigningDomain::kPrePrepare, "ertr-test",
                                     VotePayload(View(0), Height(1), pp.proposal.digest));
    return pp;
  }
  std::vector<Action> Deliver(const PrePrepare& pp) {
    return replica->Handle(Event{1000, MessageReceived{ReplicaId(0), pp}});
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

}  // namespace
}  // namespace ertr::consensus
