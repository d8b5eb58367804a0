#include <catch2/catch.hpp>

#include <algorithm>

#include "node/commit_waiters.h"

namespace ertr::node {
namespace {

using Clock = std::chrono::steady_clock;

crypto::Digest Id(std::uint8_t b) {
  crypto::Digest d;
  d.data()[0] = b;
  return d;
}

// A waiter that records its tag in `told` when it is called.
CommitWaiter Waiter(std::vector<int>& told, int tag, Clock::time_point deadline) {
  return {deadline,
          [&told, tag](const storage::StoredBlock*, std::uint32_t, const ledger::TxResult*,
                       const std::string*) { told.push_back(tag); }};
}

TEST_CASE("commit waiters are taken by transaction id: every waiter of the id at once",
          "[unit][node]") {
  CommitWaiters waiters;
  std::vector<int> told;
  const auto later = Clock::now() + std::chrono::hours(1);
  waiters.Add(Id(1), Waiter(told, 1, later));
  waiters.Add(Id(1), Waiter(told, 2, later));  // a retry while the first call waits
  waiters.Add(Id(2), Waiter(told, 3, later));
  CHECK(waiters.size() == 3);

  auto first = waiters.Take(Id(1));
  REQUIRE(first.size() == 2);
  for (auto& w : first) w.done(nullptr, 0, nullptr, nullptr);
  CHECK(told == std::vector<int>{1, 2});  // in the order they came
  CHECK(waiters.size() == 1);
  CHECK(waiters.Take(Id(1)).empty());  // told once only
  CHECK(waiters.Take(Id(9)).empty());
  CHECK(waiters.size() == 1);
}

TEST_CASE("expired commit waiters leave the table and the others stay", "[unit][node]") {
  CommitWaiters waiters;
  std::vector<int> told;
  const auto now = Clock::now();
  waiters.Add(Id(1), Waiter(told, 1, now - std::chrono::seconds(1)));
  waiters.Add(Id(1), Waiter(told, 2, now + std::chrono::seconds(30)));
  waiters.Add(Id(2), Waiter(told, 3, now));  // a deadline that is now has passed
  waiters.Add(Id(3), Waiter(told, 4, now + std::chrono::seconds(30)));

  auto expired = waiters.TakeExpired(now);
  for (auto& w : expired) w.done(nullptr, 0, nullptr, nullptr);
  std::sort(told.begin(), told.end());
  CHECK(told == std::vector<int>{1, 3});
  CHECK(waiters.size() == 2);
  CHECK(waiters.Take(Id(2)).empty());
  REQUIRE(waiters.Take(Id(1)).size() == 1);  // the second call for id 1 still waits

  auto rest = waiters.TakeAll();
  CHECK(rest.size() == 1);
  CHECK(waiters.size() == 0);
  CHECK(waiters.TakeExpired(now + std::chrono::hours(1)).empty());
}

}  // namespace
}  // namespace ertr::node
