#pragma once

// Length-prefixed frames of the node-to-node stream (docs/spec/wire.md section 1):
//   u32be length || payload, 0 < length <= max
// FrameReader reassembles frames from the bytes TCP delivers, in whatever pieces, and refuses a
// frame over the limit before buffering it, so a hostile peer cannot make us allocate.

#include <cstddef>
#include <optional>

#include "common/bytes.h"
#include "common/status.h"
#include "net/transport_limits.h"

namespace ertr::net {

inline constexpr std::size_t kFrameHeaderSize = 4;

// Requires: 0 < payload.size() <= kMaxFrameBytes.
Bytes EncodeFrame(ByteSpan payload);

class FrameReader {
 public:
  explicit FrameReader(std::size_t max_frame = kMaxFrameBytes) : max_(max_frame) {}

  void Feed(ByteSpan data);
  // The next complete frame, nullopt if more bytes are needed, or InvalidArgument (then the
  // stream is unusable) for a zero or oversize length.
  Result<std::optional<Bytes>> Next();
  // Changes the limit for frames not yet read (the transport raises it after the handshake).
  void set_max_frame(std::size_t max_frame) { max_ = max_frame; }
  // Bytes held that are not yet a complete frame.
  std::size_t buffered() const { return buffer_.size() - pos_; }

 private:
  std::size_t max_;
  Bytes buffer_;
  std::size_t pos_ = 0;
  bool failed_ = false;
};

}  // namespace ertr::net
