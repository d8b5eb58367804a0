#include <catch2/catch.hpp>

#include "consensus/commit_certificate.h"
#include "consensus/messages.h"

namespace ertr::consensus {
namespace {

constexpr std::string_view kChain = "ertr-test";

struct Cluster {
  std::vector<crypto::SigningKey> keys;
  ValidatorSet set;
};

Cluster MakeCluster(std::size_t n) {
  std::vector<crypto::SigningKey> keys;
  std::vector<crypto::PublicKey> pubs;
  for (std::size_t i = 0; i < n; ++i) {
    keys.push_back(crypto::SigningKey::Generate());
    pubs.push_back(keys.back().public_key());
  }
  return {std::move(keys), *ValidatorSet::Create(pubs)};
}

CommitCertificate Sign(const Cluster& c, const std::vector<std::uint32_t>& who, View v, Height h,
                       const crypto::Digest& d) {
  CommitCertificate cert{h, v, d, {}};
  for (auto i : who) {
    auto sig = c.keys[i].Sign(crypto::SigningDomain::kCommit, kChain, VotePayload(v, h, d));
    cert.votes.push_back({ReplicaId(i), *sig});
  }
  return cert;
}

std::vector<Checkpoint> SignCheckpoints(const Cluster& c, const std::vector<std::uint32_t>& who,
                                        Height h, const crypto::Digest& root) {
  std::vector<Checkpoint> out;
  for (auto i : who) {
    auto sig =
        c.keys[i].Sign(crypto::SigningDomain::kCheckpoint, kChain, CheckpointPayload(h, root));
    out.push_back({h, root, ReplicaId(i), *sig});
  }
  return out;
}

TEST_CASE("A checkpoint proof needs 2f+1 valid checkpoints of distinct validators", "[unit]") {
  // What a node checks before it takes a peer's state (ADR 0037), and what a VIEW-CHANGE's
  // stable checkpoint is checked by.
  auto c = MakeCluster(4);
  auto verifier = crypto::MakeEd25519Verifier();
  const auto root = crypto::Hash(AsBytes("state"));
  const Height h(128);
  auto check = [&](const std::vector<Checkpoint>& cps, Height at = Height(128),
                   const crypto::Digest* r = nullptr, std::string_view chain = kChain) {
    return VerifyCheckpointProof(at, r != nullptr ? *r : root, cps, c.set, chain, *verifier);
  };
  CHECK(check(SignCheckpoints(c, {0, 1, 2}, h, root)).ok());
  CHECK(check(SignCheckpoints(c, {3, 1, 0, 2}, h, root)).ok());
  auto two = check(SignCheckpoints(c, {0, 2}, h, root));
  CHECK(two.code() == StatusCode::kUnauthenticated);
  CHECK(two.message() ==
        "checkpoint proof for height 128 has 2 checkpoints; a quorum of 3 is needed");
  CHECK(check(SignCheckpoints(c, {0, 1, 1}, h, root)).message().find("counts replica 1 twice") !=
        std::string::npos);
  // The proof's height and root are the ones every checkpoint signed.
  const auto other = crypto::Hash(AsBytes("other state"));
  CHECK(check(SignCheckpoints(c, {0, 1, 2}, h, root), Height(192))
            .message()
            .find("for another height or state root") != std::string::npos);
  CHECK_FALSE(check(SignCheckpoints(c, {0, 1, 2}, h, root), h, &other).ok());
  auto relabelled = SignCheckpoints(c, {0, 1, 2}, h, root);
  for (auto& cp : relabelled) cp.state_root = other;
  CHECK(check(relabelled, h, &other).message().find("invalid signature from replica 0") !=
        std::string::npos);
  CHECK_FALSE(check(SignCheckpoints(c, {0, 1, 2}, h, root), h, nullptr, "other-chain").ok());
  auto mixed = SignCheckpoints(c, {0, 1}, h, root);
  mixed.push_back(SignCheckpoints(c, {2}, h, other)[0]);
  CHECK_FALSE(check(mixed).ok());
  auto stranger = SignCheckpoints(c, {0, 1, 2}, h, root);
  stranger[2].sender = ReplicaId(7);
  CHECK(check(stranger).message().find("not in the validator set") != std::string::npos);
  // A signature of another kind (a commit vote's domain) is no checkpoint.
  auto wrong_domain = SignCheckpoints(c, {0, 1, 2}, h, root);
  wrong_domain[1].signature =
      *c.keys[1].Sign(crypto::SigningDomain::kCommit, kChain, CheckpointPayload(h, root));
  CHECK_FALSE(check(wrong_domain).ok());
  // The genesis state needs no proof, and takes none.
  CHECK(check({}, Height(0)).ok());
  CHECK_FALSE(check(SignCheckpoints(c, {0, 1, 2}, Height(0), root), Height(0)).ok());
  CHECK_FALSE(check({}).ok());
}

TEST_CASE("Quorum sizes follow n = 3f+1", "[unit]") {
  CHECK(MakeCluster(4).set.quorum() == 3);
  CHECK(MakeCluster(4).set.max_faulty() == 1);
  CHECK(MakeCluster(7).set.quorum() == 5);
  CHECK(MakeCluster(1).set.quorum() == 1);
  CHECK(MakeCluster(7).set.Primary(View(9)) == ReplicaId(2));
}

TEST_CASE("A certificate needs 2f+1 valid votes of distinct validators", "[unit]") {
  auto c = MakeCluster(4);
  auto verifier = crypto::MakeEd25519Verifier();
  auto d = crypto::Hash(AsBytes("block"));
  CHECK(VerifyCommitCertificate(Sign(c, {0, 1, 2}, View(1), Height(5), d), c.set, kChain, *verifier)
            .ok());
  CHECK(VerifyCommitCertificate(Sign(c, {0, 1, 2, 3}, View(1), Height(5), d), c.set, kChain,
                                *verifier)
            .ok());
  // 2f votes are not enough.
  auto two =
      VerifyCommitCertificate(Sign(c, {0, 1}, View(1), Height(5), d), c.set, kChain, *verifier);
  CHECK(two.code() == StatusCode::kUnauthenticated);
  CHECK(two.message().find("quorum of 3") != std::string::npos);
  // A repeated voter does not count twice.
  CHECK_FALSE(
      VerifyCommitCertificate(Sign(c, {0, 1, 1}, View(1), Height(5), d), c.set, kChain, *verifier)
          .ok());
  // Votes for another height, view, block or chain do not verify.
  auto cert = Sign(c, {0, 1, 2}, View(1), Height(5), d);
  auto moved = cert;
  moved.height = Height(6);
  CHECK_FALSE(VerifyCommitCertificate(moved, c.set, kChain, *verifier).ok());
  moved = cert;
  moved.view = View(2);
  CHECK_FALSE(VerifyCommitCertificate(moved, c.set, kChain, *verifier).ok());
  moved = cert;
  moved.block_hash = crypto::Hash(AsBytes("other"));
  CHECK_FALSE(VerifyCommitCertificate(moved, c.set, kChain, *verifier).ok());
  CHECK_FALSE(VerifyCommitCertificate(cert, c.set, "other-chain", *verifier).ok());
  // A stranger's vote is refused.
  moved = cert;
  moved.votes[0].replica = ReplicaId(9);
  CHECK(VerifyCommitCertificate(moved, c.set, kChain, *verifier)
            .message()
            .find("not in the validator set") != std::string::npos);
}

TEST_CASE("Validator sets refuse duplicates and emptiness", "[unit]") {
  auto k = crypto::SigningKey::Generate();
  CHECK_FALSE(ValidatorSet::Create({}).has_value());
  CHECK_FALSE(ValidatorSet::Create({k.public_key(), k.public_key()}).has_value());
}

}  // namespace
}  // namespace ertr::consensus
