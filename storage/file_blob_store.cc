// BlobStore on the file system:
//   <dir>/objects/<first 2 hex digits>/<64 hex digits>   published blobs (read-only files)
//   <dir>/tmp/<random>.part                              writes in progress
// A write goes to tmp/, is fsynced, renamed into objects/ and the directory fsynced: rename is
// atomic, so a blob is whole or absent. tmp/ is emptied when the store opens.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "crypto/secure_buffer.h"
#include "crypto/sha256.h"
#include "storage/blob_store.h"

namespace ertr::storage {

namespace fs = std::filesystem;

namespace {

std::string Errno() { return std::strerror(errno); }

Status SyncDir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::IoError("cannot open directory " + dir.string() + ": " + Errno());
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) {
    return Status::IoError("cannot sync directory " + dir.string() + ": " + std::strerror(err));
  }
  return Status::Ok();
}

Status WriteAll(int fd, ByteSpan data, const fs::path& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      if (errno == ENOSPC) {
        return Status::ResourceExhausted("disk full while writing blob " + path.string() +
                                         "; free space and retry");
      }
      return Status::IoError("cannot write blob " + path.string() + ": " + Errno());
    }
    data = data.subspan(static_cast<std::size_t>(n));
  }
  return Status::Ok();
}

class FileBlobWriter final : public BlobWriter {
 public:
  FileBlobWriter(fs::path objects, fs::path tmp, int fd, std::optional<crypto::Digest> expected)
      : objects_(std::move(objects)), tmp_(std::move(tmp)), fd_(fd), expected_(expected) {}
  ~FileBlobWriter() override {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(tmp_.c_str());
  }

  Status Write(ByteSpan data) override {
    if (fd_ < 0) return Status::FailedPrecondition("blob writer already committed or failed");
    hasher_.Update(data);
    Status s = WriteAll(fd_, data, tmp_);
    if (!s.ok()) {
      Fail();
      return s;
    }
    bytes_ += data.size();
    WriteBehind();
    return s;
  }

  Result<crypto::Digest> Commit() override {
    if (fd_ < 0) return Status::FailedPrecondition("blob writer already committed or failed");
    crypto::Digest digest = hasher_.Finish();
    if (expected_ && *expected_ != digest) {
      Fail();
      return Status::DataLoss("blob content has digest " + digest.ToHex() + " but " +
                              expected_->ToHex() + " was expected; the blob was not stored");
    }
    if (::fsync(fd_) != 0) {
      Status s = Status::IoError("cannot sync blob " + tmp_.string() + ": " + Errno());
      Fail();
      return s;
    }
    ::close(fd_);
    fd_ = -1;
    std::string hex = digest.ToHex();
    fs::path shard = objects_ / hex.substr(0, 2);
    std::error_code ec;
    fs::create_directories(shard, ec);
    if (ec) return Status::IoError("cannot create " + shard.string() + ": " + ec.message());
    fs::path final_path = shard / hex;
    ::chmod(tmp_.c_str(), 0440);
    if (::rename(tmp_.c_str(), final_path.c_str()) != 0) {
      return Status::IoError("cannot publish blob " + final_path.string() + ": " + Errno());
    }
    committed_ = true;
    ERTR_RETURN_IF_ERROR(SyncDir(shard));
    return digest;
  }

  std::uint64_t bytes_written() const override { return bytes_; }

 private:
  // A large blob is written for durability, not to be read back soon: every kWritebackWindow
  // bytes, writeback of the newest window starts, and the window before it (on disk by then, or
  // nearly) is waited for and dropped from the page cache. The writer's cache footprint stays
  // near two windows whatever the blob size, it does not evict the databases' pages, and the
  // final fsync has at most two windows left to write. Advisory: errors surface at that fsync.
  void WriteBehind() {
    if (bytes_ - started_ < kWritebackWindow) return;
    (void)::sync_file_range(fd_, static_cast<off_t>(started_),
                            static_cast<off_t>(bytes_ - started_), SYNC_FILE_RANGE_WRITE);
    if (started_ > dropped_) {
      const auto offset = static_cast<off_t>(dropped_);
      const auto len = static_cast<off_t>(started_ - dropped_);
      (void)::sync_file_range(
          fd_, offset, len,
          SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
      (void)::posix_fadvise(fd_, offset, len, POSIX_FADV_DONTNEED);
      dropped_ = started_;
    }
    started_ = bytes_;
  }
  void Fail() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  static constexpr std::uint64_t kWritebackWindow = 8u << 20;
  fs::path objects_;
  fs::path tmp_;
  int fd_;
  std::optional<crypto::Digest> expected_;
  crypto::Sha256Hasher hasher_;
  std::uint64_t bytes_ = 0;
  std::uint64_t started_ = 0;  // writeback started below this offset
  std::uint64_t dropped_ = 0;  // written back and dropped from the cache below this offset
  bool committed_ = false;
};

class FileBlobReader final : public BlobReader {
 public:
  FileBlobReader(int fd, std::uint64_t size, crypto::Digest digest, fs::path path)
      : fd_(fd), size_(size), digest_(digest), path_(std::move(path)) {}
  ~FileBlobReader() override { ::close(fd_); }

  Result<std::size_t> Read(MutableByteSpan out) override {
    if (done_) return std::size_t{0};
    for (;;) {
      ssize_t n = ::read(fd_, out.data(), out.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Status::IoError("cannot read blob " + path_.string() + ": " + Errno());
      if (n == 0 && !out.empty()) {
        done_ = true;
        if (hasher_.Finish() != digest_ || read_ != size_) {
          return Status::DataLoss("blob " + digest_.ToHex() +
                                  " is corrupt on disk (its content no longer matches its "
                                  "digest); discard what was read and fetch it from a peer");
        }
        return std::size_t{0};
      }
      hasher_.Update(ByteSpan(out.data(), static_cast<std::size_t>(n)));
      read_ += static_cast<std::uint64_t>(n);
      return static_cast<std::size_t>(n);
    }
  }
  std::uint64_t size() const override { return size_; }

 private:
  int fd_;
  std::uint64_t size_;
  crypto::Digest digest_;
  fs::path path_;
  crypto::Sha256Hasher hasher_;
  std::uint64_t read_ = 0;
  bool done_ = false;
};

class FileBlobStore final : public BlobStore {
 public:
  explicit FileBlobStore(fs::path dir) : objects_(dir / "objects"), tmp_(dir / "tmp") {}
  ~FileBlobStore() override {
    if (objects_fd_ >= 0) ::close(objects_fd_);
  }
  FileBlobStore(const FileBlobStore&) = delete;
  FileBlobStore& operator=(const FileBlobStore&) = delete;

  Status Init() {
    std::error_code ec;
    fs::create_directories(objects_, ec);
    if (!ec) fs::create_directories(tmp_, ec);
    if (ec) return Status::IoError("cannot create blob directories: " + ec.message());
    objects_fd_ = ::open(objects_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (objects_fd_ < 0)
      return Status::IoError("cannot open " + objects_.string() + ": " + Errno());
    for (const auto& entry : fs::directory_iterator(tmp_, ec)) fs::remove(entry.path(), ec);
    return Status::Ok();
  }

  Result<std::unique_ptr<BlobWriter>> Create(std::optional<crypto::Digest> expected) override {
    std::array<std::uint8_t, 12> rnd{};
    crypto::RandomBytes(rnd);
    fs::path tmp = tmp_ / (ToHex(rnd) + ".part");
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return Status::IoError("cannot create " + tmp.string() + ": " + Errno());
    return std::unique_ptr<BlobWriter>(
        std::make_unique<FileBlobWriter>(objects_, tmp, fd, expected));
  }

  Result<std::unique_ptr<BlobReader>> Open(const crypto::Digest& digest) const override {
    fs::path p = PathOf(digest);
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT)
        return Status::NotFound("blob " + digest.ToHex() + " is not stored here");
      return Status::IoError("cannot open blob " + p.string() + ": " + Errno());
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      ::close(fd);
      return Status::IoError("cannot stat blob " + p.string() + ": " + Errno());
    }
    return std::unique_ptr<BlobReader>(
        std::make_unique<FileBlobReader>(fd, static_cast<std::uint64_t>(st.st_size), digest, p));
  }

  // Asked for every blob a peer announces and every record committed, mostly for blobs that are
  // not here yet: one fstatat relative to the objects directory, no allocation.
  bool Contains(const crypto::Digest& digest) const override {
    return StatFile(digest).has_value();
  }

  Result<std::uint64_t> Size(const crypto::Digest& digest) const override {
    // Asked for nearly every record a node admits, mostly of blobs absent here (small ones,
    // which live in the database): no path or message is built for those.
    if (auto size = StatFile(digest)) return *size;
    return Status::NotFound("blob is not stored here as a file");
  }

  Status Delete(const crypto::Digest& digest) override {
    fs::path p = PathOf(digest);
    if (::unlink(p.c_str()) != 0) {
      if (errno == ENOENT) return Status::Ok();
      return Status::IoError("cannot delete blob " + p.string() + ": " + Errno());
    }
    return SyncDir(p.parent_path());
  }

  Result<std::vector<ListedBlob>> List() const override {
    std::vector<ListedBlob> out;
    std::error_code ec;
    for (const auto& shard : fs::directory_iterator(objects_, ec)) {
      for (const auto& f : fs::directory_iterator(shard.path(), ec)) {
        auto d = crypto::Digest::FromHex(f.path().filename().string(), "blob file name");
        if (!d) continue;
        std::error_code size_ec;
        const auto size = f.file_size(size_ec);
        if (!size_ec) out.push_back({*d, size});  // else deleted since it was listed
      }
    }
    if (ec)
      return Status::IoError("cannot list blobs in " + objects_.string() + ": " + ec.message());
    std::sort(out.begin(), out.end(),
              [](const ListedBlob& a, const ListedBlob& b) { return a.digest < b.digest; });
    return out;
  }

 private:
  // The blob's file size, by one fstatat relative to the objects directory; nullopt if absent.
  std::optional<std::uint64_t> StatFile(const crypto::Digest& digest) const {
    static constexpr char kHex[] = "0123456789abcdef";
    std::array<char, 2 + 1 + 2 * crypto::Digest::kSize + 1> rel{};  // "ab/ab…", NUL-terminated
    for (std::size_t i = 0; i < crypto::Digest::kSize; ++i) {
      rel[3 + 2 * i] = kHex[digest.data()[i] >> 4];
      rel[3 + 2 * i + 1] = kHex[digest.data()[i] & 0xf];
    }
    rel[0] = rel[3];
    rel[1] = rel[4];
    rel[2] = '/';
    struct stat st {};
    if (::fstatat(objects_fd_, rel.data(), &st, 0) != 0 || !S_ISREG(st.st_mode))
      return std::nullopt;
    return static_cast<std::uint64_t>(st.st_size);
  }
  fs::path PathOf(const crypto::Digest& d) const {
    std::string hex = d.ToHex();
    return objects_ / hex.substr(0, 2) / hex;
  }
  fs::path objects_;
  fs::path tmp_;
  // The objects directory (O_PATH), for Contains. The other calls still resolve objects_ by path:
  // the directory must not be replaced while the store is open (a wipe stops the node first).
  int objects_fd_ = -1;
};

}  // namespace

Result<std::unique_ptr<BlobStore>> OpenFileBlobStore(const fs::path& dir) {
  auto store = std::make_unique<FileBlobStore>(dir);
  ERTR_RETURN_IF_ERROR(store->Init());
  return std::unique_ptr<BlobStore>(std::move(store));
}

Status BlobStore::Verify(const crypto::Digest& digest) const {
  ERTR_ASSIGN_OR_RETURN(auto reader, Open(digest));
  Bytes buf(1 << 20);
  for (;;) {
    ERTR_ASSIGN_OR_RETURN(std::size_t n, reader->Read(buf));
    if (n == 0) return Status::Ok();
  }
}

Result<crypto::Digest> PutBlob(BlobStore& store, ByteSpan data) {
  ERTR_ASSIGN_OR_RETURN(auto writer, store.Create());
  ERTR_RETURN_IF_ERROR(writer->Write(data));
  return writer->Commit();
}

Result<Bytes> GetBlob(const BlobStore& store, const crypto::Digest& digest) {
  ERTR_ASSIGN_OR_RETURN(auto reader, store.Open(digest));
  Bytes out(reader->size());
  std::size_t off = 0;
  for (;;) {
    if (off == out.size()) out.resize(out.size() + 4096);  // detect growth, then verify at end
    ERTR_ASSIGN_OR_RETURN(std::size_t n, reader->Read(MutableByteSpan(out).subspan(off)));
    if (n == 0) break;
    off += n;
  }
  out.resize(off);
  return out;
}

}  // namespace ertr::storage
