// The node's blob store: small blobs in an embedded RocksDB, large ones as files (ADR 0009).
//   <dir>/small/     RocksDB: digest -> ciphertext, for blobs of at most kSmallBlobBytes
//   <dir>/objects/   the file store (file_blob_store.cc) for larger blobs
// A small blob costs one synced WAL append instead of a file creation, an fsync, a rename and a
// directory fsync; that was most of a validator's kernel time per 2 KiB record (issue 8).
// Contracts are those of BlobStore: whole or absent, content verified on every read.

#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include <algorithm>
#include <functional>
#include <mutex>
#include <optional>

#include "crypto/sha256.h"
#include "storage/blob_store.h"
#include "storage/rocksdb_database.h"

namespace ertr::storage {

namespace fs = std::filesystem;

namespace {

// Reads a blob held in memory; its digest is checked before the first byte is returned.
class MemoryBlobReader final : public BlobReader {
 public:
  MemoryBlobReader(std::string data, crypto::Digest digest)
      : data_(std::move(data)), digest_(digest) {}
  Result<std::size_t> Read(MutableByteSpan out) override {
    if (offset_ == 0 && !checked_) {
      checked_ = true;
      if (crypto::Sha256(AsBytes(data_)) != digest_) {
        return Status::DataLoss("blob " + digest_.ToHex() +
                                " is corrupt in the small-blob database (its content no longer "
                                "matches its digest); fetch it from a peer");
      }
    }
    const std::size_t n = std::min(out.size(), data_.size() - offset_);
    std::copy_n(data_.data() + offset_, n, out.data());
    offset_ += n;
    return n;
  }
  std::uint64_t size() const override { return data_.size(); }

 private:
  std::string data_;
  crypto::Digest digest_;
  std::size_t offset_ = 0;
  bool checked_ = false;
};

class TieredBlobStore;

// Buffers up to kSmallBlobBytes; beyond that it continues as a file writer.
class TieredBlobWriter final : public BlobWriter {
 public:
  TieredBlobWriter(TieredBlobStore& store, std::optional<crypto::Digest> expected)
      : store_(store), expected_(expected) {}
  Status Write(ByteSpan data) override;
  Result<crypto::Digest> Commit() override { return Publish(true); }
  Result<crypto::Digest> CommitUnsynced() override { return Publish(false); }
  std::uint64_t bytes_written() const override {
    return file_ ? file_->bytes_written() : buffer_.size();
  }

 private:
  Result<crypto::Digest> Publish(bool sync);

  TieredBlobStore& store_;
  std::optional<crypto::Digest> expected_;
  Bytes buffer_;
  std::unique_ptr<BlobWriter> file_;
  bool done_ = false;
};

class TieredBlobStore final : public BlobStore {
 public:
  TieredBlobStore(std::unique_ptr<BlobStore> files, std::unique_ptr<rocksdb::DB> db)
      : files_(std::move(files)), db_(std::move(db)) {
    sync_.sync = true;
    unsynced_.sync = false;
    read_.verify_checksums = true;
  }

  Result<std::unique_ptr<BlobWriter>> Create(std::optional<crypto::Digest> expected) override {
    return std::unique_ptr<BlobWriter>(std::make_unique<TieredBlobWriter>(*this, expected));
  }

  Result<std::unique_ptr<BlobReader>> Open(const crypto::Digest& digest) const override {
    ERTR_ASSIGN_OR_RETURN(auto small, GetSmall(digest));
    if (small) {
      return std::unique_ptr<BlobReader>(
          std::make_unique<MemoryBlobReader>(std::move(*small), digest));
    }
    return files_->Open(digest);
  }

  bool Contains(const crypto::Digest& digest) const override {
    // Pinned, not copied (up to 64 KiB): asked for every blob a peer announces.
    rocksdb::PinnableSlice value;
    auto s = db_->Get(read_, db_->DefaultColumnFamily(), ToSlice(digest.span()), &value);
    return s.ok() || files_->Contains(digest);
  }

  Result<std::uint64_t> Size(const crypto::Digest& digest) const override {
    // Pinned, not copied: asked for nearly every record a node admits.
    rocksdb::PinnableSlice value;
    auto s = db_->Get(read_, db_->DefaultColumnFamily(), ToSlice(digest.span()), &value);
    if (s.ok()) return static_cast<std::uint64_t>(value.size());
    if (!s.IsNotFound()) ERTR_RETURN_IF_ERROR(Convert(s, "reading"));
    return files_->Size(digest);
  }

  Status Delete(const crypto::Digest& digest) override {
    ERTR_ASSIGN_OR_RETURN(auto small, GetSmall(digest));
    if (small) {
      // Erasure: flush (so the WAL that held the blob is retired and removed) and rewrite the
      // table files holding the key now, rather than at some later compaction.
      ERTR_RETURN_IF_ERROR(Guarded("deleting", [&] {
        auto s = db_->Delete(sync_, ToSlice(digest.span()));
        if (s.ok()) s = db_->Flush(rocksdb::FlushOptions());
        const rocksdb::Slice key = ToSlice(digest.span());
        if (s.ok()) s = db_->CompactRange({}, &key, &key);
        return s;
      }));
    }
    return files_->Delete(digest);
  }

  Result<std::vector<ListedBlob>> List() const override {
    ERTR_ASSIGN_OR_RETURN(auto out, files_->List());
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      auto d = crypto::Digest::FromSpan(FromSlice(it->key()), "small blob key");
      if (d) out.push_back({*d, it->value().size()});
    }
    ERTR_RETURN_IF_ERROR(Convert(it->status(), "listing"));
    const auto by_digest = [](const ListedBlob& a, const ListedBlob& b) {
      return a.digest < b.digest;
    };
    std::sort(out.begin(), out.end(), by_digest);
    out.erase(
        std::unique(out.begin(), out.end(),
                    [](const ListedBlob& a, const ListedBlob& b) { return a.digest == b.digest; }),
        out.end());
    return out;
  }

  Status PutSmall(const crypto::Digest& digest, ByteSpan data, bool sync) {
    return Guarded("writing", [&] {
      return db_->Put(sync ? sync_ : unsynced_, ToSlice(digest.span()), ToSlice(data));
    });
  }

  Status SyncPending() override {
    return Guarded("syncing", [&] { return db_->SyncWAL(); });
  }

  void SetFailureHandler(std::function<void(const Status&)> handler) override {
    std::lock_guard lock(write_mu_);
    on_failure_ = std::move(handler);
  }
  BlobStore& files() { return *files_; }

 private:
  Result<std::optional<std::string>> GetSmall(const crypto::Digest& digest) const {
    std::string value;
    auto s = db_->Get(read_, ToSlice(digest.span()), &value);
    if (s.IsNotFound()) return std::optional<std::string>();
    ERTR_RETURN_IF_ERROR(Convert(s, "reading"));
    return std::optional<std::string>(std::move(value));
  }
  static Status Convert(const rocksdb::Status& s, std::string_view what) {
    if (s.ok()) return Status::Ok();
    const std::string msg = std::string(what) + " the small-blob database: " + s.ToString();
    if (s.IsCorruption()) return Status::DataLoss(msg);
    if (s.IsNoSpace()) return Status::ResourceExhausted(msg + "; free disk space and retry");
    return Status::IoError(msg);
  }

  // Writes one at a time, and none after a failed one (ADR 0011): Debian's RocksDB build asserts,
  // and aborts the process, when a write log that failed is written again.
  template <typename Op>
  Status Guarded(std::string_view what, Op op) {
    std::lock_guard lock(write_mu_);
    if (failed_) {
      return Status::WithCode(failed_->code(),
                              "the small-blob database failed earlier and takes "
                              "no more writes until the node restarts: " +
                                  failed_->message());
    }
    Status s = Convert(op(), what);
    if (!s.ok()) {
      failed_ = s;
      if (on_failure_) on_failure_(s);
    }
    return s;
  }

  std::unique_ptr<BlobStore> files_;
  std::unique_ptr<rocksdb::DB> db_;
  std::mutex write_mu_;
  std::optional<Status> failed_;                   // guarded by write_mu_
  std::function<void(const Status&)> on_failure_;  // guarded by write_mu_
  rocksdb::WriteOptions sync_;
  rocksdb::WriteOptions unsynced_;
  rocksdb::ReadOptions read_;
};

Status TieredBlobWriter::Write(ByteSpan data) {
  if (done_) return Status::FailedPrecondition("blob writer already committed or failed");
  if (file_) return file_->Write(data);
  if (buffer_.size() + data.size() <= kSmallBlobBytes) {
    buffer_.insert(buffer_.end(), data.begin(), data.end());
    return Status::Ok();
  }
  // Too large for the database: continue as a file, starting with what was buffered.
  auto file = store_.files().Create(expected_);
  if (!file) {
    done_ = true;
    return file.error();
  }
  file_ = std::move(*file);
  Status s = file_->Write(buffer_);
  if (s.ok()) s = file_->Write(data);
  Bytes().swap(buffer_);
  if (!s.ok()) done_ = true;
  return s;
}

Result<crypto::Digest> TieredBlobWriter::Publish(bool sync) {
  if (done_) return Status::FailedPrecondition("blob writer already committed or failed");
  done_ = true;
  if (file_) return file_->Commit();  // a large blob's own file is synced (no grouping)
  const crypto::Digest digest = crypto::Sha256(buffer_);
  if (expected_ && *expected_ != digest) {
    return Status::DataLoss("blob content has digest " + digest.ToHex() + " but " +
                            expected_->ToHex() + " was expected; the blob was not stored");
  }
  ERTR_RETURN_IF_ERROR(store_.PutSmall(digest, buffer_, sync));
  return digest;
}

}  // namespace

Result<std::unique_ptr<BlobStore>> OpenBlobStore(const fs::path& dir) {
  ERTR_ASSIGN_OR_RETURN(auto files, OpenFileBlobStore(dir));
  rocksdb::Options options;
  options.create_if_missing = true;
  options.paranoid_checks = true;
  // Pulled blobs are written unsynced, then synced together before they are announced: as for
  // the ledger database, recover up to the first damaged record of the unsynced tail.
  options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  options.compression = rocksdb::kNoCompression;  // ciphertext does not compress
  options.write_buffer_size = 8u << 20;           // bounded memory per node
  options.max_write_buffer_number = 2;
  options.max_open_files = 64;
  options.info_log = MakeInfoLogger("blobs");
  // Most look-ups of a blob not held here (announced by a peer, wanted, about to be pulled) miss.
  UseBloomFilters(options);
  const fs::path path = dir / "small";
  std::error_code ec;
  fs::create_directories(path, ec);  // else RocksDB logs a (harmless) error at the first start
  if (ec) {
    return Status::IoError("cannot create the blob database directory " + path.string() + ": " +
                           ec.message());
  }
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, path.string(), &raw);
  if (!s.ok()) {
    if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
      return LockFailure(s, "blob database", path);
    }
    if (s.IsCorruption()) {
      return Status::DataLoss("the blob database at " + path.string() +
                              " is corrupt: " + s.ToString());
    }
    return Status::IoError("cannot open the blob database at " + path.string() + ": " +
                           s.ToString());
  }
  return std::unique_ptr<BlobStore>(
      std::make_unique<TieredBlobStore>(std::move(files), std::unique_ptr<rocksdb::DB>(raw)));
}

}  // namespace ertr::storage
