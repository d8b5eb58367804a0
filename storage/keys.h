#pragma once

// Key layout of the RocksDB database (docs/spec/storage.md). Column families:
//   "default"    meta:  "meta/latest_height" -> u64be, "meta/state_acc" -> LtHash16 (2048 B),
//                       "meta/format" -> "ertr-storage-1"
//   "blocks"     'h' u64be(height) -> header, 'b' u64be -> body, 'c' u64be -> certificate,
//                'd' u64be -> block hash, 'H' hash(32) -> u64be height
//                (databases written before ADR 0015 also hold unused 't' tx hash(32) entries)
//   "state"      ledger key -> value (keys are the chain code's own, see docs/spec/ledger.md)
//   "consensus"  consensus/ keys -> values (opaque to storage)
// Every stored value ends with a 16-byte BLAKE2b checksum over (u32le len(key) || key || value),
// checked on every read.

#include <string_view>

#include "common/bytes.h"
#include "common/ids.h"
#include "crypto/hash.h"

namespace ertr::storage::keys {

inline constexpr std::string_view kFormatVersion = "ertr-storage-1";
inline constexpr std::string_view kMetaFormat = "meta/format";
inline constexpr std::string_view kMetaLatestHeight = "meta/latest_height";
inline constexpr std::string_view kMetaStateAccumulator = "meta/state_acc";

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

}  // namespace ertr::storage::keys
