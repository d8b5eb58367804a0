#pragma once

// VoteCounter: counts votes of distinct replicas per value (STYLE.md model file 3). Ordered
// containers only, so iteration is deterministic.

#include <cstddef>
#include <map>
#include <set>

#include "common/ids.h"

namespace ertr::consensus {

template <typename Value, typename Vote>
class VoteCounter {
 public:
  // Records `vote` from `sender` for `value`. A sender has one vote: a second one, for any value,
  // is refused (false), so a Byzantine sender cannot grow the counter by voting for many values.
  bool Add(ReplicaId sender, const Value& value, const Vote& vote) {
    if (!voted_.insert(sender).second) return false;
    return votes_[value].emplace(sender, vote).second;
  }
  std::size_t Count(const Value& value) const {
    auto it = votes_.find(value);
    return it == votes_.end() ? 0 : it->second.size();
  }
  const std::map<ReplicaId, Vote>& Votes(const Value& value) const {
    static const std::map<ReplicaId, Vote> kEmpty;
    auto it = votes_.find(value);
    return it == votes_.end() ? kEmpty : it->second;
  }
  // Distinct senders over all values.
  std::size_t Senders() const {
    std::set<ReplicaId> s;
    for (const auto& [v, m] : votes_) {
      for (const auto& [r, x] : m) s.insert(r);
    }
    return s.size();
  }
  bool empty() const { return votes_.empty(); }

 private:
  std::map<Value, std::map<ReplicaId, Vote>> votes_;
  std::set<ReplicaId> voted_;
};

}  // namespace ertr::consensus
