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

}  // namespace
}  // namespace ertr
