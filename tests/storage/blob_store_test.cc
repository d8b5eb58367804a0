#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>

#include "crypto/sha256.h"
#include "storage/blob_store.h"
#include "tests/support/temp_dir.h"

namespace ertr::storage {
namespace {

Bytes Data(std::size_t n) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(i * 13 + 5);
  return b;
}

TEST_CASE("Blobs are content-addressed, streamed in and verified out", "[storage]") {
  testing::TempDir dir;
  auto store = OpenFileBlobStore(dir.path());
  REQUIRE(store.has_value());
  // Over three of the writer's 8 MiB write-behind windows, in pieces that straddle them.
  Bytes data = Data(25 * 1024 * 1024 + 11);
  auto writer = (*store)->Create();
  REQUIRE(writer.has_value());
  for (std::size_t off = 0; off < data.size(); off += 300'000) {
    REQUIRE(
        (*writer)
            ->Write(ByteSpan(data).subspan(off, std::min<std::size_t>(300'000, data.size() - off)))
            .ok());
  }
  CHECK_FALSE((*store)->Contains(crypto::Sha256(data)));  // not visible before Commit
  auto digest = (*writer)->Commit();
  REQUIRE(digest.has_value());
  CHECK(*digest == crypto::Sha256(data));
  CHECK((*store)->Contains(*digest));
  CHECK(*(*store)->Size(*digest) == data.size());
  auto back = GetBlob(**store, *digest);
  REQUIRE(back.has_value());
  CHECK(*back == data);
  CHECK((*store)->Verify(*digest).ok());
  auto list = (*store)->List();
  REQUIRE(list.has_value());
  CHECK(*list == std::vector<ListedBlob>{{*digest, data.size()}});
}

TEST_CASE("An expected digest that does not match publishes nothing", "[storage]") {
  testing::TempDir dir;
  auto store = OpenFileBlobStore(dir.path());
  REQUIRE(store.has_value());
  crypto::Digest wrong = crypto::Sha256(AsBytes("something else"));
  auto writer = (*store)->Create(wrong);
  REQUIRE(writer.has_value());
  REQUIRE((*writer)->Write(Data(1000)).ok());
  auto r = (*writer)->Commit();
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code() == StatusCode::kDataLoss);
  CHECK((*store)->List()->empty());
  CHECK_FALSE((*store)->Contains(crypto::Sha256(Data(1000))));
}

TEST_CASE("An abandoned write leaves nothing behind", "[storage]") {
  testing::TempDir dir;
  auto store = OpenFileBlobStore(dir.path());
  REQUIRE(store.has_value());
  {
    auto writer = (*store)->Create();
    REQUIRE(writer.has_value());
    REQUIRE((*writer)->Write(Data(5000)).ok());
  }
  CHECK((*store)->List()->empty());
  CHECK(std::filesystem::is_empty(dir.path() / "tmp"));
}

TEST_CASE("Delete removes a blob (erasure) and is idempotent", "[storage]") {
  testing::TempDir dir;
  auto store = OpenFileBlobStore(dir.path());
  REQUIRE(store.has_value());
  auto d = PutBlob(**store, Data(10));
  REQUIRE(d.has_value());
  REQUIRE((*store)->Delete(*d).ok());
  CHECK_FALSE((*store)->Contains(*d));
  CHECK((*store)->Delete(*d).ok());
  CHECK(GetBlob(**store, *d).error().code() == StatusCode::kNotFound);
}

TEST_CASE("A corrupted blob file is reported, never served as good", "[storage]") {
  testing::TempDir dir;
  auto store = OpenFileBlobStore(dir.path());
  REQUIRE(store.has_value());
  Bytes data = Data(70'000);
  auto d = PutBlob(**store, data);
  REQUIRE(d.has_value());
  std::string hex = d->ToHex();
  auto path = dir.path() / "objects" / hex.substr(0, 2) / hex;
  std::filesystem::permissions(path, std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::add);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(12345);
    f.put(static_cast<char>(data[12345] ^ 0x20));
  }
  auto get = GetBlob(**store, *d);
  REQUIRE_FALSE(get.has_value());
  CHECK(get.error().code() == StatusCode::kDataLoss);
  CHECK((*store)->Verify(*d).code() == StatusCode::kDataLoss);
  // A truncated file too.
  std::filesystem::resize_file(path, 100);
  CHECK((*store)->Verify(*d).code() == StatusCode::kDataLoss);
}

TEST_CASE("The node's store keeps small blobs in its database and large ones as files",
          "[storage]") {
  testing::TempDir dir;
  crypto::Digest small_digest, edge_digest, large_digest;
  const Bytes small = Data(2048), edge = Data(kSmallBlobBytes), large = Data(kSmallBlobBytes + 1);
  {
    auto store = OpenBlobStore(dir.path());
    REQUIRE(store.has_value());
    // Streamed in pieces: the writer moves to a file once the content outgrows the database.
    for (const Bytes* data : {&small, &edge, &large}) {
      auto writer = (*store)->Create();
      REQUIRE(writer.has_value());
      for (std::size_t off = 0; off < data->size(); off += 10'000) {
        REQUIRE((*writer)
                    ->Write(ByteSpan(*data).subspan(
                        off, std::min<std::size_t>(10'000, data->size() - off)))
                    .ok());
      }
      CHECK((*writer)->bytes_written() == data->size());
      CHECK_FALSE((*store)->Contains(crypto::Sha256(*data)));  // not visible before Commit
      auto d = (*writer)->Commit();
      REQUIRE(d.has_value());
      CHECK(*d == crypto::Sha256(*data));
    }
    small_digest = crypto::Sha256(small);
    edge_digest = crypto::Sha256(edge);
    large_digest = crypto::Sha256(large);
  }
  // Only the large blob is a file; everything survives reopening.
  const std::string large_hex = large_digest.ToHex();
  CHECK(std::filesystem::exists(dir.path() / "objects" / large_hex.substr(0, 2) / large_hex));
  CHECK_FALSE(std::filesystem::exists(dir.path() / "objects" / small_digest.ToHex().substr(0, 2) /
                                      small_digest.ToHex()));
  auto store = OpenBlobStore(dir.path());
  REQUIRE(store.has_value());
  for (const auto& [digest, data] : {std::pair{small_digest, &small}, std::pair{edge_digest, &edge},
                                     std::pair{large_digest, &large}}) {
    CHECK((*store)->Contains(digest));
    CHECK(*(*store)->Size(digest) == data->size());
    auto back = GetBlob(**store, digest);
    REQUIRE(back.has_value());
    CHECK(*back == *data);
    CHECK((*store)->Verify(digest).ok());
  }
  auto list = (*store)->List();
  REQUIRE(list.has_value());
  // With each blob's size, from either tier.
  std::vector<ListedBlob> want = {
      {small_digest, small.size()}, {edge_digest, edge.size()}, {large_digest, large.size()}};
  std::sort(want.begin(), want.end(),
            [](const ListedBlob& a, const ListedBlob& b) { return a.digest < b.digest; });
  CHECK(*list == want);
  // Erasure removes either kind, idempotently.
  REQUIRE((*store)->Delete(small_digest).ok());
  REQUIRE((*store)->Delete(large_digest).ok());
  REQUIRE((*store)->Delete(small_digest).ok());
  CHECK_FALSE((*store)->Contains(small_digest));
  CHECK_FALSE((*store)->Contains(large_digest));
  CHECK(GetBlob(**store, small_digest).error().code() == StatusCode::kNotFound);
  CHECK(*(*store)->List() == std::vector<ListedBlob>{{edge_digest, edge.size()}});
}

TEST_CASE("A small blob with the wrong content or an abandoned write is never stored",
          "[storage]") {
  testing::TempDir dir;
  auto store = OpenBlobStore(dir.path());
  REQUIRE(store.has_value());
  auto writer = (*store)->Create(crypto::Sha256(AsBytes("something else")));
  REQUIRE(writer.has_value());
  REQUIRE((*writer)->Write(Data(1000)).ok());
  auto r = (*writer)->Commit();
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code() == StatusCode::kDataLoss);
  CHECK_FALSE((*writer)->Commit().has_value());  // a writer commits at most once
  {
    auto abandoned = (*store)->Create();
    REQUIRE(abandoned.has_value());
    REQUIRE((*abandoned)->Write(Data(500)).ok());
  }
  CHECK((*store)->List()->empty());
  CHECK_FALSE((*store)->Contains(crypto::Sha256(Data(1000))));
  CHECK_FALSE((*store)->Contains(crypto::Sha256(Data(500))));
  // A second process cannot open the same store.
  auto again = OpenBlobStore(dir.path());
  REQUIRE_FALSE(again.has_value());
  CHECK(again.error().code() == StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace ertr::storage
