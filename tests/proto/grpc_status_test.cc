// The status mapping the node and clients share (docs/api.md section 3).

#include <catch2/catch.hpp>

#include "proto/grpc_status.h"

namespace ertr::proto {
namespace {

TEST_CASE("every status code survives the trip through gRPC", "[unit]") {
  for (StatusCode c :
       {StatusCode::kOk, StatusCode::kInvalidArgument, StatusCode::kNotFound,
        StatusCode::kAlreadyExists, StatusCode::kPermissionDenied, StatusCode::kUnauthenticated,
        StatusCode::kFailedPrecondition, StatusCode::kResourceExhausted, StatusCode::kUnavailable,
        StatusCode::kDataLoss, StatusCode::kInternal}) {
    CHECK(FromGrpcCode(ToGrpcCode(c)) == c);
  }
  // An I/O error is the node's own failure: the caller sees INTERNAL.
  CHECK(ToGrpcCode(StatusCode::kIoError) == grpc::StatusCode::INTERNAL);
  // Transport failures are worth a retry.
  CHECK(FromGrpcCode(grpc::StatusCode::DEADLINE_EXCEEDED) == StatusCode::kUnavailable);
  CHECK(FromGrpcCode(grpc::StatusCode::UNIMPLEMENTED) == StatusCode::kInternal);
}

}  // namespace
}  // namespace ertr::proto
