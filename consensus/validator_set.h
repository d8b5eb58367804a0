#pragma once

// The validator set: n = 3f+1 validators by index, with their Ed25519 keys; quorum 2f+1.
// Pure value type, from genesis.

#include <cstdint>
#include <optional>
#include <vector>

#include "common/ids.h"
#include "common/status.h"
#include "crypto/signing.h"

namespace ertr::consensus {

class ValidatorSet {
 public:
  // Error if empty, if a key repeats, or if there are more than 256 validators.
  static Result<ValidatorSet> Create(std::vector<crypto::PublicKey> keys);

  std::uint32_t size() const { return static_cast<std::uint32_t>(keys_.size()); }
  // Largest f with 3f+1 <= n.
  std::uint32_t max_faulty() const { return (size() - 1) / 3; }
  // 2f+1 for n = 3f+1; in general n - f, the smallest count any two of which intersect in an
  // honest validator.
  std::uint32_t quorum() const { return size() - max_faulty(); }
  bool Contains(ReplicaId id) const { return id.value() < keys_.size(); }
  // Requires: Contains(id).
  const crypto::PublicKey& key(ReplicaId id) const { return keys_[id.value()]; }
  std::optional<ReplicaId> Find(const crypto::PublicKey& key) const;
  // Primary of a view: view mod n.
  ReplicaId Primary(View view) const {
    return ReplicaId(static_cast<std::uint32_t>(view.value() % size()));
  }

 private:
  std::vector<crypto::PublicKey> keys_;
};

}  // namespace ertr::consensus
