#pragma once

// StateDelta: the writes of one block (or one consensus-log save) as an ordered map from key to
// new value, or to nullopt for a delete. Produced by pure code (ledger, consensus) and applied
// atomically by storage. Ordered so that iteration, and anything hashed from it, is deterministic.

#include <map>
#include <optional>

#include "common/bytes.h"

namespace ertr {

struct StateDelta {
  std::map<Bytes, std::optional<Bytes>> writes;

  void Put(Bytes key, Bytes value) { writes[std::move(key)] = std::move(value); }
  void Delete(Bytes key) { writes[std::move(key)] = std::nullopt; }
  bool empty() const { return writes.empty(); }
  std::size_t size() const { return writes.size(); }
};

}  // namespace ertr
