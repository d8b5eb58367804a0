#pragma once

// Domain view of blocks (wire schema: proto/ertr/v1/block.proto). Header bytes are kept as
// received because the block hash is over them.

#include <cstdint>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/ids.h"
#include "crypto/hash.h"
#include "ledger/transaction.h"

namespace ertr::ledger {

struct BlockHeader {
  std::string chain_id;
  Height height;
  crypto::Digest previous_hash;
  crypto::Digest tx_root;
  crypto::Digest state_root;
  std::uint64_t time_ms = 0;
  ReplicaId proposer;
  View view;
  std::uint32_t tx_count = 0;
};

// BLAKE2b-256("ertr/block/v1" || 0x00 || header bytes).
crypto::Digest BlockHash(ByteSpan header_bytes);

// Merkle root of the transactions' ids, in order.
crypto::Digest TransactionRoot(const std::vector<SignedTransaction>& txs);

}  // namespace ertr::ledger
