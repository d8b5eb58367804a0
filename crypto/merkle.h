#pragma once

// Merkle tree over a list of digests, in the shape of RFC 6962 / RFC 9162 section 2.1 with
// BLAKE2b-256 as the hash:
//   leaf  = H(0x00 || d)            (d is the 32-byte digest of a transaction)
//   node  = H(0x01 || left || right)
//   empty = H("")
// An odd subtree is not duplicated (the split is at the largest power of two below n), so two
// different lists never share a root (no CVE-2012-2459 style ambiguity).

#include <cstdint>
#include <span>
#include <vector>

#include "common/status.h"
#include "crypto/hash.h"

namespace ertr::crypto {

struct MerkleProof {
  std::uint64_t leaf_index = 0;
  std::uint64_t tree_size = 0;
  std::vector<Digest> path;  // siblings from the leaf level up to the root
};

Digest MerkleLeafHash(const Digest& leaf);
Digest MerkleNodeHash(const Digest& left, const Digest& right);

// Root of the tree over the leaves in order.
Digest MerkleRoot(std::span<const Digest> leaves);

// Inclusion proof of leaves[index]. Error if index is out of range.
Result<MerkleProof> MerkleProve(std::span<const Digest> leaves, std::uint64_t index);

// True iff `proof` shows that `leaf` is at proof.leaf_index of a tree of proof.tree_size leaves
// whose root is `root`.
bool MerkleVerify(const Digest& leaf, const MerkleProof& proof, const Digest& root);

}  // namespace ertr::crypto
