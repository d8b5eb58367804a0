#include <catch2/catch.hpp>

#include <memory>
#include <set>

#include "common/status.h"

namespace ertr {
namespace {

Result<int> Half(int v) {
  if (v % 2 != 0) return Status::InvalidArgument("field 'v' is odd: " + std::to_string(v));
  return v / 2;
}

Result<int> Quarter(int v) {
  ERTR_ASSIGN_OR_RETURN(int h, Half(v));
  ERTR_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

Status CheckPositive(int v) {
  if (v <= 0) return Status::FailedPrecondition("not positive");
  return Status::Ok();
}

Status Both(int a, int b) {
  ERTR_RETURN_IF_ERROR(CheckPositive(a));
  ERTR_RETURN_IF_ERROR(CheckPositive(b));
  return Status::Ok();
}

TEST_CASE("Status carries code and message", "[unit]") {
  Status ok;
  CHECK(ok.ok());
  CHECK(ok.ToString() == "ok");
  Status s = Status::DataLoss("block 7 fails its checksum");
  CHECK_FALSE(s.ok());
  CHECK(s.code() == StatusCode::kDataLoss);
  CHECK(s.ToString() == "data_loss: block 7 fails its checksum");
  CHECK(s.WithContext("opening db").message() == "opening db: block 7 fails its checksum");
  CHECK(s.WithContext("x").code() == StatusCode::kDataLoss);
}

TEST_CASE("Result propagates values and errors through the macros", "[unit]") {
  auto q = Quarter(8);
  REQUIRE(q.has_value());
  CHECK(*q == 2);
  auto bad = Quarter(6);  // 6 -> 3 -> odd
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code() == StatusCode::kInvalidArgument);
  CHECK(bad.error().message() == "field 'v' is odd: 3");
  CHECK(Both(1, 2).ok());
  CHECK(Both(1, -2).code() == StatusCode::kFailedPrecondition);
}

TEST_CASE("Result holds move-only values", "[unit]") {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(5);
  REQUIRE(r.has_value());
  std::unique_ptr<int> p = std::move(r).value();
  CHECK(*p == 5);
}

TEST_CASE("Every status code has a distinct name", "[unit]") {
  std::set<std::string_view> names;
  for (int c = 0; c <= static_cast<int>(StatusCode::kInternal); ++c) {
    names.insert(StatusCodeName(static_cast<StatusCode>(c)));
  }
  CHECK(names.size() == static_cast<std::size_t>(StatusCode::kInternal) + 1);
  CHECK_FALSE(names.count("unknown"));
}

}  // namespace
}  // namespace ertr
