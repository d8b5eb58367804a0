// The replica's persistent state in the consensus log (ADR 0010): small state and one entry per
// prepared certificate, loaded back together.

#include <catch2/catch.hpp>

#include "node/replica_driver.h"
#include "proto/codec.h"
#include "proto/consensus_codec.h"
#include "proto/ledger_codec.h"
#include "storage/stores.h"

namespace ertr::node {
namespace {

consensus::PreparedCertificate Prepared(std::uint64_t height, std::uint64_t view) {
  consensus::PreparedCertificate pc;
  pc.view = View(view);
  pc.proposal =
      consensus::MakeProposal("ertr-test", Height(height), 1000 + height, ReplicaId(0), {});
  return pc;
}

TEST_CASE("the replica state loads from its entry and one entry per prepared height",
          "[unit][node]") {
  auto stores = storage::MakeMemoryStores();
  consensus::PersistentState s;
  s.view = View(2);
  s.signed_votes[{View(2), Height(9)}] = crypto::DomainHash("t", AsBytes("a"));
  s.stable_height = Height(6);
  s.stable_root = crypto::DomainHash("t", AsBytes("root"));
  s.prepared[Height(9)] = Prepared(9, 2);  // not written by EncodeReplicaState
  StateDelta writes;
  writes.Put(ToBytes(kReplicaStateKey), proto::EncodeReplicaState(s));
  writes.Put(PreparedKey(Height(9)), proto::EncodePreparedCertificate(Prepared(9, 2)));
  writes.Put(PreparedKey(Height(11)), proto::EncodePreparedCertificate(Prepared(11, 1)));
  writes.Put(PreparedKey(Height(5)), proto::EncodePreparedCertificate(Prepared(5, 1)));  // stale
  REQUIRE(stores.consensus_log->Save(writes).ok());

  auto back = LoadReplicaState(*stores.consensus_log, Height(0));
  REQUIRE(back.has_value());
  CHECK(back->view == View(2));
  CHECK(back->signed_votes == s.signed_votes);
  CHECK(back->stable_height == Height(6));
  REQUIRE(back->prepared.size() == 2);  // height 5 is below the stable checkpoint
  CHECK(back->prepared.at(Height(9)).view == View(2));
  CHECK(back->prepared.at(Height(9)).proposal.digest == Prepared(9, 2).proposal.digest);
  CHECK(back->prepared.at(Height(11)).view == View(1));
  // Keys sort by height.
  CHECK(PreparedKey(Height(255)) < PreparedKey(Height(256)));

  // A damaged entry stops the node rather than losing a vote.
  StateDelta bad;
  bad.Put(PreparedKey(Height(12)), Bytes{0xff, 0x01});
  REQUIRE(stores.consensus_log->Save(bad).ok());
  auto damaged = LoadReplicaState(*stores.consensus_log, Height(0));
  REQUIRE_FALSE(damaged.has_value());
  CHECK(damaged.error().code() == StatusCode::kDataLoss);
}

// Three signed-transaction envelopes (unsigned: nothing here verifies them) and their ids.
std::vector<consensus::Transaction> Transactions(const std::string& tag) {
  std::vector<consensus::Transaction> out;
  for (int i = 0; i < 3; ++i) {
    ledger::SignedTransaction st;
    st.body = ToBytes(tag + " body " + std::to_string(i));
    const Bytes bytes = proto::EncodeSignedTransaction(st);
    out.push_back({*proto::PeekTransactionId(bytes), bytes});
  }
  return out;
}

consensus::PreparedCertificate PreparedWith(std::uint64_t height, const std::string& tag) {
  consensus::PreparedCertificate pc;
  pc.view = View(1);
  pc.proposal =
      consensus::MakeProposal("ertr-test", Height(height), 1000, ReplicaId(0), Transactions(tag));
  return pc;
}

TEST_CASE("a prepared certificate logged without its transactions gets them from its staged body",
          "[unit][node]") {
  auto stores = storage::MakeMemoryStores();
  auto& log = *stores.consensus_log;
  const auto nine = PreparedWith(9, "nine");
  StateDelta writes;
  writes.Put(PreparedKey(Height(9)), proto::EncodePreparedCertificateWithoutTransactions(nine));
  REQUIRE(log.Save(writes, {{Height(9), proto::EncodeBlockBody(nine.proposal.txs)}}).ok());

  auto back = LoadReplicaState(log, Height(0));
  REQUIRE(back.has_value());
  REQUIRE(back->prepared.count(Height(9)) == 1);
  const auto& proposal = back->prepared.at(Height(9)).proposal;
  CHECK(proposal.digest == nine.proposal.digest);
  CHECK(proposal.txs == nine.proposal.txs);  // bytes and ids
  CHECK(consensus::CheckProposal(proposal).ok());

  SECTION("without its body above the latest block, the log is damaged") {
    const auto ten = PreparedWith(10, "ten");
    StateDelta more;
    more.Put(PreparedKey(Height(10)), proto::EncodePreparedCertificateWithoutTransactions(ten));
    REQUIRE(log.Save(more).ok());
    auto damaged = LoadReplicaState(log, Height(0));
    REQUIRE_FALSE(damaged.has_value());
    CHECK(damaged.error().code() == StatusCode::kDataLoss);
    CHECK_THAT(damaged.error().message(), Catch::Contains("height 10"));
  }
  SECTION("a body staged for another proposal there, above the latest block, is damage too") {
    REQUIRE(
        log.Save({}, {{Height(9), proto::EncodeBlockBody(PreparedWith(9, "other").proposal.txs)}})
            .ok());
    auto damaged = LoadReplicaState(log, Height(0));
    REQUIRE_FALSE(damaged.has_value());
    CHECK(damaged.error().code() == StatusCode::kDataLoss);
  }
  // Blocks 1 to 9 decided, each with its own body, or the last with the body staged there.
  auto decide_up_to_nine = [&](bool ninth_as_staged) {
    for (std::uint64_t h = 1; h <= 9; ++h) {
      storage::StoredBlock b;
      b.height = Height(h);
      b.hash = crypto::Hash(AsBytes("block " + std::to_string(h)));
      b.header = ToBytes("header");
      b.body_stored = ninth_as_staged && h == 9;
      if (!b.body_stored) b.body = proto::EncodeBlockBody(PreparedWith(h, "decided").proposal.txs);
      b.certificate = ToBytes("certificate");
      REQUIRE(stores.blocks->Append(b, {}).ok());
    }
  };
  SECTION("superseded by a different block decided at its height, it is dropped") {
    decide_up_to_nine(false);
    auto after = LoadReplicaState(log, Height(9));
    REQUIRE(after.has_value());
    CHECK(after->prepared.empty());
  }
  SECTION("decided as prepared, it loads from the block's body") {
    decide_up_to_nine(true);
    auto after = LoadReplicaState(log, Height(9));
    REQUIRE(after.has_value());
    REQUIRE(after->prepared.count(Height(9)) == 1);
    CHECK(after->prepared.at(Height(9)).proposal.txs == nine.proposal.txs);
  }
}

}  // namespace
}  // namespace ertr::node
