#pragma once

// Limits of the node-to-node transport that other modules size against
// (docs/spec/wire.md, net/transport.h).

#include <cstddef>

namespace ertr::net {

// Largest frame a peer may send; larger ones close the connection.
inline constexpr std::size_t kMaxFrameBytes = 16u << 20;

}  // namespace ertr::net
