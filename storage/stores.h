#pragma once

// Factories for the ledger stores. The block store, the state store and the consensus log of one
// node share one database (one write-ahead log): a block and its state changes commit atomically,
// and a synced consensus log save also makes every earlier deferred block append durable
// (BlockStore::Durability::kDeferred; RocksDB syncs its log up to the synced write).

#include <filesystem>
#include <memory>
#include <string>

#include "common/status.h"
#include "storage/block_store.h"
#include "storage/consensus_log_store.h"
#include "storage/state_store.h"

namespace ertr::storage {

struct LedgerStores {
  std::shared_ptr<BlockStore> blocks;
  std::shared_ptr<StateStore> state;
  std::shared_ptr<ConsensusLogStore> consensus_log;
};

struct RocksDbOptions {
  // Sync every write (the default; tests of the in-memory behaviour may turn it off).
  bool sync = true;
};

// Opens (creating if needed) the RocksDB database in `dir`. Corruption found while opening is
// reported as DataLoss with the file named; the node must not start on it.
Result<LedgerStores> OpenRocksDbStores(const std::filesystem::path& dir,
                                       RocksDbOptions options = {});

// Version of the storage engine this build links ("rocksdb 7.8.3"), for --version.
std::string StorageEngineVersion();

// Volatile stores for simulations and tests; same contracts, nothing survives the process.
LedgerStores MakeMemoryStores();

}  // namespace ertr::storage
