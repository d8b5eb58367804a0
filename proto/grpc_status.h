#pragma once

// The mapping between our status codes and gRPC's, in both directions (docs/api.md section 3):
// the node answers with ToGrpcCode, clients read answers with FromGrpcCode.

#include <grpcpp/support/status.h>

#include "common/status.h"

namespace ertr::proto {

grpc::StatusCode ToGrpcCode(StatusCode code);
// gRPC codes we never send map to the nearest of ours (transport failures to kUnavailable).
StatusCode FromGrpcCode(grpc::StatusCode code);

}  // namespace ertr::proto
