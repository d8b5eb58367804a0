#include <catch2/catch.hpp>

#include "crypto/sha256.h"
#include "proto/consensus_codec.h"
#include "proto/peer_codec.h"
#include "storage/state_pages.h"
#include "storage/state_store.h"

namespace ertr::proto {
namespace {

TEST_CASE("peer messages round-trip and malformed ones are refused", "[unit][proto]") {
  std::vector<PeerMessage> messages = {
      PeerConsensus{Bytes{1, 2, 3}},
      PeerTransactions{{Bytes{4}, Bytes{5, 6}}, {}},
      PeerTransactions{{Bytes{4}}, {Bytes(kMaxOfferedBlobBytes, 7)}},
      PeerBlockRequest{Height(7), 64},
      PeerBlockResponse{{Bytes{8, 9}}},
      PeerStatus{Height(10), View(2)},
      PeerBlobPush{7, 1u << 20, Bytes(kMaxBlobPushBytes, 3), true, false},
      PeerBlobPush{7, 5, {}, false, true},
      PeerBlobPushAck{7, 12345, true},
  };
  for (const auto& m : messages) {
    auto back = DecodePeerMessage(EncodePeerMessage(m));
    REQUIRE(back.has_value());
    CHECK(back->index() == m.index());
    CHECK(EncodePeerMessage(*back) == EncodePeerMessage(m));
  }
  auto capped = DecodePeerMessage(EncodePeerMessage(PeerBlockRequest{Height(1), 100000}));
  REQUIRE(capped.has_value());
  CHECK(std::get<PeerBlockRequest>(*capped).max_blocks == kMaxSyncBlocks);
  CHECK_FALSE(DecodePeerMessage(EncodePeerMessage(PeerBlockRequest{Height(0), 1})).has_value());
  // A blob sent along with gossip is a small one; more blobs than transactions a message may hold
  // are refused too.
  auto big = DecodePeerMessage(
      EncodePeerMessage(PeerTransactions{{Bytes{4}}, {Bytes(kMaxOfferedBlobBytes + 1, 7)}}));
  REQUIRE_FALSE(big.has_value());
  CHECK(big.error().message().find("transactions.blobs") != std::string::npos);
  CHECK_FALSE(DecodePeerMessage(EncodePeerMessage(PeerTransactions{
                                    {}, std::vector<Bytes>(kMaxGossipTransactions + 1, Bytes{1})}))
                  .has_value());
  // A push carries at most a chunk, and an abort carries nothing.
  auto long_push =
      DecodePeerMessage(EncodePeerMessage(PeerBlobPush{1, 0, Bytes(kMaxBlobPushBytes + 1, 3)}));
  REQUIRE_FALSE(long_push.has_value());
  CHECK(long_push.error().message().find("blob_push.data") != std::string::npos);
  auto pushed = DecodePeerMessage(EncodePeerMessage(PeerBlobPush{9, 4, Bytes{1, 2}, true}));
  REQUIRE(pushed.has_value());
  const auto& push = std::get<PeerBlobPush>(*pushed);
  CHECK(push.push_id == 9);
  CHECK(push.offset == 4);
  CHECK(push.data == Bytes{1, 2});
  CHECK(push.last);
  CHECK_FALSE(push.abort);
  for (const auto& bad :
       {PeerBlobPush{1, 0, Bytes{1}, false, true}, PeerBlobPush{1, 0, {}, true, true}}) {
    auto refused = DecodePeerMessage(EncodePeerMessage(bad));
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error().message().find("abort") != std::string::npos);
  }
  CHECK_FALSE(DecodePeerMessage(Bytes{}).has_value());  // no body
  CHECK_FALSE(DecodePeerMessage(Bytes{0xff, 0xff, 0xff}).has_value());
}

TEST_CASE("blob announcements carry one size per digest, or none", "[unit][proto]") {
  const auto a = crypto::Sha256(Bytes{1});
  const auto b = crypto::Sha256(Bytes{2});
  auto sized = DecodePeerMessage(EncodePeerMessage(PeerBlobHave{{a, b}, {300, 70'000}}));
  REQUIRE(sized.has_value());
  const auto& have = std::get<PeerBlobHave>(*sized);
  CHECK(have.digests == std::vector<crypto::Digest>{a, b});
  CHECK(have.sizes == std::vector<std::uint64_t>{300, 70'000});
  // An older node's, without sizes.
  auto bare = DecodePeerMessage(EncodePeerMessage(PeerBlobHave{{a, b}}));
  REQUIRE(bare.has_value());
  CHECK(std::get<PeerBlobHave>(*bare).digests.size() == 2);
  CHECK(std::get<PeerBlobHave>(*bare).sizes.empty());
  // Sizes that do not pair up with the digests, or a size of 0, are refused, naming the field.
  for (const auto& bad : {PeerBlobHave{{a, b}, {300}}, PeerBlobHave{{a}, {300, 400}},
                          PeerBlobHave{{}, {300}}, PeerBlobHave{{a, b}, {300, 0}}}) {
    auto refused = DecodePeerMessage(EncodePeerMessage(bad));
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error().code() == StatusCode::kInvalidArgument);
    CHECK(refused.error().message().find("blob_have.sizes") != std::string::npos);
  }
}

TEST_CASE("state transfer messages round-trip and malformed ones are refused", "[unit][proto]") {
  static_assert(kStatePageEntryBytes == storage::kStatePageEntryOverhead);
  static_assert(kMaxStateKeyBytes == storage::kMaxStateKeySize);
  consensus::CheckpointProof proof{Height(128), crypto::Hash(AsBytes("root")), {}};
  proof.checkpoints.push_back({Height(128), proof.state_root, ReplicaId(2),
                               crypto::Signature(std::array<std::uint8_t, 64>{7})});
  const PeerStatePage page{Height(128),
                           Bytes{1},
                           {{Bytes{2}, Bytes{}}, {Bytes(kMaxStateKeyBytes, 3), Bytes(300, 4)}},
                           true,
                           false};
  const std::vector<PeerMessage> messages = {
      PeerStateProofRequest{},
      PeerStateProof{EncodeCheckpointProof(proof)},
      PeerStateProof{},
      PeerStatePageRequest{Height(128), Bytes{1, 2}, 4096},
      PeerStatePageRequest{Height(128), {}, 1},
      page,
      PeerStatePage{Height(64), Bytes{9}, {}, false, true},
  };
  for (const auto& m : messages) {
    auto back = DecodePeerMessage(EncodePeerMessage(m));
    REQUIRE(back.has_value());
    CHECK(back->index() == m.index());
    CHECK(EncodePeerMessage(*back) == EncodePeerMessage(m));
  }
  auto decoded = DecodePeerMessage(EncodePeerMessage(page));
  REQUIRE(decoded.has_value());
  CHECK(std::get<PeerStatePage>(*decoded).entries == page.entries);
  CHECK(std::get<PeerStatePage>(*decoded).after_key == page.after_key);
  auto proof_back = DecodeCheckpointProof(
      std::get<PeerStateProof>(*DecodePeerMessage(EncodePeerMessage(messages[1])))
          .checkpoint_proof);
  REQUIRE(proof_back.has_value());
  CHECK(proof_back->height == Height(128));
  CHECK(proof_back->state_root == proof.state_root);
  REQUIRE(proof_back->checkpoints.size() == 1);
  CHECK(proof_back->checkpoints[0].sender == ReplicaId(2));
  CHECK(proof_back->checkpoints[0].signature == proof.checkpoints[0].signature);
  CHECK(DecodeCheckpointProof(Bytes{0x12, 0x01, 0x05})
            .error()
            .message()
            .find("checkpoint_proof.state_root") != std::string::npos);

  // A page's budget: 0 or too large asks for the most a page may hold.
  for (std::uint32_t asked : {0u, static_cast<std::uint32_t>(kMaxStatePageBytes + 1), ~0u}) {
    auto r = DecodePeerMessage(EncodePeerMessage(PeerStatePageRequest{Height(1), {}, asked}));
    REQUIRE(r.has_value());
    CHECK(std::get<PeerStatePageRequest>(*r).max_bytes == kMaxStatePageBytes);
  }
  auto refused = [](const PeerMessage& m) {
    auto r = DecodePeerMessage(EncodePeerMessage(m));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code() == StatusCode::kInvalidArgument);
    return r.error().message();
  };
  CHECK(refused(PeerStatePageRequest{Height(0), {}, 1}).find("state_page_request.height") !=
        std::string::npos);
  CHECK(refused(PeerStatePageRequest{Height(1), Bytes(kMaxStateKeyBytes + 1, 1), 1})
            .find("state_page_request.after_key") != std::string::npos);
  auto bad = page;
  bad.height = Height(0);
  CHECK(refused(bad).find("state_page.height") != std::string::npos);
  bad = page;
  bad.entries[1].first = {};
  CHECK(refused(bad) == "field 'state_page.entries[1].key' has 0 bytes; state keys have 1 to 1024");
  bad = page;
  bad.entries[0].first = Bytes(kMaxStateKeyBytes + 1, 1);
  CHECK(refused(bad).find("state_page.entries[0].key' has 1025 bytes") != std::string::npos);
  bad = page;
  bad.entries.clear();
  CHECK(refused(bad).find("at least one entry") != std::string::npos);
  bad = page;
  bad.not_held = true;
  CHECK(refused(bad).find("a refusal carries neither") != std::string::npos);
  bad = PeerStatePage{Height(64), {}, {}, true, true};
  CHECK(refused(bad).find("a refusal carries neither") != std::string::npos);
  bad = page;
  bad.entries.assign(kMaxStatePageEntries + 1, {Bytes{1}, Bytes{}});
  CHECK(refused(bad) == "state page entry count is " + std::to_string(kMaxStatePageEntries + 1) +
                            "; the limit is " + std::to_string(kMaxStatePageEntries));
  bad = page;
  bad.after_key = Bytes(kMaxStateKeyBytes + 1, 1);
  CHECK(refused(bad).find("state_page.after_key") != std::string::npos);
}

TEST_CASE("the replica's persistent state round-trips", "[unit][proto]") {
  consensus::PersistentState s;
  s.view = View(3);
  s.view_changing = true;
  s.signed_votes[{View(3), Height(9)}] = crypto::DomainHash("t", AsBytes("a"));
  s.signed_votes[{View(2), Height(8)}] = crypto::DomainHash("t", AsBytes("b"));
  s.stable_height = Height(8);
  s.stable_root = crypto::DomainHash("t", AsBytes("root"));
  auto back = DecodeReplicaState(EncodeReplicaState(s));
  REQUIRE(back.has_value());
  CHECK(back->view == View(3));
  CHECK(back->view_changing);
  CHECK(back->signed_votes == s.signed_votes);
  CHECK(back->stable_height == Height(8));
  CHECK(back->stable_root == s.stable_root);
  CHECK_FALSE(DecodeReplicaState(Bytes{0x0a, 0x05}).has_value());
}

}  // namespace
}  // namespace ertr::proto
