#pragma once

// The state in pages, for state transfer (ADR 0037): a serving node reads a StateSnapshot in key
// order, a page of at most a byte budget at a time, each page resuming after the last key of the
// one before; a receiving node checks that the entries come in strictly increasing key order
// within the stores' size bounds, and that their LtHash root is the one a quorum certified,
// before it trusts any of them.

#include <cstddef>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/state_reader.h"
#include "common/status.h"
#include "crypto/hash.h"
#include "crypto/lthash.h"

namespace ertr::storage {

// What one entry counts against a page's budget besides its key and value: its framing on the
// wire and its bookkeeping in memory, so that a page's budget also bounds how many entries it
// holds (proto::kStatePageEntryBytes, the same).
inline constexpr std::size_t kStatePageEntryOverhead = 32;

struct StatePage {
  std::vector<std::pair<Bytes, Bytes>> entries;  // in key order
  bool more = false;  // entries follow the last one (ask again after its key)
};

// The entries of `state` after the key `after` (from the first if nullopt), in key order, as many
// as fit in `max_bytes` (key, value and kStatePageEntryOverhead each), but at least one, so that a
// value larger than the budget still travels. Pages are consistent with each other only when read
// from one StateSnapshot (a live store gives each page the state of its moment). A caller serving
// peers bounds `max_bytes` itself: the page is built in memory.
// Cost: each call opens its scan anew. On RocksDB the outcomes' hash-indexed memtable is read in
// key order by copying it into a sorted list, per call: a server of many pages reads them with a
// StatePageCursor (StateSnapshot::OpenCursor), which keeps one scan open.
Result<StatePage> ReadStatePage(const StateReader& state, const std::optional<Bytes>& after,
                                std::size_t max_bytes);

// Adds an entry to a page being filled, unless the page holds one already and the entry would
// take it past `max_bytes` (`bytes`: what the page holds so far). False: the page is full.
bool AddToStatePage(StatePage& page, std::size_t& bytes, ByteSpan key, ByteSpan value,
                    std::size_t max_bytes);

// Reads one StateSnapshot's pages, keeping its place between them: the page after the last one
// it gave continues the scan it has open; any other page seeks. Gives what ReadStatePage gives on
// the snapshot. Not thread-safe; the snapshot must outlive it. An open scan holds on to what the
// database would otherwise free (RocksDB: the memtables and files it reads), so a holder closes
// an idle cursor and opens another when asked again.
class StatePageCursor {
 public:
  virtual ~StatePageCursor() = default;
  virtual Result<StatePage> Next(const std::optional<Bytes>& after, std::size_t max_bytes) = 0;
};

// A cursor that reads each page with ReadStatePage (for stores whose scans cost nothing to open).
std::unique_ptr<StatePageCursor> PageByPageCursor(const StateReader& state);

// Builds the root of a state received entry by entry, refusing what no store could hold.
class StateRootBuilder {
 public:
  // InvalidArgument, naming the entry's position, if its key is empty, too long, or not after the
  // previous entry's, or its value is too long. Nothing is added then.
  Status Add(ByteSpan key, ByteSpan value);
  crypto::Digest Root() const { return acc_.Root(); }
  std::size_t entries() const { return entries_; }
  // The last key added (where the next page starts), nullopt before the first.
  const std::optional<Bytes>& last_key() const { return last_key_; }

 private:
  crypto::LtHash16 acc_;
  std::size_t entries_ = 0;
  std::optional<Bytes> last_key_;
};

}  // namespace ertr::storage
