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

TEST_CASE("LtHash's state root is pinned (every version must compute the same roots)", "[unit]") {
  LtHash16 h;
  h.AddEntry(AsBytes("o/tx-1"), AsBytes("outcome-1"));
  h.AddEntry(AsBytes("pk/patient"), AsBytes("key"));
  h.RemoveEntry(AsBytes("o/tx-1"), AsBytes("outcome-1"));
  h.AddEntry(AsBytes("o/tx-2"), AsBytes("outcome-2"));
  h.Remove(AsBytes("an element never added: lanes wrap below zero"));
  CHECK(h.Root().ToHex() == "75c0016c8b8083d4625b640f60b0bbcbacec7727ebf10e8e1f87d7ea1e4cf25c");
}

}  // namespace
}  // namespace ertr::crypto
