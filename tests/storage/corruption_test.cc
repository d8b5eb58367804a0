// Corruption is detected and reported as DataLoss, never silently accepted (issue 2, storage).

#include <catch2/catch.hpp>

#include <rocksdb/db.h>

#include <fstream>

#include "crypto/hash.h"
#include "storage/record_checksum.h"
#include "tests/storage/raw_rocksdb.h"
#include "tests/storage/store_fixture.h"

namespace ertr::storage {
namespace {

namespace fs = std::filesystem;

TEST_CASE("Stored records keep their documented form", "[unit]") {
  // value || BLAKE2b-128(u32le len(key) || key || value): databases written by any version
  // must keep opening. A key over 255 bytes exercises every byte of the length.
  const Bytes key(300, 0x6b);
  const Bytes value = ToBytes("a stored value");
  Bytes prefix;
  PutU32Le(prefix, static_cast<std::uint32_t>(key.size()));
  Bytes expected = value;
  crypto::Hasher h({}, kRecordChecksumSize);
  h.Update(prefix).Update(key).Update(value);
  std::array<std::uint8_t, kRecordChecksumSize> sum{};
  h.FinishInto(sum);
  Append(expected, sum);
  CHECK(SealRecord(key, value) == expected);
  CHECK(*OpenRecord(key, expected, "test record") == value);
  CHECK_FALSE(OpenRecord(Bytes(299, 0x6b), expected, "test record").has_value());
}

using testing::CloseRaw;
using testing::OpenRaw;

TEST_CASE("A value that fails our record checksum is reported as DataLoss", "[storage]") {
  testing::TempDir dir;
  {
    auto s = OpenRocksDbStores(dir / "db");
    REQUIRE(s.has_value());
    StateDelta d;
    d.Put(ToBytes("record/1"), ToBytes("digest-1"));
    REQUIRE(s->state->Commit(d).ok());
  }
  {
    std::vector<rocksdb::ColumnFamilyHandle*> h;
    auto db = OpenRaw(dir / "db", h);
    // Same bytes, other key: a value moved under the wrong key must not verify.
    std::string good;
    REQUIRE(db->Get(rocksdb::ReadOptions(), h[2], "record/1", &good).ok());
    REQUIRE(db->Put(rocksdb::WriteOptions(), h[2], "record/2", good).ok());
    std::string flipped = good;
    flipped[0] ^= 1;
    REQUIRE(db->Put(rocksdb::WriteOptions(), h[2], "record/1", flipped).ok());
    CloseRaw(db, h);
  }
  auto s = OpenRocksDbStores(dir / "db");
  REQUIRE(s.has_value());
  auto r1 = s->state->Get(AsBytes("record/1"));
  REQUIRE_FALSE(r1.has_value());
  CHECK(r1.error().code() == StatusCode::kDataLoss);
  auto r2 = s->state->Get(AsBytes("record/2"));
  REQUIRE_FALSE(r2.has_value());
  CHECK(r2.error().code() == StatusCode::kDataLoss);
  auto scan = s->state->ScanPrefix(AsBytes("record/"), [](ByteSpan, ByteSpan) { return true; });
  CHECK(scan.code() == StatusCode::kDataLoss);
}

TEST_CASE("A flipped byte in a RocksDB table file is reported as DataLoss", "[storage]") {
  testing::TempDir dir;
  {
    auto s = OpenRocksDbStores(dir / "db");
    REQUIRE(s.has_value());
    StateDelta d;
    for (int i = 0; i < 3000; ++i) {
      d.Put(ToBytes("entry/" + std::to_string(100000 + i)),
            Bytes(100, static_cast<std::uint8_t>(i)));
    }
    REQUIRE(s->state->Commit(d).ok());
  }
  {
    std::vector<rocksdb::ColumnFamilyHandle*> h;
    auto db = OpenRaw(dir / "db", h);
    REQUIRE(db->Flush(rocksdb::FlushOptions(), h[2]).ok());
    CloseRaw(db, h);
  }
  fs::path sst;
  std::uintmax_t biggest = 0;
  for (const auto& e : fs::directory_iterator(dir / "db")) {
    if (e.path().extension() == ".sst" && e.file_size() > biggest) {
      biggest = e.file_size();
      sst = e.path();
    }
  }
  REQUIRE(biggest > 10000);
  {
    std::fstream f(sst, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(biggest / 3));
    char c = 0;
    f.get(c);
    f.seekp(static_cast<std::streamoff>(biggest / 3));
    f.put(static_cast<char>(c ^ 0x5a));
  }
  auto s = OpenRocksDbStores(dir / "db");
  if (!s.has_value()) {
    CHECK(s.error().code() == StatusCode::kDataLoss);
    return;
  }
  std::size_t seen = 0;
  auto scan = s->state->ScanPrefix(AsBytes("entry/"), [&](ByteSpan, ByteSpan) {
    ++seen;
    return true;
  });
  CHECK(scan.code() == StatusCode::kDataLoss);
  CHECK(seen < 3000);
  CHECK(scan.message().find("corrupt") != std::string::npos);
}

TEST_CASE("A second process cannot open the same database", "[storage]") {
  testing::TempDir dir;
  auto a = OpenRocksDbStores(dir / "db");
  REQUIRE(a.has_value());
  auto b = OpenRocksDbStores(dir / "db");
  REQUIRE_FALSE(b.has_value());
  CHECK(b.error().code() == StatusCode::kFailedPrecondition);
  CHECK(b.error().message().find("another ertrd") != std::string::npos);
}

}  // namespace
}  // namespace ertr::storage
