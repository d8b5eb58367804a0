// Randomized transaction sequences against an independent model (tests/ledger/random_run.h), and
// determinism across storage engines. Sequences: $ERTR_LEDGER_SEQUENCES (default 2000);
// replay one: ERTR_LEDGER_SEED=<seed>.

#include <catch2/catch.hpp>

#include <cstdlib>

#include "storage/stores.h"
#include "tests/ledger/random_run.h"
#include "tests/support/temp_dir.h"

namespace ertr::testing {
namespace {

std::pair<std::uint64_t, std::uint64_t> SeedRange(std::uint64_t default_count) {
  if (const char* one = std::getenv("ERTR_LEDGER_SEED")) {
    auto s = std::strtoull(one, nullptr, 10);
    return {s, s + 1};
  }
  const char* env = std::getenv("ERTR_LEDGER_SEQUENCES");
  return {0, env ? std::strtoull(env, nullptr, 10) : default_count};
}

TEST_CASE("random sequences keep the policy and envelope invariants", "[ledger][slow]") {
  auto [first, last] = SeedRange(2000);
  std::uint64_t accepted = 0;
  std::uint64_t rejected = 0;
  for (std::uint64_t seed = first; seed < last; ++seed) {
    INFO("replay with ERTR_LEDGER_SEED=" << seed);
    RandomRun run(storage::MakeMemoryStores().state, seed);
    for (int block = 0; block < 12; ++block) {
      run.Step();
      run.CheckInvariants();
    }
    accepted += run.accepted();
    rejected += run.rejected();
  }
  // The generator must exercise both sides of the rules, or the invariants prove little.
  INFO("accepted " << accepted << ", rejected " << rejected);
  CHECK(accepted > (last - first) * 10);
  CHECK(rejected > (last - first) * 3);
}

TEST_CASE("the same blocks give the same state root in two fresh stores", "[ledger][storage]") {
  auto [first, last] = SeedRange(20);
  last = std::min(last, first + 20);
  for (std::uint64_t seed = first; seed < last; ++seed) {
    INFO("seed " << seed);
    TempDir dir;
    auto rocks = storage::OpenRocksDbStores(dir.path(), storage::RocksDbOptions{false});
    REQUIRE(rocks.has_value());
    RandomRun in_memory(storage::MakeMemoryStores().state, seed);
    RandomRun on_disk(rocks->state, seed);
    for (int block = 0; block < 12; ++block) {
      in_memory.Step();
      on_disk.Step();
      REQUIRE(in_memory.world().store().StateRoot() == on_disk.world().store().StateRoot());
    }
    CHECK(in_memory.accepted() == on_disk.accepted());
  }
}

}  // namespace
}  // namespace ertr::testing
