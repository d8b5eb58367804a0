#include <catch2/catch.hpp>

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

}  // namespace
}  // namespace ertr::storage
