// The replica's persistent state in the consensus log (ADR 0010): small state and one entry per
// prepared certificate, loaded back together.

#include <catch2/catch.hpp>

#include "node/replica_driver.h"
#include "proto/consensus_codec.h"
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

  auto back = LoadReplicaState(*stores.consensus_log);
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
  auto damaged = LoadReplicaState(*stores.consensus_log);
  REQUIRE_FALSE(damaged.has_value());
  CHECK(damaged.error().code() == StatusCode::kDataLoss);
}

}  // namespace
}  // namespace ertr::node
