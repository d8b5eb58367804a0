// LogText: what a caller chose, made safe as one log field.

#include <catch2/catch.hpp>

#include "node/api_internal.h"

namespace ertr::node::api {
namespace {

TEST_CASE("LogText keeps one line of printable ASCII and writes our ellipsis as dots", "[unit]") {
  CHECK(LogText("user 46153d00\u2026 is not registered \u2014 ask an admin") ==
        "user 46153d00... is not registered - ask an admin");
  // A forged second line, quotes and backslashes cannot reach the log as they are.
  CHECK(LogText("a\nevent=fake \"x\"\\") == "a?event=fake ?x??");
  // Any other character outside ASCII is one '?', whatever its length in UTF-8.
  CHECK(LogText("Gr\u00fc\u00dfe \U0001F600") == "Gr??e ?");
  CHECK(LogText(std::string(300, 'x')).size() == 200);
  // A sequence cut at the 200-byte limit leaves no stray byte.
  const std::string cut = std::string(199, 'x') + "\u2026";
  CHECK(LogText(cut) == std::string(199, 'x') + "?");
}

}  // namespace
}  // namespace ertr::node::api
