#pragma once

// Key layout of the RocksDB database (docs/spec/storage.md). Column families:
//   "default"    meta:  "meta/latest_height" -> u64be, "meta/state_acc" -> LtHash16 (2048 B),
//                       "meta/latest_block_time" -> u64be height u64be time,
//                       "meta/format" -> "ertr-storage-4"
//   "blocks"     'h' u64be(height) -> header, 'b' u64be -> body (also above the latest block: a
//                prepared proposal's, staged by the consensus log, ADR 0025), 'c' u64be ->
//                certificate, 'd' u64be -> block hash, 'H' hash(32) -> u64be height (databases
//                written before ADR 0015 also hold unused 't' tx hash(32) entries)
//   "state"      ledger key -> value (keys are the chain code's own, see docs/spec/ledger.md),
//                except transaction outcomes:
//   "outcomes"   the state's "o/" txid(32) keys -> value, in a hash-indexed memtable (ADR 0017)
//   "consensus"  consensus/ keys -> values (opaque to storage)
// Every stored value ends with a 16-byte BLAKE2b checksum over (u32le len(key) || key || value),
// checked on every read.

#include <algorithm>
#include <string_view>

#include "common/bytes.h"
#include "common/ids.h"
#include "crypto/hash.h"

namespace ertr::storage::keys {

inline constexpr std::string_view kFormatVersion = "ertr-storage-4";
// The formats before ADR 0038 (a block's tx_root over transaction ids): their blocks can be
// neither served (no peer decodes them) nor proved (receipts), so they are refused with that
// reason. (1: outcomes inside "state", before ADR 0017; 2: prepared certificates always logged
// with their transactions, before ADR 0025; 3: since ADR 0025.)
inline constexpr std::string_view kFormatsBeforeTxLeaves[] = {"ertr-storage-1", "ertr-storage-2",
                                                              "ertr-storage-3"};
inline constexpr std::string_view kMetaFormat = "meta/format";
inline constexpr std::string_view kMetaLatestHeight = "meta/latest_height";
inline constexpr std::string_view kMetaStateAccumulator = "meta/state_acc";
// u64be(height) u64be(time): the newest block's effective time, with that block's height (ADR
// 0043). Absent, or with an older height, when an earlier build appended the newest block.
inline constexpr std::string_view kMetaLatestBlockTime = "meta/latest_block_time";

inline Bytes HeightKey(char kind, Height h) {
  Bytes k{static_cast<std::uint8_t>(kind)};
  PutU64Be(k, h.value());
  return k;
}
inline Bytes Header(Height h) { return HeightKey('h', h); }
inline Bytes Body(Height h) { return HeightKey('b', h); }
inline Bytes Certificate(Height h) { return HeightKey('c', h); }
inline Bytes BlockHash(Height h) { return HeightKey('d', h); }
inline Bytes HashToHeight(const crypto::Digest& d) {
  Bytes k{'H'};
  Append(k, d.span());
  return k;
}

// Transaction outcomes: the state keys "o/" || txid (ledger::keys::Outcome) live in their own
// column family. Exactly these keys go there; any other state key, even one starting "o/", stays
// in "state".
inline constexpr std::string_view kOutcomePrefix = "o/";
inline constexpr std::size_t kOutcomeKeySize = kOutcomePrefix.size() + crypto::Digest::kSize;
inline bool IsOutcomeKey(ByteSpan key) {
  return key.size() == kOutcomeKeySize && AsStringView(key.first(2)) == kOutcomePrefix;
}
// Whether a scan of the state under `prefix` can meet outcome keys.
inline bool MayHoldOutcomes(ByteSpan prefix) {
  const std::size_t n = std::min(prefix.size(), kOutcomePrefix.size());
  return prefix.size() <= kOutcomeKeySize &&
         AsStringView(prefix.first(n)) == kOutcomePrefix.substr(0, n);
}

}  // namespace ertr::storage::keys
