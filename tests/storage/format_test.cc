// The storage format marker, and opening a database written in the format before ADR 0017
// (transaction outcomes inside the "state" column family).

#include <catch2/catch.hpp>

#include <rocksdb/db.h>

#include <map>

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

Bytes OutcomeKey(int i) {
  Bytes k = ToBytes(keys::kOutcomePrefix);
  Append(k, crypto::Hash(AsBytes("tx " + std::to_string(i))).span());
  return k;
}

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

std::size_t CountOutcomeKeys(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* cf) {
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions(), cf));
  std::size_t n = 0;
  for (it->Seek(std::string(keys::kOutcomePrefix));
       it->Valid() && it->key().starts_with(std::string(keys::kOutcomePrefix)); it->Next()) {
    ++n;
  }
  return n;
}

TEST_CASE("A database of the format before ADR 0017 gets its outcomes moved when opened",
          "[storage]") {
  // Write with this version, then rewrite the files into the old layout with plain RocksDB:
  // every outcome (or, for a move cut short by a crash, every other one) back in "state", and the
  // old format marker.
  const bool cut_short = GENERATE(false, true);
  INFO((cut_short ? "a move cut short" : "an untouched old database"));
  testing::TempDir dir;
  std::map<Bytes, Bytes> expected;
  crypto::Digest root;
  {
    auto s = OpenRocksDbStores(dir / "db");
    REQUIRE(s.has_value());
    StateDelta d;
    for (int i = 0; i < 5000; ++i) {
      expected[OutcomeKey(i)] = ToBytes("outcome " + std::to_string(i));
    }
    expected[ToBytes("o/not-an-outcome")] = ToBytes("stays in state");
    expected[ToBytes("user/a")] = ToBytes("1");
    for (const auto& [k, v] : expected) d.Put(k, v);
    REQUIRE(s->state->Commit(d).ok());
    root = s->state->StateRoot();
  }
  {
    std::vector<rocksdb::ColumnFamilyHandle*> h;
    auto db = OpenRaw(dir / "db", h);
    REQUIRE(CountOutcomeKeys(*db, h[4]) == 5000);
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), h[4]));
    rocksdb::WriteBatch batch;
    int i = 0;
    for (it->SeekToFirst(); it->Valid(); it->Next(), ++i) {
      if (cut_short && i % 2 == 0) continue;
      batch.Put(h[2], it->key(), it->value());
      batch.Delete(h[4], it->key());
    }
    REQUIRE(it->status().ok());
    it.reset();
    Bytes old_marker = SealRecord(AsBytes(keys::kMetaFormat), AsBytes(keys::kFormatBeforeOutcomes));
    batch.Put(h[0], std::string(keys::kMetaFormat), std::string(AsStringView(old_marker)));
    REQUIRE(db->Write(rocksdb::WriteOptions(), &batch).ok());
    if (!cut_short) {
      REQUIRE(db->DropColumnFamily(h[4]).ok());  // an older ertrd never had it
    }
    CloseRaw(db, h);
  }
  if (!cut_short) {
    std::vector<std::string> families;
    REQUIRE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), (dir / "db").string(), &families)
                .ok());
    REQUIRE(std::find(families.begin(), families.end(), "outcomes") == families.end());
  }

  {
    auto s = OpenRocksDbStores(dir / "db");
    REQUIRE(s.has_value());
    CHECK(s->state->StateRoot() == root);
    // The root stays right through later writes only if every moved value is found where it is
    // now: overwriting or deleting an entry subtracts its stored value from the accumulator.
    // A memory store fed the same content is the reference.
    auto reference = MakeMemoryStores();
    StateDelta all;
    for (const auto& [k, v] : expected) all.Put(k, v);
    REQUIRE(reference.state->Commit(all).ok());
    StateDelta later;
    later.Delete(OutcomeKey(7));
    later.Put(OutcomeKey(8), ToBytes("rewritten"));
    later.Put(OutcomeKey(9000), ToBytes("a new outcome"));
    REQUIRE(s->state->Commit(later).ok());
    REQUIRE(reference.state->Commit(later).ok());
    CHECK(s->state->StateRoot() == reference.state->StateRoot());
    expected.erase(OutcomeKey(7));
    expected[OutcomeKey(8)] = ToBytes("rewritten");
    expected[OutcomeKey(9000)] = ToBytes("a new outcome");
    for (int i : {0, 1, 2, 2500, 4999}) {
      auto v = s->state->Get(OutcomeKey(i));
      REQUIRE(v.has_value());
      REQUIRE(v->has_value());
      CHECK(**v == expected[OutcomeKey(i)]);
    }
    CHECK(testing::ScanAll(*s->state, {}) ==
          std::vector<std::pair<Bytes, Bytes>>(expected.begin(), expected.end()));
  }
  std::vector<rocksdb::ColumnFamilyHandle*> h;
  auto db = OpenRaw(dir / "db", h);
  CHECK(ReadMarker(*db, h[0]) == keys::kFormatVersion);
  CHECK(CountOutcomeKeys(*db, h[4]) == 5000);  // 5,000 moved, one deleted, one added
  CHECK(CountOutcomeKeys(*db, h[2]) == 1);     // "o/not-an-outcome"
  CloseRaw(db, h);
}

TEST_CASE("A database of the format before ADR 0025 opens as it is and gets the new marker",
          "[storage]") {
  testing::TempDir dir;
  Bytes body = ToBytes("a block body");
  {
    auto s = OpenRocksDbStores(dir / "db");
    REQUIRE(s.has_value());
    StoredBlock b;
    b.height = Height(1);
    b.hash = crypto::Hash(AsBytes("block 1"));
    b.header = ToBytes("header");
    b.body = body;
    b.certificate = ToBytes("certificate");
    REQUIRE(s->blocks->Append(b, {}).ok());
  }
  WriteMarker(dir / "db", keys::kFormatBeforeStagedBodies);
  {
    auto s = OpenRocksDbStores(dir / "db");
    REQUIRE(s.has_value());
    CHECK(s->blocks->LoadBlock(Height(1))->body == body);
  }
  std::vector<rocksdb::ColumnFamilyHandle*> h;
  auto db = OpenRaw(dir / "db", h);
  CHECK(ReadMarker(*db, h[0]) == keys::kFormatVersion);
  CHECK(keys::kFormatVersion != keys::kFormatBeforeStagedBodies);
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
