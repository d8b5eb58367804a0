#pragma once

// Hash tables keyed by digests (transaction ids, blob digests): open addressing (Abseil's Swiss
// tables), so a look-up touches one cache line of control bytes and one slot instead of a bucket
// and a separately allocated node, and inserting or erasing allocates nothing until the table
// grows. The hash is std::hash<FixedBytes> (seeded per process, every byte counts).
//
// As with any hash table of these values: never iterate one where the order matters (replicas
// must stay deterministic). References into a table are invalidated when it grows.

#include <absl/container/flat_hash_map.h>
#include <absl/container/flat_hash_set.h>

#include "crypto/hash.h"

namespace ertr::crypto {

using DigestSet = absl::flat_hash_set<Digest, std::hash<Digest>>;

template <typename V>
using DigestMap = absl::flat_hash_map<Digest, V, std::hash<Digest>>;

}  // namespace ertr::crypto
