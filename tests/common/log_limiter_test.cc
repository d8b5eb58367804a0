#include "common/log_limiter.h"

#include <catch2/catch.hpp>

namespace ertr {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST_CASE(
    "a log limiter lets the first occurrence through, then one a window, with the count skipped",
    "[unit]") {
  LogLimiter limiter(seconds(10));
  const LogLimiter::Clock::time_point t0{seconds(1000)};
  CHECK(limiter.Admit(t0) == std::optional<std::uint64_t>(0));
  CHECK_FALSE(limiter.Admit(t0));
  CHECK_FALSE(limiter.Admit(t0 + milliseconds(9'999)));
  CHECK_FALSE(limiter.WindowOver(t0 + milliseconds(9'999)));
  CHECK(limiter.WindowOver(t0 + seconds(10)));
  // The two skipped are reported with the next logged one, and only once.
  CHECK(limiter.Admit(t0 + seconds(10)) == std::optional<std::uint64_t>(2));
  CHECK_FALSE(limiter.Admit(t0 + seconds(11)));
  CHECK(limiter.Admit(t0 + seconds(60)) == std::optional<std::uint64_t>(1));
  CHECK(limiter.Admit(t0 + seconds(70)) == std::optional<std::uint64_t>(0));
}

TEST_CASE("a log limiter with a budget lets that many through each window", "[unit]") {
  LogLimiter limiter(seconds(1), 3);
  const LogLimiter::Clock::time_point t0{seconds(5)};
  int logged = 0;
  for (int i = 0; i < 10; ++i) logged += limiter.Admit(t0 + milliseconds(i * 10)).has_value();
  CHECK(logged == 3);
  // The window starts at its first occurrence, not on a clock boundary.
  CHECK_FALSE(limiter.Admit(t0 + milliseconds(999)));
  CHECK(limiter.Admit(t0 + seconds(1)) == std::optional<std::uint64_t>(8));
  CHECK(limiter.Admit(t0 + seconds(1)) == std::optional<std::uint64_t>(0));
}

TEST_CASE("a burst cut short is reported once its window has passed, without a next occurrence",
          "[unit]") {
  LogLimiter limiter(seconds(10), 2);
  const LogLimiter::Clock::time_point t0{seconds(100)};
  // Nothing to say before anything was left out.
  CHECK_FALSE(limiter.TakeUnlogged(t0));
  for (int i = 0; i < 7; ++i) limiter.Admit(t0 + milliseconds(i));
  // Five left out, said only once the window has passed, and only once.
  CHECK_FALSE(limiter.TakeUnlogged(t0 + milliseconds(9'999)));
  CHECK(limiter.TakeUnloggedLine("blob_pull_failed", t0 + milliseconds(9'999)).empty());
  CHECK(limiter.TakeUnloggedLine("blob_pull_failed", t0 + seconds(10), "peer 2") ==
        "event=log_suppressed of=blob_pull_failed count=5 about=\"peer 2\" reason=\"5 more "
        "occurred after the last one logged; the log keeps at most 2 lines of these per 10 s\"");
  CHECK_FALSE(limiter.TakeUnlogged(t0 + seconds(11)));
  // The next logged occurrence does not count them again.
  CHECK(limiter.Admit(t0 + seconds(12)) == std::optional<std::uint64_t>(0));
  limiter.Admit(t0 + seconds(12));
  limiter.Admit(t0 + seconds(13));
  CHECK(limiter.TakeUnlogged(t0 + seconds(22)) == std::optional<std::uint64_t>(1));
  CHECK(limiter.TakeUnloggedLine("x", t0 + seconds(60)).empty());
}

TEST_CASE("a fresh log limiter has no window to wait for", "[unit]") {
  const LogLimiter limiter(seconds(60));
  CHECK(limiter.WindowOver(LogLimiter::Clock::time_point{}));
}

}  // namespace
}  // namespace ertr
