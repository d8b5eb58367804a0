#include <catch2/catch.hpp>

#include "crypto/envelope.h"

namespace ertr::crypto {
namespace {

TEST_CASE("An envelope opens only with the institution it was sealed to", "[unit]") {
  auto a = BoxKeyPair::Generate();
  auto b = BoxKeyPair::Generate();
  auto key = DataKey::Random();
  Bytes env = SealDataKey(key, a.public_key());
  CHECK(env.size() == kEnvelopeSize);
  auto opened = OpenEnvelope(env, a);
  REQUIRE(opened.has_value());
  CHECK(opened->Equals(key));
  auto wrong = OpenEnvelope(env, b);
  REQUIRE_FALSE(wrong.has_value());
  CHECK(wrong.error().code() == StatusCode::kUnauthenticated);
}

TEST_CASE("Sealing is randomised and any flipped byte is detected", "[unit]") {
  auto a = BoxKeyPair::Generate();
  auto key = DataKey::Random();
  Bytes e1 = SealDataKey(key, a.public_key());
  Bytes e2 = SealDataKey(key, a.public_key());
  CHECK(e1 != e2);
  for (std::size_t i = 0; i < e1.size(); ++i) {
    Bytes bad = e1;
    bad[i] ^= 0x10;
    CHECK_FALSE(OpenEnvelope(bad, a).has_value());
  }
  auto short_env = OpenEnvelope(ByteSpan(e1).first(79), a);
  REQUIRE_FALSE(short_env.has_value());
  CHECK(short_env.error().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("A payload decrypts end to end from an envelope", "[unit]") {
  auto inst = BoxKeyPair::Generate();
  auto key = DataKey::Random();
  Bytes plain = ToBytes("synthetic RT beams treatment record");
  Bytes ct = EncryptPayload(key, plain);
  Bytes env = SealDataKey(key, inst.public_key());
  auto k = OpenEnvelope(env, inst);
  REQUIRE(k.has_value());
  auto out = DecryptPayload(*k, ct);
  REQUIRE(out.has_value());
  CHECK(*out == plain);
}

}  // namespace
}  // namespace ertr::crypto
