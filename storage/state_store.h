#pragma once

// StateStore: the key/value ledger state with a deterministic state root (STYLE.md rule 1.6).
//
// The root is BLAKE2b-256 over an LtHash16 accumulator of every (key, value) entry
// (crypto/lthash.h): it depends only on the content, never on the order of writes or on the
// storage engine, so validators that applied the same blocks have the same root.
//
// Thread-safety: reads may run concurrently with each other and with one writer.

#include <functional>
#include <memory>
#include <optional>

#include "common/bytes.h"
#include "common/ids.h"
#include "common/state_delta.h"
#include "common/state_reader.h"
#include "common/status.h"
#include "crypto/hash.h"
#include "storage/state_pages.h"

namespace ertr::storage {

// Longest key and value accepted, so one bad transaction cannot make a huge write.
inline constexpr std::size_t kMaxStateKeySize = 1024;
inline constexpr std::size_t kMaxStateValueSize = 16 * 1024 * 1024;

// The state as it was after one block, unchanged by later writes: what a node serves, page by
// page, to a peer catching up by state transfer (ADR 0037). Reads as StateReader does, from any
// thread. Holding one keeps the database from discarding the entries it sees (RocksDB: a snapshot)
// and keeps the database open (its lock file too), so a holder drops it once it is no longer
// asked for, and before the node reopens its data directory.
class StateSnapshot : public StateReader {
 public:
  // The newest block appended when it was taken (0: none, the genesis state or an empty one;
  // StateStore::Commit, which changes the state without a block, is for the genesis state only).
  virtual Height height() const = 0;
  // The state root of what it reads (StateStore::StateRoot at that moment).
  virtual crypto::Digest root() const = 0;
  // Its pages in key order, one scan kept open between them (state_pages.h). This snapshot must
  // outlive the cursor.
  virtual std::unique_ptr<StatePageCursor> OpenCursor() const { return PageByPageCursor(*this); }
};

// Get and ScanPrefix come from StateReader (common/state_reader.h), which the chain code reads.
class StateStore : public StateReader {
 public:
  // The current state, its root and its height, taken together (never half of a block's
  // writes). Thread-safe like the reads.
  virtual Result<std::shared_ptr<const StateSnapshot>> Snapshot() const = 0;

  // Root of the current state.
  virtual crypto::Digest StateRoot() const = 0;

  // Root the state would have after applying delta, without writing anything.
  virtual Result<crypto::Digest> RootAfter(const StateDelta& delta) const = 0;

  // Applies delta atomically and durably (used for genesis; blocks go through BlockStore::Append).
  virtual Status Commit(const StateDelta& delta) = 0;
};

// Checks sizes of every write; InvalidArgument names the offending key.
Status ValidateDelta(const StateDelta& delta);

}  // namespace ertr::storage
