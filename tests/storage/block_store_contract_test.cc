#include <catch2/catch.hpp>

#include "crypto/hash.h"
#include "tests/storage/store_fixture.h"

namespace ertr::storage {
namespace {

using testing::MakeBlock;

TEST_CASE("Block store contract", "[storage]") {
  auto kind = GENERATE(as<std::string>{}, "rocksdb", "memory");
  auto s = testing::MakeStore(kind);
  REQUIRE(s.stores.blocks);
  INFO("implementation " << kind);
  BlockStore& blocks = *s.stores.blocks;

  SECTION("an empty store is at height 0 and finds nothing") {
    CHECK(blocks.LatestHeight() == Height(0));
    CHECK_FALSE(blocks.LatestBlockTime().has_value());
    CHECK(blocks.LoadBlock(Height(1)).error().code() == StatusCode::kNotFound);
    CHECK(blocks.FindBlock(crypto::Hash({})).error().code() == StatusCode::kNotFound);
  }

  SECTION("blocks append in order and load back exactly") {
    for (std::uint64_t h = 1; h <= 5; ++h) {
      StateDelta d;
      d.Put(ToBytes("height"), ToBytes(std::to_string(h)));
      REQUIRE(blocks.Append(MakeBlock(h, h), d).ok());
    }
    s.Reopen();
    BlockStore& reopened = *s.stores.blocks;
    CHECK(reopened.LatestHeight() == Height(5));
    CHECK(reopened.LatestBlockTime() == std::optional<std::uint64_t>(1'000'050));  // ADR 0043
    for (std::uint64_t h = 1; h <= 5; ++h) {
      auto want = MakeBlock(h, h);
      auto got = reopened.LoadBlock(Height(h));
      REQUIRE(got.has_value());
      CHECK(got->header == want.header);
      CHECK(got->body == want.body);
      CHECK(got->certificate == want.certificate);
      CHECK(got->hash == want.hash);
      CHECK(got->time_ms == 0);  // only the newest block's is kept, as LatestBlockTime()
      CHECK(*reopened.LoadHash(Height(h)) == want.hash);
      CHECK(*reopened.FindBlock(want.hash) == Height(h));
    }
    auto v = s.stores.state->Get(ToBytes("height"));
    REQUIRE(v.has_value());
    CHECK(**v == ToBytes("5"));
  }

  SECTION("a gap or a repeated height is refused and writes nothing") {
    REQUIRE(blocks.Append(MakeBlock(1, 1), {}).ok());
    StateDelta d;
    d.Put(ToBytes("k"), ToBytes("v"));
    auto root = s.stores.state->StateRoot();
    CHECK(blocks.Append(MakeBlock(3, 1), d).code() == StatusCode::kFailedPrecondition);
    auto repeated = MakeBlock(1, 1);
    repeated.time_ms = 7;  // unlike the stored block's, so that a leak would show
    CHECK(blocks.Append(repeated, d).code() == StatusCode::kFailedPrecondition);
    CHECK(blocks.LatestHeight() == Height(1));
    CHECK(blocks.LatestBlockTime() == std::optional<std::uint64_t>(1'000'010));
    CHECK(s.stores.state->StateRoot() == root);
    CHECK_FALSE(s.stores.state->Get(ToBytes("k"))->has_value());
  }

  SECTION("an oversize state write is refused before anything is written") {
    StateDelta d;
    d.Put(Bytes(kMaxStateKeySize + 1, 'k'), ToBytes("v"));
    CHECK(blocks.Append(MakeBlock(1, 0), d).code() == StatusCode::kInvalidArgument);
    CHECK(blocks.LatestHeight() == Height(0));
  }
}

}  // namespace
}  // namespace ertr::storage
