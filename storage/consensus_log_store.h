#pragma once

// ConsensusLogStore: the replica's durable protocol state (what it proposed and voted), kept apart
// from the ledger. A synced Save returns only after the write is on disk, so the driver can send a
// vote after it returns and a restarted replica never signs two different blocks for one
// (view, height). An unsynced Save is durable once a later Sync returns (ADR 0027: the driver
// syncs on a thread of its own while its event loop goes on). Keys and values are opaque bytes
// encoded by consensus/.
//
// Thread-safety: one writer; Sync may run on another thread concurrently with Save; LoadAll may
// run concurrently with nothing else.

#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/ids.h"
#include "common/state_delta.h"
#include "common/status.h"

namespace ertr::storage {

// The encoded body (proto::EncodeBlockBody) of a prepared proposal, stored by Save as the block
// body at its height before the block is decided (ADR 0025): when that proposal is decided, the
// block is appended without its body (StoredBlock::body_stored), so its transactions are written
// once, not once in the log and again in the block.
struct StagedBody {
  Height height;
  Bytes body;
};

class ConsensusLogStore {
 public:
  virtual ~ConsensusLogStore() = default;

  // Writes every put and delete of `writes`, and each staged body (replacing what the block
  // store holds at that height, which must be above its latest block), in one batch (group
  // commit), synced unless `sync` is false.
  virtual Status Save(const StateDelta& writes, const std::vector<StagedBody>& bodies,
                      bool sync) = 0;
  Status Save(const StateDelta& writes, const std::vector<StagedBody>& bodies) {
    return Save(writes, bodies, true);
  }
  Status Save(const StateDelta& writes) { return Save(writes, {}, true); }

  // Makes every Save that returned before this call durable, with the blocks appended before it
  // (they share the write-ahead log).
  virtual Status Sync() = 0;

  // Every stored entry in key order.
  virtual Result<std::vector<std::pair<Bytes, Bytes>>> LoadAll() const = 0;

  // The body stored at `height` by a Save, or by the block appended there; nullopt if none.
  virtual Result<std::optional<Bytes>> LoadStagedBody(Height height) const = 0;
};

}  // namespace ertr::storage
