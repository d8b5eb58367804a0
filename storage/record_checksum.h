#pragma once

// Our own checksum on every stored value (beyond RocksDB's block checksums): catches a value
// written under the wrong key, a torn record or bit rot, and reports it as DataLoss instead of
// serving it. Stored form: value || BLAKE2b-128(u32le len(key) || key || value).

#include <array>
#include <cstdint>

#include "common/bytes.h"
#include "common/status.h"

namespace ertr::storage {

inline constexpr std::size_t kRecordChecksumSize = 16;

using RecordChecksum = std::array<std::uint8_t, kRecordChecksumSize>;
RecordChecksum ChecksumRecord(ByteSpan key, ByteSpan value);
Bytes SealRecord(ByteSpan key, ByteSpan value);
// The value, or DataLoss naming `what` (e.g. "block header at height 7").
Result<Bytes> OpenRecord(ByteSpan key, ByteSpan stored, std::string_view what);

}  // namespace ertr::storage
