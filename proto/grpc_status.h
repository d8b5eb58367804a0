#pragma once

// The mapping between our status codes and gRPC's, in both directions (docs/api.md section 3):
// the node answers with ToGrpcCode, clients read answers with FromGrpcCode. And what every process
// that uses gRPC sets up first (PrepareGrpcProcess).

#include <grpcpp/support/status.h>

#include "common/status.h"

namespace ertr::proto {

grpc::StatusCode ToGrpcCode(StatusCode code);
// gRPC codes we never send map to the nearest of ours (transport failures to kUnavailable).
StatusCode FromGrpcCode(grpc::StatusCode code);

// Call first in main() of a process that uses gRPC (ertrd, ertrctl, the load generator). gRPC's
// locks are Abseil mutexes, and Debian's Abseil tracks the order in which every thread takes them,
// to report lock-order cycles (a debugging aid, on unless a program turns it off): stack traces
// and a graph update on lock paths, about 4 % of the load generator's CPU. Off.
void PrepareGrpcProcess();

}  // namespace ertr::proto
