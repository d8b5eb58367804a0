#include "consensus/validator_set.h"

#include <set>

namespace ertr::consensus {

Result<ValidatorSet> ValidatorSet::Create(std::vector<crypto::PublicKey> keys) {
  if (keys.empty())
    return Status::InvalidArgument(
        "validator set is empty; genesis needs at least one institution");
  if (keys.size() > 256) {
    return Status::InvalidArgument("validator set has " + std::to_string(keys.size()) +
                                   " validators; at most 256 are supported");
  }
  std::set<crypto::PublicKey> seen;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (!seen.insert(keys[i]).second) {
      return Status::InvalidArgument("validator " + std::to_string(i) + " repeats the key " +
                                     keys[i].ShortHex() + "; every validator needs its own key");
    }
  }
  ValidatorSet vs;
  vs.keys_ = std::move(keys);
  return vs;
}

std::optional<ReplicaId> ValidatorSet::Find(const crypto::PublicKey& key) const {
  for (std::size_t i = 0; i < keys_.size(); ++i) {
    if (keys_[i] == key) return ReplicaId(static_cast<std::uint32_t>(i));
  }
  return std::nullopt;
}

}  // namespace ertr::consensus
