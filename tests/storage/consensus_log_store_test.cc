#include <catch2/catch.hpp>

#include <thread>

#include "crypto/hash.h"
#include "tests/storage/store_fixture.h"

namespace ertr::storage {
namespace {

TEST_CASE("Consensus log store contract", "[storage]") {
  auto kind = GENERATE(as<std::string>{}, "rocksdb", "memory");
  auto s = testing::MakeStore(kind);
  REQUIRE(s.stores.consensus_log);
  INFO("implementation " << kind);
  StateDelta w;
  w.Put(ToBytes("vote/3/9"), ToBytes("prepare A"));
  w.Put(ToBytes("vote/3/8"), ToBytes("commit B"));
  w.Put(ToBytes("view"), ToBytes("3"));
  REQUIRE(s.stores.consensus_log->Save(w).ok());
  StateDelta del;
  del.Delete(ToBytes("vote/3/8"));
  REQUIRE(s.stores.consensus_log->Save(del).ok());
  s.Reopen();
  auto all = s.stores.consensus_log->LoadAll();
  REQUIRE(all.has_value());
  REQUIRE(all->size() == 2);
  CHECK((*all)[0].first == ToBytes("view"));
  CHECK((*all)[1].first == ToBytes("vote/3/9"));
  CHECK((*all)[1].second == ToBytes("prepare A"));
  // The consensus log is apart from the ledger state.
  CHECK_FALSE(s.stores.state->Get(AsBytes("view"))->has_value());
}

// (What a crash keeps is the chaos runs' power cuts and the driver test's gated syncs to show;
// this checks the store's side: syncs from another thread while saves go on lose nothing.)
TEST_CASE("Unsynced saves and syncs from another thread keep every entry across a reopen",
          "[storage]") {
  auto kind = GENERATE(as<std::string>{}, "rocksdb", "memory");
  auto s = testing::MakeStore(kind);
  INFO("implementation " << kind);
  auto& log = *s.stores.consensus_log;
  StateDelta w;
  w.Put(ToBytes("view"), ToBytes("4"));
  REQUIRE(log.Save(w, {}, /*sync=*/false).ok());
  // The driver syncs on its own thread while its io thread goes on saving (ADR 0027).
  int sync_failures = 0;  // counted, not asserted: Catch's assertions are for one thread
  std::thread syncer([&] {
    for (int i = 0; i < 20; ++i) sync_failures += log.Sync().ok() ? 0 : 1;
  });
  for (int i = 0; i < 20; ++i) {
    StateDelta more;
    more.Put(ToBytes("vote/" + std::to_string(i)), ToBytes("v"));
    REQUIRE(log.Save(more, {}, /*sync=*/false).ok());
  }
  syncer.join();
  CHECK(sync_failures == 0);
  REQUIRE(log.Sync().ok());
  s.Reopen();
  auto all = s.stores.consensus_log->LoadAll();
  REQUIRE(all.has_value());
  CHECK(all->size() == 21);
  CHECK(all->back().first == ToBytes("vote/9"));
}

StoredBlock BlockAt(Height h, Bytes body) {
  StoredBlock b;
  b.height = h;
  b.hash = crypto::Hash(AsBytes("block " + h.ToString()));
  b.header = ToBytes("header " + h.ToString());
  b.body = std::move(body);
  b.certificate = ToBytes("certificate");
  return b;
}

TEST_CASE("A body staged by the consensus log becomes the block's without being written again",
          "[storage]") {
  auto kind = GENERATE(as<std::string>{}, "rocksdb", "memory");
  auto s = testing::MakeStore(kind);
  REQUIRE(s.stores.consensus_log);
  INFO("implementation " << kind);
  auto& log = *s.stores.consensus_log;
  StateDelta w;
  w.Put(ToBytes("prepared/1"), ToBytes("certificate of 1, without its transactions"));
  REQUIRE(log.Save(w, {{Height(1), ToBytes("body one")}, {Height(2), ToBytes("body two")}}).ok());
  // Staged again at height 2 (another proposal prepared there in a later view): replaced.
  REQUIRE(log.Save({}, {{Height(2), ToBytes("body two, view 2")}}).ok());
  CHECK(log.LoadStagedBody(Height(3)).value() == std::nullopt);
  s.Reopen();
  auto& reopened = *s.stores.consensus_log;
  CHECK(reopened.LoadAll()->size() == 1);
  CHECK(reopened.LoadStagedBody(Height(1)).value() == ToBytes("body one"));
  CHECK(reopened.LoadStagedBody(Height(2)).value() == ToBytes("body two, view 2"));
  // Staged bodies are not blocks.
  CHECK(s.stores.blocks->LatestHeight() == Height(0));
  CHECK_FALSE(s.stores.blocks->LoadBlock(Height(1)).has_value());

  // Height 1 is decided as staged: appended without its body, which the block keeps.
  StoredBlock one = BlockAt(Height(1), {});
  one.body_stored = true;
  REQUIRE(s.stores.blocks->Append(one, {}, BlockStore::Durability::kSynced).ok());
  // Height 2 is decided otherwise (a block synced from a peer): its own body replaces the staged.
  REQUIRE(s.stores.blocks->Append(BlockAt(Height(2), ToBytes("the decided body")), {}).ok());
  s.Reopen();
  auto loaded_one = s.stores.blocks->LoadBlock(Height(1));
  REQUIRE(loaded_one.has_value());
  CHECK(loaded_one->body == ToBytes("body one"));
  CHECK(loaded_one->header == ToBytes("header 1"));
  CHECK(s.stores.blocks->LoadBlock(Height(2))->body == ToBytes("the decided body"));
  CHECK(s.stores.consensus_log->LoadStagedBody(Height(2)).value() == ToBytes("the decided body"));
  // A stored block's body is never replaced by a staged one: refused, and nothing is written.
  StateDelta more;
  more.Put(ToBytes("prepared/3"), ToBytes("certificate of 3"));
  const Status refused = s.stores.consensus_log->Save(
      more, {{Height(3), ToBytes("body three")}, {Height(2), ToBytes("not the decided body")}});
  CHECK(refused.code() == StatusCode::kFailedPrecondition);
  CHECK(s.stores.blocks->LoadBlock(Height(2))->body == ToBytes("the decided body"));
  CHECK(s.stores.consensus_log->LoadStagedBody(Height(3)).value() == std::nullopt);
  CHECK(s.stores.consensus_log->LoadAll()->size() == 1);
}

}  // namespace
}  // namespace ertr::storage
