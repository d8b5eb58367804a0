#pragma once

// StateStore: the key/value ledger state with a deterministic state root (STYLE.md rule 1.6).
//
// The root is BLAKE2b-256 over an LtHash16 accumulator of every (key, value) entry
// (crypto/lthash.h): it depends only on the content, never on the order of writes or on the
// storage engine, so validators that applied the same blocks have the same root.
//
// Thread-safety: reads may run concurrently with each other and with one writer.

#include <functional>
#include <optional>

#include "common/bytes.h"
#include "common/ids.h"
#include "common/state_delta.h"
#include "common/state_reader.h"
#include "common/status.h"
#include "crypto/hash.h"

namespace ertr::storage {

// Longest key and value accepted, so one bad transaction cannot make a huge write.
inline constexpr std::size_t kMaxStateKeySize = 1024;
inline constexpr std::size_t kMaxStateValueSize = 16 * 1024 * 1024;

// Get and ScanPrefix come from StateReader (common/state_reader.h), which the chain code reads.
class StateStore : public StateReader {
 public:
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
