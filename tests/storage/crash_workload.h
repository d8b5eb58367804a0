#pragma once

// The workload of the storage crash test, shared by the child that is killed and the parent that
// checks what survived. Block h carries a blob whose content is a function of h, and the state
// records the height, the blob digest and a running counter.

#include <string>

#include "common/bytes.h"
#include "crypto/hash.h"
#include "storage/block_store.h"

namespace ertr::testing {

inline Bytes CrashBlobContent(std::uint64_t h) {
  Bytes b(1000 + (h * 7919) % 300'000);
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<std::uint8_t>(h * 31 + i);
  return b;
}

inline storage::StoredBlock CrashBlock(std::uint64_t h) {
  storage::StoredBlock b;
  b.height = Height(h);
  b.header = ToBytes("crash-header-" + std::to_string(h));
  b.hash = crypto::Hash(b.header);
  b.body = CrashBlobContent(h).size() % 2 ? ToBytes("odd") : ToBytes("even");
  b.certificate = ToBytes("crash-cert-" + std::to_string(h));
  b.tx_hashes = {crypto::Hash(AsBytes("crash-tx-" + std::to_string(h)))};
  return b;
}

inline StateDelta CrashDelta(std::uint64_t h, const crypto::Digest& blob) {
  StateDelta d;
  d.Put(ToBytes("height"), ToBytes(std::to_string(h)));
  d.Put(ToBytes("blob/" + std::to_string(h)), blob.ToBytes());
  if (h > 3) d.Delete(ToBytes("blob/" + std::to_string(h - 3)));  // deletes are covered too
  return d;
}

}  // namespace ertr::testing
