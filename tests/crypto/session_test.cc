#include <catch2/catch.hpp>

#include "crypto/session.h"

namespace ertr::crypto {
namespace {

std::pair<SessionKeys, SessionKeys> Pair(const Digest& t = DomainHash("t", AsBytes("x"))) {
  auto a = BoxKeyPair::Generate();
  auto b = BoxKeyPair::Generate();
  auto ka = DeriveSessionKeys(a, b.public_key(), t, true);
  auto kb = DeriveSessionKeys(b, a.public_key(), t, false);
  REQUIRE(ka.has_value());
  REQUIRE(kb.has_value());
  return {std::move(*ka), std::move(*kb)};
}

TEST_CASE("session keys: each side's send key is the other's receive key", "[unit][crypto]") {
  auto [a, b] = Pair();
  CHECK(a.send.Equals(b.receive));
  CHECK(a.receive.Equals(b.send));
  CHECK_FALSE(a.send.Equals(a.receive));
}

TEST_CASE("session keys depend on the transcript", "[unit][crypto]") {
  auto e1 = BoxKeyPair::Generate();
  auto e2 = BoxKeyPair::Generate();
  auto k1 = DeriveSessionKeys(e1, e2.public_key(), DomainHash("t", AsBytes("1")), true);
  auto k2 = DeriveSessionKeys(e1, e2.public_key(), DomainHash("t", AsBytes("2")), true);
  REQUIRE(k1.has_value());
  REQUIRE(k2.has_value());
  CHECK_FALSE(k1->send.Equals(k2->send));
  // A low-order peer key (all zeros) is refused.
  CHECK_FALSE(
      DeriveSessionKeys(e1, BoxPublicKey(), DomainHash("t", AsBytes("1")), true).has_value());
}

TEST_CASE("frames open in order and fail when replayed, reordered, modified or reflected",
          "[unit][crypto]") {
  auto [a, b] = Pair();
  FrameSealer a_out(std::move(a.send));
  FrameOpener b_in(std::move(b.receive));
  auto f0 = a_out.Seal(AsBytes("first"));
  auto f1 = a_out.Seal(AsBytes("second"));
  REQUIRE(f0.has_value());
  REQUIRE(f1.has_value());
  CHECK(f0->size() == 5 + kFrameTagSize);
  auto p0 = b_in.Open(*f0);
  REQUIRE(p0.has_value());
  CHECK(AsStringView(*p0) == "first");
  CHECK(AsStringView(*b_in.Open(*f1)) == "second");

  SECTION("replay") {
    auto [c, d] = Pair();
    FrameSealer out(std::move(c.send));
    FrameOpener in(std::move(d.receive));
    auto x = out.Seal(AsBytes("x"));
    CHECK(in.Open(*x).has_value());
    CHECK(in.Open(*x).error().code() == StatusCode::kUnauthenticated);
    // The opener stays failed.
    CHECK_FALSE(in.Open(*out.Seal(AsBytes("y"))).has_value());
  }
  SECTION("reorder") {
    auto [c, d] = Pair();
    FrameSealer out(std::move(c.send));
    FrameOpener in(std::move(d.receive));
    auto x = out.Seal(AsBytes("x"));
    auto y = out.Seal(AsBytes("y"));
    CHECK_FALSE(in.Open(*y).has_value());
  }
  SECTION("modified") {
    auto [c, d] = Pair();
    FrameSealer out(std::move(c.send));
    FrameOpener in(std::move(d.receive));
    auto x = out.Seal(AsBytes("hello"));
    (*x)[2] ^= 1;
    CHECK_FALSE(in.Open(*x).has_value());
  }
  SECTION("reflected back to its sender") {
    auto [c, d] = Pair();
    FrameSealer out(std::move(c.send));
    FrameOpener own_in(std::move(c.receive));
    CHECK_FALSE(own_in.Open(*out.Seal(AsBytes("x"))).has_value());
  }
}

}  // namespace
}  // namespace ertr::crypto
