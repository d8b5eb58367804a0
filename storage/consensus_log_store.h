#pragma once

// ConsensusLogStore: the replica's durable protocol state (what it proposed and voted), kept apart
// from the ledger. Save returns only after the write is synced to disk, so the driver can send a
// vote after Save returns and a restarted replica never signs two different blocks for one
// (view, height). Keys and values are opaque bytes encoded by consensus/.
//
// Thread-safety: one writer; LoadAll may run concurrently with nothing else.

#include <memory>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/state_delta.h"
#include "common/status.h"

namespace ertr::storage {

class ConsensusLogStore {
 public:
  virtual ~ConsensusLogStore() = default;

  // Writes every put and delete of `writes` in one synced batch (group commit).
  virtual Status Save(const StateDelta& writes) = 0;

  // Every stored entry in key order.
  virtual Result<std::vector<std::pair<Bytes, Bytes>>> LoadAll() const = 0;
};

}  // namespace ertr::storage
