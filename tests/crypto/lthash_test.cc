#include <catch2/catch.hpp>

#include <algorithm>
#include <random>

#include "crypto/lthash.h"

namespace ertr::crypto {
namespace {

TEST_CASE("LtHash is independent of insertion order and inverts on removal", "[unit]") {
  std::vector<Bytes> items;
  for (int i = 0; i < 50; ++i) items.push_back(ToBytes("entry-" + std::to_string(i)));
  LtHash16 a, b;
  for (const auto& it : items) a.Add(it);
  auto shuffled = items;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(42));
  for (const auto& it : shuffled) b.Add(it);
  CHECK(a == b);
  CHECK(a.Root() == b.Root());
  LtHash16 empty;
  for (const auto& it : items) a.Remove(it);
  CHECK(a == empty);
}

TEST_CASE("LtHash distinguishes key/value splits and serialises", "[unit]") {
  LtHash16 x, y;
  x.AddEntry(AsBytes("ab"), AsBytes("c"));
  y.AddEntry(AsBytes("a"), AsBytes("bc"));
  CHECK(x.Root() != y.Root());
  auto back = LtHash16::FromBytes(x.ToBytes());
  REQUIRE(back.has_value());
  CHECK(*back == x);
  CHECK_FALSE(LtHash16::FromBytes(AsBytes("short")).has_value());
}

}  // namespace
}  // namespace ertr::crypto
