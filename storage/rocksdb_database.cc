#include "storage/rocksdb_database.h"

#include <rocksdb/filter_policy.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/version.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>

#include "storage/keys.h"
#include "storage/record_checksum.h"
#include "storage/stores.h"

namespace ertr::storage {

namespace {

// The outcomes' memtable hashes a key's first 10 bytes ("o/" and 8 bytes of the transaction id)
// into one of 2^18 buckets (a 2 MiB table per memtable); a bucket keeps its few keys in a sorted
// list, or in a skip list past 256. BM_DeferredBlockAppend (bench/micro_bench.cc) chose the size.
constexpr std::size_t kOutcomeHashedPrefix = 10;
constexpr std::size_t kOutcomeBuckets = std::size_t{1} << 18;

class SpdlogRocksLogger : public rocksdb::Logger {
 public:
  explicit SpdlogRocksLogger(std::string db_name)
      : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL), db_(std::move(db_name)) {}

  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }

  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < GetInfoLogLevel()) return;
    char message[1024];
    std::vsnprintf(message, sizeof message, format, ap);
    const auto spd = level >= rocksdb::InfoLogLevel::ERROR_LEVEL  ? spdlog::level::err
                     : level >= rocksdb::InfoLogLevel::WARN_LEVEL ? spdlog::level::warn
                                                                  : spdlog::level::info;
    spdlog::default_logger_raw()->log(spd, "event=rocksdb db={} message=\"{}\"", db_, message);
  }

 private:
  std::string db_;
};

}  // namespace

std::shared_ptr<rocksdb::Logger> MakeInfoLogger(std::string db_name) {
  return std::make_shared<SpdlogRocksLogger>(std::move(db_name));
}

void UseBloomFilters(rocksdb::Options& options) {
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  options.memtable_prefix_bloom_size_ratio = 0.02;
  options.memtable_whole_key_filtering = true;
}

Result<std::shared_ptr<RocksDatabase>> RocksDatabase::Open(const std::filesystem::path& dir,
                                                           bool sync) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return Status::IoError("cannot create the database directory " + dir.string() + ": " +
                           ec.message());
  }
  rocksdb::Options options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.paranoid_checks = true;
  // Flushes and compactions run at the lowest CPU priority (nice 19), so that on a busy machine
  // they take the time the event loop leaves rather than preempting it: held for 60 s at the
  // null-op peak, p99 fell from 102-112 ms to 83-92 ms in four alternating pairs
  // (docs/benchmarks.md). The pools are the process's, shared with the blob store's database. A
  // flush that falls far behind still stops writes at RocksDB's memtable limit, and a stopped
  // writer leaves its core to the flush. Best effort: where the priority cannot be lowered they
  // keep the normal one.
  for (auto pool : {rocksdb::Env::Priority::HIGH, rocksdb::Env::Priority::LOW}) {
    options.env->LowerThreadPoolCPUPriority(pool, rocksdb::CpuPriority::kLow)
        .PermitUncheckedError();
  }
  // Block appends are written unsynced and made durable by the next synced write (the consensus
  // log's save), so after a power cut the log's tail past the last completed sync may hold several
  // records, written back by the kernel in any order: recover up to the first damaged record.
  // Everything before the last completed sync is intact, and nothing that depends on a later
  // record (a vote, a checkpoint, an API acknowledgement) left the node (ADR 0011).
  options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  options.max_open_files = 256;
  // The outcomes' hash-indexed memtable takes one writer at a time; so do our writes.
  options.allow_concurrent_memtable_write = false;
  options.info_log = MakeInfoLogger("ledger");
  // Most point reads on the hot path miss (is this transaction id committed already? its outcome
  // key, new state keys).
  UseBloomFilters(options);
  // A block's state writes go into the memtable in key order (a nonce per signed transaction,
  // each at a random place in a large skip list): a hint per first key byte lets each insertion
  // start from the previous one of its kind, O(log distance) rather than O(log size). Only
  // insertion uses it; lookups and the files are unchanged.
  options.memtable_insert_with_hint_prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(1));
  // Transaction outcomes (ADR 0017): one per committed transaction, at a uniformly random key,
  // only ever read by exact key. A memtable hashed on the key's first bytes inserts and finds one
  // in O(1) instead of a skip-list search; scans (none on the hot path) need total-order reads.
  rocksdb::ColumnFamilyOptions outcomes(options);
  outcomes.memtable_insert_with_hint_prefix_extractor.reset();
  outcomes.prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(kOutcomeHashedPrefix));
  outcomes.memtable_factory.reset(rocksdb::NewHashLinkListRepFactory(kOutcomeBuckets));

  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions(options)},
      {"blocks", rocksdb::ColumnFamilyOptions(options)},
      {"state", rocksdb::ColumnFamilyOptions(options)},
      {"consensus", rocksdb::ColumnFamilyOptions(options)},
      {"outcomes", outcomes},
  };
  auto out = std::shared_ptr<RocksDatabase>(new RocksDatabase());
  out->dir_ = dir;
  out->write_options_.sync = sync;
  out->read_options_.verify_checksums = true;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s =
      rocksdb::DB::Open(rocksdb::DBOptions(options), dir.string(), cfs, &out->handles_, &raw);
  if (!s.ok()) {
    if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
      return LockFailure(s, "database", dir);
    }
    return out->Convert(s, "opening the database");
  }
  out->db_.reset(raw);

  // Format marker: refuse a directory written by an incompatible version.
  ERTR_ASSIGN_OR_RETURN(auto format,
                        out->Get(out->meta(), AsBytes(keys::kMetaFormat), "storage format marker"));
  if (!format) {  // a new database
    rocksdb::WriteBatch batch;
    Put(batch, out->meta(), AsBytes(keys::kMetaFormat), AsBytes(keys::kFormatVersion));
    ERTR_RETURN_IF_ERROR(out->Write(batch, "writing the storage format marker"));
    return out;
  }
  const std::string_view found = AsStringView(*format);
  if (found == keys::kFormatVersion) return out;
  std::string what = "the database at " + dir.string() + " has format '" + std::string(found) +
                     "', this ertrd needs '" + std::string(keys::kFormatVersion) + "'";
  if (std::find(std::begin(keys::kFormatsBeforeTxLeaves), std::end(keys::kFormatsBeforeTxLeaves),
                found) != std::end(keys::kFormatsBeforeTxLeaves)) {
    what +=
        ": it was written before ADR 0038, when a block's tx_root was over transaction ids, and "
        "this ertrd can neither serve its blocks to peers nor prove them in receipts; a chain "
        "started by an earlier build must be started again (docs/operations.md, "
        "\"Upgrading\")";
  }
  return Status::FailedPrecondition(what);
}

RocksDatabase::~RocksDatabase() {
  if (db_) {
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
    db_->Close();
  }
}

Status LockFailure(const rocksdb::Status& s, const std::string& what,
                   const std::filesystem::path& dir) {
  const std::string text = s.ToString();
  // flock's EWOULDBLOCK, or RocksDB's own table of locks this process holds.
  if (text.find("temporarily unavailable") != std::string::npos ||
      text.find("lock hold by current process") != std::string::npos) {
    return Status::FailedPrecondition("the " + what + " at " + dir.string() +
                                      " is in use by another process (is another ertrd "
                                      "running with this data directory?)");
  }
  return Status::IoError("cannot open the " + what + " at " + dir.string() + ": " + text +
                         " (is the data directory on a writable disk, and owned by the user "
                         "that runs ertrd?)");
}

Status RocksDatabase::Convert(const rocksdb::Status& s, std::string_view what) const {
  if (s.ok()) return Status::Ok();
  std::string msg = std::string(what) + " in " + dir_.string() + ": " + s.ToString();
  if (s.IsCorruption()) {
    return Status::DataLoss(msg +
                            ". The database is corrupt: stop the node and restore the "
                            "data directory from a backup, or wipe it and resync from peers");
  }
  if (s.IsNoSpace()) return Status::ResourceExhausted(msg + ". The disk is full: free space");
  if (s.IsIOError()) return Status::IoError(msg);
  if (s.IsBusy() || s.IsTryAgain() || s.IsTimedOut()) return Status::Unavailable(msg);
  if (s.IsNotFound()) return Status::NotFound(msg);
  if (s.IsInvalidArgument()) return Status::InvalidArgument(msg);
  return Status::Internal(msg);
}

Result<std::optional<Bytes>> RocksDatabase::Get(rocksdb::ColumnFamilyHandle* cf, ByteSpan key,
                                                std::string_view what,
                                                const rocksdb::Snapshot* snapshot) {
  rocksdb::PinnableSlice value;
  rocksdb::Status s;
  if (snapshot) {
    rocksdb::ReadOptions options = read_options_;
    options.snapshot = snapshot;
    s = db_->Get(options, cf, ToSlice(key), &value);
  } else {
    s = db_->Get(read_options_, cf, ToSlice(key), &value);  // no copy on the hot path
  }
  if (s.IsNotFound()) return std::optional<Bytes>();
  if (!s.ok()) return Convert(s, std::string("reading ") + std::string(what));
  ERTR_ASSIGN_OR_RETURN(Bytes v, OpenRecord(key, FromSlice(value), what));
  return std::optional<Bytes>(std::move(v));
}

std::size_t RocksDatabase::BatchBytes(const StateDelta& delta) {
  // Per entry: a tag, a column family id and two length varints (at most 16 bytes), the key, the
  // value and its checksum.
  std::size_t n = 64;
  for (const auto& [key, value] : delta.writes) {
    n += 16 + key.size() + (value ? value->size() + kRecordChecksumSize : 0);
  }
  return n;
}

void RocksDatabase::Put(rocksdb::WriteBatch& batch, rocksdb::ColumnFamilyHandle* cf, ByteSpan key,
                        ByteSpan value) {
  // The stored form is value || checksum (record_checksum.h), written as two parts straight into
  // the batch: a block's body or a prepared certificate (hundreds of KiB) is not copied first.
  const RecordChecksum sum = ChecksumRecord(key, value);
  const rocksdb::Slice k = ToSlice(key);
  const rocksdb::Slice parts[2] = {ToSlice(value), ToSlice(ByteSpan(sum.data(), sum.size()))};
  batch.Put(cf, rocksdb::SliceParts(&k, 1), rocksdb::SliceParts(parts, 2));
}

Status RocksDatabase::Write(rocksdb::WriteBatch& batch, std::string_view what, bool sync) {
  rocksdb::WriteOptions options = write_options_;
  options.sync = options.sync && sync;
  return Convert(db_->Write(options, &batch), what);
}

Status RocksDatabase::SyncWal(std::string_view what) {
  if (!write_options_.sync) return Status::Ok();
  return Convert(db_->SyncWAL(), what);
}

std::string StorageEngineVersion() {
  return "rocksdb " + std::to_string(ROCKSDB_MAJOR) + "." + std::to_string(ROCKSDB_MINOR) + "." +
         std::to_string(ROCKSDB_PATCH);
}

}  // namespace ertr::storage
