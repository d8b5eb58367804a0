#include <catch2/catch.hpp>

#include "common/host.h"

namespace ertr {
namespace {

TEST_CASE("loopback hosts are IP literals of 127/8 or ::1, or localhost", "[unit]") {
  for (const char* h : {"127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"}) {
    INFO(h);
    CHECK(IsLoopbackHost(h));
  }
  // Names are never judged by their spelling; other addresses are remote.
  for (const char* h : {"127.example.org", "127.0.0.1.nip.io", "localhost.example", "0.0.0.0",
                        "10.0.0.1", "::", "[::2]", "", "128.0.0.1", "::ffff:10.0.0.1"}) {
    INFO(h);
    CHECK_FALSE(IsLoopbackHost(h));
  }
}

TEST_CASE("unspecified hosts are 0.0.0.0 and ::, which no peer can dial", "[unit]") {
  for (const char* h : {"0.0.0.0", "::", "[::]", "0:0::0"}) {
    INFO(h);
    CHECK(IsUnspecifiedHost(h));
  }
  for (const char* h : {"127.0.0.1", "::1", "[::1]", "localhost", "0.0.0.0.example", "10.0.0.1", "",
                        "[]", "ertr.hosp-a.example"}) {
    INFO(h);
    CHECK_FALSE(IsUnspecifiedHost(h));
  }
}

TEST_CASE("HOST:PORT is parsed, or refused naming the field and an example", "[unit]") {
  auto ok = ParseHostPort("[::1]:26800", "--node");
  REQUIRE(ok.has_value());
  CHECK(ok->first == "[::1]");
  CHECK(ok->second == 26800);
  for (const char* bad : {"nonsense", "host:", ":1", "host:65536", "host:8o"}) {
    INFO(bad);
    auto r = ParseHostPort(bad, "peers[0].address", "10.0.0.2:26600");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message() ==
          "'peers[0].address' must be HOST:PORT (for example 10.0.0.2:26600), got '" +
              std::string(bad) + "'");
  }
}

}  // namespace
}  // namespace ertr
