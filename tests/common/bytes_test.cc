#include <catch2/catch.hpp>

#include "common/bytes.h"
#include "common/ids.h"

namespace ertr {
namespace {

TEST_CASE("Hex round-trips and rejects bad input with its position", "[unit]") {
  Bytes b{0x00, 0x01, 0xab, 0xff};
  CHECK(ToHex(b) == "0001abff");
  auto back = FromHex("0001ABff");
  REQUIRE(back.has_value());
  CHECK(*back == b);
  auto odd = FromHex("abc");
  REQUIRE_FALSE(odd.has_value());
  CHECK(odd.error().message().find("odd length") != std::string::npos);
  auto bad = FromHex("00zz");
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().message().find("position 2") != std::string::npos);
}

TEST_CASE("Integer encodings are little- and big-endian as named", "[unit]") {
  Bytes out;
  PutU32Le(out, 0x01020304);
  PutU64Be(out, 0x0102030405060708ull);
  PutU16Le(out, 0xbeef);
  CHECK(ToHex(out) ==
        "04030201"
        "0102030405060708"
        "efbe");
  CHECK(LoadU32Le(out.data()) == 0x01020304u);
  CHECK(LoadU64Be(out.data() + 4) == 0x0102030405060708ull);
}

TEST_CASE("ByteReader never reads past the end and names the field", "[unit]") {
  Bytes data{1, 2, 3, 4, 5};
  ByteReader r(data);
  auto a = r.U8("version");
  REQUIRE(a.has_value());
  CHECK(*a == 1);
  auto b = r.U32Le("length");
  REQUIRE(b.has_value());
  CHECK(*b == 0x05040302u);
  CHECK(r.AtEnd());
  auto c = r.U64Le("nonce");
  REQUIRE_FALSE(c.has_value());
  CHECK(c.error().message() == "field 'nonce': needs 8 bytes, 0 left (input truncated)");
}

TEST_CASE("Strong ids compare and step", "[unit]") {
  Height h(5);
  CHECK(h.Next() == Height(6));
  CHECK(Height(3) < h);
  CHECK(View(2).value() == 2u);
  CHECK(ReplicaId(7).ToString() == "7");
}

}  // namespace
}  // namespace ertr
