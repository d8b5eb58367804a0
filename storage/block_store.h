#pragma once

// BlockStore: the chain of decided blocks, by height, with a transaction index (STYLE.md rule 1.6).
//
// Blocks are stored as the exact bytes that were hashed and signed (header, body, commit
// certificate): the store never re-encodes them. A block is appended together with the state
// changes it caused in one atomic, synced write, so after any crash the latest stored block and
// the state always agree.
//
// Thread-safety: all methods may be called concurrently; Append calls must not race each other.

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "common/bytes.h"
#include "common/ids.h"
#include "common/state_delta.h"
#include "common/status.h"
#include "crypto/hash.h"

namespace ertr::storage {

struct StoredBlock {
  Height height;
  crypto::Digest hash;  // the block hash (of the header)
  Bytes header;         // encoded header, exactly as hashed
  Bytes body;           // encoded body (the transactions)
  Bytes certificate;    // encoded commit certificate
  // The block's effective time (consensus.md: the larger of its header's time and the previous
  // block's), which the chain code ran it with. Kept for the newest block only (ADR 0043):
  // LatestBlockTime() gives it, and LoadBlock leaves it 0.
  std::uint64_t time_ms = 0;
  // The body is stored at this height already, exactly these bytes: a prepared proposal's, staged
  // by the consensus log's save (ConsensusLogStore::StagedBody, ADR 0025). Append then leaves it
  // as it is, and `body` may be left empty.
  bool body_stored = false;
  // Transaction ids in body order, when the appender has them (receipts); not stored: a
  // transaction is found by its outcome in the state (ADR 0015), and a loaded block has none.
  std::vector<crypto::Digest> tx_hashes;
};

class BlockStore {
 public:
  virtual ~BlockStore() = default;

  // Height of the newest stored block; Height(0) when only genesis state exists.
  virtual Height LatestHeight() const = 0;
  // The newest block's effective time (StoredBlock::time_ms), so that a restart need not read
  // every header (ADR 0043). nullopt when no block is stored, or when the database's newest block
  // was appended by a build before ADR 0043 (the caller then computes it from the headers).
  virtual std::optional<std::uint64_t> LatestBlockTime() const = 0;

  // Appends `block` at LatestHeight() + 1 and applies `state` to the state store, atomically.
  // kSynced: durable when it returns. kDeferred: without waiting for the disk; durable with the
  // next synced write to the same database (the node's consensus log shares it, stores.h), and a
  // crash before that loses this append and later ones whole, never part of one.
  // FailedPrecondition if the height is not the next one; nothing is written on any error.
  enum class Durability { kSynced, kDeferred };
  virtual Status Append(const StoredBlock& block, const StateDelta& state,
                        Durability durability = Durability::kSynced) = 0;

  // NotFound if no block at that height; DataLoss if stored bytes fail their checksum.
  virtual Result<StoredBlock> LoadBlock(Height height) const = 0;
  virtual Result<Bytes> LoadHeader(Height height) const = 0;
  virtual Result<crypto::Digest> LoadHash(Height height) const = 0;
  virtual Result<Height> FindBlock(const crypto::Digest& block_hash) const = 0;
};

}  // namespace ertr::storage
