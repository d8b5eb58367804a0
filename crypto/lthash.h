#pragma once

// LtHash16: a homomorphic multiset hash (Bellare-Micciancio; Lewi et al., "Securing update
// propagation with homomorphic hashing", 2019), used for the deterministic state root.
//
// The accumulator is 1024 lanes of u16 (2048 bytes). An element e maps to 1024 lanes by
//   seed = BLAKE2b-256("ertr/lthash/v1" || 0x00 || e)
//   lanes = ChaCha20-IETF keystream(key = seed, nonce = 0), 2048 bytes, read as u16 little-endian
// Add sums lanes mod 2^16, Remove subtracts. The order of additions does not matter, so a state
// hashed entry by entry has the same accumulator however it was reached: two stores with the same
// key/value content have the same root. Updating costs O(changed entries), never a full scan.

#include <array>
#include <cstdint>

#include "common/bytes.h"
#include "common/status.h"
#include "crypto/hash.h"

namespace ertr::crypto {

class LtHash16 {
 public:
  static constexpr std::size_t kLanes = 1024;
  static constexpr std::size_t kBytes = kLanes * 2;

  LtHash16() = default;
  static Result<LtHash16> FromBytes(ByteSpan bytes);

  void Add(ByteSpan element);
  void Remove(ByteSpan element);
  // Adds/removes the element (u32le len(key) || key || value): one state entry.
  void AddEntry(ByteSpan key, ByteSpan value);
  void RemoveEntry(ByteSpan key, ByteSpan value);

  Bytes ToBytes() const;
  // BLAKE2b-256("ertr/state-root/v1" || 0x00 || accumulator bytes).
  Digest Root() const;
  bool operator==(const LtHash16&) const = default;

 private:
  void Combine(ByteSpan element, bool add);
  std::array<std::uint16_t, kLanes> lanes_{};
};

}  // namespace ertr::crypto
