#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <thread>

#include "crypto/hash.h"
#include "storage/state_pages.h"
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

Bytes OutcomeKey(int i) {
  Bytes k = ToBytes("o/");  // in the RocksDB store's column family of outcomes (ADR 0017)
  Append(k, crypto::Hash(AsBytes("outcome " + std::to_string(i))).span());
  return k;
}

// Every page of `state` at a budget of `max_bytes`, checked as a receiver would: the entries, and
// the root they rebuild.
struct Paged {
  std::vector<std::pair<Bytes, Bytes>> entries;
  crypto::Digest root;
  std::size_t pages = 0;
};
// With a cursor, through it (one scan open across the pages).
Paged ReadAllPages(const StateReader& state, std::size_t max_bytes,
                   StatePageCursor* cursor = nullptr) {
  Paged out;
  StateRootBuilder builder;
  for (;;) {
    auto page = cursor != nullptr ? cursor->Next(builder.last_key(), max_bytes)
                                  : ReadStatePage(state, builder.last_key(), max_bytes);
    REQUIRE(page.ok());
    ++out.pages;
    REQUIRE((!page->entries.empty() || !page->more));
    for (auto& [k, v] : page->entries) {
      REQUIRE(builder.Add(k, v).ok());
      out.entries.emplace_back(std::move(k), std::move(v));
    }
    if (!page->more) break;
  }
  CHECK(builder.entries() == out.entries.size());
  out.root = builder.Root();
  return out;
}

TEST_CASE("A state snapshot keeps the state after its block, and its pages rebuild its root",
          "[storage]") {
  auto kind = GENERATE(as<std::string>{}, "rocksdb", "memory");
  auto s = testing::MakeStore(kind);
  REQUIRE(s.stores.state);
  INFO("implementation " << kind);
  StateStore& state = *s.stores.state;
  BlockStore& blocks = *s.stores.blocks;

  std::map<Bytes, Bytes> at1;  // the state after block 1
  StateDelta d1;
  for (int i = 0; i < 40; ++i) {
    at1[OutcomeKey(i)] = ToBytes("outcome value " + std::to_string(i));
    at1[ToBytes("r/" + std::to_string(1000 + i))] = Bytes(100 + 37 * i, std::uint8_t(i));
  }
  at1[ToBytes("o/short")] = ToBytes("not an outcome key");  // stays with the rest
  at1[ToBytes("z")] = Bytes(5000, 7);                       // larger than the small budgets
  for (const auto& [k, v] : at1) d1.Put(k, v);
  REQUIRE(blocks.Append(testing::MakeBlock(1, 0), d1).ok());
  const crypto::Digest root1 = state.StateRoot();

  auto snap = state.Snapshot();
  REQUIRE(snap.ok());
  const StateSnapshot& at = **snap;
  CHECK(at.height() == Height(1));
  CHECK(at.root() == root1);

  // Block 2 changes, deletes and adds entries of both kinds; the snapshot does not see it.
  StateDelta d2;
  d2.Put(OutcomeKey(3), ToBytes("changed"));
  d2.Delete(OutcomeKey(4));
  d2.Put(OutcomeKey(100), ToBytes("new"));
  d2.Put(ToBytes("r/1005"), ToBytes("changed"));
  d2.Delete(ToBytes("r/1006"));
  d2.Put(ToBytes("a/new"), ToBytes("new"));
  REQUIRE(blocks.Append(testing::MakeBlock(2, 0), d2).ok());
  REQUIRE(state.StateRoot() != root1);
  auto later = state.Snapshot();
  REQUIRE(later.ok());
  CHECK((*later)->height() == Height(2));
  CHECK((*later)->root() == state.StateRoot());

  const std::vector<std::pair<Bytes, Bytes>> want(at1.begin(), at1.end());
  CHECK(**at.Get(OutcomeKey(3)) == at1.at(OutcomeKey(3)));
  CHECK(at.Get(OutcomeKey(4))->has_value());
  CHECK_FALSE(at.Get(OutcomeKey(100))->has_value());
  CHECK_FALSE(at.Get(ToBytes("a/new"))->has_value());
  CHECK(**at.Get(ToBytes("r/1006")) == at1.at(ToBytes("r/1006")));
  CHECK(testing::ScanAll(state, {}) != want);  // the store itself moved on
  // A scan under a prefix that holds no outcomes (one column family) reads the snapshot too.
  std::vector<std::pair<Bytes, Bytes>> want_r;
  for (const auto& [k, v] : at1) {
    if (k[0] == 'r') want_r.emplace_back(k, v);
  }
  CHECK(testing::ScanAll(at, AsBytes("r/")) == want_r);

  for (const std::size_t budget :
       {std::size_t{1}, std::size_t{300}, std::size_t{4096}, std::size_t{1} << 20}) {
    INFO("page budget " << budget);
    const Paged paged = ReadAllPages(at, budget);
    CHECK(paged.entries == want);
    CHECK(paged.root == root1);
    if (budget == 1) CHECK(paged.pages == want.size());  // one entry a page, however large
    if (budget == (std::size_t{1} << 20)) CHECK(paged.pages == 1);
    auto cursor = at.OpenCursor();
    const Paged by_cursor = ReadAllPages(at, budget, cursor.get());
    CHECK(by_cursor.entries == want);
    CHECK(by_cursor.root == root1);
    CHECK(by_cursor.pages == paged.pages);
  }
  {
    // A cursor asked for pages out of order (a page asked again, another asker's) seeks, and
    // gives what ReadStatePage gives; blocks appended meanwhile change nothing it reads.
    auto cursor = at.OpenCursor();
    const std::vector<std::optional<Bytes>> afters = {
        std::nullopt,    ToBytes("o/short"), ToBytes("o/short"), std::nullopt,
        ToBytes("r/10"), ToBytes("r/1000"),  ToBytes("r/1001"),  ToBytes("zz"),
        ToBytes("zz"),   ToBytes("r/1003")};
    std::optional<Bytes> last;
    for (std::size_t i = 0; i < afters.size(); ++i) {
      INFO("request " << i);
      // Every other request continues from where the cursor's last page ended.
      const std::optional<Bytes> after = i % 2 == 1 && last ? last : afters[i];
      auto page = cursor->Next(after, 700);
      auto want_page = ReadStatePage(at, after, 700);
      REQUIRE(page.ok());
      REQUIRE(want_page.ok());
      CHECK(page->entries == want_page->entries);
      CHECK(page->more == want_page->more);
      if (!page->entries.empty()) last = page->entries.back().first;
      if (i == 4) {
        StateDelta d3;
        d3.Put(ToBytes("r/1002x"), ToBytes("new"));
        d3.Delete(ToBytes("r/1003"));
        REQUIRE(blocks.Append(testing::MakeBlock(3, 0), d3).ok());
      }
    }
  }
  // The newer snapshot's pages rebuild the newer root.
  CHECK(ReadAllPages(**later, 4096).root == (*later)->root());
  // Past the last key: an empty page, nothing more.
  auto past = ReadStatePage(at, ToBytes("zz"), 4096);
  REQUIRE(past.ok());
  CHECK(past->entries.empty());
  CHECK_FALSE(past->more);
  // After a key that is not stored: from the next one that is.
  auto between = ReadStatePage(at, ToBytes("r/10"), 1);
  REQUIRE(between.ok());
  REQUIRE(between->entries.size() == 1);
  CHECK(between->entries[0].first == ToBytes("r/1000"));
  CHECK(between->more);
}

TEST_CASE("Snapshots taken while blocks are appended hold one block's state and its root",
          "[storage]") {
  auto kind = GENERATE(as<std::string>{}, "rocksdb", "memory");
  auto s = testing::MakeStore(kind);
  REQUIRE(s.stores.state);
  INFO("implementation " << kind);
  StateStore& state = *s.stores.state;
  BlockStore& blocks = *s.stores.blocks;
  constexpr int kBlocks = 60;
  Status appended = Status::Ok();  // Catch2's checks are for the test's own thread
  std::thread appender([&] {
    for (int h = 1; h <= kBlocks && appended.ok(); ++h) {
      StateDelta d;  // outcomes and other entries, some changed again, one deleted per block
      for (int i = 0; i < 8; ++i) {
        d.Put(OutcomeKey(h * 8 + i), ToBytes("block " + std::to_string(h)));
        d.Put(ToBytes("k/" + std::to_string((h * 8 + i) % 50)), ToBytes(std::to_string(h)));
      }
      d.Delete(OutcomeKey((h - 1) * 8));
      appended = blocks.Append(testing::MakeBlock(static_cast<std::uint64_t>(h), 0), d);
    }
  });
  std::vector<std::shared_ptr<const StateSnapshot>> taken;
  Status snapshots = Status::Ok();  // checked once the appender has ended
  for (int i = 0; i < 40 && snapshots.ok(); ++i) {
    auto snap = state.Snapshot();
    if (snap.ok()) {
      taken.push_back(*snap);
    } else {
      snapshots = snap.error();
    }
    std::this_thread::yield();
  }
  appender.join();
  REQUIRE(appended.ok());
  REQUIRE(snapshots.ok());
  taken.push_back(*state.Snapshot());
  Height last(0);
  for (const auto& snap : taken) {
    INFO("snapshot at height " << snap->height().value());
    CHECK(snap->height() >= last);  // taken in order
    last = snap->height();
    CHECK(ReadAllPages(*snap, 512).root == snap->root());
  }
  CHECK(last == Height(kBlocks));
}

TEST_CASE("A received state's entries must come in key order and within the stores' bounds",
          "[storage]") {
  StateRootBuilder first;
  CHECK(first.Add({}, AsBytes("an empty key, first")).code() == StatusCode::kInvalidArgument);
  CHECK(first.entries() == 0);
  CHECK_FALSE(first.last_key().has_value());
  StateRootBuilder b;
  REQUIRE(b.Add(AsBytes("b"), AsBytes("1")).ok());
  const auto root_b = b.Root();
  CHECK(b.Add(AsBytes("b"), AsBytes("again")).code() == StatusCode::kInvalidArgument);
  CHECK(b.Add(AsBytes("a"), AsBytes("before")).code() == StatusCode::kInvalidArgument);
  CHECK(b.Add({}, AsBytes("empty key")).code() == StatusCode::kInvalidArgument);
  CHECK(b.Add(Bytes(kMaxStateKeySize + 1, 'k'), AsBytes("v")).code() ==
        StatusCode::kInvalidArgument);
  const auto refused = b.Add(AsBytes("c"), Bytes(kMaxStateValueSize + 1, 0));
  CHECK(refused.code() == StatusCode::kInvalidArgument);
  CHECK(refused.message().find("state entry 2") != std::string::npos);
  // Nothing refused was added.
  CHECK(b.entries() == 1);
  CHECK(b.Root() == root_b);
  CHECK(*b.last_key() == ToBytes("b"));
  REQUIRE(b.Add(AsBytes("ba"), AsBytes("2")).ok());  // a longer key after its prefix
  CHECK(b.entries() == 2);

  // The same entries give the same root as a store holding them.
  auto s = testing::MakeStore("memory");
  StateDelta d;
  d.Put(ToBytes("b"), ToBytes("1"));
  d.Put(ToBytes("ba"), ToBytes("2"));
  REQUIRE(s.stores.state->Commit(d).ok());
  CHECK(b.Root() == s.stores.state->StateRoot());
}

}  // namespace
}  // namespace ertr::storage
