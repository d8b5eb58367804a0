// The RocksDB block store and state store: one object, two interfaces, one database, so that
// BlockStore::Append writes a block and its state changes in one synced WriteBatch.

#include <rocksdb/iterator.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <mutex>

#include "common/check.h"
#include "storage/keys.h"
#include "storage/record_checksum.h"
#include "storage/rocksdb_database.h"
#include "storage/state_accumulator.h"
#include "storage/stores.h"

namespace ertr::storage {

namespace {

std::string Describe(std::string_view what, Height h) {
  return std::string(what) + " at height " + h.ToString();
}

// The state entries under `prefix` in key order, merging the "state" and, where the prefix can
// hold outcomes, the "outcomes" column families, at `snapshot` (null: the iterators' own moment;
// a merged scan then needs one, see ScanState).
class StateIterator {
 public:
  StateIterator(RocksDatabase& db, const rocksdb::Snapshot* snapshot, ByteSpan prefix)
      : db_(db), prefix_(prefix.begin(), prefix.end()) {
    auto open = [&](rocksdb::ColumnFamilyHandle* cf, bool total_order) {
      rocksdb::ReadOptions options = db.read_options();
      options.snapshot = snapshot;
      options.total_order_seek = total_order;  // the outcomes' memtable is hashed by prefix
      return std::unique_ptr<rocksdb::Iterator>(db.db()->NewIterator(options, cf));
    };
    state_ = open(db.state(), false);
    if (keys::MayHoldOutcomes(prefix)) outcomes_ = open(db.outcomes(), true);
  }
  // Positions at the first entry at or after `from` (and at or after the prefix).
  void Seek(ByteSpan from) {
    const rocksdb::Slice start = ToSlice(
        std::lexicographical_compare(from.begin(), from.end(), prefix_.begin(), prefix_.end())
            ? ByteSpan(prefix_)
            : from);
    state_->Seek(start);
    if (outcomes_) outcomes_->Seek(start);
  }
  // The iterator holding the current entry; null past the prefix's last.
  rocksdb::Iterator* Current() const {
    const bool in_state = InPrefix(state_);
    const bool in_outcomes = InPrefix(outcomes_);
    if (!in_state && !in_outcomes) return nullptr;
    return !in_outcomes || (in_state && state_->key().compare(outcomes_->key()) < 0)
               ? state_.get()
               : outcomes_.get();
  }
  // The current entry's key and checksum-verified value. Requires: Current() is not null.
  Result<Bytes> Value(ByteSpan& key) const {
    const rocksdb::Iterator* it = Current();
    key = FromSlice(it->key());
    return OpenRecord(key, FromSlice(it->value()), "state entry");
  }
  void Next() { Current()->Next(); }
  Status status() const {
    ERTR_RETURN_IF_ERROR(db_.Convert(state_->status(), "scanning state"));
    if (outcomes_) ERTR_RETURN_IF_ERROR(db_.Convert(outcomes_->status(), "scanning outcomes"));
    return Status::Ok();
  }

 private:
  bool InPrefix(const std::unique_ptr<rocksdb::Iterator>& it) const {
    // An empty prefix takes everything (and must not reach memcmp with a null pointer).
    return it && it->Valid() && (prefix_.empty() || it->key().starts_with(ToSlice(prefix_)));
  }

  RocksDatabase& db_;
  Bytes prefix_;
  std::unique_ptr<rocksdb::Iterator> state_;
  std::unique_ptr<rocksdb::Iterator> outcomes_;
};

// Calls fn for the state entries under `prefix` from `from`, in key order (StateIterator). At
// `fixed` if given; otherwise a merged scan reads one snapshot of its own, so that it never sees
// half of a concurrent write (one iterator is consistent by itself: no snapshot for the usual
// scans).
Status ScanState(RocksDatabase& db, const rocksdb::Snapshot* fixed, ByteSpan prefix, ByteSpan from,
                 const std::function<bool(ByteSpan, ByteSpan)>& fn) {
  const bool merged = keys::MayHoldOutcomes(prefix);
  const std::unique_ptr<const rocksdb::Snapshot, std::function<void(const rocksdb::Snapshot*)>> own(
      merged && !fixed ? db.db()->GetSnapshot() : nullptr,
      [raw = db.db()](const rocksdb::Snapshot* s) { raw->ReleaseSnapshot(s); });
  StateIterator it(db, fixed ? fixed : own.get(), prefix);
  it.Seek(from);
  while (it.Current() != nullptr) {
    ByteSpan key;
    ERTR_ASSIGN_OR_RETURN(Bytes value, it.Value(key));
    if (!fn(key, value)) break;
    it.Next();
  }
  return it.status();
}

// StateSnapshot::OpenCursor on RocksDB: one StateIterator over the whole state, left on the first
// entry a page did not take, so that the next page continues from it.
class RocksDbStatePageCursor final : public StatePageCursor {
 public:
  RocksDbStatePageCursor(RocksDatabase& db, const rocksdb::Snapshot* snapshot)
      : it_(db, snapshot, {}) {}
  Result<StatePage> Next(const std::optional<Bytes>& after, std::size_t max_bytes) override {
    if (!positioned_ || after != last_key_) {
      // The first key after `after` is the first at or after `after` || 0x00.
      Bytes from;
      if (after) {
        from = *after;
        from.push_back(0);
      }
      it_.Seek(from);
    }
    positioned_ = false;  // until this page is read whole
    StatePage page;
    std::size_t bytes = 0;
    while (it_.Current() != nullptr) {
      ByteSpan key;
      ERTR_ASSIGN_OR_RETURN(Bytes value, it_.Value(key));
      if (!AddToStatePage(page, bytes, key, value, max_bytes)) break;
      it_.Next();
    }
    ERTR_RETURN_IF_ERROR(it_.status());
    last_key_ = page.entries.empty() ? after : std::optional<Bytes>(page.entries.back().first);
    positioned_ = true;
    return page;
  }

 private:
  StateIterator it_;
  bool positioned_ = false;  // it_ stands on the first entry after last_key_
  std::optional<Bytes> last_key_;
};

// StateStore::Snapshot: reads at a RocksDB snapshot, released with the object.
class RocksDbStateSnapshot final : public StateSnapshot {
 public:
  RocksDbStateSnapshot(std::shared_ptr<RocksDatabase> db, const rocksdb::Snapshot* snapshot,
                       Height height, const crypto::Digest& root)
      : db_(std::move(db)), snapshot_(snapshot), height_(height), root_(root) {}
  ~RocksDbStateSnapshot() override { db_->db()->ReleaseSnapshot(snapshot_); }
  RocksDbStateSnapshot(const RocksDbStateSnapshot&) = delete;
  RocksDbStateSnapshot& operator=(const RocksDbStateSnapshot&) = delete;

  Height height() const override { return height_; }
  crypto::Digest root() const override { return root_; }
  Result<std::optional<Bytes>> Get(ByteSpan key) const override {
    return db_->Get(db_->state_for(key), key, "state entry", snapshot_);
  }
  Status ScanPrefix(ByteSpan prefix,
                    const std::function<bool(ByteSpan, ByteSpan)>& fn) const override {
    return ScanState(*db_, snapshot_, prefix, prefix, fn);
  }
  Status ScanPrefixFrom(ByteSpan prefix, ByteSpan from,
                        const std::function<bool(ByteSpan, ByteSpan)>& fn) const override {
    return ScanState(*db_, snapshot_, prefix, from, fn);
  }
  std::unique_ptr<StatePageCursor> OpenCursor() const override {
    return std::make_unique<RocksDbStatePageCursor>(*db_, snapshot_);
  }

 private:
  std::shared_ptr<RocksDatabase> db_;
  const rocksdb::Snapshot* snapshot_;
  Height height_;
  crypto::Digest root_;
};

// The height of the newest stored block, as the last append wrote it (0: none).
Result<Height> StoredLatestHeight(RocksDatabase& db) {
  ERTR_ASSIGN_OR_RETURN(auto h,
                        db.Get(db.meta(), AsBytes(keys::kMetaLatestHeight), "latest height"));
  if (!h) return Height(0);
  if (h->size() != 8) return Status::DataLoss("stored latest height is malformed");
  return Height(LoadU64Be(h->data()));
}

class RocksDbLedgerStore final : public BlockStore, public StateStore {
 public:
  static Result<std::shared_ptr<RocksDbLedgerStore>> Open(std::shared_ptr<RocksDatabase> db) {
    auto store = std::shared_ptr<RocksDbLedgerStore>(new RocksDbLedgerStore(std::move(db)));
    ERTR_RETURN_IF_ERROR(store->LoadMeta());
    return store;
  }

  // BlockStore.
  Height LatestHeight() const override {
    std::lock_guard lock(mu_);
    return latest_;
  }
  std::optional<std::uint64_t> LatestBlockTime() const override {
    std::lock_guard lock(mu_);
    return latest_time_;
  }

  Status Append(const StoredBlock& block, const StateDelta& state, Durability durability) override {
    ERTR_RETURN_IF_ERROR(ValidateDelta(state));
    std::lock_guard lock(mu_);
    if (block.height != latest_.Next()) {
      return Status::FailedPrecondition("cannot append block at height " + block.height.ToString() +
                                        ": the store holds height " + latest_.ToString() +
                                        ", so the next must be " + latest_.Next().ToString());
    }
    ERTR_ASSIGN_OR_RETURN(crypto::LtHash16 acc, AccumulateDelta(acc_, state, CurrentFn()));
    rocksdb::WriteBatch batch(block.header.size() + block.body.size() + block.certificate.size() +
                              RocksDatabase::BatchBytes(state) + crypto::LtHash16::kBytes + 512);
    auto* cf = db_->blocks();
    RocksDatabase::Put(batch, cf, keys::Header(block.height), block.header);
    if (!block.body_stored) RocksDatabase::Put(batch, cf, keys::Body(block.height), block.body);
    RocksDatabase::Put(batch, cf, keys::Certificate(block.height), block.certificate);
    RocksDatabase::Put(batch, cf, keys::BlockHash(block.height), block.hash.span());
    Bytes height_bytes;
    PutU64Be(height_bytes, block.height.value());
    RocksDatabase::Put(batch, cf, keys::HashToHeight(block.hash), height_bytes);
    AddStateWrites(batch, state, acc);
    RocksDatabase::Put(batch, db_->meta(), AsBytes(keys::kMetaLatestHeight), height_bytes);
    // With its height: a value an earlier build left behind (it appends without rewriting this
    // key, after a downgrade) is seen to be stale.
    Bytes time_bytes = height_bytes;
    PutU64Be(time_bytes, block.time_ms);
    RocksDatabase::Put(batch, db_->meta(), AsBytes(keys::kMetaLatestBlockTime), time_bytes);
    ERTR_RETURN_IF_ERROR(db_->Write(batch, "appending " + Describe("block", block.height),
                                    durability == Durability::kSynced));
    latest_ = block.height;
    latest_time_ = block.time_ms;
    acc_ = acc;
    return Status::Ok();
  }

  Result<StoredBlock> LoadBlock(Height h) const override {
    StoredBlock b;
    b.height = h;
    ERTR_ASSIGN_OR_RETURN(b.header, Required(keys::Header(h), Describe("block header", h)));
    ERTR_ASSIGN_OR_RETURN(b.body, Required(keys::Body(h), Describe("block body", h)));
    ERTR_ASSIGN_OR_RETURN(b.certificate,
                          Required(keys::Certificate(h), Describe("commit certificate", h)));
    ERTR_ASSIGN_OR_RETURN(b.hash, LoadHash(h));
    return b;
  }

  Result<Bytes> LoadHeader(Height h) const override {
    return Required(keys::Header(h), Describe("block header", h));
  }

  Result<crypto::Digest> LoadHash(Height h) const override {
    ERTR_ASSIGN_OR_RETURN(Bytes raw, Required(keys::BlockHash(h), Describe("block hash", h)));
    auto d = crypto::Digest::FromSpan(raw, "block hash");
    if (!d)
      return Status::DataLoss("stored block hash at height " + h.ToString() + " is malformed");
    return *d;
  }

  Result<Height> FindBlock(const crypto::Digest& hash) const override {
    ERTR_ASSIGN_OR_RETURN(Bytes raw, Required(keys::HashToHeight(hash), "block " + hash.ToHex()));
    if (raw.size() != 8) return Status::DataLoss("stored block index entry is malformed");
    return Height(LoadU64Be(raw.data()));
  }

  // StateStore.
  Result<std::optional<Bytes>> Get(ByteSpan key) const override {
    return db_->Get(db_->state_for(key), key, "state entry");
  }

  // Merges the "state" and, where the prefix can hold outcomes, the "outcomes" column families
  // into one scan in key order.
  Status ScanPrefix(ByteSpan prefix,
                    const std::function<bool(ByteSpan, ByteSpan)>& fn) const override {
    return ScanPrefixFrom(prefix, prefix, fn);
  }

  Status ScanPrefixFrom(ByteSpan prefix, ByteSpan from,
                        const std::function<bool(ByteSpan, ByteSpan)>& fn) const override {
    return ScanState(*db_, nullptr, prefix, from, fn);
  }

  Result<std::shared_ptr<const StateSnapshot>> Snapshot() const override {
    std::lock_guard lock(mu_);  // appends hold it: the snapshot, the height and the root agree
    const rocksdb::Snapshot* snapshot = db_->db()->GetSnapshot();
    // (Null only with options this database is not opened with, such as in-place updates.)
    if (!snapshot) return Status::Internal("the state database cannot take a snapshot");
    return std::shared_ptr<const StateSnapshot>(
        new RocksDbStateSnapshot(db_, snapshot, latest_, acc_.Root()));
  }

  crypto::Digest StateRoot() const override {
    std::lock_guard lock(mu_);
    return acc_.Root();
  }

  Result<crypto::Digest> RootAfter(const StateDelta& delta) const override {
    ERTR_RETURN_IF_ERROR(ValidateDelta(delta));
    std::lock_guard lock(mu_);
    ERTR_ASSIGN_OR_RETURN(crypto::LtHash16 acc, AccumulateDelta(acc_, delta, CurrentFn()));
    return acc.Root();
  }

  Status Commit(const StateDelta& delta) override {
    ERTR_RETURN_IF_ERROR(ValidateDelta(delta));
    std::lock_guard lock(mu_);
    ERTR_ASSIGN_OR_RETURN(crypto::LtHash16 acc, AccumulateDelta(acc_, delta, CurrentFn()));
    rocksdb::WriteBatch batch(RocksDatabase::BatchBytes(delta) + crypto::LtHash16::kBytes + 256);
    AddStateWrites(batch, delta, acc);
    ERTR_RETURN_IF_ERROR(db_->Write(batch, "committing state"));
    acc_ = acc;
    return Status::Ok();
  }

 private:
  explicit RocksDbLedgerStore(std::shared_ptr<RocksDatabase> db) : db_(std::move(db)) {}

  Status LoadMeta() {
    ERTR_ASSIGN_OR_RETURN(latest_, StoredLatestHeight(*db_));
    ERTR_ASSIGN_OR_RETURN(
        auto time, db_->Get(db_->meta(), AsBytes(keys::kMetaLatestBlockTime), "latest block time"));
    if (time) {
      if (time->size() != 16) return Status::DataLoss("stored latest block time is malformed");
      // Only if written with the newest block; otherwise the node reads the headers (ADR 0043).
      if (Height(LoadU64Be(time->data())) == latest_) latest_time_ = LoadU64Be(time->data() + 8);
    }
    ERTR_ASSIGN_OR_RETURN(
        auto acc, db_->Get(db_->meta(), AsBytes(keys::kMetaStateAccumulator), "state accumulator"));
    if (acc) {
      ERTR_ASSIGN_OR_RETURN(acc_, crypto::LtHash16::FromBytes(*acc));
    }
    return Status::Ok();
  }

  CurrentValueFn CurrentFn() const {
    return [this](ByteSpan key) { return db_->Get(db_->state_for(key), key, "state entry"); };
  }

  void AddStateWrites(rocksdb::WriteBatch& batch, const StateDelta& delta,
                      const crypto::LtHash16& acc) const {
    for (const auto& [key, value] : delta.writes) {
      if (value) {
        RocksDatabase::Put(batch, db_->state_for(key), key, *value);
      } else {
        batch.Delete(db_->state_for(key), ToSlice(key));
      }
    }
    RocksDatabase::Put(batch, db_->meta(), AsBytes(keys::kMetaStateAccumulator), acc.ToBytes());
  }

  Result<Bytes> Required(const Bytes& key, const std::string& what) const {
    ERTR_ASSIGN_OR_RETURN(auto v, db_->Get(db_->blocks(), key, what));
    if (!v) return Status::NotFound(what + " is not stored");
    return std::move(*v);
  }

  std::shared_ptr<RocksDatabase> db_;
  mutable std::mutex mu_;
  Height latest_{0};
  std::optional<std::uint64_t> latest_time_;  // LatestBlockTime()
  crypto::LtHash16 acc_;
};

class RocksDbConsensusLogStore final : public ConsensusLogStore {
 public:
  explicit RocksDbConsensusLogStore(std::shared_ptr<RocksDatabase> db) : db_(std::move(db)) {}

  Status Save(const StateDelta& writes, const std::vector<StagedBody>& bodies, bool sync) override {
    if (!bodies.empty()) {
      // A staged body never replaces a stored block's: refused, and nothing written.
      ERTR_ASSIGN_OR_RETURN(Height stored, StoredLatestHeight(*db_));
      for (const auto& b : bodies) {
        if (b.height <= stored) {
          return Status::FailedPrecondition(
              "cannot stage a block body at height " + b.height.ToString() +
              ": the block there is stored already (latest " + stored.ToString() + ")");
        }
      }
    }
    std::size_t bytes = RocksDatabase::BatchBytes(writes);
    for (const auto& b : bodies) bytes += b.body.size() + 64;
    rocksdb::WriteBatch batch(bytes);
    for (const auto& b : bodies) {
      RocksDatabase::Put(batch, db_->blocks(), keys::Body(b.height), b.body);
    }
    for (const auto& [key, value] : writes.writes) {
      if (value) {
        RocksDatabase::Put(batch, db_->consensus(), key, *value);
      } else {
        batch.Delete(db_->consensus(), ToSlice(key));
      }
    }
    return db_->Write(batch, "saving consensus state", sync);
  }

  Status Sync() override { return db_->SyncWal("syncing the consensus log"); }

  Result<std::optional<Bytes>> LoadStagedBody(Height height) const override {
    return db_->Get(db_->blocks(), keys::Body(height),
                    "staged block body at height " + height.ToString());
  }

  Result<std::vector<std::pair<Bytes, Bytes>>> LoadAll() const override {
    std::vector<std::pair<Bytes, Bytes>> out;
    std::unique_ptr<rocksdb::Iterator> it(
        db_->db()->NewIterator(db_->read_options(), db_->consensus()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      ByteSpan key = FromSlice(it->key());
      ERTR_ASSIGN_OR_RETURN(Bytes value,
                            OpenRecord(key, FromSlice(it->value()), "consensus log entry"));
      out.emplace_back(Bytes(key.begin(), key.end()), std::move(value));
    }
    ERTR_RETURN_IF_ERROR(db_->Convert(it->status(), "loading consensus state"));
    return out;
  }

 private:
  std::shared_ptr<RocksDatabase> db_;
};

}  // namespace

Result<LedgerStores> OpenRocksDbStores(const std::filesystem::path& dir, RocksDbOptions options) {
  ERTR_ASSIGN_OR_RETURN(auto db, RocksDatabase::Open(dir, options.sync));
  ERTR_ASSIGN_OR_RETURN(auto ledger, RocksDbLedgerStore::Open(db));
  LedgerStores out;
  out.blocks = ledger;
  out.state = ledger;
  out.consensus_log = std::make_shared<RocksDbConsensusLogStore>(db);
  return out;
}

}  // namespace ertr::storage
