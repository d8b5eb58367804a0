#include "storage/record_checksum.h"

#include <array>
#include <string>

#include "crypto/hash.h"
#include "crypto/secure_buffer.h"

namespace ertr::storage {

RecordChecksum ChecksumRecord(ByteSpan key, ByteSpan value) {
  crypto::Hasher h({}, kRecordChecksumSize);
  h.Update(U32LeBytes(static_cast<std::uint32_t>(key.size()))).Update(key).Update(value);
  RecordChecksum out{};
  h.FinishInto(out);
  return out;
}

Bytes SealRecord(ByteSpan key, ByteSpan value) {
  Bytes out;
  out.reserve(value.size() + kRecordChecksumSize);
  Append(out, value);
  Append(out, ChecksumRecord(key, value));
  return out;
}

Result<Bytes> OpenRecord(ByteSpan key, ByteSpan stored, std::string_view what) {
  if (stored.size() < kRecordChecksumSize) {
    return Status::DataLoss("stored " + std::string(what) + " is truncated (" +
                            std::to_string(stored.size()) + " bytes); the database is corrupt");
  }
  ByteSpan value = stored.first(stored.size() - kRecordChecksumSize);
  auto sum = ChecksumRecord(key, value);
  if (!crypto::ConstantTimeEqual(sum, stored.subspan(value.size()))) {
    return Status::DataLoss("stored " + std::string(what) +
                            " fails its checksum; the database is corrupt. Stop the node and "
                            "restore the data directory or resync it from peers");
  }
  return Bytes(value.begin(), value.end());
}

}  // namespace ertr::storage
