#pragma once

// BlobStore: the off-chain store of ciphertext payloads, content-addressed by the SHA-256 digest
// of the ciphertext (crypto::Sha256, the digest the chain records; docs/adr/0031).
//
// Writes stream into a temporary file, are fsynced and renamed into place atomically, so a blob is
// either wholly present or absent: a crash never leaves a partial blob visible. Reads verify the
// digest as they go and fail with DataLoss at the end if it does not match, so corrupt bytes are
// never reported as a good blob.
//
// Thread-safety: all methods may be called concurrently; one writer or reader object per thread.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"
#include "crypto/hash.h"

namespace ertr::storage {

class BlobWriter {
 public:
  virtual ~BlobWriter() = default;  // without Commit, the temporary file is removed
  virtual Status Write(ByteSpan data) = 0;
  // Syncs and publishes the blob; returns its digest. If an expected digest was given to
  // BlobStore::Create and the content does not match, nothing is published (DataLoss).
  virtual Result<crypto::Digest> Commit() = 0;
  // Publishes the blob without waiting for the disk where the store can group syncs (small blobs:
  // an unsynced database write); BlobStore::SyncPending makes every such blob durable at once.
  // Until then a crash may lose it. Stores without grouping sync here as Commit does.
  virtual Result<crypto::Digest> CommitUnsynced() { return Commit(); }
  virtual std::uint64_t bytes_written() const = 0;
};

class BlobReader {
 public:
  virtual ~BlobReader() = default;
  // Reads up to out.size() bytes; returns 0 at the end, after the digest was verified. DataLoss if
  // the blob's content does not match its digest (the caller must discard what it read).
  virtual Result<std::size_t> Read(MutableByteSpan out) = 0;
  virtual std::uint64_t size() const = 0;
};

// A stored blob, as List gives it.
struct ListedBlob {
  crypto::Digest digest;
  std::uint64_t size = 0;  // of its content, in bytes
  friend bool operator==(const ListedBlob&, const ListedBlob&) = default;
};

class BlobStore {
 public:
  virtual ~BlobStore() = default;

  virtual Result<std::unique_ptr<BlobWriter>> Create(
      std::optional<crypto::Digest> expected = std::nullopt) = 0;
  // NotFound if absent.
  virtual Result<std::unique_ptr<BlobReader>> Open(const crypto::Digest& digest) const = 0;
  virtual bool Contains(const crypto::Digest& digest) const = 0;
  virtual Result<std::uint64_t> Size(const crypto::Digest& digest) const = 0;
  // Removes the blob durably (erasure). OK if it was absent.
  virtual Status Delete(const crypto::Digest& digest) = 0;
  // Re-reads the whole blob and checks its digest (through Open, for every store).
  Status Verify(const crypto::Digest& digest) const;
  // All stored blobs, sorted by digest.
  virtual Result<std::vector<ListedBlob>> List() const = 0;
  // Makes every blob published by BlobWriter::CommitUnsynced so far durable, in one sync.
  virtual Status SyncPending() { return Status::Ok(); }
  // Called (from the writing thread) when a write fails in a way that leaves the store unable to
  // take more writes (the small-blob database: ADR 0011); the node stops on it.
  virtual void SetFailureHandler(std::function<void(const Status&)> handler) { (void)handler; }
};

// Opens (creating if needed) a blob store of files in `dir`; removes temporary files left by a
// crash.
Result<std::unique_ptr<BlobStore>> OpenFileBlobStore(const std::filesystem::path& dir);

// Blobs of at most this size are kept in the node's small-blob database (ADR 0009).
inline constexpr std::size_t kSmallBlobBytes = 64u << 10;

// The node's blob store in `dir`: blobs of at most kSmallBlobBytes in an embedded RocksDB
// (`dir`/small, one synced write each, or unsynced writes and one SyncPending for a group),
// larger ones as files (OpenFileBlobStore). Same contracts.
Result<std::unique_ptr<BlobStore>> OpenBlobStore(const std::filesystem::path& dir);

// Whole-buffer conveniences.
Result<crypto::Digest> PutBlob(BlobStore& store, ByteSpan data);
Result<Bytes> GetBlob(const BlobStore& store, const crypto::Digest& digest);

}  // namespace ertr::storage
