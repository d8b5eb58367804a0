#pragma once

// Shared by every StateStore implementation: validation of deltas and the LtHash update for a
// delta given a way to read the current value of a key.

#include <functional>
#include <optional>

#include "common/state_delta.h"
#include "common/status.h"
#include "crypto/lthash.h"

namespace ertr::storage {

using CurrentValueFn = std::function<Result<std::optional<Bytes>>(ByteSpan key)>;

// Returns acc updated for delta: each old entry removed, each new entry added.
Result<crypto::LtHash16> AccumulateDelta(crypto::LtHash16 acc, const StateDelta& delta,
                                         const CurrentValueFn& current);

}  // namespace ertr::storage
