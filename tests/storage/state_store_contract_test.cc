#include <catch2/catch.hpp>

#include <map>
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

  SECTION("a prefix scan resumes from a key") {
    StateDelta d;
    for (const char* k : {"user/a", "user/b", "user/c", "user/d", "usex", "patient/x"}) {
      d.Put(ToBytes(k), ToBytes("v"));
    }
    REQUIRE(state.Commit(d).ok());
    auto scan_from = [&](std::string_view from, std::size_t limit) {
      std::vector<std::string> seen;
      REQUIRE(state
                  .ScanPrefixFrom(AsBytes("user/"), AsBytes(from),
                                  [&](ByteSpan k, ByteSpan) {
                                    seen.emplace_back(AsStringView(k));
                                    return seen.size() < limit;
                                  })
                  .ok());
      return seen;
    };
    using V = std::vector<std::string>;
    CHECK(scan_from("user/b", 10) == V{"user/b", "user/c", "user/d"});
    CHECK(scan_from("user/bb", 10) == V{"user/c", "user/d"});  // between keys
    CHECK(scan_from("user/c", 1) == V{"user/c"});              // stopped by the callback
    CHECK(scan_from("a", 10) == V{"user/a", "user/b", "user/c", "user/d"});  // before the prefix
    CHECK(scan_from("user/e", 10).empty());
    CHECK(scan_from("z", 10).empty());  // after the prefix
  }

  SECTION("transaction outcomes are read, scanned and deleted in key order with the rest") {
    // The RocksDB store keeps "o/" txid keys in a column family of their own (ADR 0017); keys
    // that only look similar stay with the rest. Scans must merge both in key order.
    std::map<Bytes, Bytes> all;
    for (int i = 0; i < 50; ++i) {
      Bytes k = ToBytes("o/");
      Append(k, crypto::Hash(AsBytes(std::to_string(i))).span());
      all[k] = ToBytes("outcome " + std::to_string(i));
    }
    Bytes long_key = all.begin()->first;
    long_key.push_back(0);
    all[long_key] = ToBytes("33-byte id");
    all[ToBytes("o/short")] = ToBytes("short");
    all[ToBytes("o")] = ToBytes("just o");
    all[ToBytes("n/1")] = ToBytes("n");
    all[ToBytes("p/1")] = ToBytes("p");
    StateDelta d;
    for (const auto& [k, v] : all) d.Put(k, v);
    REQUIRE(state.Commit(d).ok());
    const Bytes some_outcome = std::next(all.begin(), 20)->first;
    StateDelta del;
    del.Delete(some_outcome);
    REQUIRE(state.Commit(del).ok());
    all.erase(some_outcome);
    // In memory first, then (RocksDB) from the files after reopening.
    for (const bool reopen : {false, true}) {
      INFO((reopen ? "after reopening" : "before reopening"));
      if (reopen) s.Reopen();
      StateStore& store = *s.stores.state;
      CHECK_FALSE(store.Get(some_outcome)->has_value());
      for (const auto& [k, v] : all) CHECK(**store.Get(k) == v);
      // The smallest outcome key (the smallest key of all is "n/1").
      const Bytes first = std::find_if(all.begin(), all.end(), [](const auto& e) {
                            return e.first.size() == 34;
                          })->first;
      for (const Bytes& prefix : {Bytes{}, ToBytes("o"), ToBytes("o/"), ToBytes("o/s"),
                                  Bytes(first.begin(), first.begin() + 5), first, long_key}) {
        INFO("prefix " << ToHex(prefix));
        std::vector<std::pair<Bytes, Bytes>> want;
        for (const auto& [k, v] : all) {
          if (k.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), k.begin())) {
            want.emplace_back(k, v);
          }
        }
        CHECK(testing::ScanAll(store, prefix) == want);
      }
    }
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
    // Plain keys and transaction outcomes (stored apart by the RocksDB store, ADR 0017).
    const auto n = rng() % 300;
    Bytes key = ToBytes("key/" + std::to_string(n));
    if (n % 3 == 0) {
      key = ToBytes("o/");
      Append(key, crypto::Hash(AsBytes(std::to_string(n))).span());
    }
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
