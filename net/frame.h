#pragma once

// Length-prefixed frames of the node-to-node stream (docs/spec/wire.md section 1):
//   u32be length || payload, 0 < length <= max
// FrameReader reassembles frames from the bytes TCP delivers, in whatever pieces, and refuses a
// frame over the limit before buffering it, so a hostile peer cannot make us allocate.

#include <cstddef>
#include <memory>
#include <optional>

#include "common/bytes.h"
#include "common/status.h"
#include "net/transport_limits.h"

namespace ertr::net {

inline constexpr std::size_t kFrameHeaderSize = 4;

// Requires: 0 < payload.size() <= kMaxFrameBytes.
Bytes EncodeFrame(ByteSpan payload);
// `frame` holds kFrameHeaderSize reserved bytes, then the payload: writes the header into them.
// Requires: 0 < payload size <= kMaxFrameBytes.
void SetFrameHeader(Bytes& frame);

// Bytes from the socket go straight into the reader's buffer (ReadArea, then Commit) and frames
// are handed out as views into it (NextView), so a frame is not copied between the socket and
// its decryption. The buffer holds at most one incomplete frame plus one read.
class FrameReader {
 public:
  explicit FrameReader(std::size_t max_frame = kMaxFrameBytes) : max_(max_frame) {}

  // Room for at least `min_bytes` more bytes after the buffered ones, for the caller to fill
  // (then Commit). Invalidates views from NextView.
  MutableByteSpan ReadArea(std::size_t min_bytes);
  // `n` bytes of the last ReadArea were filled.
  void Commit(std::size_t n);
  // Copies `data` in (ReadArea + Commit).
  void Feed(ByteSpan data);
  // The next complete frame, nullopt if more bytes are needed, or InvalidArgument (then the
  // stream is unusable) for a zero or oversize length. The view stays valid until the next
  // ReadArea or Feed.
  Result<std::optional<ByteSpan>> NextView();
  // NextView, copied.
  Result<std::optional<Bytes>> Next();
  // Bytes still missing from the frame being read (its header first); 0 if a frame is complete.
  // A read of this size completes it.
  std::size_t missing() const;
  // Changes the limit for frames not yet read (the transport raises it after the handshake).
  void set_max_frame(std::size_t max_frame) { max_ = max_frame; }
  // Bytes held that are not yet a complete frame.
  std::size_t buffered() const { return end_ - begin_; }

 private:
  std::size_t max_;
  std::unique_ptr<std::uint8_t[]> buffer_;
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0;  // first byte not yet handed out
  std::size_t end_ = 0;    // end of the bytes received
  bool failed_ = false;
};

}  // namespace ertr::net
