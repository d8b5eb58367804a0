#pragma once

// Private to storage/: one RocksDB instance with the column families of keys.h, shared by the
// ledger store and the consensus log store. Only storage/rocksdb_*.cc include this header.

#include <rocksdb/db.h>

#include <filesystem>
#include <memory>
#include <string>

#include "common/bytes.h"
#include "common/state_delta.h"
#include "common/status.h"
#include "storage/keys.h"

namespace ertr::storage {

class RocksDatabase {
 public:
  static Result<std::shared_ptr<RocksDatabase>> Open(const std::filesystem::path& dir, bool sync);
  ~RocksDatabase();
  RocksDatabase(const RocksDatabase&) = delete;
  RocksDatabase& operator=(const RocksDatabase&) = delete;

  rocksdb::DB* db() { return db_.get(); }
  rocksdb::ColumnFamilyHandle* meta() { return handles_[0]; }
  rocksdb::ColumnFamilyHandle* blocks() { return handles_[1]; }
  rocksdb::ColumnFamilyHandle* state() { return handles_[2]; }
  rocksdb::ColumnFamilyHandle* consensus() { return handles_[3]; }
  rocksdb::ColumnFamilyHandle* outcomes() { return handles_[4]; }
  // The column family that holds a state key: "outcomes" for transaction outcomes, else "state".
  rocksdb::ColumnFamilyHandle* state_for(ByteSpan key) {
    return keys::IsOutcomeKey(key) ? outcomes() : state();
  }
  const rocksdb::WriteOptions& write_options() const { return write_options_; }
  const rocksdb::ReadOptions& read_options() const { return read_options_; }
  const std::filesystem::path& dir() const { return dir_; }

  // Reads and checksum-verifies a value; nullopt if absent. At `snapshot` if one is given.
  Result<std::optional<Bytes>> Get(rocksdb::ColumnFamilyHandle* cf, ByteSpan key,
                                   std::string_view what,
                                   const rocksdb::Snapshot* snapshot = nullptr);
  // Bytes a batch needs for the delta's puts and deletes (a WriteBatch reserved with it never
  // grows by copying itself).
  static std::size_t BatchBytes(const StateDelta& delta);
  // Adds a checksummed put to the batch.
  static void Put(rocksdb::WriteBatch& batch, rocksdb::ColumnFamilyHandle* cf, ByteSpan key,
                  ByteSpan value);
  // Synced unless `sync` is false (or the database was opened without syncing).
  Status Write(rocksdb::WriteBatch& batch, std::string_view what, bool sync = true);
  // Makes every write issued before the call durable (the write-ahead log's fdatasync); a no-op
  // if the database was opened without syncing. Safe while another thread writes.
  Status SyncWal(std::string_view what);

  // Converts a RocksDB status into ours, saying what we were doing.
  Status Convert(const rocksdb::Status& s, std::string_view what) const;

 private:
  RocksDatabase() = default;
  std::filesystem::path dir_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::WriteOptions write_options_;
  rocksdb::ReadOptions read_options_;
};

// RocksDB's own diagnostics (warnings and errors) go to the process's default spdlog logger, the
// node's log, instead of a LOG file in the database directory: on a full or failing disk, the
// file logger's next write after a failed one trips an assertion in Debian's RocksDB build and
// aborts the process before the node can say what went wrong.
std::shared_ptr<rocksdb::Logger> MakeInfoLogger(std::string db_name);

// Bloom filters in the memtables and in every table file, for databases whose point reads mostly
// miss: those are answered without searching the skip list or reading a data block.
void UseBloomFilters(rocksdb::Options& options);

// Why RocksDB could not open the database at `dir` (`what`: "database", "blob database") when it
// failed on its LOCK file: FailedPrecondition if another process holds the lock, else an
// IoError with the system's reason (a read-only file system, no permission), which the lock
// file merely met first.
Status LockFailure(const rocksdb::Status& s, const std::string& what,
                   const std::filesystem::path& dir);

inline rocksdb::Slice ToSlice(ByteSpan b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}
inline ByteSpan FromSlice(const rocksdb::Slice& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

}  // namespace ertr::storage
