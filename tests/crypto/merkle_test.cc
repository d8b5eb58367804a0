#include <catch2/catch.hpp>

#include "crypto/merkle.h"

namespace ertr::crypto {
namespace {

std::vector<Digest> Leaves(std::size_t n) {
  std::vector<Digest> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(Hash(AsBytes("tx" + std::to_string(i))));
  return out;
}

TEST_CASE("Merkle root shape follows RFC 6962 with domain-separated leaves and nodes", "[unit]") {
  auto l = Leaves(3);
  CHECK(MerkleRoot({}) == Hash({}));
  CHECK(MerkleRoot(std::span(l).first(1)) == MerkleLeafHash(l[0]));
  Digest expected = MerkleNodeHash(MerkleNodeHash(MerkleLeafHash(l[0]), MerkleLeafHash(l[1])),
                                   MerkleLeafHash(l[2]));
  CHECK(MerkleRoot(l) == expected);
  // A leaf is never confused with an inner node: the one-leaf tree over an inner node's hash
  // differs from the two-leaf tree.
  Digest inner = MerkleNodeHash(MerkleLeafHash(l[0]), MerkleLeafHash(l[1]));
  CHECK(MerkleRoot(std::vector<Digest>{inner}) != MerkleRoot(std::span(l).first(2)));
  // No duplication of the odd leaf: [a,b,c] and [a,b,c,c] differ.
  auto l4 = l;
  l4.push_back(l[2]);
  CHECK(MerkleRoot(l) != MerkleRoot(l4));
}

TEST_CASE("Inclusion proofs verify for every leaf of every tree size up to 70", "[unit]") {
  for (std::size_t n = 1; n <= 70; ++n) {
    auto l = Leaves(n);
    Digest root = MerkleRoot(l);
    for (std::size_t i = 0; i < n; ++i) {
      auto proof = MerkleProve(l, i);
      REQUIRE(proof.has_value());
      REQUIRE(MerkleVerify(l[i], *proof, root));
      // Wrong leaf, wrong index, wrong root, tampered path: all rejected.
      CHECK_FALSE(MerkleVerify(Hash(AsBytes("other")), *proof, root));
      if (n > 1) {
        MerkleProof moved = *proof;
        moved.leaf_index = (i + 1) % n;
        CHECK_FALSE(MerkleVerify(l[i], moved, root));
      }
      CHECK_FALSE(MerkleVerify(l[i], *proof, Hash(AsBytes("root"))));
      if (!proof->path.empty()) {
        MerkleProof bad = *proof;
        auto arr = bad.path.back().array();
        arr[0] ^= 1;
        bad.path.back() = Digest(arr);
        CHECK_FALSE(MerkleVerify(l[i], bad, root));
        MerkleProof shorter = *proof;
        shorter.path.pop_back();
        CHECK_FALSE(MerkleVerify(l[i], shorter, root));
      }
    }
  }
}

TEST_CASE("Proofs with an index out of range are refused", "[unit]") {
  auto l = Leaves(4);
  CHECK_FALSE(MerkleProve(l, 4).has_value());
  MerkleProof p{5, 4, {}};
  CHECK_FALSE(MerkleVerify(l[0], p, MerkleRoot(l)));
  MerkleProof empty{0, 0, {}};
  CHECK_FALSE(MerkleVerify(l[0], empty, MerkleRoot(l)));
}

}  // namespace
}  // namespace ertr::crypto
