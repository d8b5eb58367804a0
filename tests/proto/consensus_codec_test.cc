#include <catch2/catch.hpp>

#include "proto/codec.h"
#include "proto/consensus_codec.h"

namespace ertr::proto {
namespace {

Result<crypto::Digest> HashId(ByteSpan b) { return crypto::Hash(b); }

consensus::Proposal SampleProposal() {
  std::vector<consensus::Transaction> txs;
  for (int i = 0; i < 3; ++i) {
    Bytes b = ToBytes("tx-" + std::to_string(i));
    txs.push_back({crypto::Hash(b), b});
  }
  return consensus::MakeProposal("ertr-test", Height(9), 1234, ReplicaId(1), std::move(txs));
}

consensus::Prepare SampleVote(std::uint32_t sender) {
  consensus::Prepare v;
  v.view = View(4);
  v.height = Height(9);
  v.digest = SampleProposal().digest;
  v.sender = ReplicaId(sender);
  auto a = v.signature.array();
  a[5] = static_cast<std::uint8_t>(sender);
  v.signature = crypto::Signature(a);
  return v;
}

TEST_CASE("Every consensus message round-trips through the wire codec", "[unit]") {
  consensus::PrePrepare pp{View(4), SampleProposal(), ReplicaId(1), crypto::Signature()};
  auto back = DecodeConsensusMessage(EncodeConsensusMessage(pp), HashId);
  REQUIRE(back.has_value());
  const auto& pp2 = std::get<consensus::PrePrepare>(*back);
  CHECK(pp2.view == View(4));
  CHECK(pp2.proposal.digest == pp.proposal.digest);
  CHECK(pp2.proposal.txs == pp.proposal.txs);
  CHECK(consensus::CheckProposal(pp2.proposal).ok());

  auto vote = DecodeConsensusMessage(EncodeConsensusMessage(SampleVote(2)), HashId);
  REQUIRE(vote.has_value());
  CHECK(std::get<consensus::Prepare>(*vote) == SampleVote(2));
  consensus::Commit commit;
  static_cast<consensus::Vote&>(commit) = SampleVote(3);
  auto c = DecodeConsensusMessage(EncodeConsensusMessage(commit), HashId);
  REQUIRE(c.has_value());
  CHECK(std::holds_alternative<consensus::Commit>(*c));

  consensus::ViewChange vc;
  vc.new_view = View(5);
  vc.stable_height = Height(8);
  vc.stable_root = crypto::Hash(AsBytes("root"));
  vc.checkpoint_proof.push_back({Height(8), vc.stable_root, ReplicaId(0), crypto::Signature()});
  vc.prepared.push_back({View(4), SampleProposal(), {SampleVote(0), SampleVote(1), SampleVote(2)}});
  vc.sender = ReplicaId(2);
  consensus::NewView nv{View(5), {vc, vc, vc}, ReplicaId(1), crypto::Signature()};
  auto n = DecodeConsensusMessage(EncodeConsensusMessage(nv), HashId);
  REQUIRE(n.has_value());
  const auto& nv2 = std::get<consensus::NewView>(*n);
  REQUIRE(nv2.view_changes.size() == 3);
  CHECK(consensus::ViewChangePayload(nv2.view_changes[0]) == consensus::ViewChangePayload(vc));
  CHECK(consensus::NewViewPayload(nv2) == consensus::NewViewPayload(nv));
  CHECK(nv2.view_changes[0].prepared[0].prepares.size() == 3);
}

TEST_CASE("Transaction ids are recomputed by the receiver, never trusted", "[unit]") {
  consensus::PrePrepare pp{View(4), SampleProposal(), ReplicaId(1), crypto::Signature()};
  auto lied = pp.proposal.txs.ToVector();
  lied[0].id = crypto::Hash(AsBytes("a lie"));
  pp.proposal.txs = std::move(lied);
  auto back = DecodeConsensusMessage(EncodeConsensusMessage(pp), HashId);
  REQUIRE(back.has_value());
  CHECK(std::get<consensus::PrePrepare>(*back).proposal.txs[0].id == crypto::Hash(AsBytes("tx-0")));
  // The node's id function refuses bytes that are not a protobuf message (transaction_valid
  // refuses the rest).
  auto strict = DecodeConsensusMessage(EncodeConsensusMessage(pp), PeekTransactionId);
  REQUIRE_FALSE(strict.has_value());
  CHECK(strict.error().message().find("proposal transaction 0") != std::string::npos);
}

TEST_CASE("Malformed consensus messages name the bad field", "[unit]") {
  auto bad_vote = SampleVote(1);
  Bytes wire = EncodeConsensusMessage(bad_vote);
  wire.resize(wire.size() - 3);  // cut into the signature
  CHECK_FALSE(DecodeConsensusMessage(wire, HashId).has_value());
  auto empty = DecodeConsensusMessage({}, HashId);
  REQUIRE_FALSE(empty.has_value());
  CHECK(empty.error().message().find("no kind") != std::string::npos);
  CHECK_FALSE(DecodeConsensusMessage(AsBytes("\x12\x05hello"), HashId).has_value());
}

}  // namespace
}  // namespace ertr::proto
