#include "crypto/merkle.h"

#include <bit>

namespace ertr::crypto {

namespace {

// Largest power of two strictly less than n. Requires: n >= 2.
std::size_t SplitPoint(std::size_t n) { return std::bit_floor(n - 1); }

Digest SubtreeRoot(std::span<const Digest> leaves) {
  if (leaves.size() == 1) return MerkleLeafHash(leaves[0]);
  std::size_t k = SplitPoint(leaves.size());
  return MerkleNodeHash(SubtreeRoot(leaves.first(k)), SubtreeRoot(leaves.subspan(k)));
}

void Path(std::span<const Digest> leaves, std::size_t index, std::vector<Digest>& out) {
  if (leaves.size() <= 1) return;
  std::size_t k = SplitPoint(leaves.size());
  if (index < k) {
    Path(leaves.first(k), index, out);
    out.push_back(SubtreeRoot(leaves.subspan(k)));
  } else {
    Path(leaves.subspan(k), index - k, out);
    out.push_back(SubtreeRoot(leaves.first(k)));
  }
}

}  // namespace

Digest MerkleLeafHash(const Digest& leaf) {
  Hasher h;
  const std::uint8_t prefix = 0x00;
  h.Update(ByteSpan(&prefix, 1)).Update(leaf.span());
  return h.Finish();
}

Digest MerkleNodeHash(const Digest& left, const Digest& right) {
  Hasher h;
  const std::uint8_t prefix = 0x01;
  h.Update(ByteSpan(&prefix, 1)).Update(left.span()).Update(right.span());
  return h.Finish();
}

Digest MerkleRoot(std::span<const Digest> leaves) {
  if (leaves.empty()) return Hash({});
  return SubtreeRoot(leaves);
}

Result<MerkleProof> MerkleProve(std::span<const Digest> leaves, std::uint64_t index) {
  if (index >= leaves.size()) {
    return Status::InvalidArgument("Merkle proof: leaf index " + std::to_string(index) +
                                   " is out of range for " + std::to_string(leaves.size()) +
                                   " leaves");
  }
  MerkleProof proof;
  proof.leaf_index = index;
  proof.tree_size = leaves.size();
  Path(leaves, static_cast<std::size_t>(index), proof.path);
  return proof;
}

// RFC 9162 section 2.1.3.2.
bool MerkleVerify(const Digest& leaf, const MerkleProof& proof, const Digest& root) {
  if (proof.tree_size == 0 || proof.leaf_index >= proof.tree_size) return false;
  std::uint64_t fn = proof.leaf_index;
  std::uint64_t sn = proof.tree_size - 1;
  Digest r = MerkleLeafHash(leaf);
  for (const Digest& p : proof.path) {
    if (sn == 0) return false;
    if ((fn & 1) != 0 || fn == sn) {
      r = MerkleNodeHash(p, r);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      r = MerkleNodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && r == root;
}

}  // namespace ertr::crypto
