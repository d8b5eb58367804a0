#pragma once

// StateReader: read access to the ledger's key/value state, the one thing the chain code needs
// from storage (STYLE.md rules 1.2 and 1.6). storage::StateStore implements it; the chain code
// layers a block's pending writes over it (ledger/state_view.h).
//
// Thread-safety: implementations say; the chain code calls it from one thread.

#include <algorithm>
#include <functional>
#include <optional>

#include "common/bytes.h"
#include "common/status.h"

namespace ertr {

class StateReader {
 public:
  virtual ~StateReader() = default;

  // The value at key, or nullopt. DataLoss if the stored bytes fail their checksum.
  virtual Result<std::optional<Bytes>> Get(ByteSpan key) const = 0;

  // Calls fn(key, value) for every entry whose key starts with prefix, in key order, until fn
  // returns false.
  virtual Status ScanPrefix(ByteSpan prefix,
                            const std::function<bool(ByteSpan key, ByteSpan value)>& fn) const = 0;

  // As ScanPrefix, from the first key at or after `from`: a scan resumed where an earlier one
  // stopped. This default walks the prefix from its start; stores seek.
  virtual Status ScanPrefixFrom(ByteSpan prefix, ByteSpan from,
                                const std::function<bool(ByteSpan key, ByteSpan value)>& fn) const {
    return ScanPrefix(prefix, [&](ByteSpan key, ByteSpan value) {
      return std::lexicographical_compare(key.begin(), key.end(), from.begin(), from.end()) ||
             fn(key, value);
    });
  }
};

}  // namespace ertr
