#include "proto/api_auth.h"

#include <catch2/catch.hpp>

namespace ertr::proto {
namespace {

ApiAuth Call(std::uint8_t user, std::uint64_t nonce, std::uint64_t timestamp_ms) {
  ApiAuth a;
  a.user.data()[0] = user;
  a.timestamp_ms = timestamp_ms;
  for (int b = 0; b < 8; ++b) a.nonce[static_cast<std::size_t>(b)] = (nonce >> (8 * b)) & 0xff;
  return a;
}

constexpr std::uint64_t kT0 = 1'800'000'000'000;

TEST_CASE("the replay guard refuses a nonce seen in the window, and forgets it after", "[unit]") {
  ReplayGuard guard;
  CHECK(guard.Check(Call(1, 7, kT0), kT0).ok());
  auto again = guard.Check(Call(1, 7, kT0), kT0 + 1000);
  CHECK(again.code() == StatusCode::kUnauthenticated);
  CHECK(again.message().find("used already") != std::string::npos);
  // The same nonce of another user is another call.
  CHECK(guard.Check(Call(2, 7, kT0), kT0 + 1000).ok());
  // Out of the window the timestamp refuses it, and the next call forgets the old entries.
  const std::uint64_t later = kT0 + kApiReplayWindowMs + 1;
  auto stale = guard.Check(Call(1, 7, kT0), later);
  CHECK(stale.code() == StatusCode::kUnauthenticated);
  CHECK(stale.message().find("outside the replay window") != std::string::npos);
  CHECK(guard.size() == 2);
  CHECK(guard.Check(Call(3, 1, later), later).ok());
  CHECK(guard.size() == 1);
}

TEST_CASE(
    "after the node's clock steps back, a forgotten call cannot be replayed, and the "
    "refusal says why",
    "[unit]") {
  ReplayGuard guard;
  CHECK(guard.Check(Call(1, 7, kT0), kT0).ok());
  // The clock runs an hour ahead: the next call forgets the first (out of its window).
  const std::uint64_t ahead = kT0 + 3'600'000;
  CHECK(guard.Check(Call(2, 1, ahead), ahead).ok());
  // NTP steps it back. The first call, replayed, is in the window of the clock now, but it was
  // forgotten: it is still refused, and so is a new call, until the clock catches up.
  const std::uint64_t back = kT0 + 1000;
  auto replayed = guard.Check(Call(1, 7, kT0), back);
  CHECK(replayed.code() == StatusCode::kUnauthenticated);
  auto fresh = guard.Check(Call(1, 8, back), back);
  CHECK(fresh.code() == StatusCode::kUnauthenticated);
  CHECK(fresh.message().find("this node's clock was stepped back by 3599 s") == 0);
  CHECK(fresh.message().find("(NTP)") != std::string::npos);
  // A client whose own clock is off is told to check it, as before.
  auto skewed = guard.Check(Call(1, 9, back), ahead + kApiReplayWindowMs + 1);
  CHECK(skewed.message().find("check the client's clock") != std::string::npos);
}

TEST_CASE("one user's flood fills only its share of the replay guard", "[unit]") {
  ReplayGuard guard(100, 25);
  for (std::uint64_t n = 0; n < 25; ++n) REQUIRE(guard.Check(Call(1, n, kT0), kT0).ok());
  auto over = guard.Check(Call(1, 25, kT0), kT0);
  CHECK(over.code() == StatusCode::kResourceExhausted);
  CHECK(over.message().find("this user has 25 API calls in the replay guard (each is remembered "
                            "until 5 minutes past its timestamp)") == 0);
  // Others still get through, until the whole guard is full.
  for (std::uint8_t u = 2; u <= 4; ++u) {
    for (std::uint64_t n = 0; n < 25; ++n) REQUIRE(guard.Check(Call(u, n, kT0), kT0).ok());
  }
  CHECK(guard.size() == 100);
  auto full = guard.Check(Call(5, 0, kT0), kT0);
  CHECK(full.code() == StatusCode::kResourceExhausted);
  CHECK(full.message().find("too many API calls inside the replay window") == 0);
  // Once its calls leave the window, the user has its share back.
  const std::uint64_t later = kT0 + kApiReplayWindowMs + 1;
  for (std::uint64_t n = 100; n < 125; ++n) REQUIRE(guard.Check(Call(1, n, later), later).ok());
  CHECK(guard.Check(Call(1, 125, later), later).code() == StatusCode::kResourceExhausted);
  CHECK(guard.size() == 25);
}

}  // namespace
}  // namespace ertr::proto
