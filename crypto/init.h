#pragma once

#include "common/status.h"

namespace ertr::crypto {

// Initialises libsodium. Call once at startup before any other crypto function (safe to call
// again; later calls are no-ops). Fails only if the platform has no usable random source.
Status Init();

}  // namespace ertr::crypto
