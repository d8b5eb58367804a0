#include <catch2/catch.hpp>

#include <random>

#include "crypto/hash.h"
#include "tests/storage/store_fixture.h"

namespace ertr::storage {
namespace {

TEST_CASE("State store contract", "[storage]") {
  auto kind = GENERATE(as<std::string>{}, "rocksdb", "memory");
  auto s = testing::MakeStore(kind);
  REQUIRE(s.stores.state);
  INFO("implementation " << kind);
  StateStore& state = *s.stores.state;

  SECTION("get, put, delete and prefix scans in key order") {
    StateDelta d;
    d.Put(ToBytes("user/b"), ToBytes("2"));
    d.Put(ToBytes("user/a"), ToBytes("1"));
    d.Put(ToBytes("patient/x"), ToBytes("p"));
    REQUIRE(state.Commit(d).ok());
    std::vector<std::string> seen;
    REQUIRE(state
                .ScanPrefix(AsBytes("user/"),
                            [&](ByteSpan k, ByteSpan v) {
                              seen.push_back(std::string(AsStringView(k)) + "=" +
                                             std::string(AsStringView(v)));
                              return true;
                            })
                .ok());
    CHECK(seen == std::vector<std::string>{"user/a=1", "user/b=2"});
    StateDelta del;
    del.Delete(ToBytes("user/a"));
    REQUIRE(state.Commit(del).ok());
    CHECK_FALSE(state.Get(AsBytes("user/a"))->has_value());
    CHECK(**state.Get(AsBytes("user/b")) == ToBytes("2"));
  }

  SECTION("the root depends only on content, and RootAfter predicts Commit") {
    auto empty_root = state.StateRoot();
    StateDelta d1;
    d1.Put(ToBytes("a"), ToBytes("1"));
    d1.Put(ToBytes("b"), ToBytes("2"));
    auto predicted = state.RootAfter(d1);
    REQUIRE(predicted.has_value());
    CHECK(state.StateRoot() == empty_root);  // RootAfter writes nothing
    REQUIRE(state.Commit(d1).ok());
    CHECK(state.StateRoot() == *predicted);
    // Overwrite then restore: back to the same root.
    StateDelta d2;
    d2.Put(ToBytes("a"), ToBytes("changed"));
    REQUIRE(state.Commit(d2).ok());
    CHECK(state.StateRoot() != *predicted);
    StateDelta d3;
    d3.Put(ToBytes("a"), ToBytes("1"));
    REQUIRE(state.Commit(d3).ok());
    CHECK(state.StateRoot() == *predicted);
    // Delete everything: the empty root again.
    StateDelta d4;
    d4.Delete(ToBytes("a"));
    d4.Delete(ToBytes("b"));
    d4.Delete(ToBytes("never-existed"));
    REQUIRE(state.Commit(d4).ok());
    CHECK(state.StateRoot() == empty_root);
  }

  SECTION("the root survives reopening") {
    StateDelta d;
    for (int i = 0; i < 100; ++i)
      d.Put(ToBytes("k" + std::to_string(i)), ToBytes(std::to_string(i * i)));
    REQUIRE(state.Commit(d).ok());
    auto root = state.StateRoot();
    s.Reopen();
    CHECK(s.stores.state->StateRoot() == root);
  }
}

TEST_CASE("Two stores fed the same deltas in different batchings agree on the root", "[storage]") {
  auto a = testing::MakeStore("rocksdb");
  auto b = testing::MakeStore("memory");
  std::mt19937 rng(7);
  StateDelta batch;
  for (int i = 0; i < 2000; ++i) {
    Bytes key = ToBytes("key/" + std::to_string(rng() % 300));
    StateDelta one;
    if (rng() % 4 == 0) {
      one.Delete(key);
    } else {
      one.Put(key, ToBytes(std::to_string(rng())));
    }
    REQUIRE(a.stores.state->Commit(one).ok());
    for (auto& [k, v] : one.writes) batch.writes[k] = v;  // later writes win, as in order
    if (i % 97 == 0) {
      REQUIRE(b.stores.state->Commit(batch).ok());
      batch = {};
    }
  }
  REQUIRE(b.stores.state->Commit(batch).ok());
  CHECK(a.stores.state->StateRoot() == b.stores.state->StateRoot());
}

}  // namespace
}  // namespace ertr::storage
