// The storage format marker: a new database's, and what opening an older or unknown one does.

#include <catch2/catch.hpp>

#include <rocksdb/db.h>

#include "crypto/hash.h"
#include "storage/keys.h"
#include "storage/record_checksum.h"
#include "storage/rocksdb_database.h"
#include "tests/storage/raw_rocksdb.h"
#include "tests/storage/store_fixture.h"

namespace ertr::storage {
namespace {

using testing::CloseRaw;
using testing::OpenRaw;

std::string ReadMarker(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* meta) {
  std::string raw;
  REQUIRE(db.Get(rocksdb::ReadOptions(), meta, std::string(keys::kMetaFormat), &raw).ok());
  auto marker = OpenRecord(AsBytes(keys::kMetaFormat), AsBytes(raw), "format marker");
  REQUIRE(marker.has_value());
  return ToString(*marker);
}

// Rewrites the format marker of a closed database with plain RocksDB (an older or unknown ertrd).
void WriteMarker(const std::filesystem::path& db_dir, std::string_view format) {
  std::vector<rocksdb::ColumnFamilyHandle*> h;
  auto db = OpenRaw(db_dir, h);
  Bytes marker = SealRecord(AsBytes(keys::kMetaFormat), AsBytes(format));
  REQUIRE(db->Put(rocksdb::WriteOptions(), h[0], std::string(keys::kMetaFormat),
                  std::string(AsStringView(marker)))
              .ok());
  CloseRaw(db, h);
}

TEST_CASE("A database written before ADR 0038 is refused, saying why and what to do", "[storage]") {
  // Its blocks' tx_root is over transaction ids: no peer running this version decodes them and
  // no receipt of them verifies, so opening it would only make this validator look faulty.
  const std::string old = GENERATE("ertr-storage-1", "ertr-storage-2", "ertr-storage-3");
  INFO(old);
  testing::TempDir dir;
  REQUIRE(OpenRocksDbStores(dir / "db").has_value());
  WriteMarker(dir / "db", old);
  auto s = OpenRocksDbStores(dir / "db");
  REQUIRE_FALSE(s.has_value());
  CHECK(s.error().code() == StatusCode::kFailedPrecondition);
  CHECK(s.error().message().find("'" + old + "'") != std::string::npos);
  CHECK(s.error().message().find("ADR 0038") != std::string::npos);
  CHECK(s.error().message().find("started again") != std::string::npos);
  // Nothing was changed: the marker is still the old one.
  std::vector<rocksdb::ColumnFamilyHandle*> h;
  auto db = OpenRaw(dir / "db", h);
  CHECK(ReadMarker(*db, h[0]) == old);
  CloseRaw(db, h);
}

// A block at `h` with a header of its own and effective time `time_ms`.
StoredBlock TimedBlock(std::uint64_t h, std::uint64_t time_ms) {
  StoredBlock b;
  b.height = Height(h);
  b.header = ToBytes("header-" + std::to_string(h));
  b.hash = crypto::Hash(b.header);
  b.time_ms = time_ms;
  return b;
}

TEST_CASE("A database whose newest block an earlier build appended has no stored block time",
          "[storage]") {
  // ADR 0043: the node then computes it from the headers once, and the next append stores it.
  testing::TempDir dir;
  Bytes written_at_1;  // the key's stored record after block 1
  {
    auto s = OpenRocksDbStores(dir / "db");
    REQUIRE(s.has_value());
    REQUIRE(s->blocks->Append(TimedBlock(1, 1234), {}).ok());
    CHECK(s->blocks->LatestBlockTime() == std::optional<std::uint64_t>(1234));
  }
  {
    std::vector<rocksdb::ColumnFamilyHandle*> h;
    auto db = OpenRaw(dir / "db", h);
    std::string raw;
    REQUIRE(
        db->Get(rocksdb::ReadOptions(), h[0], std::string(keys::kMetaLatestBlockTime), &raw).ok());
    written_at_1 = ToBytes(raw);
    const bool never_written = GENERATE(true, false);
    if (never_written) {
      // An earlier build's database: the key was never written.
      REQUIRE(
          db->Delete(rocksdb::WriteOptions(), h[0], std::string(keys::kMetaLatestBlockTime)).ok());
    }
    CloseRaw(db, h);
    if (!never_written) {
      // Taken back to an earlier build, which appended block 2 without rewriting the key.
      {
        auto s = OpenRocksDbStores(dir / "db");
        REQUIRE(s.has_value());
        REQUIRE(s->blocks->Append(TimedBlock(2, 1240), {}).ok());
      }
      db = OpenRaw(dir / "db", h);
      REQUIRE(db->Put(rocksdb::WriteOptions(), h[0], std::string(keys::kMetaLatestBlockTime),
                      std::string(AsStringView(written_at_1)))
                  .ok());
      CloseRaw(db, h);
    }
  }
  auto s = OpenRocksDbStores(dir / "db");
  REQUIRE(s.has_value());
  CHECK_FALSE(s->blocks->LatestBlockTime().has_value());
  const std::uint64_t next = s->blocks->LatestHeight().value() + 1;
  REQUIRE(s->blocks->Append(TimedBlock(next, 1250), {}).ok());
  CHECK(s->blocks->LatestBlockTime() == std::optional<std::uint64_t>(1250));
}

TEST_CASE("A new database gets this version's format marker", "[storage]") {
  testing::TempDir dir;
  REQUIRE(OpenRocksDbStores(dir / "db").has_value());
  REQUIRE(OpenRocksDbStores(dir / "db").has_value());  // and opens again
  std::vector<rocksdb::ColumnFamilyHandle*> h;
  auto db = OpenRaw(dir / "db", h);
  CHECK(ReadMarker(*db, h[0]) == keys::kFormatVersion);
  CHECK(keys::kFormatVersion == "ertr-storage-4");
  CloseRaw(db, h);
}

TEST_CASE("A database of an unknown format is refused, saying which format it has", "[storage]") {
  testing::TempDir dir;
  REQUIRE(OpenRocksDbStores(dir / "db").has_value());
  WriteMarker(dir / "db", "ertr-storage-9");
  auto s = OpenRocksDbStores(dir / "db");
  REQUIRE_FALSE(s.has_value());
  CHECK(s.error().code() == StatusCode::kFailedPrecondition);
  CHECK(s.error().message().find("ertr-storage-9") != std::string::npos);
  CHECK(s.error().message().find(std::string(keys::kFormatVersion)) != std::string::npos);
}

TEST_CASE("A database already open is refused as in use and a lock the disk refuses is not",
          "[storage]") {
  testing::TempDir dir;
  auto first = OpenRocksDbStores(dir / "db");
  REQUIRE(first.has_value());
  auto second = OpenRocksDbStores(dir / "db");
  REQUIRE_FALSE(second.has_value());
  CHECK(second.error().code() == StatusCode::kFailedPrecondition);
  CHECK(second.error().message().find("in use by another process") != std::string::npos);
  // What RocksDB says when the LOCK file cannot even be created: the disk's reason, not "in use".
  auto read_only = LockFailure(rocksdb::Status::IOError("While open a file for lock",
                                                        "/srv/ertr/db/LOCK: Read-only file system"),
                               "database", dir / "db");
  CHECK(read_only.code() == StatusCode::kIoError);
  CHECK(read_only.message().find("Read-only file system") != std::string::npos);
  CHECK(read_only.message().find("in use") == std::string::npos);
  CHECK(read_only.message().find("writable") != std::string::npos);
}

}  // namespace
}  // namespace ertr::storage
